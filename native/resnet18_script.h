// ResNet18's body as TorchScript source, from the stem to the flattened
// global pool, written once for both graphs built from source: the serving
// graph (inference_graph.cc) and the TorchScript export
// (torchscript_export.cc). They differ only in how a tensor is named (a flat
// attribute or a torchvision submodule path), which their writer decides.
#pragma once

#include <string>

namespace torchdog {

constexpr int kResNet18Layers = 4;
constexpr int kResNet18BlocksPerLayer = 2;

// Writer: ConvBn(out, in, conv, bn, stride, padding) emits a convolution
// followed by eval-mode batch norm, by torchvision names; Line(text) emits one
// statement. Reads `x`, leaves [N, 512] in `x`.
template <typename Writer>
void WriteResNet18Body(Writer& w) {
  w.ConvBn("x", "x", "conv1", "bn1", 2, 3);
  w.Line("x = torch.relu(x)");
  w.Line("x = torch.max_pool2d(x, [3, 3], [2, 2], [1, 1], [1, 1], False)");
  for (int layer = 1; layer <= kResNet18Layers; ++layer) {
    for (int block = 0; block < kResNet18BlocksPerLayer; ++block) {
      const std::string p = "layer" + std::to_string(layer) + "." + std::to_string(block) + ".";
      const bool downsample = layer > 1 && block == 0;
      const int stride = downsample ? 2 : 1;
      w.ConvBn("y", "x", p + "conv1", p + "bn1", stride, 1);
      w.Line("y = torch.relu(y)");
      w.ConvBn("y", "y", p + "conv2", p + "bn2", 1, 1);
      if (downsample) {
        w.ConvBn("s", "x", p + "downsample.0", p + "downsample.1", stride, 0);
        w.Line("x = torch.relu(y + s)");
      } else {
        w.Line("x = torch.relu(y + x)");
      }
    }
  }
  w.Line("x = torch.adaptive_avg_pool2d(x, [1, 1])");
  w.Line("x = torch.flatten(x, 1)");
}

}  // namespace torchdog
