// The chains of small operations inside a decoder layer, as functions: causal
// attention, RMSNorm and the gated activation act(gate) ⊙ up. On CPU fp32
// tensors RMSNorm, SwiGLU and (under LibTorch 1.13, which has no fused
// attention) attention's causal softmax are each one autograd node
// over the fused loops of model/cpu_kernels.h (one pass forward, one backward,
// rows split over LibTorch's threads); on every other device or dtype (CUDA,
// bf16 autocast) the composed formulas of HF's modeling files. Both paths
// compute the same function; tests/test_fused_ops.cpp checks the fused one
// against the composed one in float64, values and gradients.
// Not modules: model/llama.h's and model/bloom.h's modules call these.
#pragma once
#include <string>

#include "torch_compat.h"

namespace dmoe {

// Causal self-attention with the 1/√Dh scale of every family we support.
//   q [B,H,T,Dh], k and v [B,Hkv,T,Dh] with H a multiple of Hkv (grouped-query
//   attention: each KV head serves H/Hkv consecutive query heads, as HF's repeat_kv).
//   bias: optional additive score bias broadcastable to [B,H,T,T] (ALiBi).
// Returns [B,H,T,Dh] in q's dtype; the softmax runs in fp32. LibTorch 2.x:
// at::scaled_dot_product_attention (flash kernels on CUDA); 1.13: two batched
// products around the fused causal softmax.
torch::Tensor causalAttention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const torch::Tensor& bias = {});

// RMSNorm over the last dim in fp32: x̂ = x / √(mean(x²) + eps); Llama/Qwen2:
// weight · x̂ (x̂ cast back to x's dtype first, as HF); Gemma (unitOffset):
// x̂ · (1 + weight) in fp32, cast back. x [..., D], weight [D].
torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unitOffset);

// act(gate) ⊙ up for act = silu, gelu, gelu_pytorch_tanh or gelu_new (tanh
// approximation); gate and up of one shape. Only silu has a fused CPU kernel.
torch::Tensor gatedActivation(const torch::Tensor& gate, const torch::Tensor& up, const std::string& activation);

// First thing in every fused node's backward (here and train/token_loss.cpp):
// those gradients come from raw loops that have no gradient themselves, so a
// backward with create_graph (double backward) throws, naming the node, rather
// than giving silently wrong second derivatives.
void refuseDoubleBackward(const char* node);

}  // namespace dmoe
