// The language-modelling loss of a batch: Σ over scored positions of
// −log softmax(logits)[label] (labels equal to kIgnoreLabel are not scored),
// as one fp32 scalar. On CPU one autograd node over the fused loops of
// model/cpu_kernels.h: the forward keeps only the logits and one log-sum-exp
// per row (no [N,V] log-probabilities), the backward writes softmax − onehot
// in one pass; elsewhere (CUDA) LibTorch's cross_entropy.
// tests/test_fused_ops.cpp checks the two against each other.
// Not the router losses (train/router_losses.h) nor held-out scoring
// (train/perplexity.h).
#pragma once
#include "torch_compat.h"

namespace dmoe {

// logits [..., V] (any float dtype; computed in fp32), labels [...] int64 in
// [0, V) or kIgnoreLabel, one per position. Throws InputError when the counts
// differ, and on the CPU for a label outside that range.
torch::Tensor tokenLossSum(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace dmoe
