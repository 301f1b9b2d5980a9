// The few LibTorch APIs that differ between 1.13 (Debian's) and 2.x (the
// CUDA builds inside current PyTorch wheels), guarded here and nowhere else.
#pragma once

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <string>
#include <type_traits>

namespace torchdog {

#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
#define TORCHDOG_AUTOCAST_BY_DEVICE 1
#endif

// Automatic mixed precision (bf16) for the calling thread, restored on exit.
// Autocast state is thread-local; each model runs on its own thread.
class AutocastScope {
 public:
  AutocastScope(bool enabled, c10::DeviceType device) : enabled_(enabled), device_(device) {
    if (!enabled_) return;
#ifdef TORCHDOG_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_dtype(device_, at::kBFloat16);
    at::autocast::set_autocast_enabled(device_, true);
#else
    if (device_ == c10::DeviceType::CUDA) {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(true);
    } else {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(true);
    }
#endif
  }

  ~AutocastScope() {
    if (!enabled_) return;
#ifdef TORCHDOG_AUTOCAST_BY_DEVICE
    at::autocast::set_autocast_enabled(device_, false);
#else
    if (device_ == c10::DeviceType::CUDA) at::autocast::set_enabled(false);
    else at::autocast::set_cpu_enabled(false);
#endif
    at::autocast::clear_cache();
  }

  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool enabled_;
  c10::DeviceType device_;
};

// The key LibTorch optimizers file per-parameter state under: the
// TensorImpl address as text in 1.x, the address itself in recent 2.x.
using OptimizerStateKey =
    std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>::key_type;

// A template so the branch for the other LibTorch is discarded, not compiled.
template <typename Key = OptimizerStateKey>
Key ParamStateKey(const torch::Tensor& p) {
  if constexpr (std::is_same_v<Key, std::string>) {
    return c10::str(p.unsafeGetTensorImpl());
  } else {
    return static_cast<Key>(p.unsafeGetTensorImpl());
  }
}

}  // namespace torchdog
