// The DMoE router losses (SPEC §1.6), on the router logits the MoE layers keep
// from their last forward pass (model/moe_feed_forward.h). N = tokens (B·T),
// E = experts.
//
//   L_RC (router classification, stage 1 and adaptation): the cross-entropy of
//       each MoE layer's router logits against the token's group label (the
//       expert of its sequence's group), mean over tokens, then over layers.
//   Balance (stage 2): Switch-Transformer form E · Σₑ fₑ · Pₑ per layer, mean
//       over layers; fₑ = fraction of tokens dispatched to e counting every
//       one of a token's k slots, so Σₑ fₑ = k as in HF Mixtral / MoE-LPR (no
//       gradient), Pₑ = mean router probability of e (the gradient path).
//       Exactly k when routing is perfectly balanced. Unlike the reference
//       code's constant, it has a gradient whenever the router is unbalanced.
//   LPR (LayerMoE review stage, SPEC §2.3, after MoE-LPR): the cross-entropy
//       of each MoE layer's router logits (one softmax over all N_i experts)
//       toward the frozen original expert 0, over the tokens of old-language
//       documents only, mean over those tokens, then over layers. New-language
//       tokens count nowhere; a batch without old tokens gives 0.
//       Lifelong (a second expansion): a token of an earlier generation g is
//       pushed toward the experts of generation ≤ g, −log Σ_{gen(e) ≤ g} pₑ —
//       for the base's languages (g = 0) exactly expert 0, so the one-round
//       loss is this one; the first expansion's languages keep the experts
//       they were given instead of being pushed back to the original FFN.
// Tokens outside `mask` (padding) count in neither.
#pragma once
#include <vector>

#include "torch_compat.h"

namespace dmoe {

// logits: per layer [N,E] fp32; labels [N] int64 expert indices (kIgnoreLabel = not counted).
torch::Tensor routerClassificationLoss(const std::vector<torch::Tensor>& logits, const torch::Tensor& labels);

// One layer: logits [N,E], chosen [N,k] expert indices, mask [N] bool (undefined = every token).
torch::Tensor switchBalanceLoss(const torch::Tensor& logits, const torch::Tensor& chosen, const torch::Tensor& mask = {});

// logits: per layer [N,E_l] fp32 (E may differ between layers); expertGenerations:
// per layer [E_l] int64, each expert's generation (expert 0 alone of generation 0);
// tokenGeneration [N] int64: the generation of the token's language. Tokens of
// generation < `newest` are reviewed.
torch::Tensor lprLoss(const std::vector<torch::Tensor>& logits, const std::vector<torch::Tensor>& expertGenerations,
                      const torch::Tensor& tokenGeneration, std::int64_t newest);

}  // namespace dmoe
