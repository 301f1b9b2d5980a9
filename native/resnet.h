// ResNet18 with torchvision's exact architecture and parameter names, so a
// state dict moves between torchdog and PyTorch without renaming.
#pragma once

#include <torch/torch.h>

namespace torchdog {

class BasicBlockImpl : public torch::nn::Module {
 public:
  BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Conv2d conv2_{nullptr};
  torch::nn::BatchNorm2d bn2_{nullptr};
  torch::nn::Sequential downsample_{nullptr};  // empty when shapes already match
};
TORCH_MODULE(BasicBlock);

class ResNetImpl : public torch::nn::Module {
 public:
  // blocks_per_layer is {2, 2, 2, 2} for ResNet18.
  ResNetImpl(const std::array<int64_t, 4>& blocks_per_layer, int64_t num_classes);
  torch::Tensor forward(const torch::Tensor& x);

 private:
  torch::nn::Sequential MakeLayer(int64_t& in_planes, int64_t planes, int64_t blocks,
                                  int64_t stride);
  void InitializeLikeTorchvision();

  torch::nn::Conv2d conv1_{nullptr};
  torch::nn::BatchNorm2d bn1_{nullptr};
  torch::nn::Sequential layer1_{nullptr}, layer2_{nullptr}, layer3_{nullptr}, layer4_{nullptr};
  torch::nn::Linear fc_{nullptr};
};
TORCH_MODULE(ResNet);

ResNet MakeResNet18(int64_t num_classes);

}  // namespace torchdog
