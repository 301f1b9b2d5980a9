#include "resnet.h"

namespace torchdog {
namespace {

torch::nn::Conv2d Conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding).bias(false));
}

}  // namespace

BasicBlockImpl::BasicBlockImpl(int64_t in_planes, int64_t planes, int64_t stride) {
  conv1_ = register_module("conv1", Conv(in_planes, planes, 3, stride, 1));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(planes));
  conv2_ = register_module("conv2", Conv(planes, planes, 3, 1, 1));
  bn2_ = register_module("bn2", torch::nn::BatchNorm2d(planes));
  if (stride != 1 || in_planes != planes) {
    downsample_ = register_module(
        "downsample",
        torch::nn::Sequential(Conv(in_planes, planes, 1, stride, 0), torch::nn::BatchNorm2d(planes)));
  }
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1_(conv1_(x)));
  out = bn2_(conv2_(out));
  out += downsample_ ? downsample_->forward(x) : x;
  return torch::relu(out);
}

ResNetImpl::ResNetImpl(const std::array<int64_t, 4>& blocks_per_layer, int64_t num_classes) {
  int64_t in_planes = 64;
  conv1_ = register_module("conv1", Conv(3, 64, 7, 2, 3));
  bn1_ = register_module("bn1", torch::nn::BatchNorm2d(64));
  layer1_ = register_module("layer1", MakeLayer(in_planes, 64, blocks_per_layer[0], 1));
  layer2_ = register_module("layer2", MakeLayer(in_planes, 128, blocks_per_layer[1], 2));
  layer3_ = register_module("layer3", MakeLayer(in_planes, 256, blocks_per_layer[2], 2));
  layer4_ = register_module("layer4", MakeLayer(in_planes, 512, blocks_per_layer[3], 2));
  fc_ = register_module("fc", torch::nn::Linear(512, num_classes));
  InitializeLikeTorchvision();
}

torch::nn::Sequential ResNetImpl::MakeLayer(int64_t& in_planes, int64_t planes, int64_t blocks,
                                            int64_t stride) {
  torch::nn::Sequential layer;
  for (int64_t i = 0; i < blocks; ++i) {
    layer->push_back(BasicBlock(in_planes, planes, i == 0 ? stride : 1));
    in_planes = planes;
  }
  return layer;
}

// torchvision overrides PyTorch's default conv init with Kaiming-normal
// (fan_out, relu) and sets BatchNorm to identity; the Linear head keeps the
// default. Matching it keeps training from scratch comparable with PyTorch.
void ResNetImpl::InitializeLikeTorchvision() {
  torch::NoGradGuard no_grad;
  for (auto& module : modules(/*include_self=*/false)) {
    if (auto* conv = module->as<torch::nn::Conv2dImpl>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    } else if (auto* bn = module->as<torch::nn::BatchNorm2dImpl>()) {
      torch::nn::init::ones_(bn->weight);
      torch::nn::init::zeros_(bn->bias);
    }
  }
}

torch::Tensor ResNetImpl::forward(const torch::Tensor& x) {
  auto out = torch::relu(bn1_(conv1_(x)));
  out = torch::max_pool2d(out, /*kernel_size=*/3, /*stride=*/2, /*padding=*/1);
  out = layer4_->forward(layer3_->forward(layer2_->forward(layer1_->forward(out))));
  out = torch::adaptive_avg_pool2d(out, {1, 1}).flatten(1);
  return fc_(out);
}

ResNet MakeResNet18(int64_t num_classes) { return ResNet(std::array<int64_t, 4>{2, 2, 2, 2}, num_classes); }

}  // namespace torchdog
