// The autograd nodes of model/fused_ops.h over model/cpu_kernels.h.
#include "model/fused_ops.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>

#include "model/cpu_kernels.h"

namespace dmoe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using kernels::kElementsPerChunk;
using kernels::rowsPerChunk;
// RMSNorm's weight gradient is summed per block of this many rows, then over the
// blocks in order: the same bits whatever the thread count.
constexpr std::int64_t kWeightBlockRows = 64;

bool fusedOnCpu(const torch::Tensor& a, const torch::Tensor& b) {
  return a.device().is_cpu() && b.device().is_cpu() && a.scalar_type() == torch::kFloat32 &&
         b.scalar_type() == torch::kFloat32 && a.numel() > 0 && b.numel() > 0;
}

struct RmsNormFunction : torch::autograd::Function<RmsNormFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& input, const torch::Tensor& weight,
                               double eps, bool unitOffset) {
    const torch::Tensor x = input.contiguous(), w = weight.contiguous();
    const std::int64_t d = x.size(-1), rows = x.numel() / d;
    torch::Tensor y = torch::empty_like(x);
    torch::Tensor rstd = torch::empty({rows}, x.options());
    at::parallel_for(0, rows, rowsPerChunk(d), [&](std::int64_t r0, std::int64_t r1) {
      kernels::rmsNormForward(x.data_ptr<float>(), w.data_ptr<float>(), unitOffset, static_cast<float>(eps), d, r0,
                              r1, y.data_ptr<float>(), rstd.data_ptr<float>());
    });
    ctx->save_for_backward({x, w, rstd});
    ctx->saved_data["unit_offset"] = unitOffset;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    refuseDoubleBackward("RmsNormFunction");
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &rstd = saved[2];
    const bool unitOffset = ctx->saved_data["unit_offset"].toBool();
    const torch::Tensor g = grads[0].contiguous();
    const std::int64_t d = x.size(-1), rows = x.numel() / d;
    const std::int64_t blocks = (rows + kWeightBlockRows - 1) / kWeightBlockRows;
    torch::Tensor dx = torch::empty_like(x);
    torch::Tensor partial = torch::zeros({blocks, d}, x.options());
    at::parallel_for(0, blocks, std::max<std::int64_t>(1, rowsPerChunk(d) / kWeightBlockRows),
                     [&](std::int64_t b0, std::int64_t b1) {
                       for (std::int64_t b = b0; b < b1; ++b)
                         kernels::rmsNormBackward(g.data_ptr<float>(), x.data_ptr<float>(), w.data_ptr<float>(),
                                                  unitOffset, rstd.data_ptr<float>(), d, b * kWeightBlockRows,
                                                  std::min(rows, (b + 1) * kWeightBlockRows), dx.data_ptr<float>(),
                                                  partial.data_ptr<float>() + b * d);
                     });
    torch::Tensor dw = torch::zeros({d}, x.options());
    float* out = dw.data_ptr<float>();
    const float* in = partial.data_ptr<float>();
    for (std::int64_t b = 0; b < blocks; ++b)
      for (std::int64_t i = 0; i < d; ++i) out[i] += in[b * d + i];
    return {dx, dw, torch::Tensor(), torch::Tensor()};
  }
};

struct SwiGluFunction : torch::autograd::Function<SwiGluFunction> {
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& gate, const torch::Tensor& up) {
    const torch::Tensor a = gate.contiguous(), b = up.contiguous();
    torch::Tensor h = torch::empty_like(a);
    at::parallel_for(0, a.numel(), kElementsPerChunk, [&](std::int64_t i0, std::int64_t i1) {
      kernels::swiGluForward(a.data_ptr<float>(), b.data_ptr<float>(), i0, i1, h.data_ptr<float>());
    });
    ctx->save_for_backward({a, b});
    return h;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    refuseDoubleBackward("SwiGluFunction");
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &a = saved[0], &b = saved[1];
    const torch::Tensor g = grads[0].contiguous();
    torch::Tensor da = torch::empty_like(a), db = torch::empty_like(b);
    at::parallel_for(0, a.numel(), kElementsPerChunk, [&](std::int64_t i0, std::int64_t i1) {
      kernels::swiGluBackward(g.data_ptr<float>(), a.data_ptr<float>(), b.data_ptr<float>(), i0, i1,
                              da.data_ptr<float>(), db.data_ptr<float>());
    });
    return {da, db};
  }
};

#if !DMOE_TORCH_AT_LEAST(2, 0)
struct CausalSoftmaxFunction : torch::autograd::Function<CausalSoftmaxFunction> {
  // scores [..., R, T] fp32 with R a multiple of T: row r is query position r mod T.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& scores) {
    const torch::Tensor s = scores.contiguous();
    const std::int64_t t = s.size(-1), rows = s.numel() / t;
    TORCH_INTERNAL_ASSERT(s.dim() >= 2 && s.size(-2) % t == 0, "causal softmax: rows must be whole [T,T] blocks");
    torch::Tensor y = torch::empty_like(s);
    at::parallel_for(0, rows, rowsPerChunk(t), [&](std::int64_t r0, std::int64_t r1) {
      kernels::causalSoftmaxForward(s.data_ptr<float>(), t, r0, r1, y.data_ptr<float>());
    });
    ctx->save_for_backward({y});
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    refuseDoubleBackward("CausalSoftmaxFunction");
    const torch::Tensor y = ctx->get_saved_variables()[0];
    const torch::Tensor g = grads[0].contiguous();
    const std::int64_t t = y.size(-1), rows = y.numel() / t;
    torch::Tensor dx = torch::empty_like(y);
    at::parallel_for(0, rows, rowsPerChunk(t), [&](std::int64_t r0, std::int64_t r1) {
      kernels::causalSoftmaxBackward(g.data_ptr<float>(), y.data_ptr<float>(), t, r0, r1, dx.data_ptr<float>());
    });
    return {dx};
  }
};

// Softmax over the last dim of causally masked scores (−∞ above the diagonal of
// each [T,T] block): the fused kernel skips the masked columns.
torch::Tensor causalSoftmax(const torch::Tensor& scores) {
  if (scores.device().is_cpu() && scores.scalar_type() == torch::kFloat32 && scores.numel() > 0)
    return CausalSoftmaxFunction::apply(scores);
  return torch::softmax(scores, -1);
}
#endif

torch::Tensor composedRmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unitOffset) {
  const torch::Tensor x32 = x.to(torch::kFloat32);
  const torch::Tensor normalised = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (unitOffset) return (normalised * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight * normalised.to(x.scalar_type());
}

}  // namespace

void refuseDoubleBackward(const char* node) {
  if (torch::GradMode::is_enabled())
    throw std::logic_error(std::string(node) +
                           ": a backward with create_graph (double backward) through the fused CPU kernel; its "
                           "gradient has no gradient (run the model in float64 for higher derivatives)");
}

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unitOffset) {
  if (fusedOnCpu(x, weight) && weight.dim() == 1 && weight.size(0) == x.size(-1))
    return RmsNormFunction::apply(x, weight, eps, unitOffset);
  return composedRmsNorm(x, weight, eps, unitOffset);
}

torch::Tensor causalAttention(const torch::Tensor& q, torch::Tensor k, torch::Tensor v, const torch::Tensor& bias) {
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
  const torch::Tensor weights = causalSoftmax(scores.to(torch::kFloat32)).to(v.scalar_type());  // [B·Hkv, g·T, T]
  return torch::bmm(weights, v.reshape({b * kvHeads, t, dh})).view({b, heads, t, dh});
#endif
}

torch::Tensor gatedActivation(const torch::Tensor& gate, const torch::Tensor& up, const std::string& activation) {
  if (activation == "silu") {
    if (fusedOnCpu(gate, up) && gate.sizes() == up.sizes()) return SwiGluFunction::apply(gate, up);
    return torch::silu(gate) * up;
  }
  if (activation == "gelu") return torch::gelu(gate) * up;
  return torch::gelu(gate, "tanh") * up;  // gelu_pytorch_tanh, gelu_new
}

}  // namespace dmoe
