#include "train/ffn_input_means.h"

#include <algorithm>

namespace dmoe {

namespace {

// Passes its input to `observe`, then to the FFN it wraps. Holds the FFN
// without registering it: the tap lives only while measuring.
class FfnTapImpl : public FeedForwardImpl {
 public:
  FfnTapImpl(std::shared_ptr<FeedForwardImpl> inner, torch::Tensor& sum) : inner_(std::move(inner)), sum_(sum) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    const torch::Tensor x64 = x.to(torch::kFloat64);
    sum_ += (x64 / x64.norm(2, -1, /*keepdim=*/true).clamp_min(1e-300)).reshape({-1, x.size(-1)}).sum(0);
    return inner_->forward(x);
  }

 private:
  std::shared_ptr<FeedForwardImpl> inner_;
  torch::Tensor& sum_;
};

}  // namespace

FfnInputMeans::FfnInputMeans(CausalLMImpl& model) : model_(model), device_(model.parameters().front().device()) {
  const std::int64_t layers = model.config().num_hidden_layers;
  const torch::Device device = device_;
  sums_.reserve(static_cast<size_t>(layers));  // the taps hold references into it
  for (std::int64_t l = 0; l < layers; ++l) {
    sums_.push_back(torch::zeros({model.config().hidden_size}, torch::TensorOptions().dtype(torch::kFloat64).device(device)));
    original_.push_back(model.mlp(l));
  }
  for (std::int64_t l = 0; l < layers; ++l)
    model.setMlp(l, std::make_shared<FfnTapImpl>(original_[static_cast<size_t>(l)], sums_[static_cast<size_t>(l)]));
}

FfnInputMeans::~FfnInputMeans() {
  for (size_t l = 0; l < original_.size(); ++l) model_.setMlp(static_cast<std::int64_t>(l), original_[l]);
}

void FfnInputMeans::addDocument(const TokenSpan& document, std::int64_t maxTokens) {
  const std::int64_t length = std::min<std::int64_t>(static_cast<std::int64_t>(document.size), maxTokens);
  if (length == 0) return;
  torch::NoGradGuard noGrad;
  const bool wasTraining = model_.is_training();
  model_.eval();
  torch::Tensor ids = torch::empty({1, length}, torch::kInt64);
  std::copy(document.begin(), document.begin() + length, ids.data_ptr<std::int64_t>());
  model_.hiddenStates(ids.to(device_));
  if (wasTraining) model_.train();
  tokens_ += length;
}

std::vector<std::vector<double>> FfnInputMeans::means() const {
  std::vector<std::vector<double>> out;
  for (const torch::Tensor& sum : sums_) {
    const torch::Tensor mean = (sum / static_cast<double>(std::max<std::int64_t>(tokens_, 1))).cpu().contiguous();
    out.emplace_back(mean.data_ptr<double>(), mean.data_ptr<double>() + mean.numel());
  }
  return out;
}

void FfnInputMeans::reset() {
  for (torch::Tensor& sum : sums_) sum.zero_();
  tokens_ = 0;
}

}  // namespace dmoe
