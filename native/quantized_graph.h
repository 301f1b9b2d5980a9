// Reduced-precision serving paths for ResNet18, built from the fp32 weights:
//  - int8: post-training static quantization, BatchNorm folded into the
//    convolutions, per-channel symmetric int8 weights, per-tensor
//    activations whose ranges come from a calibration (ObserveActivations),
//    the head in float32 after a dequantize. Built on oneDNN primitives
//    directly where the build has oneDNN's headers (onednn_resnet.h: residual
//    adds fused into the convolutions); else on LibTorch's quantized engine:
//    quint8 activations, quantized::conv2d_relu, quantized::add_relu.
//  - bf16: the same folded network with bfloat16 weights and activations in
//    channels-last order, frozen as TorchScript.
// Both are built once from a snapshot of the weights; the caller rebuilds
// them when the weights change.
#pragma once

#include <torch/script.h>

#include "onednn_resnet.h"

#include <map>
#include <string>
#include <vector>

namespace torchdog {

// The float range an activation took over the calibration images.
struct ActivationRange {
  double min, max;
};

// The names of the activations int8 quantizes, in network order: "input",
// "conv1", then per block "layerL.B.conv1", "layerL.B.conv2",
// "layerL.B.downsample" (first block of layers 2-4) and "layerL.B.out".
const std::vector<std::string>& QuantizePoints();

// Runs the fp32 network (BatchNorm folded, as int8 computes it) on `input`
// (normalised NCHW float) and returns each quantize point's range on it.
std::map<std::string, ActivationRange> ObserveActivations(const std::map<std::string, torch::Tensor>& tensors,
                                                          const torch::Tensor& input);

// How many of a quantize point's values fall in each of `bins` equal bins
// over [over.min, over.max]; values outside count in the end bins. A
// histogram observer picks a clip range from these (the caller passes the
// range min/max observation found over all its images, then sums counts).
std::map<std::string, std::vector<double>> HistogramActivations(
    const std::map<std::string, torch::Tensor>& tensors, const torch::Tensor& input,
    const std::map<std::string, ActivationRange>& over, int64_t bins);

// Throws std::invalid_argument naming the first quantize point `ranges`
// lacks, or whose range is not finite with min <= max.
void CheckRanges(const std::map<std::string, ActivationRange>& ranges);

// The process-wide quantized engine int8 needs; throws std::runtime_error
// when this LibTorch build has no oneDNN quantized engine.
void UseOnednnQuantizedEngine();

// Whether the networks on oneDNN primitives (onednn_resnet.h) serve: the
// build has them and TORCHDOG_ONEDNN is not "0" (which keeps LibTorch's
// quantized operators for int8 and its TorchScript graph for float32).
bool UseOnednnNetworks();

// The float32 network on oneDNN primitives, BatchNorm folded; CPU only.
std::unique_ptr<OnednnResNet18> BuildOnednnFloat32(const std::map<std::string, torch::Tensor>& tensors);

// Runs `network` on normalised float NCHW `input` (any memory order) and
// returns [count, classes] float logits.
torch::Tensor RunOnednn(OnednnResNet18& network, const torch::Tensor& input);

class QuantizedResNet18 {
 public:
  // `ranges` must pass CheckRanges.
  QuantizedResNet18(const std::map<std::string, torch::Tensor>& tensors,
                    const std::map<std::string, ActivationRange>& ranges);
  ~QuantizedResNet18();
  QuantizedResNet18(const QuantizedResNet18&) = delete;
  QuantizedResNet18& operator=(const QuantizedResNet18&) = delete;

  // Normalised float NCHW input to float logits.
  torch::Tensor Forward(const torch::Tensor& input);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A frozen bfloat16 channels-last TorchScript ResNet18; forward takes and
// returns bfloat16 (the caller converts).
torch::jit::Module BuildBf16Graph(const std::map<std::string, torch::Tensor>& tensors);

}  // namespace torchdog
