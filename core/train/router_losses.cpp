// The DMoE router losses (see the header).
#include "train/router_losses.h"

#include "train/batch_source.h"
#include "util/error.h"

namespace dmoe {

torch::Tensor routerClassificationLoss(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels) {
  if (logits.empty()) throw InputError("router classification loss: the model has no MoE layer");
  torch::Tensor total;
  for (const torch::Tensor& layer : logits) {
    torch::Tensor loss = torch::nn::functional::cross_entropy(
        layer.to(torch::kFloat32), labels.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel));
    total = total.defined() ? total + loss : loss;
  }
  return total / static_cast<double>(logits.size());
}

torch::Tensor switchBalanceLoss(const torch::Tensor& logits, const torch::Tensor& chosen, const torch::Tensor& mask) {
  const std::int64_t experts = logits.size(-1);
  torch::Tensor probabilities = torch::softmax(logits.to(torch::kFloat32), -1);  // [N,E]
  // [N,E]: how many of each token's k slots went to e (0 or 1 each, as top-k picks distinct experts).
  torch::Tensor dispatched = torch::zeros_like(probabilities).scatter_(1, chosen, 1.0);
  torch::Tensor weight = mask.defined() ? mask.to(torch::kFloat32).unsqueeze(-1) : torch::ones_like(probabilities.narrow(1, 0, 1));
  const torch::Tensor tokens = weight.sum().clamp_min(1.0);
  const torch::Tensor f = (dispatched * weight).sum(0) / tokens;  // [E], Σ = k (HF Mixtral / MoE-LPR form)
  const torch::Tensor p = (probabilities * weight).sum(0) / tokens;                                        // [E]
  return static_cast<double>(experts) * (f.detach() * p).sum();
}

torch::Tensor lprLoss(const std::vector<torch::Tensor>& logits, const torch::Tensor& old) {
  if (logits.empty()) throw InputError("LPR loss: the model has no MoE layer");
  const torch::Tensor weight = old.reshape({-1}).to(logits.front().device(), torch::kFloat32);  // [N]
  const torch::Tensor tokens = weight.sum().clamp_min(1.0);  // no old token: every term is 0
  torch::Tensor total;
  for (const torch::Tensor& layer : logits) {
    // −log p(expert 0) under the layer's one softmax (the reference's second softmax is not applied).
    const torch::Tensor nll = -torch::log_softmax(layer.to(torch::kFloat32), -1).select(1, 0);  // [N]
    const torch::Tensor loss = (nll * weight).sum() / tokens;
    total = total.defined() ? total + loss : loss;
  }
  return total / static_cast<double>(logits.size());
}

}  // namespace dmoe
