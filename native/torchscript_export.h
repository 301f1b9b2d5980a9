// The TorchScript export: ResNet18 as a torch::jit::Module that PyTorch's
// torch.jit.load and LibTorch's torch::jit::load open, taking what a camera
// or sharp gives (uint8 RGB, NHWC) and returning (logits, probabilities).
//
// Unlike the serving graph (inference_graph.h) the module is neither frozen
// nor optimised: it keeps torchvision's module tree (conv1, bn1, layer1.0,
// ..., fc), so state_dict() has torchvision's names and a PyTorch user can
// inspect the weights, move the module to a GPU or load them into
// torchvision.models.resnet18. The runtime that loads it does its own
// optimisation (torch.jit.freeze, optimize_for_inference) for its device.
#pragma once

#include <torch/script.h>

#include <array>
#include <map>
#include <string>

namespace torchdog {

// `tensors`: every parameter and buffer of ResNet18 by torchvision name (the
// engine's own set); copied to the CPU. mean/std: the normalisation applied
// after scaling pixels to [0, 1], kept as given (the module's pixel_mean and
// pixel_std) and applied in float32 as the engine applies it.
torch::jit::Module BuildTorchScriptExport(const std::map<std::string, torch::Tensor>& tensors,
                                          const std::array<double, 3>& mean, const std::array<double, 3>& std);

}  // namespace torchdog
