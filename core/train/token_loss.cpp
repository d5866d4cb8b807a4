// The autograd node of train/token_loss.h over model/cpu_kernels.h.
#include "train/token_loss.h"

#include <ATen/Parallel.h>

#include <string>

#include "model/cpu_kernels.h"
#include "model/fused_ops.h"
#include "train/batch_source.h"
#include "util/error.h"

namespace dmoe {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

using kernels::rowsPerChunk;

void checkLabels(const torch::Tensor& labels, std::int64_t vocab) {
  const std::int64_t* l = labels.data_ptr<std::int64_t>();
  for (std::int64_t i = 0; i < labels.numel(); ++i)
    if (l[i] != kIgnoreLabel && (l[i] < 0 || l[i] >= vocab))
      throw InputError("token loss: label " + std::to_string(l[i]) + " at position " + std::to_string(i) +
                       " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
}

struct TokenLossFunction : torch::autograd::Function<TokenLossFunction> {
  // logits [N,V] fp32 contiguous, labels [N] int64 contiguous and checked.
  static torch::Tensor forward(AutogradContext* ctx, const torch::Tensor& logits, const torch::Tensor& labels) {
    const std::int64_t rows = logits.size(0), vocab = logits.size(1);
    torch::Tensor lse = torch::empty({rows}, logits.options());
    torch::Tensor rowLoss = torch::empty({rows}, logits.options());
    at::parallel_for(0, rows, rowsPerChunk(vocab), [&](std::int64_t r0, std::int64_t r1) {
      kernels::crossEntropyForward(logits.data_ptr<float>(), labels.data_ptr<std::int64_t>(), kIgnoreLabel, vocab, r0,
                                   r1, lse.data_ptr<float>(), rowLoss.data_ptr<float>());
    });
    double total = 0;  // in row order: the same bits whatever the thread count
    const float* loss = rowLoss.data_ptr<float>();
    for (std::int64_t r = 0; r < rows; ++r) total += loss[r];
    ctx->save_for_backward({logits, labels, lse});
    return torch::scalar_tensor(total, logits.options());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    refuseDoubleBackward("TokenLossFunction");
    const variable_list saved = ctx->get_saved_variables();
    const torch::Tensor &logits = saved[0], &labels = saved[1], &lse = saved[2];
    const std::int64_t rows = logits.size(0), vocab = logits.size(1);
    const float scale = grads[0].item<float>();  // a CPU scalar: no device sync
    torch::Tensor dlogits = torch::empty_like(logits);
    at::parallel_for(0, rows, rowsPerChunk(vocab), [&](std::int64_t r0, std::int64_t r1) {
      kernels::crossEntropyBackward(logits.data_ptr<float>(), labels.data_ptr<std::int64_t>(), kIgnoreLabel,
                                    lse.data_ptr<float>(), scale, vocab, r0, r1, dlogits.data_ptr<float>());
    });
    return {dlogits, torch::Tensor()};
  }
};

}  // namespace

torch::Tensor tokenLossSum(const torch::Tensor& logits, const torch::Tensor& labels) {
  const std::int64_t vocab = logits.size(-1);
  const torch::Tensor flatLogits = logits.reshape({-1, vocab}).to(torch::kFloat32);
  const torch::Tensor flatLabels = labels.reshape({-1});
  if (flatLabels.numel() != flatLogits.size(0))
    throw InputError("token loss: " + std::to_string(flatLabels.numel()) + " labels for " +
                     std::to_string(flatLogits.size(0)) + " positions of logits");
  if (flatLogits.device().is_cpu() && flatLabels.device().is_cpu() && flatLabels.scalar_type() == torch::kInt64 &&
      flatLogits.numel() > 0) {
    const torch::Tensor contiguousLabels = flatLabels.contiguous();
    checkLabels(contiguousLabels, vocab);
    return TokenLossFunction::apply(flatLogits.contiguous(), contiguousLabels);
  }
  return torch::nn::functional::cross_entropy(
      flatLogits, flatLabels,
      torch::nn::functional::CrossEntropyFuncOptions().ignore_index(kIgnoreLabel).reduction(torch::kSum));
}

}  // namespace dmoe
