// bf16 compute with fp32 parameters: LibTorch's C++ autocast, switched on for
// one scope (the forward/backward of a micro-batch, an evaluation batch) when
// the process's precision says so for this device (runtime/device.h:
// configurePrecision). Parameters, gradients and optimizer state stay fp32
// (master weights); matrix products run in bf16 (oneDNN on CPU, AMX where the
// CPU has it); callers take losses and router softmaxes in fp32.
// Not here: choosing the precision (runtime/device.cpp).
// The autocast API was renamed in LibTorch 2.4; both spellings live here.
#pragma once
#include <ATen/autocast_mode.h>

#include "runtime/device.h"
#include "torch_compat.h"

namespace dmoe {

class Bf16Autocast {
 public:
  explicit Bf16Autocast(const torch::Device& device)
      : active_(computesInBf16(device.str())), cuda_(device.is_cuda()) {
    if (!active_) return;
    wasEnabled_ = enabled();
    previousDtype_ = dtype();
    set(true, at::kBFloat16);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    if (!active_) return;
    // Like Python's autocast: the cast-weight cache lives for the outermost scope.
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    set(wasEnabled_, previousDtype_);
  }
  Bf16Autocast(const Bf16Autocast&) = delete;
  Bf16Autocast& operator=(const Bf16Autocast&) = delete;

 private:
#if DMOE_TORCH_AT_LEAST(2, 4)
  at::DeviceType type() const { return cuda_ ? at::kCUDA : at::kCPU; }
  bool enabled() const { return at::autocast::is_autocast_enabled(type()); }
  at::ScalarType dtype() const { return at::autocast::get_autocast_dtype(type()); }
  void set(bool on, at::ScalarType t) const {
    at::autocast::set_autocast_enabled(type(), on);
    at::autocast::set_autocast_dtype(type(), t);
  }
#else
  bool enabled() const { return cuda_ ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
  at::ScalarType dtype() const {
    return cuda_ ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
  }
  void set(bool on, at::ScalarType t) const {
    if (cuda_) {
      at::autocast::set_enabled(on);
      at::autocast::set_autocast_gpu_dtype(t);
    } else {
      at::autocast::set_cpu_enabled(on);
      at::autocast::set_autocast_cpu_dtype(t);
    }
  }
#endif
  bool active_;
  bool cuda_;
  bool wasEnabled_ = false;
  at::ScalarType previousDtype_ = at::kBFloat16;
};

}  // namespace dmoe
