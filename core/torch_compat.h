// The one place where LibTorch versions differ (Debian's 1.13 CPU build here,
// 2.x with CUDA on GPU machines). Everything else includes <torch/torch.h>
// through this header and stays version-agnostic.
#pragma once
#include <torch/torch.h>
#include <torch/version.h>

#define DMOE_TORCH_AT_LEAST(major, minor) \
  (TORCH_VERSION_MAJOR > (major) || (TORCH_VERSION_MAJOR == (major) && TORCH_VERSION_MINOR >= (minor)))

namespace dmoe::compat {

// "1.13.0"
inline const char* torchVersion() { return TORCH_VERSION; }

// at::scaled_dot_product_attention (fused kernels, flash on CUDA) exists from 2.0.
constexpr bool kHasFusedAttention = DMOE_TORCH_AT_LEAST(2, 0);

}  // namespace dmoe::compat
