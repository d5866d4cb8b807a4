// The stationarity diagnostic (see the header).
#include "train/stationarity.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "train/autocast_guard.h"
#include "train/token_loss.h"
#include "util/error.h"

namespace dmoe {

void StationarityRatio::add(const torch::Tensor& weightedGradient) {
  const torch::Tensor g = weightedGradient.detach().to(torch::kCPU, torch::kFloat64).reshape({-1});
  const double norm = g.norm().item<double>();
  if (!std::isfinite(norm)) finite_ = false;
  sum_ = sum_.defined() ? sum_ + g : g.clone();
  norms_ += norm;
  squares_ += norm * norm;
}

double StationarityRatio::r() const {
  if (!finite_ || !(norms_ > 0)) return std::numeric_limits<double>::quiet_NaN();
  return sum_.norm().item<double>() / norms_;
}

double StationarityRatio::orthogonal() const {
  if (!finite_ || !(norms_ > 0)) return std::numeric_limits<double>::quiet_NaN();
  return std::sqrt(squares_) / norms_;
}

namespace {
// eval() for the scope, then the mode the model had, also when a forward pass throws.
class EvalModeScope {
 public:
  explicit EvalModeScope(CausalLMImpl& model) : model_(model), wasTraining_(model.is_training()) { model_.eval(); }
  ~EvalModeScope() { model_.train(wasTraining_); }
  EvalModeScope(const EvalModeScope&) = delete;
  EvalModeScope& operator=(const EvalModeScope&) = delete;

 private:
  CausalLMImpl& model_;
  bool wasTraining_;
};
}  // namespace

SummedGradient summedGradient(CausalLMImpl& model, const std::vector<torch::Tensor>& parameters, BatchSource& data,
                              std::int64_t rows, std::int64_t microBatch) {
  if (parameters.empty()) throw InputError("stationarity: no parameters to differentiate");
  if (rows < 1 || microBatch < 1) throw InputError("stationarity: rows and micro-batch must be ≥ 1");
  const torch::Device device = parameters.front().device();
  EvalModeScope evalMode(model);  // no dropout: the gradient of the model as it is
  std::vector<torch::Tensor> sums(parameters.size());
  SummedGradient out;
  for (std::int64_t done = 0; done < rows;) {
    const TrainBatch batch = data.next(std::min(microBatch, rows - done));
    done += batch.inputIds.size(0);
    out.tokens += (batch.labels != kIgnoreLabel).sum().item<std::int64_t>();  // CPU tensor
    torch::Tensor loss;
    {
      Bf16Autocast autocast(device);  // the forward only, as in training
      const torch::Tensor logits = model.forward(batch.inputIds.to(device));
      loss = tokenLossSum(logits, batch.labels.to(device));
    }
    const std::vector<torch::Tensor> grads =
        torch::autograd::grad({loss}, parameters, {}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
    for (std::size_t i = 0; i < parameters.size(); ++i) {
      if (!grads[i].defined()) continue;  // a parameter this batch does not reach
      sums[i] = sums[i].defined() ? sums[i] + grads[i] : grads[i];
    }
  }
  std::vector<torch::Tensor> flat;
  for (std::size_t i = 0; i < parameters.size(); ++i)
    flat.push_back(sums[i].defined() ? sums[i].to(torch::kCPU, torch::kFloat32).reshape({-1})
                                     : torch::zeros({parameters[i].numel()}, torch::kFloat32));
  out.gradient = torch::cat(flat);
  return out;
}

}  // namespace dmoe
