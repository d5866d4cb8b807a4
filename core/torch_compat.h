// The one place where LibTorch versions are told apart (Debian's 1.13 CPU
// build here, 2.x with CUDA on GPU machines): DMOE_TORCH_AT_LEAST. Everything
// else includes <torch/torch.h> through this header; the code paths that
// differ by version use that macro: causalAttention (model/fused_ops.cpp:
// at::scaled_dot_product_attention from 2.0) and train/autocast_guard.h.
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

}  // namespace dmoe::compat
