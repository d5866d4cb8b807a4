// The DMoE router losses (see the header).
#include "train/router_losses.h"

#include <limits>

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

torch::Tensor lprLoss(const std::vector<torch::Tensor>& logits, const std::vector<torch::Tensor>& expertGenerations,
                      const torch::Tensor& tokenGeneration, std::int64_t newest) {
  if (logits.empty()) throw InputError("LPR loss: the model has no MoE layer");
  if (expertGenerations.size() != logits.size())
    throw InputError("LPR loss: expert generations for " + std::to_string(expertGenerations.size()) + " layers, logits for " +
                     std::to_string(logits.size()));
  const torch::Device device = logits.front().device();
  const torch::Tensor generation = tokenGeneration.reshape({-1}).to(device);  // [N]
  const torch::Tensor weight = (generation < newest).to(torch::kFloat32);     // [N]
  const torch::Tensor tokens = weight.sum().clamp_min(1.0);                   // no old token: every term is 0
  torch::Tensor total;
  for (size_t l = 0; l < logits.size(); ++l) {
    // −log Σ_{gen(e) ≤ g} pₑ under the layer's one softmax (the reference's second softmax is not applied);
    // for g = 0 the sum holds expert 0 alone and the log-sum-exp is its log-probability, exactly.
    const torch::Tensor logp = torch::log_softmax(logits[l].to(torch::kFloat32), -1);                   // [N,E]
    const torch::Tensor later = expertGenerations[l].to(device).unsqueeze(0) > generation.unsqueeze(-1);  // [N,E]
    const torch::Tensor nll = -logp.masked_fill(later, -std::numeric_limits<float>::infinity()).logsumexp(-1);  // [N]
    const torch::Tensor loss = (nll * weight).sum() / tokens;
    total = total.defined() ? total + loss : loss;
  }
  return total / static_cast<double>(logits.size());
}

}  // namespace dmoe
