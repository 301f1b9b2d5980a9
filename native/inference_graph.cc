#include "inference_graph.h"

#include "resnet18_script.h"

#include <sstream>

namespace torchdog {
namespace {

// TorchScript attribute names cannot contain dots.
std::string AttrName(const std::string& torchvision_name) {
  std::string name = torchvision_name;
  for (auto& c : name) {
    if (c == '.') c = '_';
  }
  return name;
}

class SourceWriter {
 public:
  void ConvBn(const std::string& out, const std::string& in, const std::string& conv, const std::string& bn,
              int stride, int padding) {
    const std::string w = "self." + AttrName(conv + ".weight");
    const std::string b = "self." + AttrName(bn);
    src_ << "    " << out << " = torch.conv2d(" << in << ", " << w << ", None, [" << stride << ", " << stride
         << "], [" << padding << ", " << padding << "], [1, 1], 1)\n";
    src_ << "    " << out << " = torch.batch_norm(" << out << ", " << b << "_weight, " << b << "_bias, " << b
         << "_running_mean, " << b << "_running_var, False, 0.1, 1e-05, True)\n";
  }
  void Line(const std::string& line) { src_ << "    " << line << "\n"; }
  std::string Str() const { return src_.str(); }

 private:
  std::ostringstream src_;
};

std::string ResNet18Forward() {
  SourceWriter w;
  WriteResNet18Body(w);
  w.Line("return torch.linear(x, self.fc_weight, self.fc_bias)");
  return "def forward(self, x: Tensor) -> Tensor:\n" + w.Str();
}

}  // namespace

torch::jit::Module BuildInferenceGraph(const std::map<std::string, torch::Tensor>& tensors) {
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module module(c10::QualifiedName("__torch__.torchdog.ResNet18Inference"), cu, /*shouldMangle=*/true);
  module.register_attribute("training", c10::BoolType::get(), false);
  for (const auto& [name, tensor] : tensors) {
    if (name.size() >= 20 && name.compare(name.size() - 20, 20, ".num_batches_tracked") == 0) continue;
    module.register_parameter(AttrName(name), tensor.detach().clone(), /*is_buffer=*/false);
  }
  module.define(ResNet18Forward());
  module.eval();
  auto frozen = torch::jit::freeze(module);
  return torch::jit::optimize_for_inference(frozen);
}

}  // namespace torchdog
