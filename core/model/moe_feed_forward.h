// The mixture-of-experts FFN of a DMoE layer (SPEC §1.5): E experts (each an
// FFN of the model's family) and a router, a linear map D → E without bias,
// applied per token to the FFN input (the post-attention normalised state).
//
//   soft routing — softmax of the router logits in fp32, the top-k experts
//       (k capped at E), their probabilities renormalised to sum to 1, the
//       weighted sum of those experts' outputs. Inference and stage 2.
//   hard routing — every token of batch row b goes to expert rowExpert[b]
//       with weight 1 (stage 1, expert probing, the "oracle" evaluation).
//
// Registered names follow Qwen3-MoE (FORMATS.md): the router is "gate", the
// experts "experts.<e>.<the family's FFN names>", so a merged Llama layer
// stores model.layers.N.mlp.gate.weight and model.layers.N.mlp.experts.E.up_proj.weight.
//
// Optional language classifier (LayerMoE, SPEC §2.3): a linear map D → C
// without bias on the causal running mean of the layer's FFN inputs (position
// t averages positions 0…t of its row, never later ones; the input is
// detached, so only the classify loss trains it). In eval mode its argmax
// decides per token: class 0 → expert 0 alone (weight 1), class c ≥ 1 → the
// usual top-k over the experts of generation ≤ c (the later ones masked out
// of the softmax). In train mode it only records its logits for the classify
// loss, so an untrained classifier never steers the training forward pass.
// A classifier that knows fewer classes than the layer has expert generations
// (a lifelong expansion's stage 1, before it is grown) does not decide either:
// it cannot send a token to the newest experts.
// Registered as "classifier" (mlp.classifier.weight).
//
// Expert generations (LayerMoE, lifelong): every expert belongs to the
// language generation it was added for — the original expert 0 to 0, the
// first expansion's experts to 1, a second expansion's to 2. All 0 unless set.
//
// Every forward keeps the router logits (and under soft routing the chosen
// experts) of its tokens for the router losses (train/router_losses.h). The
// routing mode is one Routing object shared by all MoE layers of a model, set
// by whoever runs the forward pass (a trainer hook, the evaluator).
// Not here: which layers become MoE and the on-disk layout (model/dmoe_model.h).
#pragma once
#include <cstdint>
#include <memory>
#include <vector>

#include "model/causal_lm.h"

namespace dmoe {

struct Routing {
  enum class Mode { Soft, Hard };
  Mode mode = Mode::Soft;
  std::vector<std::int64_t> rowExpert;  // hard: the expert of each batch row (host values)
  bool uniform = false;                 // hard: rowExpert[0] serves every row, whatever B is

  void soft() { *this = Routing(); }
  void hardAll(std::int64_t expert) { *this = Routing{Mode::Hard, {expert}, true}; }
  void hardRows(std::vector<std::int64_t> experts) { *this = Routing{Mode::Hard, std::move(experts), false}; }
};

class MoeFeedForwardImpl : public FeedForwardImpl {
 public:
  // `experts` become children "experts.0".."experts.E-1"; the router is initialised N(0, routerStd).
  MoeFeedForwardImpl(std::vector<std::shared_ptr<FeedForwardImpl>> experts, std::int64_t hiddenSize,
                     std::int64_t topK, double routerStd, std::shared_ptr<Routing> routing);

  torch::Tensor forward(const torch::Tensor& x) override;  // [B,T,D] → [B,T,D]

  std::int64_t numExperts() const { return static_cast<std::int64_t>(experts->size()); }
  std::int64_t topK() const { return std::min(topK_, numExperts()); }
  std::shared_ptr<FeedForwardImpl> expert(std::int64_t e) const;
  const std::shared_ptr<Routing>& routing() const { return routing_; }

  // Appends `expert` as expert E and a router row equal to row `routerRowFrom` (SPEC §1.8 step 2).
  void addExpert(std::shared_ptr<FeedForwardImpl> expert, std::int64_t routerRowFrom);

  // Appends `added` as new experts of `generation` and router rows for them,
  // drawn xavier-normal for the grown router's shape (as if it were new; the
  // existing rows are kept), from torch's current generator.
  void addExperts(std::vector<std::shared_ptr<FeedForwardImpl>> added, std::int64_t generation);

  // Adds the classifier (C classes, xavier-normal); throws InputError when there is one or C < 2.
  void addClassifier(std::int64_t classes);
  // Grows the classifier to `classes` rows: the existing rows are kept, the new
  // ones drawn xavier-normal for the grown shape. InputError without a classifier or when not growing.
  void growClassifier(std::int64_t classes);
  std::int64_t classes() const { return classifier ? classifier->weight.size(0) : 0; }

  // Hugging Face MoE families (model/hub_moe.h): Qwen2-MoE's shared expert,
  // added to every token's output as sigmoid(shared_expert_gate(x)) ·
  // shared_expert(x) under either routing (children "shared_expert" and
  // "shared_expert_gate", D → 1 without bias); and whether the top-k weights
  // are renormalised (the DMoE, Mixtral: yes; Qwen1.5-MoE: norm_topk_prob false).
  void addSharedExpert(std::shared_ptr<FeedForwardImpl> shared);
  void setNormalizeTopK(bool normalize) { normalizeTopK_ = normalize; }
  bool normalizesTopK() const { return normalizeTopK_; }

  // One generation per expert (InputError when the count differs from E or a value is negative).
  void setExpertGenerations(std::vector<std::int64_t> generations);
  const std::vector<std::int64_t>& expertGenerations() const { return generations_; }

  // Of the last forward: router logits [B·T, E] in fp32, under soft routing
  // the chosen experts [B·T, k] (undefined under hard routing; −1 marks an
  // empty slot when a deciding classifier leaves fewer than k experts), and
  // with a classifier its logits [B·T, C] in fp32 (undefined without).
  torch::Tensor lastRouterLogits, lastTopExperts, lastClassLogits;

  torch::nn::Linear gate{nullptr};
  torch::nn::ModuleList experts{nullptr};
  torch::nn::Linear classifier{nullptr};
  std::shared_ptr<FeedForwardImpl> sharedExpert;  // null without
  torch::nn::Linear sharedExpertGate{nullptr};

 private:
  torch::Tensor routed(const torch::Tensor& x);                                   // [B,T,D], no shared expert
  torch::Tensor forwardHard(const torch::Tensor& x);                              // [B,T,D]
  // [N,D], [N,E], optional [N] int64 (the classifier's class per token) → [N,D]
  torch::Tensor forwardSoft(const torch::Tensor& flat, const torch::Tensor& logits, const torch::Tensor& tokenClass);
  bool classifierDecides() const;
  std::int64_t topK_;
  bool normalizeTopK_ = true;
  std::shared_ptr<Routing> routing_;
  std::vector<std::int64_t> generations_;  // per expert
  torch::Tensor generationsOnDevice_;      // generations_ as an int64 tensor, built when first needed
};
TORCH_MODULE(MoeFeedForward);

// The causal running mean over positions: [B,T,D] → [B,T,D], position t = mean of 0…t of its row.
torch::Tensor causalRunningMean(const torch::Tensor& x);

// A copy of an FFN of `config`'s family with the same weights (values, not shared storage).
std::shared_ptr<FeedForwardImpl> copyFeedForward(const FeedForwardImpl& source, const ModelConfig& config);

}  // namespace dmoe
