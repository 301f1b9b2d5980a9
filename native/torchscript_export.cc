#include "torchscript_export.h"

#include "resnet18_script.h"

#include <cctype>
#include <memory>
#include <sstream>
#include <stdexcept>

namespace torchdog {
namespace {

using TensorMap = std::map<std::string, torch::Tensor>;

constexpr double kBatchNormEps = 1e-5;

// The TorchScript expression for a torchvision path: a child named by a
// number ("layer1.0") is reached with getattr, as PyTorch's own serialised
// code does, since "0" is not an identifier.
std::string Ref(const std::string& path) {
  std::string expr = "self";
  std::istringstream parts(path);
  std::string part;
  while (std::getline(parts, part, '.')) {
    if (!part.empty() && std::isdigit(static_cast<unsigned char>(part[0]))) {
      expr = "getattr(" + expr + ", \"" + part + "\")";
    } else {
      expr += "." + part;
    }
  }
  return expr;
}

// Builds torchvision's module tree (resnet18: conv1, bn1, layer1..4 of two
// BasicBlocks, fc), each module holding its own parameters and buffers, so
// the saved module's state_dict() has exactly torchvision's names.
class TreeBuilder {
 public:
  explicit TreeBuilder(const TensorMap& tensors)
      : tensors_(tensors), cu_(std::make_shared<torch::jit::CompilationUnit>()) {}

  torch::jit::Module Root() {
    auto root = New("ResNet18");
    root.register_module("conv1", Conv("conv1"));
    root.register_module("bn1", BatchNorm("bn1"));
    for (int layer = 1; layer <= kResNet18Layers; ++layer) {
      const std::string name = "layer" + std::to_string(layer);
      auto sequential = New("Sequential");
      for (int block = 0; block < kResNet18BlocksPerLayer; ++block) {
        const std::string index = std::to_string(block);
        sequential.register_module(index, Block(name + "." + index, /*downsample=*/layer > 1 && block == 0));
      }
      root.register_module(name, sequential);
    }
    auto fc = New("Linear");
    Add(fc, "fc", "weight", kParameter);
    Add(fc, "fc", "bias", kParameter);
    root.register_module("fc", fc);
    return root;
  }

 private:
  enum Kind { kParameter, kBuffer };

  // Every module has `training`: Module::train()/eval(), in C++ and Python,
  // set it on each submodule and fail on one that lacks it.
  torch::jit::Module New(const std::string& type) const {
    torch::jit::Module m(c10::QualifiedName("__torch__.torchdog.export." + type), cu_, /*shouldMangle=*/true);
    m.register_attribute("training", c10::BoolType::get(), false);
    return m;
  }

  torch::jit::Module Conv(const std::string& path) {
    auto m = New("Conv2d");
    Add(m, path, "weight", kParameter);
    return m;
  }

  torch::jit::Module BatchNorm(const std::string& path) {
    auto m = New("BatchNorm2d");
    Add(m, path, "weight", kParameter);
    Add(m, path, "bias", kParameter);
    Add(m, path, "running_mean", kBuffer);
    Add(m, path, "running_var", kBuffer);
    Add(m, path, "num_batches_tracked", kBuffer);
    return m;
  }

  torch::jit::Module Block(const std::string& path, bool downsample) {
    auto m = New("BasicBlock");
    m.register_module("conv1", Conv(path + ".conv1"));
    m.register_module("bn1", BatchNorm(path + ".bn1"));
    m.register_module("conv2", Conv(path + ".conv2"));
    m.register_module("bn2", BatchNorm(path + ".bn2"));
    if (downsample) {
      auto d = New("Sequential");
      d.register_module("0", Conv(path + ".downsample.0"));
      d.register_module("1", BatchNorm(path + ".downsample.1"));
      m.register_module("downsample", d);
    }
    return m;
  }

  // A CPU copy the export owns: later training steps never reach the saved
  // file, and a CUDA model's channels-last weights are saved in the
  // standard layout. Parameters require gradients, as nn.Module's do, so
  // the loaded module can be fine-tuned.
  void Add(torch::jit::Module& m, const std::string& path, const std::string& attr, Kind kind) const {
    const std::string name = path + "." + attr;
    auto found = tensors_.find(name);
    if (found == tensors_.end()) throw std::invalid_argument("tensor '" + name + "': the model has no tensor of that name");
    auto copy = found->second.detach().to(torch::kCPU).clone(at::MemoryFormat::Contiguous);
    if (kind == kParameter) copy.requires_grad_(true);
    m.register_parameter(attr, copy, /*is_buffer=*/kind == kBuffer);
  }

  const TensorMap& tensors_;
  std::shared_ptr<torch::jit::CompilationUnit> cu_;
};

class ForwardWriter {
 public:
  void ConvBn(const std::string& out, const std::string& in, const std::string& conv, const std::string& bn,
              int stride, int padding) {
    std::ostringstream s;
    s << out << " = torch.conv2d(" << in << ", " << Ref(conv + ".weight") << ", None, [" << stride << ", " << stride
      << "], [" << padding << ", " << padding << "], [1, 1], 1)";
    Line(s.str());
    // Always running statistics: this is an inference export, whatever
    // `training` says.
    Line(out + " = torch.batch_norm(" + out + ", " + Ref(bn + ".weight") + ", " + Ref(bn + ".bias") + ", " +
         Ref(bn + ".running_mean") + ", " + Ref(bn + ".running_var") + ", False, 0.1, " + Eps() + ", True)");
  }
  void Line(const std::string& line) { src_ << "    " << line << "\n"; }
  std::string Str() const { return src_.str(); }

 private:
  static std::string Eps() {
    std::ostringstream s;
    s << kBatchNormEps;
    return s.str();
  }
  std::ostringstream src_;
};

// Pixels are normalised exactly as the engine does (Engine::Impl::ToInput):
// one multiply by 1/(255*std) and one subtraction of mean/std, in float32,
// so the export and torchdog's forward agree to rounding.
std::string ForwardSource() {
  // C++'s TorchScript compiler has no Python to resolve torch.float32 with;
  // a dtype is its ScalarType number, as in PyTorch's own serialised code.
  const std::string f32 = std::to_string(static_cast<int>(c10::ScalarType::Float));
  ForwardWriter w;
  w.Line("assert image.dim() == 4 and image.size(3) == 3, \"image: expected RGB pixels [N, H, W, 3] (uint8, NHWC)\"");
  w.Line("mean = torch.tensor(self.pixel_mean, dtype=" + f32 + ", device=image.device).view([1, 3, 1, 1])");
  w.Line("std = torch.tensor(self.pixel_std, dtype=" + f32 + ", device=image.device).view([1, 3, 1, 1])");
  w.Line("x = image.permute([0, 3, 1, 2]).to(" + f32 + ")");
  w.Line("x = x.mul(1.0 / (std * 255.0)).sub(mean / std)");
  WriteResNet18Body(w);
  w.Line("logits = torch.linear(x, self.fc.weight, self.fc.bias)");
  w.Line("return logits, torch.softmax(logits, 1)");
  return "def forward(self, image: Tensor) -> Tuple[Tensor, Tensor]:\n" + w.Str();
}

c10::List<double> ListOf(const std::array<double, 3>& values) {
  return c10::List<double>(std::vector<double>(values.begin(), values.end()));
}

}  // namespace

torch::jit::Module BuildTorchScriptExport(const TensorMap& tensors, const std::array<double, 3>& mean,
                                          const std::array<double, 3>& std) {
  torch::jit::Module module = TreeBuilder(tensors).Root();
  // Lists of floats, not tensors: they stay out of state_dict() (which is
  // then torchvision's exactly) and forward builds them on the input's device.
  const auto float_list = c10::ListType::create(c10::FloatType::get());
  module.register_attribute("pixel_mean", float_list, ListOf(mean));
  module.register_attribute("pixel_std", float_list, ListOf(std));
  module.define(ForwardSource());
  return module;
}

}  // namespace torchdog
