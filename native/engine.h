// The model engine: everything torchdog computes, behind an interface that
// does not include torch, so the Node-API glue compiles in seconds.
//
// An Engine is not thread-safe: one call at a time. The addon makes every
// call of a model from that model's own executor thread (serial_executor.h),
// benchmarks from theirs; any thread works, the engine applies its thread
// count to the calling thread. Callers have checked options and value
// ranges (src/model); the engine guards only its invariants (the networks
// it has, the tensors of the network it built). Methods throw
// std::invalid_argument for input that breaks those (naming the parameter)
// and std::runtime_error for failures inside LibTorch, with LibTorch's
// message minus its C++ backtrace.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "collectives.h"

namespace torchdog {

struct EngineOptions {
  std::string arch;       // only "resnet18" for now
  int64_t num_classes;    // >= 1
  std::string device;     // "cpu", "cuda", "cuda:N" or "auto"
  uint64_t seed;          // seeds weight initialisation
  int threads;            // intra-op threads; 0 = one per hardware thread
};

// A borrowed batch of uint8 RGB images, NHWC, as sharp's raw output.
struct ImageBatchView {
  const uint8_t* pixels;
  int64_t count, height, width;
};

struct Normalization {
  std::array<float, 3> mean, std;
};

struct ForwardResult {
  int64_t count, classes;
  std::vector<float> logits, probabilities;  // row-major [count, classes]
};

// The normalisation an exported module bakes in, as the caller gave it
// (double: the module shows users the values they wrote, not their float32
// rounding; it computes in float32 like Forward).
struct ExportNormalization {
  std::array<double, 3> mean, std;
};

// A TorchScript file's forward on a batch, and the extra files asked for
// ("" for one the file does not have).
struct TorchScriptRun {
  ForwardResult outputs;
  std::map<std::string, std::string> extra_files;
};

struct StepResult {
  double loss;                     // mean cross-entropy over the batch
  int64_t correct, count;
  std::vector<int32_t> predicted;  // argmax per image (evaluation only)
};

// Where the time of a training step goes, in seconds per step (see
// Engine::ProfileTrainSteps).
struct StepTimeSplit {
  double upload;   // host batch to device tensor, normalised
  double compute;  // forward, loss, backward, optimizer step
  double host;     // the rest: reading results back, bookkeeping
  int64_t steps;
};

// How training steps compute their loss and update the weights
// (Engine::SetTrainRecipe); the defaults are plain cross-entropy and SGD/Adam
// steps.
struct TrainRecipe {
  double label_smoothing = 0;     // cross-entropy's label smoothing, in [0, 1)
  double clip_grad_norm = 0;      // largest L2 norm of all gradients together before a step; 0 = no clipping
  double loss_scale = 1;          // gradients are of loss * loss_scale (1/N when N steps are accumulated)
  bool freeze_batchnorm = false;  // BatchNorm in eval mode while training: running statistics used, not updated
  double ema_decay = 0;           // after each optimizer step ema = decay * ema + (1 - decay) * weights; 0 = no EMA
};

// One training step's inputs beyond the batch.
struct TrainStepOptions {
  // Soft targets, row-major [count, classes] float32 (mixup, cutmix); null:
  // the labels. The labels still count `correct`.
  const float* targets = nullptr;
  // false: the gradients are accumulated for a later step, no optimizer step.
  bool apply = true;
};

struct OptimizerOptions {
  std::string name;  // "adam", "adamw" or "sgd"
  double lr, weight_decay, momentum;
  bool nesterov;
  double beta1, beta2, eps;
};

// A tensor as it travels to or from TypeScript: safetensors dtype names
// ("F32", "F64", "F16", "BF16", "I64", "I32", "U8", ...), row-major bytes.
struct TensorBytes {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

struct TensorView {
  std::string name, dtype;
  std::vector<int64_t> shape;
  const uint8_t* data;
  size_t byte_length;
};

// Returns an empty string when `device` names a device this build can use,
// otherwise a message saying why not. Cheap; safe on the JS thread.
std::string CheckDevice(const std::string& device);
bool CudaAvailable();
// Process-wide: whether CUDA may run float32 matrix products and convolutions
// in TF32 (faster, ~1e-3 relative error). LibTorch's default allows it for
// convolutions; CPU results never change.
void SetTf32(bool allowed);

// An activation's observed float range, by quantize point (the names
// quantized_graph.h's QuantizePoints lists).
struct NamedRange {
  std::string name;
  double min, max;
};

struct NamedHistogram {
  std::string name;
  std::vector<double> counts;
};

class Engine {
 public:
  explicit Engine(const EngineOptions& options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  ForwardResult Forward(const ImageBatchView& images, const Normalization& norm);
  // Forward, loss, backward; then, when step.apply: [gradient hook point],
  // clipping, the optimizer step and the EMA update.
  StepResult TrainStep(const ImageBatchView& images, const int32_t* labels, const Normalization& norm,
                       const TrainStepOptions& step = {});
  StepResult EvalStep(const ImageBatchView& images, const int32_t* labels, const Normalization& norm);

  void SetOptimizer(const OptimizerOptions& options);
  void SetLearningRate(double lr);
  // Optimizer state as named tensors ("<param>.exp_avg", "<param>.step", ...,
  // and "ema.<tensor>" with an EMA) so a run can be resumed exactly.
  std::vector<TensorBytes> GetOptimizerState();
  void SetOptimizerState(const std::vector<TensorView>& tensors);

  // Parameters and buffers by torchvision name, copied to the CPU.
  std::vector<TensorBytes> GetTensors();
  // All-or-nothing: every view is checked (name, dtype, shape, length)
  // before any tensor is written.
  void SetTensors(const std::vector<TensorView>& tensors);

  // Writes the current weights to `path` as a TorchScript module that maps
  // uint8 NHWC images to (logits, probabilities), with `extra_files` stored
  // beside the code (torch.jit.load's _extra_files); see
  // torchscript_export.h. Overwrites `path`; the caller makes it atomic.
  void ExportTorchScript(const std::string& path, const ExportNormalization& norm,
                         const std::map<std::string, std::string>& extra_files);
  // Loads a TorchScript file onto the CPU (torch::jit::load) and runs its
  // forward on `images`, which must return (logits, probabilities), each
  // float [count, K]; reads the named extra files. Independent of this
  // model's weights: the engine lends its thread and thread count.
  TorchScriptRun RunTorchScript(const std::string& path, const ImageBatchView& images,
                                const std::vector<std::string>& extra_files);

  void SetThreads(int threads);
  void SetTraining(bool training);
  // Eval-mode Forward runs a frozen, optimised TorchScript copy of the model
  // (default on); off runs the eager model, as training does.
  void SetInferenceGraph(bool enabled);
  // bf16 autocast for training and evaluation steps (CUDA, or CPUs with
  // bf16 support); the loss and the optimizer state stay float32.
  void SetMixedPrecision(bool enabled);
  // Waits for queued GPU work (timing); a no-op on the CPU.
  void Synchronize();
  // Runs `steps` training steps with a device synchronisation between the
  // phases, to measure the split; slower than TrainStep, for benchmarks only.
  StepTimeSplit ProfileTrainSteps(const ImageBatchView& images, const int32_t* labels, const Normalization& norm,
                                  int64_t steps);
  void Seed(uint64_t seed);
  // The precision eval-mode Forward serves in: "fp32" (the default, the
  // inference graph or eager model), "bf16" (a frozen bfloat16 graph) or
  // "int8" (quantized_graph.h; CPU only, needs a range for every quantize
  // point). The graph is built at the next Forward, and again after the
  // weights change; training and EvalStep always compute in float32.
  void SetPrecision(const std::string& precision, const std::vector<NamedRange>& ranges);
  // The float32 network's range at each quantize point on this batch, for
  // calibration: the caller widens them over its calibration images.
  std::vector<NamedRange> ObserveActivations(const ImageBatchView& images, const Normalization& norm);
  // Counts of each quantize point's values in `bins` equal bins over its
  // range in `over` (every point's, e.g. ObserveActivations' widened over
  // the calibration images); outside values count in the end bins. In
  // QuantizePoints order. A histogram observer sums them over its images.
  std::vector<NamedHistogram> HistogramActivations(const ImageBatchView& images, const Normalization& norm,
                                                   const std::vector<NamedRange>& over, int64_t bins);
  // Distributed training: with collectives, every training step averages
  // the gradients over the ranks between backward and the optimizer step;
  // null trains alone again.
  void SetCollectives(std::shared_ptr<Collectives> collectives);
  // Parameters and buffers from rank 0 to every rank (needs collectives).
  void BroadcastTensors();
  // Replaces the training recipe. A new ema_decay > 0 starts the EMA from the
  // weights at the next training step (or the optimizer state's "ema.*").
  void SetTrainRecipe(const TrainRecipe& recipe);
  // Exchanges the weights (parameters and buffers) with their EMA without a
  // copy, so evaluation and GetTensors see the EMA; a second call swaps
  // back. Starts the EMA from the weights when no step made one yet.
  void SwapEmaWeights();

  std::string Device() const;
  int64_t ParameterCount() const;
  int64_t NumClasses() const;
  int Threads() const;
  bool Training() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace torchdog
