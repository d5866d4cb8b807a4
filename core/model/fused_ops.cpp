// The autograd nodes of model/fused_ops.h over model/cpu_kernels.h.
#include "model/fused_ops.h"

#include <ATen/Parallel.h>

#include <algorithm>

#include "model/cpu_kernels.h"

namespace dmoe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Rows per parallel chunk: about 32 K elements, so thread hand-offs stay cheap.
std::int64_t rowGrain(std::int64_t width) { return std::max<std::int64_t>(1, (std::int64_t{1} << 15) / width); }
constexpr std::int64_t kElementGrain = std::int64_t{1} << 15;
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
    at::parallel_for(0, rows, rowGrain(d), [&](std::int64_t r0, std::int64_t r1) {
      kernels::rmsNormForward(x.data_ptr<float>(), w.data_ptr<float>(), unitOffset, static_cast<float>(eps), d, r0,
                              r1, y.data_ptr<float>(), rstd.data_ptr<float>());
    });
    ctx->save_for_backward({x, w, rstd});
    ctx->saved_data["unit_offset"] = unitOffset;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &w = saved[1], &rstd = saved[2];
    const bool unitOffset = ctx->saved_data["unit_offset"].toBool();
    const torch::Tensor g = grads[0].contiguous();
    const std::int64_t d = x.size(-1), rows = x.numel() / d;
    const std::int64_t blocks = (rows + kWeightBlockRows - 1) / kWeightBlockRows;
    torch::Tensor dx = torch::empty_like(x);
    torch::Tensor partial = torch::zeros({blocks, d}, x.options());
    at::parallel_for(0, blocks, std::max<std::int64_t>(1, rowGrain(d) / kWeightBlockRows),
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
    at::parallel_for(0, a.numel(), kElementGrain, [&](std::int64_t i0, std::int64_t i1) {
      kernels::swiGluForward(a.data_ptr<float>(), b.data_ptr<float>(), i0, i1, h.data_ptr<float>());
    });
    ctx->save_for_backward({a, b});
    return h;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &a = saved[0], &b = saved[1];
    const torch::Tensor g = grads[0].contiguous();
    torch::Tensor da = torch::empty_like(a), db = torch::empty_like(b);
    at::parallel_for(0, a.numel(), kElementGrain, [&](std::int64_t i0, std::int64_t i1) {
      kernels::swiGluBackward(g.data_ptr<float>(), a.data_ptr<float>(), b.data_ptr<float>(), i0, i1,
                              da.data_ptr<float>(), db.data_ptr<float>());
    });
    return {da, db};
  }
};

torch::Tensor composedRmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unitOffset) {
  const torch::Tensor x32 = x.to(torch::kFloat32);
  const torch::Tensor normalised = x32 * torch::rsqrt(x32.pow(2).mean(-1, /*keepdim=*/true) + eps);
  if (unitOffset) return (normalised * (1.0 + weight.to(torch::kFloat32))).to(x.scalar_type());
  return weight * normalised.to(x.scalar_type());
}

}  // namespace

torch::Tensor rmsNorm(const torch::Tensor& x, const torch::Tensor& weight, double eps, bool unitOffset) {
  if (fusedOnCpu(x, weight)) return RmsNormFunction::apply(x, weight, eps, unitOffset);
  return composedRmsNorm(x, weight, eps, unitOffset);
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
