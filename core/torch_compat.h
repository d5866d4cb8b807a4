// The one place where LibTorch versions differ (Debian's 1.13 CPU build here,
// 2.x with CUDA on GPU machines). Everything else includes <torch/torch.h>
// through this header and stays version-agnostic.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#include <limits>

#define DMOE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace dmoe::compat {

// "1.13.0"
inline const char* torchVersion() { return TORCH_VERSION; }

// at::scaled_dot_product_attention (fused kernels, flash on CUDA) exists from 2.0.
constexpr bool kHasFusedAttention = DMOE_TORCH_AT_LEAST(2, 0);

// Causal self-attention with the 1/sqrt(Dh) scale of every family we support.
//   q [B,H,T,Dh], k and v [B,Hkv,T,Dh] with H a multiple of Hkv (grouped-query
//   attention: each KV head serves H/Hkv consecutive query heads, as HF's repeat_kv).
//   bias: optional additive score bias broadcastable to [B,H,T,T] (ALiBi).
// Returns [B,H,T,Dh] in q's dtype. The softmax runs in fp32.
inline torch::Tensor causalAttention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v,
                                     const torch::Tensor& bias = {}) {
  const std::int64_t groups = q.size(1) / k.size(1);
  if (groups > 1) {
    k = k.repeat_interleave(groups, /*dim=*/1);
    v = v.repeat_interleave(groups, /*dim=*/1);
  }
  const std::int64_t t = q.size(2);
  // Future keys (column > row) are masked.
  auto future = [&] { return torch::ones({t, t}, q.options().dtype(torch::kBool)).triu(1); };  // keys after the query
#if DMOE_TORCH_AT_LEAST(2, 0)
  if (!bias.defined()) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
  // An explicit mask excludes is_causal: fold the causal mask into the bias.
  const torch::Tensor mask = bias.to(q.scalar_type()).masked_fill(future(), -std::numeric_limits<float>::infinity());
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, /*is_causal=*/false);
#else
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q, k.transpose(-2, -1)).to(torch::kFloat32) * scale;  // [B,H,T,T]
  if (bias.defined()) scores = scores + bias.to(torch::kFloat32);
  scores = scores.masked_fill(future(), -std::numeric_limits<float>::infinity());
  return torch::matmul(torch::softmax(scores, -1).to(v.scalar_type()), v);
#endif
}

}  // namespace dmoe::compat
