// bf16 compute on CUDA with fp32 parameters: LibTorch's C++ autocast, switched
// on for one scope (the forward/backward of a micro-batch, an evaluation
// batch). On CPU it does nothing: the CPU path stays fp32 throughout.
// The autocast API was renamed in LibTorch 2.4; both spellings live here.
#pragma once
#include <ATen/autocast_mode.h>

#include "torch_compat.h"

namespace dmoe {

class CudaBf16Autocast {
 public:
  explicit CudaBf16Autocast(const torch::Device& device) : active_(device.is_cuda()) {
    if (!active_) return;
#if DMOE_TORCH_AT_LEAST(2, 4)
    wasEnabled_ = at::autocast::is_autocast_enabled(at::kCUDA);
    previousDtype_ = at::autocast::get_autocast_dtype(at::kCUDA);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
#else
    wasEnabled_ = at::autocast::is_enabled();
    previousDtype_ = at::autocast::get_autocast_gpu_dtype();
    at::autocast::set_enabled(true);
    at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
#endif
    at::autocast::increment_nesting();
  }
  ~CudaBf16Autocast() {
    if (!active_) return;
    // Like Python's autocast: the cast-weight cache lives for the outermost scope.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
#if DMOE_TORCH_AT_LEAST(2, 4)
    at::autocast::set_autocast_enabled(at::kCUDA, wasEnabled_);
    at::autocast::set_autocast_dtype(at::kCUDA, previousDtype_);
#else
    at::autocast::set_enabled(wasEnabled_);
    at::autocast::set_autocast_gpu_dtype(previousDtype_);
#endif
  }
  CudaBf16Autocast(const CudaBf16Autocast&) = delete;
  CudaBf16Autocast& operator=(const CudaBf16Autocast&) = delete;

 private:
  bool active_;
  bool wasEnabled_ = false;
  at::ScalarType previousDtype_ = at::kBFloat16;
};

}  // namespace dmoe
