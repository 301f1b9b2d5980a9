#include "engine.h"

#include <dlfcn.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <chrono>
#include <map>
#include <mutex>
#include <stdexcept>
#include <thread>

#include "inference_graph.h"
#include "quantized_graph.h"
#include "resnet.h"
#include "torch_compat.h"
#include "torchscript_export.h"

namespace torchdog {
namespace {

struct DtypeName {
  const char* name;
  torch::ScalarType type;
};

constexpr DtypeName kDtypes[] = {
    {"F64", torch::kFloat64}, {"F32", torch::kFloat32}, {"F16", torch::kFloat16},
    {"BF16", torch::kBFloat16}, {"I64", torch::kInt64}, {"I32", torch::kInt32},
    {"I16", torch::kInt16},   {"I8", torch::kInt8},     {"U8", torch::kUInt8},
    {"BOOL", torch::kBool},
};

torch::ScalarType DtypeFromName(const std::string& name, const std::string& tensor) {
  for (const auto& d : kDtypes) {
    if (name == d.name) return d.type;
  }
  throw std::invalid_argument("tensor '" + tensor + "': unsupported dtype '" + name +
                              "' (expected one of F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
}

std::string DtypeToName(torch::ScalarType type) {
  for (const auto& d : kDtypes) {
    if (type == d.type) return d.name;
  }
  throw std::runtime_error(std::string("no safetensors name for dtype ") + c10::toString(type));
}

// A tensor as TypeScript receives it: copied to the CPU, row-major bytes.
TensorBytes ToBytes(const std::string& name, const torch::Tensor& tensor) {
  auto t = tensor.detach().to(torch::kCPU).contiguous();
  TensorBytes out{name, DtypeToName(t.scalar_type()), t.sizes().vec(), {}};
  const auto* begin = static_cast<const uint8_t*>(t.data_ptr());
  out.bytes.assign(begin, begin + t.nbytes());
  return out;
}

std::string ShapeToString(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// LibTorch errors carry a C++ backtrace that means nothing to a Node user.
template <typename F>
auto TranslateErrors(F&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const c10::Error& e) {
    throw std::runtime_error(e.what_without_backtrace());
  }
}

// torch::manual_seed sets a process-wide generator; two engines created at
// once on different threads must not interleave seeding and initialisation.
std::mutex& InitMutex() {
  static std::mutex mutex;
  return mutex;
}

// OpenBLAS spawns its own threads on top of OpenMP's; LibTorch's intra-op
// threads are the only parallelism we want.
void PinOpenBlasToOneThread() {
  static std::once_flag once;
  std::call_once(once, [] {
    using SetThreads = void (*)(int);
    if (auto fn = reinterpret_cast<SetThreads>(dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) fn(1);
  });
}

torch::Device ResolveDevice(const std::string& device) {
  std::string problem = CheckDevice(device);
  if (!problem.empty()) throw std::invalid_argument(problem);
  if (device == "auto") return CudaAvailable() ? torch::Device("cuda:0") : torch::Device(torch::kCPU);
  if (device == "cuda") return torch::Device("cuda:0");
  return torch::Device(device);
}


}  // namespace

bool CudaAvailable() { return torch::cuda::is_available(); }

void SetTf32(bool allowed) {
  at::globalContext().setAllowTF32CuDNN(allowed);
  at::globalContext().setAllowTF32CuBLAS(allowed);
}

std::string CheckDevice(const std::string& device) {
  if (device == "cpu" || device == "auto") return "";
  bool is_cuda = device == "cuda" || device.rfind("cuda:", 0) == 0;
  if (!is_cuda) {
    return "device: expected 'cpu', 'cuda', 'cuda:N' or 'auto' but received '" + device + "'";
  }
  int64_t index = 0;
  if (device != "cuda") {
    const std::string digits = device.substr(5);
    if (digits.empty() || digits.size() > 3 ||
        digits.find_first_not_of("0123456789") != std::string::npos) {
      return "device: expected 'cuda:N' with N a GPU index but received '" + device + "'";
    }
    index = std::stoll(digits);
  }
  if (!torch::cuda::is_available()) {
    return "device '" + device +
           "' is not available: this LibTorch build has no CUDA or no GPU is visible "
           "(use 'cpu' or 'auto', or rebuild against a CUDA LibTorch)";
  }
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  if (index >= count) {
    return "device '" + device + "' is not available: " + std::to_string(count) + " GPU(s) visible";
  }
  return "";
}

struct Engine::Impl {
  torch::Device device{torch::kCPU};
  ResNet model{nullptr};
  int64_t num_classes = 0;
  int threads = 1;
  bool mixed_precision = false;
  mutable torch::Tensor pinned;  // staging buffer for host-to-GPU uploads, grown on demand
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::string optimizer_name;
  std::map<std::string, torch::Tensor> tensors;  // parameters and buffers by name
  TrainRecipe recipe;
  std::map<std::string, torch::Tensor> ema;  // EMA of `tensors` (recipe.ema_decay), empty until it starts
  bool accumulating = false;                 // the last step kept its gradients for the next
  // The optimised inference graph, rebuilt lazily after the weights change.
  bool use_inference_graph = true;
  bool graph_stale = true;
  c10::optional<torch::jit::Module> graph;
  std::unique_ptr<OnednnResNet18> onednn_graph;  // graph's place on CPUs, where UseOnednnNetworks()
  // Reduced-precision serving (SetPrecision); built lazily like `graph`.
  std::string precision = "fp32";
  std::map<std::string, ActivationRange> ranges;
  std::unique_ptr<QuantizedResNet18> int8_graph;
  c10::optional<torch::jit::Module> bf16_graph;
  std::shared_ptr<Collectives> collectives;  // distributed training, else null

  torch::Tensor RunInferenceGraph(const torch::Tensor& input) {
    if (graph_stale || (!graph && !onednn_graph)) {
      ResetGraphs();
      if (!device.is_cuda() && UseOnednnNetworks()) {
        onednn_graph = BuildOnednnFloat32(tensors);
      } else {
        graph = BuildInferenceGraph(tensors);
      }
      graph_stale = false;
    }
    if (onednn_graph) return RunOnednn(*onednn_graph, input);
    // oneDNN convolutions in the optimised graph measured faster on NCHW input.
    return graph->forward({input.contiguous()}).toTensor();
  }

  // One graph is current at a time: building one drops the others, which
  // `graph_stale` no longer describes.
  torch::Tensor RunReducedPrecision(const torch::Tensor& input) {
    if (graph_stale || (precision == "int8" ? !int8_graph : !bf16_graph)) {
      ResetGraphs();
      if (precision == "int8") {
        int8_graph = std::make_unique<QuantizedResNet18>(tensors, ranges);
      } else {
        bf16_graph = BuildBf16Graph(tensors);
      }
      graph_stale = false;
    }
    if (precision == "int8") return int8_graph->Forward(input);
    auto x = input.to(torch::kBFloat16).contiguous(torch::MemoryFormat::ChannelsLast);
    return bf16_graph->forward({x}).toTensor().to(torch::kFloat32);
  }

  void ResetGraphs() {
    graph.reset();
    onednn_graph.reset();
    int8_graph.reset();
    bf16_graph.reset();
  }

  // OpenMP thread counts are per thread. The addon always calls from the
  // model's executor thread, so after the first call this is a comparison;
  // it keeps a caller on another thread (a benchmark) correct too.
  void ApplyThreads() const {
    if (at::get_num_threads() != threads) at::set_num_threads(threads);
  }

  torch::Tensor ToInput(const ImageBatchView& images, const Normalization& norm) const {
    auto pixels = torch::from_blob(const_cast<uint8_t*>(images.pixels),
                                   {images.count, images.height, images.width, 3}, torch::kUInt8);
    if (device.is_cuda()) {
      // uint8 crosses the bus (a quarter of float32), from pinned memory so
      // the copy is a DMA; normalisation then runs on the GPU.
      if (!pinned.defined() || pinned.numel() < pixels.numel()) {
        // A normal tensor even when first needed under InferenceMode (a
        // forward pass), so training steps may write into it later.
        c10::InferenceMode normal_tensors(false);
        pinned = torch::empty({pixels.numel()}, torch::TensorOptions(torch::kUInt8).pinned_memory(true));
      }
      auto staged = pinned.narrow(0, 0, pixels.numel()).view(pixels.sizes());
      staged.copy_(pixels);
      pixels = staged.to(device, /*non_blocking=*/true);
    }
    // Permuting NHWC gives an NCHW view in channels-last memory order; the
    // float conversion keeps that order, so no transpose copy is made.
    auto x = pixels.permute({0, 3, 1, 2}).to(torch::kFloat32);
    auto mean = torch::tensor({norm.mean[0], norm.mean[1], norm.mean[2]}).view({1, 3, 1, 1});
    auto std = torch::tensor({norm.std[0], norm.std[1], norm.std[2]}).view({1, 3, 1, 1});
    auto scale = (1.0 / (std * 255.0)).to(device);
    auto shift = (mean / std).to(device);
    return x.mul_(scale).sub_(shift);
  }

  torch::Tensor ToLabels(const int32_t* labels, int64_t count) const {
    return torch::from_blob(const_cast<int32_t*>(labels), {count}, torch::kInt32)
        .to(device, torch::kInt64);
  }

  // Convolution weights in channels-last order match the channels-last
  // activations, so cuDNN/oneDNN need no layout conversions on the GPU.
  void UseChannelsLastWeights() {
    torch::NoGradGuard no_grad;
    for (auto& p : model->parameters()) {
      if (p.dim() == 4) p.set_data(p.data().contiguous(torch::MemoryFormat::ChannelsLast));
    }
  }

  void PrepareTraining() {
    ApplyThreads();
    EnsureOptimizer();
    model->train();
    if (recipe.freeze_batchnorm) {
      for (auto& module : model->modules(/*include_self=*/false)) {
        if (module->as<torch::nn::BatchNorm2d>()) module->eval();
      }
    }
  }

  torch::Tensor ToTargets(const float* targets, int64_t count) const {
    return torch::from_blob(const_cast<float*>(targets), {count, num_classes}, torch::kFloat32).to(device);
  }

  void EnsureEma() {
    if (recipe.ema_decay <= 0 || !ema.empty()) return;
    torch::NoGradGuard no_grad;
    for (const auto& [name, t] : tensors) ema[name] = t.detach().clone();
  }

  void UpdateEma() {
    if (recipe.ema_decay <= 0) return;
    torch::NoGradGuard no_grad;
    const double d = recipe.ema_decay;
    for (const auto& [name, t] : tensors) {
      auto& e = ema.at(name);
      if (e.is_floating_point()) e.mul_(d).add_(t.detach(), 1 - d);
      else e.copy_(t);  // num_batches_tracked
    }
  }

  // Forward (under autocast when enabled), cross-entropy against labels or
  // soft targets, backward; with `apply`, the update. Returns {logits, loss}.
  std::pair<torch::Tensor, torch::Tensor> OptimizeStep(const torch::Tensor& input, const torch::Tensor& target, bool apply = true) {
    if (!accumulating) optimizer->zero_grad();
    EnsureEma();
    torch::Tensor logits, loss;
    {
      AutocastScope amp(mixed_precision, device.type());
      logits = model->forward(input);
      loss = torch::nn::functional::cross_entropy(
          logits, target, torch::nn::functional::CrossEntropyFuncOptions().label_smoothing(recipe.label_smoothing));
    }
    (recipe.loss_scale == 1 ? loss : loss * recipe.loss_scale).backward();
    accumulating = !apply;
    if (!apply) return {logits, loss};
    // The gradients are complete here: averaged over the ranks, then clipped, then the step.
    if (collectives) collectives->AverageGradients(model->parameters());
    if (recipe.clip_grad_norm > 0) torch::nn::utils::clip_grad_norm_(model->parameters(), recipe.clip_grad_norm);
    optimizer->step();
    UpdateEma();
    graph_stale = true;
    return {logits, loss};
  }

  void EnsureOptimizer() {
    if (!optimizer) {
      OptimizerOptions defaults{"adam", 1e-3, 0.0, 0.0, false, 0.9, 0.999, 1e-8};
      Configure(defaults);
    }
  }

  void Configure(const OptimizerOptions& o) {
    auto params = model->parameters();
    if (o.name == "adam") {
      optimizer = std::make_unique<torch::optim::Adam>(
          params, torch::optim::AdamOptions(o.lr).weight_decay(o.weight_decay).betas({o.beta1, o.beta2}).eps(o.eps));
    } else if (o.name == "adamw") {
      optimizer = std::make_unique<torch::optim::AdamW>(
          params, torch::optim::AdamWOptions(o.lr).weight_decay(o.weight_decay).betas({o.beta1, o.beta2}).eps(o.eps));
    } else if (o.name == "sgd") {
      optimizer = std::make_unique<torch::optim::SGD>(
          params, torch::optim::SGDOptions(o.lr).momentum(o.momentum).weight_decay(o.weight_decay).nesterov(o.nesterov));
    } else {
      throw std::invalid_argument("optimizer.name: expected 'adam', 'adamw' or 'sgd' but received '" + o.name + "'");
    }
    optimizer_name = o.name;
  }
};

Engine::Engine(const EngineOptions& options) : impl_(std::make_unique<Impl>()) {
  if (options.arch != "resnet18") {
    throw std::invalid_argument("arch: expected 'resnet18' but received '" + options.arch + "'");
  }
  if (options.num_classes < 1) {
    throw std::invalid_argument("numClasses: expected an integer >= 1 but received " +
                                std::to_string(options.num_classes));
  }
  PinOpenBlasToOneThread();
  TranslateErrors([&] {
    impl_->device = ResolveDevice(options.device);
    impl_->num_classes = options.num_classes;
    SetThreads(options.threads);
    {
      std::lock_guard<std::mutex> lock(InitMutex());
      torch::manual_seed(options.seed);
      impl_->model = MakeResNet18(options.num_classes);
    }
    impl_->model->to(impl_->device);
    if (impl_->device.is_cuda()) {
      at::globalContext().setBenchmarkCuDNN(true);
      impl_->UseChannelsLastWeights();
    }
    impl_->model->eval();
    for (const auto& item : impl_->model->named_parameters(true)) impl_->tensors[item.key()] = item.value();
    for (const auto& item : impl_->model->named_buffers(true)) impl_->tensors[item.key()] = item.value();
  });
}

Engine::~Engine() = default;

ForwardResult Engine::Forward(const ImageBatchView& images, const Normalization& norm) {
  return TranslateErrors([&] {
    impl_->ApplyThreads();
    torch::Tensor logits;
    if (impl_->model->is_training()) {
      // Train-mode BatchNorm updates its running statistics, which inference
      // mode forbids; plain no-grad allows it.
      torch::NoGradGuard no_grad;
      logits = impl_->model->forward(impl_->ToInput(images, norm));
    } else if (impl_->precision != "fp32") {
      c10::InferenceMode guard;
      logits = impl_->RunReducedPrecision(impl_->ToInput(images, norm));
    } else if (impl_->use_inference_graph) {
      c10::InferenceMode guard;
      logits = impl_->RunInferenceGraph(impl_->ToInput(images, norm));
    } else {
      c10::InferenceMode guard;
      logits = impl_->model->forward(impl_->ToInput(images, norm));
    }
    auto probabilities = torch::softmax(logits, 1).to(torch::kCPU).contiguous();
    logits = logits.to(torch::kCPU).contiguous();
    ForwardResult result{images.count, impl_->num_classes, {}, {}};
    result.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
    result.probabilities.assign(probabilities.data_ptr<float>(),
                                probabilities.data_ptr<float>() + probabilities.numel());
    return result;
  });
}

StepResult Engine::TrainStep(const ImageBatchView& images, const int32_t* labels, const Normalization& norm,
                             const TrainStepOptions& step) {
  return TranslateErrors([&] {
    impl_->PrepareTraining();
    auto target = impl_->ToLabels(labels, images.count);
    auto loss_target = step.targets ? impl_->ToTargets(step.targets, images.count) : target;
    auto [logits, loss] = impl_->OptimizeStep(impl_->ToInput(images, norm), loss_target, step.apply);
    torch::NoGradGuard no_grad;
    int64_t correct = logits.argmax(1).eq(target).sum().item<int64_t>();
    return StepResult{loss.item<double>(), correct, images.count, {}};
  });
}

StepResult Engine::EvalStep(const ImageBatchView& images, const int32_t* labels, const Normalization& norm) {
  return TranslateErrors([&] {
    impl_->ApplyThreads();
    impl_->model->eval();
    c10::InferenceMode guard;
    auto target = impl_->ToLabels(labels, images.count);
    AutocastScope amp(impl_->mixed_precision, impl_->device.type());
    auto logits = impl_->model->forward(impl_->ToInput(images, norm)).to(torch::kFloat32);
    auto loss = torch::nn::functional::cross_entropy(logits, target);
    auto predicted = logits.argmax(1);
    int64_t correct = predicted.eq(target).sum().item<int64_t>();
    auto predicted_cpu = predicted.to(torch::kCPU, torch::kInt32).contiguous();
    StepResult result{loss.item<double>(), correct, images.count, {}};
    result.predicted.assign(predicted_cpu.data_ptr<int32_t>(), predicted_cpu.data_ptr<int32_t>() + images.count);
    return result;
  });
}

void Engine::SetOptimizer(const OptimizerOptions& options) {
  TranslateErrors([&] { impl_->Configure(options); });
}

void Engine::SetLearningRate(double lr) {
  TranslateErrors([&] {
    impl_->EnsureOptimizer();
    for (auto& group : impl_->optimizer->param_groups()) group.options().set_lr(lr);
  });
}

std::vector<TensorBytes> Engine::GetOptimizerState() {
  return TranslateErrors([&] {
    std::vector<TensorBytes> out;
    if (!impl_->optimizer) return out;
    auto& state = impl_->optimizer->state();
    auto emit = [&](const std::string& name, const torch::Tensor& t) {
      if (t.defined()) out.push_back(ToBytes(name, t));
    };
    for (const auto& item : impl_->model->named_parameters(true)) {
      auto found = state.find(ParamStateKey(item.value()));
      if (found == state.end()) continue;
      const std::string& name = item.key();
      if (auto* adam = dynamic_cast<torch::optim::AdamParamState*>(found->second.get())) {
        emit(name + ".exp_avg", adam->exp_avg());
        emit(name + ".exp_avg_sq", adam->exp_avg_sq());
        emit(name + ".max_exp_avg_sq", adam->max_exp_avg_sq());
        emit(name + ".step", torch::tensor(adam->step(), torch::kInt64));
      } else if (auto* adamw = dynamic_cast<torch::optim::AdamWParamState*>(found->second.get())) {
        emit(name + ".exp_avg", adamw->exp_avg());
        emit(name + ".exp_avg_sq", adamw->exp_avg_sq());
        emit(name + ".max_exp_avg_sq", adamw->max_exp_avg_sq());
        emit(name + ".step", torch::tensor(adamw->step(), torch::kInt64));
      } else if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(found->second.get())) {
        emit(name + ".momentum_buffer", sgd->momentum_buffer());
      }
    }
    for (const auto& [name, e] : impl_->ema) emit("ema." + name, e);
    return out;
  });
}

void Engine::SetOptimizerState(const std::vector<TensorView>& tensors) {
  TranslateErrors([&] {
    impl_->EnsureOptimizer();
    std::map<std::string, torch::Tensor> by_name;
    for (const auto& view : tensors) {
      auto type = DtypeFromName(view.dtype, view.name);
      auto t = torch::from_blob(const_cast<uint8_t*>(view.data), view.shape, type);
      if (static_cast<size_t>(t.nbytes()) != view.byte_length) {
        throw std::invalid_argument("optimizer state '" + view.name + "': " + std::to_string(view.byte_length) +
                                    " bytes do not match shape " + ShapeToString(view.shape));
      }
      by_name[view.name] = t.clone();
    }
    auto take = [&](const std::string& name, const torch::Tensor& like) -> torch::Tensor {
      auto found = by_name.find(name);
      if (found == by_name.end()) return {};
      if (found->second.sizes() != like.sizes()) {
        throw std::invalid_argument("optimizer state '" + name + "': expected shape " +
                                    ShapeToString(like.sizes()) + " but received " +
                                    ShapeToString(found->second.sizes()));
      }
      return found->second.to(like.device(), like.scalar_type());
    };
    auto step_of = [&](const std::string& name) -> int64_t {
      auto found = by_name.find(name);
      return found == by_name.end() ? 0 : found->second.to(torch::kInt64).item<int64_t>();
    };
    auto& state = impl_->optimizer->state();
    state.clear();
    for (const auto& item : impl_->model->named_parameters(true)) {
      const std::string& name = item.key();
      const auto& p = item.value();
      if (impl_->optimizer_name == "sgd") {
        auto buffer = take(name + ".momentum_buffer", p);
        if (!buffer.defined()) continue;
        auto s = std::make_unique<torch::optim::SGDParamState>();
        s->momentum_buffer(buffer);
        state[ParamStateKey(p)] = std::move(s);
        continue;
      }
      auto exp_avg = take(name + ".exp_avg", p);
      auto exp_avg_sq = take(name + ".exp_avg_sq", p);
      if (!exp_avg.defined() || !exp_avg_sq.defined()) continue;
      auto max_sq = take(name + ".max_exp_avg_sq", p);
      if (impl_->optimizer_name == "adam") {
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->exp_avg(exp_avg).exp_avg_sq(exp_avg_sq).step(step_of(name + ".step"));
        if (max_sq.defined()) s->max_exp_avg_sq(max_sq);
        state[ParamStateKey(p)] = std::move(s);
      } else {
        auto s = std::make_unique<torch::optim::AdamWParamState>();
        s->exp_avg(exp_avg).exp_avg_sq(exp_avg_sq).step(step_of(name + ".step"));
        if (max_sq.defined()) s->max_exp_avg_sq(max_sq);
        state[ParamStateKey(p)] = std::move(s);
      }
    }
    std::map<std::string, torch::Tensor> ema;
    for (const auto& [name, t] : impl_->tensors) {
      auto e = take("ema." + name, t);
      if (e.defined()) ema[name] = e;
    }
    if (!ema.empty() && ema.size() != impl_->tensors.size()) {
      throw std::invalid_argument("optimizer state: holds the EMA of " + std::to_string(ema.size()) + " of the model's " +
                                  std::to_string(impl_->tensors.size()) + " tensors");
    }
    impl_->ema = std::move(ema);
    impl_->accumulating = false;
  });
}

std::vector<TensorBytes> Engine::GetTensors() {
  return TranslateErrors([&] {
    std::vector<TensorBytes> out;
    out.reserve(impl_->tensors.size());
    for (const auto& [name, tensor] : impl_->tensors) out.push_back(ToBytes(name, tensor));
    return out;
  });
}

void Engine::SetTensors(const std::vector<TensorView>& tensors) {
  TranslateErrors([&] {
    std::vector<std::pair<torch::Tensor, torch::Tensor>> copies;  // (target, source)
    copies.reserve(tensors.size());
    for (const auto& view : tensors) {
      auto found = impl_->tensors.find(view.name);
      if (found == impl_->tensors.end()) {
        throw std::invalid_argument("tensor '" + view.name + "': the model has no tensor of that name");
      }
      const torch::Tensor& target = found->second;
      auto type = DtypeFromName(view.dtype, view.name);
      if (c10::isFloatingType(type) != c10::isFloatingType(target.scalar_type())) {
        throw std::invalid_argument("tensor '" + view.name + "': expected dtype " +
                                    DtypeToName(target.scalar_type()) + " but received " + view.dtype);
      }
      if (c10::IntArrayRef(view.shape) != target.sizes()) {
        throw std::invalid_argument("tensor '" + view.name + "': expected shape " +
                                    ShapeToString(target.sizes()) + " but received " +
                                    ShapeToString(view.shape));
      }
      auto source = torch::from_blob(const_cast<uint8_t*>(view.data), view.shape, type);
      if (static_cast<size_t>(source.nbytes()) != view.byte_length) {
        throw std::invalid_argument("tensor '" + view.name + "': expected " + std::to_string(source.nbytes()) +
                                    " bytes for shape " + ShapeToString(view.shape) + " and dtype " +
                                    view.dtype + " but received " + std::to_string(view.byte_length));
      }
      copies.emplace_back(target, source);
    }
    torch::NoGradGuard no_grad;
    for (auto& [target, source] : copies) target.copy_(source);
    impl_->graph_stale = true;
  });
}

void Engine::ExportTorchScript(const std::string& path, const ExportNormalization& norm,
                               const std::map<std::string, std::string>& extra_files) {
  TranslateErrors([&] {
    auto module = BuildTorchScriptExport(impl_->tensors, norm.mean, norm.std);
    module.save(path, torch::jit::ExtraFilesMap(extra_files.begin(), extra_files.end()));
  });
}

TorchScriptRun Engine::RunTorchScript(const std::string& path, const ImageBatchView& images,
                                      const std::vector<std::string>& extra_files) {
  return TranslateErrors([&] {
    impl_->ApplyThreads();
    torch::jit::ExtraFilesMap files;
    for (const auto& name : extra_files) files[name] = "";
    auto module = torch::jit::load(path, torch::Device(torch::kCPU), files);
    module.eval();
    c10::InferenceMode guard;
    auto pixels = torch::from_blob(const_cast<uint8_t*>(images.pixels),
                                   {images.count, images.height, images.width, 3}, torch::kUInt8);
    auto out = module.forward({pixels});
    const std::string expected = path + ": expected forward(image) to return (logits, probabilities), each float [" +
                                 std::to_string(images.count) + ", K]";
    if (!out.isTuple() || out.toTuple()->elements().size() != 2) throw std::invalid_argument(expected);
    const auto& elements = out.toTuple()->elements();
    if (!elements[0].isTensor() || !elements[1].isTensor()) throw std::invalid_argument(expected);
    auto logits = elements[0].toTensor().to(torch::kCPU, torch::kFloat32).contiguous();
    auto probabilities = elements[1].toTensor().to(torch::kCPU, torch::kFloat32).contiguous();
    if (logits.dim() != 2 || logits.size(0) != images.count || probabilities.sizes() != logits.sizes()) {
      throw std::invalid_argument(expected + " but received " + ShapeToString(logits.sizes()) + " and " +
                                  ShapeToString(probabilities.sizes()));
    }
    TorchScriptRun run{{images.count, logits.size(1), {}, {}}, {files.begin(), files.end()}};
    run.outputs.logits.assign(logits.data_ptr<float>(), logits.data_ptr<float>() + logits.numel());
    run.outputs.probabilities.assign(probabilities.data_ptr<float>(),
                                     probabilities.data_ptr<float>() + probabilities.numel());
    return run;
  });
}

void Engine::SetThreads(int threads) {
  if (threads < 0) throw std::invalid_argument("threads: expected an integer >= 0 but received " + std::to_string(threads));
  impl_->threads = threads > 0 ? threads : std::max(1u, std::thread::hardware_concurrency());
}

void Engine::SetTraining(bool training) {
  TranslateErrors([&] { impl_->model->train(training); });
}

void Engine::SetMixedPrecision(bool enabled) { impl_->mixed_precision = enabled; }

void Engine::Synchronize() {
  TranslateErrors([&] {
    if (impl_->device.is_cuda()) torch::cuda::synchronize(impl_->device.index());
  });
}

StepTimeSplit Engine::ProfileTrainSteps(const ImageBatchView& images, const int32_t* labels, const Normalization& norm,
                                        int64_t steps) {
  return TranslateErrors([&] {
    using Clock = std::chrono::steady_clock;
    auto seconds = [](Clock::time_point a, Clock::time_point b) { return std::chrono::duration<double>(b - a).count(); };
    impl_->PrepareTraining();
    StepTimeSplit split{0, 0, 0, steps};
    for (int64_t i = 0; i < steps; ++i) {
      auto t0 = Clock::now();
      auto input = impl_->ToInput(images, norm);
      auto target = impl_->ToLabels(labels, images.count);
      Synchronize();
      auto t1 = Clock::now();
      auto [logits, loss] = impl_->OptimizeStep(input, target);
      Synchronize();
      auto t2 = Clock::now();
      torch::NoGradGuard no_grad;
      (void)logits.argmax(1).eq(target).sum().item<int64_t>();
      (void)loss.item<double>();
      auto t3 = Clock::now();
      split.upload += seconds(t0, t1);
      split.compute += seconds(t1, t2);
      split.host += seconds(t2, t3);
    }
    if (steps > 0) {
      split.upload /= steps;
      split.compute /= steps;
      split.host /= steps;
    }
    return split;
  });
}

void Engine::SetInferenceGraph(bool enabled) {
  impl_->use_inference_graph = enabled;
  if (!enabled) {
    impl_->graph.reset();
    impl_->onednn_graph.reset();
  }
}

void Engine::SetTrainRecipe(const TrainRecipe& recipe) {
  if (recipe.ema_decay != impl_->recipe.ema_decay) impl_->ema.clear();
  impl_->recipe = recipe;
}

void Engine::SwapEmaWeights() {
  TranslateErrors([&] {
    if (impl_->recipe.ema_decay <= 0) throw std::invalid_argument("SwapEmaWeights: the recipe keeps no EMA (ema_decay is 0)");
    impl_->EnsureEma();
    torch::NoGradGuard no_grad;
    // set_data keeps each parameter's identity (the optimizer's state key).
    for (auto& [name, t] : impl_->tensors) {
      auto& e = impl_->ema.at(name);
      auto weights = t.data();
      t.set_data(e);
      e = weights;
    }
    impl_->graph_stale = true;
  });
}

void Engine::Seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(InitMutex());
  TranslateErrors([&] { torch::manual_seed(seed); });
}

void Engine::SetPrecision(const std::string& precision, const std::vector<NamedRange>& ranges) {
  TranslateErrors([&] {
    if (precision != "fp32" && precision != "bf16" && precision != "int8") {
      throw std::invalid_argument("precision: expected 'fp32', 'bf16' or 'int8' but received '" + precision + "'");
    }
    if (precision == "int8" && !impl_->device.is_cpu()) {
      throw std::invalid_argument("precision 'int8' runs on the CPU only (the oneDNN quantized engine), not on " +
                                  impl_->device.str());
    }
    std::map<std::string, ActivationRange> by_name;
    for (const auto& r : ranges) by_name[r.name] = {r.min, r.max};
    // Checked now, so a bad calibration is refused here, not at the first forward.
    if (precision == "int8") {
      UseOnednnQuantizedEngine();
      CheckRanges(by_name);
    }
    impl_->precision = precision;
    impl_->ranges = std::move(by_name);
    impl_->int8_graph.reset();
    impl_->bf16_graph.reset();
  });
}

std::vector<NamedRange> Engine::ObserveActivations(const ImageBatchView& images, const Normalization& norm) {
  return TranslateErrors([&] {
    impl_->ApplyThreads();
    c10::InferenceMode guard;
    auto observed = torchdog::ObserveActivations(impl_->tensors, impl_->ToInput(images, norm));
    std::vector<NamedRange> out;
    for (const auto& point : QuantizePoints()) out.push_back({point, observed.at(point).min, observed.at(point).max});
    return out;
  });
}

std::vector<NamedHistogram> Engine::HistogramActivations(const ImageBatchView& images, const Normalization& norm,
                                                         const std::vector<NamedRange>& over, int64_t bins) {
  return TranslateErrors([&] {
    impl_->ApplyThreads();
    c10::InferenceMode guard;
    std::map<std::string, ActivationRange> by_name;
    for (const auto& r : over) by_name[r.name] = {r.min, r.max};
    auto counted = torchdog::HistogramActivations(impl_->tensors, impl_->ToInput(images, norm), by_name, bins);
    std::vector<NamedHistogram> out;
    for (const auto& point : QuantizePoints()) out.push_back({point, std::move(counted.at(point))});
    return out;
  });
}

void Engine::SetCollectives(std::shared_ptr<Collectives> collectives) { impl_->collectives = std::move(collectives); }

void Engine::BroadcastTensors() {
  if (!impl_->collectives) throw std::invalid_argument("broadcastTensors: the model is not in a process group");
  std::vector<torch::Tensor> tensors;  // by name: the same order on every rank
  for (const auto& item : impl_->tensors) tensors.push_back(item.second);
  TranslateErrors([&] { impl_->collectives->Broadcast(tensors); });
  impl_->graph_stale = true;
}

std::string Engine::Device() const { return impl_->device.str(); }

int64_t Engine::ParameterCount() const {
  int64_t total = 0;
  for (const auto& p : impl_->model->parameters()) total += p.numel();
  return total;
}

int64_t Engine::NumClasses() const { return impl_->num_classes; }
int Engine::Threads() const { return impl_->threads; }
bool Engine::Training() const { return impl_->model->is_training(); }

}  // namespace torchdog
