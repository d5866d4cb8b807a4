// The stationarity diagnostic (see the header).
#include "train/stationarity.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/autocast_guard.h"
#include "train/batch_source.h"
#include "util/error.h"

namespace dmoe {

double stationarityRatio(const std::vector<torch::Tensor>& summedGradients) {
  if (summedGradients.empty()) return std::numeric_limits<double>::quiet_NaN();
  torch::Tensor sum = torch::zeros_like(summedGradients.front(), torch::kFloat64);
  double norms = 0;
  for (const torch::Tensor& g : summedGradients) {
    torch::Tensor g64 = g.to(torch::kFloat64);
    sum += g64;
    norms += g64.norm().item<double>();
  }
  return norms > 0 ? sum.norm().item<double>() / norms : std::numeric_limits<double>::quiet_NaN();
}

SummedGradient summedGradient(CausalLMImpl& model, const std::vector<torch::Tensor>& parameters, const TokenShard& shard,
                              std::int64_t seqLen, std::int64_t microBatch, std::int64_t maxTokens) {
  const std::int64_t windowTokens = seqLen + 1;
  const std::int64_t available = shard.tokenCount() / windowTokens;
  if (available < 1)
    throw InputError(shard.file().string() + ": " + std::to_string(shard.tokenCount()) +
                     " tokens, fewer than one window of " + std::to_string(windowTokens));
  const std::int64_t windows = std::min(available, std::max<std::int64_t>(1, maxTokens / seqLen));
  const torch::Device device = parameters.empty() ? torch::Device(torch::kCPU) : parameters.front().device();

  const bool wasTraining = model.is_training();
  model.eval();  // no dropout: the gradient of the model as it is
  for (const torch::Tensor& p : parameters) p.mutable_grad().reset();
  // The shard's first `windows` windows as one [windows, seqLen + 1] block (a view: no copy).
  torch::Tensor block = torch::from_blob(const_cast<std::uint32_t*>(shard.data()), {windows * windowTokens}, torch::kInt32)
                            .view({windows, windowTokens});
  for (std::int64_t first = 0; first < windows; first += microBatch) {
    const std::int64_t rows = std::min(microBatch, windows - first);
    torch::Tensor rowsBlock = block.narrow(0, first, rows).to(torch::kInt64);  // ids < 2³¹: int32 view is exact
    torch::Tensor inputs = rowsBlock.narrow(1, 0, seqLen).to(device);
    torch::Tensor labels = rowsBlock.narrow(1, 1, seqLen).to(device);
    Bf16Autocast autocast(device);
    torch::Tensor logits = model.forward(inputs);
    torch::nn::functional::cross_entropy(logits.reshape({-1, logits.size(-1)}).to(torch::kFloat32), labels.reshape({-1}),
                                         torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
        .backward();
  }
  SummedGradient out;
  out.tokens = windows * seqLen;
  std::vector<torch::Tensor> flat;
  for (const torch::Tensor& p : parameters) {
    flat.push_back(p.grad().defined() ? p.grad().detach().to(torch::kCPU, torch::kFloat32).reshape({-1})
                                      : torch::zeros({p.numel()}, torch::kFloat32));
  }
  out.gradient = flat.empty() ? torch::zeros({0}) : torch::cat(flat);
  // Every parameter's gradient back to none (not only `parameters`: backward filled them all).
  for (auto& p : model.parameters()) p.mutable_grad().reset();
  model.train(wasTraining);
  return out;
}

}  // namespace dmoe
