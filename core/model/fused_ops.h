// The element-wise chains of the Llama family's layers as functions: RMSNorm
// and the gated activation act(gate) ⊙ up. On CPU fp32 tensors each is one
// autograd node over the fused loops of model/cpu_kernels.h (one pass forward,
// one backward, rows split over LibTorch's threads); on every other device or
// dtype (CUDA, bf16 autocast) the composed formulas of HF's modeling files.
// Both paths compute the same function; tests/test_model.cpp checks the fused
// one against the composed one in float64, values and gradients.
// Not a module: model/llama.h's modules call these.
#pragma once
#include <string>

#include "torch_compat.h"

namespace dmoe {

// RMSNorm over the last dim in fp32: x̂ = x / √(mean(x²) + eps); Llama/Qwen2:
// weight · x̂ (x̂ cast back to x's dtype first, as HF); Gemma (unitOffset):
// x̂ · (1 + weight) in fp32, cast back. x [..., D], weight [D].
torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unitOffset);

// act(gate) ⊙ up for act = silu, gelu, gelu_pytorch_tanh or gelu_new (tanh
// approximation); gate and up of one shape. Only silu has a fused CPU kernel.
torch::Tensor gatedActivation(const torch::Tensor& gate, const torch::Tensor& up, const std::string& activation);

}  // namespace dmoe
