// The one place where LibTorch versions differ (Debian's 1.13 CPU build here,
// 2.x with CUDA on GPU machines). Everything else includes <torch/torch.h>
// through this header and stays version-agnostic.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
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
  const std::int64_t b = q.size(0), heads = q.size(1), t = q.size(2), dh = q.size(3);
  const std::int64_t kvHeads = k.size(1), groups = heads / kvHeads;
#if DMOE_TORCH_AT_LEAST(2, 0)
  if (groups > 1) {
    k = k.repeat_interleave(groups, /*dim=*/1);
    v = v.repeat_interleave(groups, /*dim=*/1);
  }
  if (!bias.defined()) return at::scaled_dot_product_attention(q, k, v, {}, 0.0, /*is_causal=*/true);
  // An explicit mask excludes is_causal: fold the causal mask into the bias.
  const torch::Tensor future = torch::ones({t, t}, q.options().dtype(torch::kBool)).triu(1);
  const torch::Tensor mask = bias.to(q.scalar_type()).masked_fill(future, -std::numeric_limits<float>::infinity());
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, /*is_causal=*/false);
#else
  // Without fused attention: the query heads that share a KV head are folded
  // into the rows of one product ([B·Hkv, g·T, Dh] · [B·Hkv, Dh, T]; head
  // h = kv·g + j gives rows j·T … j·T+T−1), so K and V are never repeated, and
  // the scale, the causal mask and any bias enter that product as baddbmm's
  // addend (no separate passes over the [T,T] scores).
  const auto f32 = q.options().dtype(torch::kFloat32);
  torch::Tensor addend =  // [g·T, T]: 0 on and below the diagonal, −∞ above
      torch::full({t, t}, -std::numeric_limits<float>::infinity(), f32).triu(1).repeat({groups, 1});
  if (bias.defined()) {
    const torch::Tensor folded =
        bias.to(torch::kFloat32).expand({bias.size(0), heads, t, t}).reshape({bias.size(0), kvHeads, groups * t, t});
    addend = (folded + addend).expand({b, kvHeads, groups * t, t}).reshape({b * kvHeads, groups * t, t});
  }
  const torch::Tensor rows = q.reshape({b * kvHeads, groups * t, dh});
  const torch::Tensor scores = torch::baddbmm(addend.to(q.scalar_type()), rows, k.reshape({b * kvHeads, t, dh}).transpose(1, 2),
                                              /*beta=*/1.0, /*alpha=*/1.0 / std::sqrt(static_cast<double>(dh)));
  const torch::Tensor weights = torch::softmax(scores.to(torch::kFloat32), -1).to(v.scalar_type());  // [B·Hkv, g·T, T]
  return torch::bmm(weights, v.reshape({b * kvHeads, t, dh})).view({b, heads, t, dh});
#endif
}

}  // namespace dmoe::compat
