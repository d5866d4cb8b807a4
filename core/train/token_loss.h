// The language-modelling loss of a batch: Σ over scored positions of
// −log softmax(logits)[label] (labels equal to kIgnoreLabel are not scored),
// as one fp32 scalar. On CPU fp32 logits one autograd node over the fused
// loops of model/cpu_kernels.h: no [N,V] log-probabilities are kept, and the
// backward writes softmax − onehot in one pass; elsewhere (CUDA, bf16) LibTorch's
// cross_entropy. tests/test_trainer.cpp checks both against each other.
#pragma once
#include "torch_compat.h"

namespace dmoe {

// logits [..., V] (any float dtype; computed in fp32), labels [...] int64 in
// [0, V) or kIgnoreLabel. Throws InputError for a label outside that range.
torch::Tensor tokenLossSum(const torch::Tensor& logits, const torch::Tensor& labels);

}  // namespace dmoe
