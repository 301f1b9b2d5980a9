#include "quantized_graph.h"

#include <ATen/core/dispatch/Dispatcher.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <functional>
#include <sstream>
#include <stdexcept>

#include "onednn_resnet.h"
#include "resnet18_script.h"

namespace torchdog {
namespace {

constexpr double kBatchNormEps = 1e-5;

// A convolution with its BatchNorm folded in: w * g / sqrt(v + eps) per
// output channel, bias b - m * g / sqrt(v + eps).
struct FoldedConv {
  torch::Tensor weight, bias;
  int64_t stride, padding;
};

FoldedConv Fold(const std::map<std::string, torch::Tensor>& tensors, const std::string& conv, const std::string& bn,
                int64_t stride, int64_t padding) {
  auto get = [&](const std::string& name) -> const torch::Tensor& {
    auto found = tensors.find(name);
    if (found == tensors.end()) throw std::invalid_argument("tensor '" + name + "': the model has no tensor of that name");
    return found->second;
  };
  auto w = get(conv + ".weight").detach().to(torch::kFloat32);
  auto gamma = get(bn + ".weight").detach().to(torch::kFloat32);
  auto beta = get(bn + ".bias").detach().to(torch::kFloat32);
  auto mean = get(bn + ".running_mean").detach().to(torch::kFloat32);
  auto var = get(bn + ".running_var").detach().to(torch::kFloat32);
  auto factor = gamma / torch::sqrt(var + kBatchNormEps);
  return {(w * factor.view({-1, 1, 1, 1})).contiguous(), (beta - mean * factor).contiguous(), stride, padding};
}

// One convolution of the network: where its output is observed/quantized,
// the torchvision names of its conv and bn, and its geometry.
struct ConvSpec {
  std::string point, conv, bn;
  int64_t stride, padding;
  bool relu;
};

// ResNet18 as the sequence of its convolutions, in the order of
// resnet18_script.h's body; residual adds follow each block's conv2.
struct BlockSpec {
  std::string name;  // "layerL.B"
  ConvSpec conv1, conv2;
  bool downsample;
  ConvSpec shortcut;  // valid when downsample
};

struct NetworkSpec {
  ConvSpec stem;
  std::vector<BlockSpec> blocks;
};

const NetworkSpec& Network() {
  static const NetworkSpec spec = [] {
    NetworkSpec n;
    n.stem = {"conv1", "conv1", "bn1", 2, 3, true};
    for (int layer = 1; layer <= kResNet18Layers; ++layer) {
      for (int block = 0; block < kResNet18BlocksPerLayer; ++block) {
        const std::string p = "layer" + std::to_string(layer) + "." + std::to_string(block);
        const bool downsample = layer > 1 && block == 0;
        const int64_t stride = downsample ? 2 : 1;
        BlockSpec b;
        b.name = p;
        b.conv1 = {p + ".conv1", p + ".conv1", p + ".bn1", stride, 1, true};
        b.conv2 = {p + ".conv2", p + ".conv2", p + ".bn2", 1, 1, false};
        b.downsample = downsample;
        if (downsample) b.shortcut = {p + ".downsample", p + ".downsample.0", p + ".downsample.1", stride, 0, false};
        n.blocks.push_back(b);
      }
    }
    return n;
  }();
  return spec;
}

// Without VNNI, oneDNN's int8 convolutions sum pairs of uint8 x int8
// products in int16 (vpmaddubsw), which saturates once activations use all
// 8 bits (2 x 255 x 127 > 32767): measured, a ResNet18's int8-vs-fp32
// probability error fell by 40% when its activations used only 7. So on
// such CPUs a convolution's input maps its range onto 0..127, as PyTorch's
// reduce_range does (FBGEMM's default on x86 without VNNI).
bool Int8PairSumsSaturate() {
  static const bool saturate = [] {
    __builtin_cpu_init();
    return !__builtin_cpu_supports("avx512vnni") && !__builtin_cpu_supports("avxvnni");
  }();
  return saturate;
}

// The scale and zero point of a quint8 tensor whose `levels` + 1 lowest
// values cover the range, as PyTorch's MinMaxObserver computes them (zero
// always exact). Convolution inputs get ConvInputLevels().
std::pair<double, int64_t> QParams(const ActivationRange& r, int64_t levels = 255) {
  const double lo = std::min(r.min, 0.0), hi = std::max(r.max, 0.0);
  const double scale = std::max((hi - lo) / static_cast<double>(levels), 1e-8);
  const int64_t zero_point = std::clamp<int64_t>(static_cast<int64_t>(std::nearbyint(-lo / scale)), 0, levels);
  return {scale, zero_point};
}

int64_t ConvInputLevels() { return Int8PairSumsSaturate() ? 127 : 255; }

torch::Tensor Conv(const torch::Tensor& x, const FoldedConv& c) {
  return at::conv2d(x, c.weight, c.bias, {c.stride, c.stride}, {c.padding, c.padding});
}

torch::Tensor MaxPool(const torch::Tensor& x) { return at::max_pool2d(x, {3, 3}, {2, 2}, {1, 1}, {1, 1}, false); }

ActivationRange RangeOf(const torch::Tensor& t) {
  auto mm = at::aminmax(t);
  return {std::get<0>(mm).item<double>(), std::get<1>(mm).item<double>()};
}

// A quantized op called through the dispatcher (boxed: the packed-weights
// classes are TorchScript custom classes with no C++ header in LibTorch).
class QuantizedOp {
 public:
  QuantizedOp(const char* name, const char* overload)
      : handle_(c10::Dispatcher::singleton().findSchemaOrThrow(name, overload)) {}
  c10::IValue operator()(std::vector<c10::IValue> args) const {
    torch::jit::Stack stack(std::move(args));
    handle_.callBoxed(&stack);
    return std::move(stack.at(0));
  }

 private:
  c10::OperatorHandle handle_;
};

}  // namespace

const std::vector<std::string>& QuantizePoints() {
  static const std::vector<std::string> points = [] {
    std::vector<std::string> p{"input", Network().stem.point};
    for (const auto& b : Network().blocks) {
      p.push_back(b.conv1.point);
      p.push_back(b.conv2.point);
      if (b.downsample) p.push_back(b.shortcut.point);
      p.push_back(b.name + ".out");
    }
    return p;
  }();
  return points;
}

namespace {

// Runs the fp32 network (BatchNorm folded) on `input`, handing each quantize
// point's activation to `visit` as it is computed.
void WalkActivations(const std::map<std::string, torch::Tensor>& tensors, const torch::Tensor& input,
                     const std::function<void(const std::string&, const torch::Tensor&)>& visit) {
  c10::InferenceMode guard;
  auto run = [&](const torch::Tensor& x, const ConvSpec& c) {
    auto y = Conv(x, Fold(tensors, c.conv, c.bn, c.stride, c.padding));
    if (c.relu) y = at::relu(y);
    visit(c.point, y);
    return y;
  };
  auto x = input.to(torch::kFloat32).contiguous();
  visit("input", x);
  x = MaxPool(run(x, Network().stem));
  for (const auto& b : Network().blocks) {
    auto y = run(run(x, b.conv1), b.conv2);
    auto s = b.downsample ? run(x, b.shortcut) : x;
    x = at::relu(y + s);
    visit(b.name + ".out", x);
  }
}

}  // namespace

std::map<std::string, ActivationRange> ObserveActivations(const std::map<std::string, torch::Tensor>& tensors,
                                                          const torch::Tensor& input) {
  std::map<std::string, ActivationRange> ranges;
  WalkActivations(tensors, input, [&](const std::string& point, const torch::Tensor& y) { ranges[point] = RangeOf(y); });
  return ranges;
}

std::map<std::string, std::vector<double>> HistogramActivations(
    const std::map<std::string, torch::Tensor>& tensors, const torch::Tensor& input,
    const std::map<std::string, ActivationRange>& over, int64_t bins) {
  if (bins < 1) throw std::invalid_argument("histogram: bins must be >= 1, got " + std::to_string(bins));
  CheckRanges(over);
  std::map<std::string, std::vector<double>> histograms;
  WalkActivations(tensors, input, [&](const std::string& point, const torch::Tensor& y) {
    const auto& r = over.at(point);
    std::vector<double> counts(static_cast<size_t>(bins), 0.0);
    if (r.max > r.min) {
      // histc drops values outside its range: clamped first, they count in the end bins. It counts in
      // the tensor's dtype: float32 (twice as fast) is exact up to 2^24 values, past that float64.
      auto clamped = y.clamp(r.min, r.max);
      if (clamped.numel() >= (int64_t{1} << 24)) clamped = clamped.to(torch::kFloat64);
      auto h = at::histc(clamped, bins, r.min, r.max).to(torch::kFloat64).contiguous();
      std::copy(h.data_ptr<double>(), h.data_ptr<double>() + bins, counts.begin());
    } else {
      counts[0] = static_cast<double>(y.numel());
    }
    histograms[point] = std::move(counts);
  });
  return histograms;
}

void CheckRanges(const std::map<std::string, ActivationRange>& ranges) {
  for (const auto& point : QuantizePoints()) {
    auto found = ranges.find(point);
    if (found == ranges.end()) throw std::invalid_argument("calibration: no range for activation '" + point + "'");
    const auto& r = found->second;
    if (!std::isfinite(r.min) || !std::isfinite(r.max) || r.min > r.max) {
      throw std::invalid_argument("calibration: activation '" + point + "' has no usable range (min " +
                                  std::to_string(r.min) + ", max " + std::to_string(r.max) + ")");
    }
  }
}

void UseOnednnQuantizedEngine() {
  auto& ctx = at::globalContext();
  if (ctx.qEngine() == at::QEngine::ONEDNN) return;
  const auto& engines = ctx.supportedQEngines();
  if (std::find(engines.begin(), engines.end(), at::QEngine::ONEDNN) == engines.end()) {
    throw std::runtime_error("int8 needs LibTorch's oneDNN quantized engine, which this LibTorch build lacks");
  }
  ctx.setQEngine(at::QEngine::ONEDNN);
}

struct QuantizedResNet18::Impl {
  struct QConv {
    c10::IValue packed;
    double scale;
    int64_t zero_point;
    bool relu;
  };
  struct QBlock {
    QConv conv1, conv2;
    bool downsample;
    QConv shortcut;
    double scale;
    int64_t zero_point;
  };
  double input_scale;
  int64_t input_zero_point;
  QConv stem;
  std::vector<QBlock> blocks;
  torch::Tensor fc_weight, fc_bias;

  // The same network on oneDNN primitives directly, where the build has
  // them (see onednn_resnet.h); LibTorch's quantized operators otherwise.
  std::unique_ptr<OnednnResNet18> onednn;

  QuantizedOp prepack{"quantized::conv2d_prepack", ""};
  QuantizedOp conv{"quantized::conv2d", "new"};
  QuantizedOp conv_relu{"quantized::conv2d_relu", "new"};
  QuantizedOp add_relu{"quantized::add_relu", ""};

  QConv Pack(const std::map<std::string, torch::Tensor>& tensors, const std::map<std::string, ActivationRange>& ranges,
             const ConvSpec& c) {
    auto folded = Fold(tensors, c.conv, c.bn, c.stride, c.padding);
    // Symmetric per output channel, as PyTorch's per-channel weight observer.
    auto amax = folded.weight.abs().amax({1, 2, 3}).to(torch::kFloat64);
    auto scales = torch::clamp_min(amax / 127.5, 1e-8);
    auto zeros = torch::zeros({folded.weight.size(0)}, torch::kInt64);
    auto qweight = at::quantize_per_channel(folded.weight, scales, zeros, 0, torch::kQInt8);
    auto packed = prepack({qweight, folded.bias, c10::List<int64_t>({c.stride, c.stride}),
                           c10::List<int64_t>({c.padding, c.padding}), c10::List<int64_t>({1, 1}), int64_t{1}});
    // A ReLU'd output feeds the next convolution; conv2's and the shortcut's only the residual add.
    auto [scale, zero_point] = QParams(ranges.at(c.point), c.relu ? ConvInputLevels() : 255);
    return {packed, scale, zero_point, c.relu};
  }

  torch::Tensor Run(const torch::Tensor& x, const QConv& c) const {
    return (c.relu ? conv_relu : conv)({x, c.packed, c.scale, c.zero_point}).toTensor();
  }
};

namespace {

OnednnConv FoldForOnednn(const std::map<std::string, torch::Tensor>& tensors, const ConvSpec& c) {
  auto folded = Fold(tensors, c.conv, c.bn, c.stride, c.padding);
  auto w = folded.weight.to(torch::kCPU).contiguous();
  auto b = folded.bias.to(torch::kCPU).contiguous();
  OnednnConv out;
  out.weight.assign(w.data_ptr<float>(), w.data_ptr<float>() + w.numel());
  out.bias.assign(b.data_ptr<float>(), b.data_ptr<float>() + b.numel());
  out.out_channels = w.size(0);
  out.in_channels = w.size(1);
  out.kernel = w.size(2);
  out.stride = c.stride;
  out.padding = c.padding;
  return out;
}

float AbsMax(const ActivationRange& r) { return static_cast<float>(std::max(std::fabs(r.min), std::fabs(r.max))); }

// The network for onednn_resnet.h; `ranges` (int8 only) as CheckRanges passes them.
OnednnResNet18Spec OnednnSpec(const std::map<std::string, torch::Tensor>& tensors,
                              const std::map<std::string, ActivationRange>* ranges) {
  auto range = [&](const std::string& point) { return ranges ? ranges->at(point) : ActivationRange{0, 0}; };
  OnednnResNet18Spec spec;
  spec.stem = FoldForOnednn(tensors, Network().stem);
  spec.input_absmax = AbsMax(range("input"));
  // oneDNN halves int8 weights by itself for int8 (signed) inputs without
  // VNNI; uint8 inputs are ours to keep below saturation.
  spec.uint8_levels = static_cast<float>(ConvInputLevels());
  spec.stem_max = static_cast<float>(range(Network().stem.point).max);
  for (const auto& b : Network().blocks) {
    OnednnBlock q;
    q.conv1 = FoldForOnednn(tensors, b.conv1);
    q.conv2 = FoldForOnednn(tensors, b.conv2);
    q.conv1_max = static_cast<float>(range(b.conv1.point).max);
    q.out_max = static_cast<float>(range(b.name + ".out").max);
    q.downsample = b.downsample;
    if (b.downsample) {
      q.shortcut = FoldForOnednn(tensors, b.shortcut);
      q.shortcut_absmax = AbsMax(range(b.shortcut.point));
    }
    spec.blocks.push_back(std::move(q));
  }
  auto fc_weight = tensors.at("fc.weight").detach().to(torch::kCPU, torch::kFloat32).contiguous();
  auto fc_bias = tensors.at("fc.bias").detach().to(torch::kCPU, torch::kFloat32).contiguous();
  spec.classes = fc_weight.size(0);
  spec.features = fc_weight.size(1);
  spec.fc_weight.assign(fc_weight.data_ptr<float>(), fc_weight.data_ptr<float>() + fc_weight.numel());
  spec.fc_bias.assign(fc_bias.data_ptr<float>(), fc_bias.data_ptr<float>() + fc_bias.numel());
  return spec;
}

}  // namespace

bool UseOnednnNetworks() {
  const char* choice = std::getenv("TORCHDOG_ONEDNN");
  return OnednnResNet18::Available() && !(choice && std::string(choice) == "0");
}

std::unique_ptr<OnednnResNet18> BuildOnednnFloat32(const std::map<std::string, torch::Tensor>& tensors) {
  c10::InferenceMode guard;
  return std::make_unique<OnednnResNet18>(OnednnSpec(tensors, nullptr), OnednnPrecision::kFloat32);
}

torch::Tensor RunOnednn(OnednnResNet18& network, const torch::Tensor& input) {
  // NCHW in channels-last memory is NHWC, which the oneDNN network takes.
  auto x = input.to(torch::kFloat32).contiguous(torch::MemoryFormat::ChannelsLast);
  auto logits = torch::empty({x.size(0), network.Classes()}, torch::kFloat32);
  network.Forward(x.data_ptr<float>(), x.size(0), x.size(2), x.size(3), logits.data_ptr<float>());
  return logits;
}

QuantizedResNet18::QuantizedResNet18(const std::map<std::string, torch::Tensor>& tensors,
                                     const std::map<std::string, ActivationRange>& ranges)
    : impl_(std::make_unique<Impl>()) {
  CheckRanges(ranges);
  c10::InferenceMode guard;
  auto& m = *impl_;
  if (UseOnednnNetworks()) {
    m.onednn = std::make_unique<OnednnResNet18>(OnednnSpec(tensors, &ranges), OnednnPrecision::kInt8);
    return;
  }
  m.fc_weight = tensors.at("fc.weight").detach().to(torch::kCPU, torch::kFloat32).contiguous();
  m.fc_bias = tensors.at("fc.bias").detach().to(torch::kCPU, torch::kFloat32).contiguous();
  UseOnednnQuantizedEngine();
  std::tie(m.input_scale, m.input_zero_point) = QParams(ranges.at("input"), ConvInputLevels());
  m.stem = m.Pack(tensors, ranges, Network().stem);
  for (const auto& b : Network().blocks) {
    Impl::QBlock q;
    q.conv1 = m.Pack(tensors, ranges, b.conv1);
    q.conv2 = m.Pack(tensors, ranges, b.conv2);
    q.downsample = b.downsample;
    if (b.downsample) q.shortcut = m.Pack(tensors, ranges, b.shortcut);
    std::tie(q.scale, q.zero_point) = QParams(ranges.at(b.name + ".out"), ConvInputLevels());
    m.blocks.push_back(std::move(q));
  }
}

QuantizedResNet18::~QuantizedResNet18() = default;

torch::Tensor QuantizedResNet18::Forward(const torch::Tensor& input) {
  const auto& m = *impl_;
  if (m.onednn) return RunOnednn(*m.onednn, input);
  UseOnednnQuantizedEngine();
  // oneDNN's int8 convolutions work in channels-last order; quantizing into
  // it saves a reorder before the first one.
  auto x = at::quantize_per_tensor(input.contiguous(torch::MemoryFormat::ChannelsLast), m.input_scale,
                                   m.input_zero_point, torch::kQUInt8);
  x = MaxPool(m.Run(x, m.stem));
  for (const auto& b : m.blocks) {
    auto y = m.Run(m.Run(x, b.conv1), b.conv2);
    auto s = b.downsample ? m.Run(x, b.shortcut) : x;
    x = m.add_relu({y, s, b.scale, b.zero_point}).toTensor();
  }
  auto pooled = at::adaptive_avg_pool2d(x, {1, 1}).dequantize().flatten(1);
  return at::linear(pooled, m.fc_weight, m.fc_bias);
}

namespace {

class FoldedSourceWriter {
 public:
  explicit FoldedSourceWriter(std::vector<std::pair<std::string, FoldedConv>>& convs,
                              const std::map<std::string, torch::Tensor>& tensors)
      : convs_(convs), tensors_(tensors) {}
  void ConvBn(const std::string& out, const std::string& in, const std::string& conv, const std::string& bn,
              int stride, int padding) {
    std::string attr = conv;
    for (auto& c : attr) {
      if (c == '.') c = '_';
    }
    convs_.emplace_back(attr, Fold(tensors_, conv, bn, stride, padding));
    src_ << "    " << out << " = torch.conv2d(" << in << ", self." << attr << "_w, self." << attr << "_b, ["
         << stride << ", " << stride << "], [" << padding << ", " << padding << "], [1, 1], 1)\n";
  }
  void Line(const std::string& line) { src_ << "    " << line << "\n"; }
  std::string Str() const { return src_.str(); }

 private:
  std::vector<std::pair<std::string, FoldedConv>>& convs_;
  const std::map<std::string, torch::Tensor>& tensors_;
  std::ostringstream src_;
};

}  // namespace

torch::jit::Module BuildBf16Graph(const std::map<std::string, torch::Tensor>& tensors) {
  c10::InferenceMode guard(false);  // the module's parameters must be normal tensors
  std::vector<std::pair<std::string, FoldedConv>> convs;
  FoldedSourceWriter w(convs, tensors);
  WriteResNet18Body(w);
  w.Line("return torch.linear(x, self.fc_weight, self.fc_bias)");
  auto cu = std::make_shared<torch::jit::CompilationUnit>();
  torch::jit::Module module(c10::QualifiedName("__torch__.torchdog.ResNet18Bf16"), cu, /*shouldMangle=*/true);
  module.register_attribute("training", c10::BoolType::get(), false);
  auto bf16 = [](const torch::Tensor& t) {
    auto b = t.detach().to(torch::kBFloat16);
    return b.dim() == 4 ? b.contiguous(torch::MemoryFormat::ChannelsLast) : b.contiguous();
  };
  for (const auto& [attr, c] : convs) {
    module.register_parameter(attr + "_w", bf16(c.weight), false);
    module.register_parameter(attr + "_b", bf16(c.bias), false);
  }
  module.register_parameter("fc_weight", bf16(tensors.at("fc.weight")), false);
  module.register_parameter("fc_bias", bf16(tensors.at("fc.bias")), false);
  module.define("def forward(self, x: Tensor) -> Tensor:\n" + w.Str());
  module.eval();
  return torch::jit::freeze(module);
}

}  // namespace torchdog
