// ResNet18's inference forward pass built directly from oneDNN primitives
// (the oneDNN LibTorch itself links), in int8 or float32:
//  - each block's second convolution adds the shortcut and applies the ReLU
//    as post-ops (sum, eltwise) into the shortcut's own buffer, so in int8
//    the sum is taken in the accumulator's precision and never requantized
//    on its own, and in float32 no separate add or ReLU pass runs;
//  - int8: requantization is the convolution's per-output-channel output
//    scale; activations stay uint8 (after a ReLU) or int8 (the input and the
//    downsample shortcuts, symmetric) in NHWC from the first convolution to
//    the average pool; the head runs in float32.
// Measured (2 threads, AVX2): int8 1.4-1.7x the images per second of the
// same network on LibTorch's quantized operators at batch 1, 8 and 32;
// float32 1.3x LibTorch's frozen TorchScript graph at batch 1, the same at 8
// and 32 (the convolutions are the same oneDNN kernels; what goes is the
// per-operator overhead and the separate add/ReLU passes).
//
// Torch-free on purpose: the caller hands over folded float weights and
// activation ranges. Without oneDNN's headers at build time, Available() is
// false and the constructor throws.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

namespace torchdog {

// A convolution with its BatchNorm folded in, weights OIHW.
struct OnednnConv {
  std::vector<float> weight, bias;
  int64_t out_channels = 0, in_channels = 0, kernel = 0, stride = 1, padding = 0;
};

struct OnednnBlock {
  OnednnConv conv1, conv2;
  bool downsample = false;
  OnednnConv shortcut;  // valid when downsample
  // Activation ranges from calibration: conv1's output after its ReLU (max),
  // the downsample output (largest magnitude), the block output (max).
  float conv1_max = 0, shortcut_absmax = 0, out_max = 0;
};

struct OnednnResNet18Spec {
  OnednnConv stem;
  std::vector<OnednnBlock> blocks;
  std::vector<float> fc_weight, fc_bias;  // [classes, features], [classes]
  int64_t classes = 0, features = 0;
  float input_absmax = 0, stem_max = 0;  // the normalised input's largest magnitude; the stem's output max
  // The top uint8 level activations map their range onto: 255, or 127 where
  // the CPU's int8 kernels would saturate at 8 bits (no VNNI).
  float uint8_levels = 255;
};

enum class OnednnPrecision { kInt8, kFloat32 };

class OnednnResNet18 {
 public:
  // Whether this build has oneDNN.
  static bool Available();

  // Creates oneDNN's process-wide state (its primitive cache, CPU detection,
  // the kernel generators of every primitive kind used here) by building
  // and running one small network. Call it before anything registers an
  // atexit handler that must run while oneDNN still works: exit() destroys
  // static state in the reverse order of its creation. Idempotent.
  static void Prime();

  // kFloat32 ignores the spec's activation ranges.
  OnednnResNet18(OnednnResNet18Spec spec, OnednnPrecision precision);
  ~OnednnResNet18();
  OnednnResNet18(const OnednnResNet18&) = delete;
  OnednnResNet18& operator=(const OnednnResNet18&) = delete;

  int64_t Classes() const;

  // `input`: normalised float images, NHWC; `logits`: [count, classes]. The
  // primitives for a shape are built at its first use and kept for the most
  // recent 32 shapes; batches past 64 run in chunks of 64.
  void Forward(const float* input, int64_t count, int64_t height, int64_t width, float* logits);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace torchdog
