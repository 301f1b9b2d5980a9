// Node-API glue: validates arguments, copies JS memory, and runs each engine
// call on the libuv pool, one at a time per model, in the order they were made.
// Deliberately free of torch headers (see engine.h).
#include <napi.h>

#include <cmath>
#include <deque>
#include <functional>
#include <limits>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine.h"
#include "serial_executor.h"

namespace torchdog {
namespace {

constexpr int64_t kMaxImageSide = 8192;
constexpr int kMaxThreads = 1024;

std::string Describe(const Napi::Value& v) {
  if (v.IsUndefined()) return "undefined";
  if (v.IsNull()) return "null";
  if (v.IsNumber()) return "number " + v.ToString().Utf8Value();
  if (v.IsString()) return "string '" + v.As<Napi::String>().Utf8Value() + "'";
  if (v.IsBoolean()) return v.As<Napi::Boolean>().Value() ? "true" : "false";
  if (v.IsTypedArray()) return "a typed array";
  if (v.IsArray()) return "an array";
  if (v.IsFunction()) return "a function";
  return "an object";
}

[[noreturn]] void ThrowType(Napi::Env env, const std::string& message) {
  throw Napi::TypeError::New(env, message);
}

Napi::Object ExpectObject(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray()) ThrowType(env, name + ": expected an object but received " + Describe(v));
  return v.As<Napi::Object>();
}

int64_t ExpectInteger(Napi::Env env, const Napi::Value& v, const std::string& name, int64_t min, int64_t max) {
  if (!v.IsNumber()) ThrowType(env, name + ": expected an integer but received " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max)) {
    throw Napi::RangeError::New(env, name + ": expected an integer between " + std::to_string(min) + " and " +
                                         std::to_string(max) + " but received " + Describe(v));
  }
  return static_cast<int64_t>(d);
}

double ExpectNumber(Napi::Env env, const Napi::Value& v, const std::string& name, double min, double max) {
  if (!v.IsNumber()) ThrowType(env, name + ": expected a number but received " + Describe(v));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || d < min || d > max) {
    throw Napi::RangeError::New(env, name + ": expected a number between " + std::to_string(min) + " and " +
                                         std::to_string(max) + " but received " + Describe(v));
  }
  return d;
}

std::string ExpectString(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsString()) ThrowType(env, name + ": expected a string but received " + Describe(v));
  return v.As<Napi::String>().Utf8Value();
}

bool ExpectBoolean(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsBoolean()) ThrowType(env, name + ": expected a boolean but received " + Describe(v));
  return v.As<Napi::Boolean>().Value();
}

// Copies the bytes of any ArrayBuffer view, so nothing the caller does to its
// buffer afterwards (reuse, transfer, GC) can reach the worker thread.
std::vector<uint8_t> CopyBytes(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsTypedArray() && !v.IsDataView()) {
    ThrowType(env, name + ": expected a Uint8Array, Buffer or other ArrayBuffer view but received " + Describe(v));
  }
  const uint8_t* data;
  size_t length;
  if (v.IsTypedArray()) {
    auto array = v.As<Napi::TypedArray>();
    data = static_cast<const uint8_t*>(array.ArrayBuffer().Data()) + array.ByteOffset();
    length = array.ByteLength();
  } else {
    auto view = v.As<Napi::DataView>();
    data = static_cast<const uint8_t*>(view.ArrayBuffer().Data()) + view.ByteOffset();
    length = view.ByteLength();
  }
  return std::vector<uint8_t>(data, data + length);
}

struct OwnedImages {
  std::vector<uint8_t> pixels;
  int64_t count = 0, height = 0, width = 0;
  ImageBatchView View() const { return {pixels.data(), count, height, width}; }
};

OwnedImages ReadImages(Napi::Env env, const Napi::Value& v) {
  auto obj = ExpectObject(env, v, "images");
  OwnedImages images;
  images.count = ExpectInteger(env, obj.Get("count"), "images.count", 1, 1 << 20);
  images.height = ExpectInteger(env, obj.Get("height"), "images.height", 1, kMaxImageSide);
  images.width = ExpectInteger(env, obj.Get("width"), "images.width", 1, kMaxImageSide);
  Napi::Value data = obj.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(env, "images.data: expected a Uint8Array or Buffer of RGB pixels (NHWC) but received " + Describe(data));
  }
  const size_t expected = static_cast<size_t>(images.count * images.height * images.width * 3);
  const size_t actual = data.As<Napi::TypedArray>().ByteLength();
  if (actual != expected) {
    throw Napi::RangeError::New(
        env, "images.data: expected count*height*width*3 = " + std::to_string(expected) + " bytes (" +
                 std::to_string(images.count) + "x" + std::to_string(images.height) + "x" +
                 std::to_string(images.width) + "x3) but received " + std::to_string(actual));
  }
  images.pixels = CopyBytes(env, data, "images.data");
  return images;
}

std::vector<int32_t> ReadLabels(Napi::Env env, const Napi::Value& v, int64_t count, int64_t num_classes) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowType(env, "labels: expected an Int32Array but received " + Describe(v));
  }
  auto array = v.As<Napi::Int32Array>();
  if (static_cast<int64_t>(array.ElementLength()) != count) {
    throw Napi::RangeError::New(env, "labels: expected one label per image (" + std::to_string(count) +
                                         ") but received " + std::to_string(array.ElementLength()));
  }
  std::vector<int32_t> labels(array.Data(), array.Data() + array.ElementLength());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      throw Napi::RangeError::New(env, "labels[" + std::to_string(i) + "]: expected a class index in [0, " +
                                           std::to_string(num_classes) + ") but received " +
                                           std::to_string(labels[i]));
    }
  }
  return labels;
}

Normalization ReadNormalization(Napi::Env env, const Napi::Value& v) {
  auto obj = ExpectObject(env, v, "normalization");
  Normalization norm{};
  for (const char* key : {"mean", "std"}) {
    Napi::Value list = obj.Get(key);
    const std::string name = std::string("normalization.") + key;
    if (!list.IsArray() || list.As<Napi::Array>().Length() != 3) {
      ThrowType(env, name + ": expected an array of 3 numbers but received " + Describe(list));
    }
    auto& out = std::string(key) == "mean" ? norm.mean : norm.std;
    for (uint32_t i = 0; i < 3; ++i) {
      const std::string item = name + "[" + std::to_string(i) + "]";
      out[i] = static_cast<float>(std::string(key) == "mean" ? ExpectNumber(env, list.As<Napi::Array>().Get(i), item, -1e6, 1e6)
                                                              : ExpectNumber(env, list.As<Napi::Array>().Get(i), item, 1e-12, 1e6));
    }
  }
  return norm;
}

struct OwnedTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

std::vector<OwnedTensor> ReadTensorList(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) ThrowType(env, name + ": expected an array of {name, dtype, shape, data} but received " + Describe(v));
  auto list = v.As<Napi::Array>();
  std::vector<OwnedTensor> out;
  out.reserve(list.Length());
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string at = name + "[" + std::to_string(i) + "]";
    auto obj = ExpectObject(env, list.Get(i), at);
    OwnedTensor t;
    t.name = ExpectString(env, obj.Get("name"), at + ".name");
    t.dtype = ExpectString(env, obj.Get("dtype"), at + ".dtype");
    Napi::Value shape = obj.Get("shape");
    if (!shape.IsArray()) ThrowType(env, at + ".shape: expected an array of integers but received " + Describe(shape));
    auto dims = shape.As<Napi::Array>();
    if (dims.Length() > 8) throw Napi::RangeError::New(env, at + ".shape: expected at most 8 dimensions");
    for (uint32_t d = 0; d < dims.Length(); ++d) {
      t.shape.push_back(ExpectInteger(env, dims.Get(d), at + ".shape[" + std::to_string(d) + "]", 0, 1LL << 40));
    }
    t.bytes = CopyBytes(env, obj.Get("data"), at + ".data");
    out.push_back(std::move(t));
  }
  return out;
}

std::vector<TensorView> ViewsOf(const std::vector<OwnedTensor>& tensors) {
  std::vector<TensorView> views;
  views.reserve(tensors.size());
  for (const auto& t : tensors) views.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  return views;
}

Napi::Array TensorListToJs(Napi::Env env, std::vector<TensorBytes>& tensors) {
  auto list = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    auto& t = tensors[i];
    auto obj = Napi::Object::New(env);
    obj.Set("name", t.name);
    obj.Set("dtype", t.dtype);
    auto shape = Napi::Array::New(env, t.shape.size());
    for (size_t d = 0; d < t.shape.size(); ++d) shape.Set(static_cast<uint32_t>(d), static_cast<double>(t.shape[d]));
    obj.Set("shape", shape);
    auto data = Napi::Uint8Array::New(env, t.bytes.size());
    std::copy(t.bytes.begin(), t.bytes.end(), data.Data());
    obj.Set("data", data);
    list.Set(static_cast<uint32_t>(i), obj);
    std::vector<uint8_t>().swap(t.bytes);  // release as we go: checkpoints are large
  }
  return list;
}

Napi::Float32Array FloatsToJs(Napi::Env env, const std::vector<float>& values) {
  auto array = Napi::Float32Array::New(env, values.size());
  std::copy(values.begin(), values.end(), array.Data());
  return array;
}

class ModelWrap;

// Settles an operation that has no result.
Napi::Value Undefined(Napi::Env env) { return env.Undefined(); }

// One engine call. Runs on the libuv pool; settles its promise on the JS thread
// and then lets the owner start the next queued operation.
class Operation : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Settle = std::function<Napi::Value(Napi::Env)>;

  Operation(Napi::Env env, ModelWrap* owner, Work work, Settle settle);
  Napi::Promise Promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override {
    try {
      executor_->Run(work_);
    } catch (const std::invalid_argument& e) {
      invalid_argument_ = true;
      SetError(e.what());
    } catch (const std::exception& e) {
      SetError(e.what());
    } catch (...) {
      SetError("unknown native error");
    }
  }
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Napi::Promise::Deferred deferred_;
  ModelWrap* owner_;
  Napi::ObjectReference keep_owner_alive_;
  std::shared_ptr<SerialExecutor> executor_;
  Work work_;
  Settle settle_;
  bool invalid_argument_ = false;
};

class ModelWrap : public Napi::ObjectWrap<ModelWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Model",
                       {
                           InstanceMethod<&ModelWrap::Forward>("forward"),
                           InstanceMethod<&ModelWrap::TrainStep>("trainStep"),
                           InstanceMethod<&ModelWrap::EvalStep>("evalStep"),
                           InstanceMethod<&ModelWrap::SetOptimizer>("setOptimizer"),
                           InstanceMethod<&ModelWrap::SetLearningRate>("setLearningRate"),
                           InstanceMethod<&ModelWrap::GetOptimizerState>("getOptimizerState"),
                           InstanceMethod<&ModelWrap::SetOptimizerState>("setOptimizerState"),
                           InstanceMethod<&ModelWrap::GetTensors>("getTensors"),
                           InstanceMethod<&ModelWrap::SetTensors>("setTensors"),
                           InstanceMethod<&ModelWrap::SetThreads>("setThreads"),
                           InstanceMethod<&ModelWrap::SetTraining>("setTraining"),
                           InstanceMethod<&ModelWrap::Seed>("seed"),
                           InstanceMethod<&ModelWrap::SetInferenceGraph>("setInferenceGraph"),
                           InstanceMethod<&ModelWrap::SetMixedPrecision>("setMixedPrecision"),
                           InstanceMethod<&ModelWrap::Ready>("ready"),
                           InstanceMethod<&ModelWrap::Dispose>("dispose"),
                           InstanceAccessor<&ModelWrap::GetDevice>("device"),
                           InstanceAccessor<&ModelWrap::GetNumClasses>("numClasses"),
                           InstanceAccessor<&ModelWrap::GetParameterCount>("parameterCount"),
                           InstanceAccessor<&ModelWrap::GetThreads>("threads"),
                           InstanceAccessor<&ModelWrap::GetTraining>("training"),
                           InstanceAccessor<&ModelWrap::GetDisposed>("disposed"),
                       });
  }

  // new Model({arch, numClasses, device, seed, threads}); the engine is built
  // by the first queued operation, which ready() waits for.
  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    Napi::Env env = info.Env();
    auto options = ExpectObject(env, info[0], "options");
    EngineOptions o;
    o.arch = ExpectString(env, options.Get("arch"), "options.arch");
    if (o.arch != "resnet18") ThrowType(env, "options.arch: expected 'resnet18' but received '" + o.arch + "'");
    o.num_classes = ExpectInteger(env, options.Get("numClasses"), "options.numClasses", 1, 1 << 20);
    o.device = ExpectString(env, options.Get("device"), "options.device");
    std::string problem = CheckDevice(o.device);
    if (!problem.empty()) throw Napi::Error::New(env, "options." + problem);
    o.seed = static_cast<uint64_t>(ExpectInteger(env, options.Get("seed"), "options.seed", 0, (1LL << 53) - 1));
    o.threads = static_cast<int>(ExpectInteger(env, options.Get("threads"), "options.threads", 0, kMaxThreads));
    num_classes_ = o.num_classes;
    Napi::Value ready = Enqueue(
        env,
        [this, o] {
          auto engine = std::make_shared<Engine>(o);
          device_ = engine->Device();
          parameter_count_ = engine->ParameterCount();
          threads_ = engine->Threads();
          engine_ = std::move(engine);
        },
        Undefined);
    ready_ref_ = Napi::Persistent(ready.As<Napi::Object>());
  }

  const std::shared_ptr<SerialExecutor>& executor() const { return executor_; }

  void OperationDone() {
    if (queue_.empty()) {
      busy_ = false;
      return;
    }
    Operation* next = queue_.front();
    queue_.pop_front();
    next->Queue();
  }

 private:
  Napi::Value Enqueue(Napi::Env env, Operation::Work work, Operation::Settle settle) {
    auto* op = new Operation(env, this, std::move(work), std::move(settle));
    Napi::Promise promise = op->Promise();
    if (busy_) {
      queue_.push_back(op);
    } else {
      busy_ = true;
      op->Queue();
    }
    return promise;
  }

  void CheckAlive(Napi::Env env, const char* method) const {
    if (disposed_) throw Napi::Error::New(env, std::string("Model.") + method + ": the model has been disposed");
  }

  // The engine pointer is read on the worker thread, after the init
  // operation (queued first) has set it; the queue orders the two.
  Engine& engine() const {
    if (!engine_) throw std::runtime_error("the model failed to initialise");
    return *engine_;
  }

  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "forward");
    auto images = std::make_shared<OwnedImages>(ReadImages(env, info[0]));
    auto norm = ReadNormalization(env, info[1]);
    auto result = std::make_shared<ForwardResult>();
    return Enqueue(
        env, [this, images, norm, result] { *result = engine().Forward(images->View(), norm); },
        [result](Napi::Env env) {
          auto obj = Napi::Object::New(env);
          obj.Set("count", static_cast<double>(result->count));
          obj.Set("classes", static_cast<double>(result->classes));
          obj.Set("logits", FloatsToJs(env, result->logits));
          obj.Set("probabilities", FloatsToJs(env, result->probabilities));
          return obj;
        });
  }

  Napi::Value Step(const Napi::CallbackInfo& info, bool train) {
    Napi::Env env = info.Env();
    CheckAlive(env, train ? "trainStep" : "evalStep");
    auto images = std::make_shared<OwnedImages>(ReadImages(env, info[0]));
    auto labels = std::make_shared<std::vector<int32_t>>(ReadLabels(env, info[1], images->count, num_classes_));
    auto norm = ReadNormalization(env, info[2]);
    auto result = std::make_shared<StepResult>();
    training_ = train;  // the step leaves the model in the mode it ran in
    return Enqueue(
        env,
        [this, images, labels, norm, result, train] {
          *result = train ? engine().TrainStep(images->View(), labels->data(), norm)
                          : engine().EvalStep(images->View(), labels->data(), norm);
        },
        [result, train](Napi::Env env) {
          auto obj = Napi::Object::New(env);
          obj.Set("loss", result->loss);
          obj.Set("correct", static_cast<double>(result->correct));
          obj.Set("count", static_cast<double>(result->count));
          if (!train) {
            auto predicted = Napi::Int32Array::New(env, result->predicted.size());
            std::copy(result->predicted.begin(), result->predicted.end(), predicted.Data());
            obj.Set("predicted", predicted);
          }
          return obj;
        });
  }
  Napi::Value TrainStep(const Napi::CallbackInfo& info) { return Step(info, true); }
  Napi::Value EvalStep(const Napi::CallbackInfo& info) { return Step(info, false); }

  Napi::Value SetOptimizer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setOptimizer");
    auto obj = ExpectObject(env, info[0], "optimizer");
    OptimizerOptions o;
    o.name = ExpectString(env, obj.Get("name"), "optimizer.name");
    if (o.name != "adam" && o.name != "adamw" && o.name != "sgd") {
      ThrowType(env, "optimizer.name: expected 'adam', 'adamw' or 'sgd' but received '" + o.name + "'");
    }
    o.lr = ExpectNumber(env, obj.Get("lr"), "optimizer.lr", 0, 1e3);
    o.weight_decay = ExpectNumber(env, obj.Get("weightDecay"), "optimizer.weightDecay", 0, 1e3);
    o.momentum = ExpectNumber(env, obj.Get("momentum"), "optimizer.momentum", 0, 1);
    o.nesterov = ExpectBoolean(env, obj.Get("nesterov"), "optimizer.nesterov");
    o.beta1 = ExpectNumber(env, obj.Get("beta1"), "optimizer.beta1", 0, 0.999999);
    o.beta2 = ExpectNumber(env, obj.Get("beta2"), "optimizer.beta2", 0, 0.999999999);
    o.eps = ExpectNumber(env, obj.Get("eps"), "optimizer.eps", 0, 1);
    if (o.nesterov && o.momentum <= 0) {
      throw Napi::RangeError::New(env, "optimizer.nesterov: needs optimizer.momentum > 0");
    }
    return Enqueue(env, [this, o] { engine().SetOptimizer(o); }, Undefined);
  }

  Napi::Value SetLearningRate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setLearningRate");
    double lr = ExpectNumber(env, info[0], "lr", 0, 1e3);
    return Enqueue(env, [this, lr] { engine().SetLearningRate(lr); }, Undefined);
  }

  Napi::Value GetTensorsImpl(Napi::Env env, bool optimizer) {
    auto result = std::make_shared<std::vector<TensorBytes>>();
    return Enqueue(
        env,
        [this, result, optimizer] { *result = optimizer ? engine().GetOptimizerState() : engine().GetTensors(); },
        [result](Napi::Env env) { return TensorListToJs(env, *result); });
  }

  Napi::Value SetTensorsImpl(Napi::Env env, const Napi::Value& list, bool optimizer) {
    auto tensors = std::make_shared<std::vector<OwnedTensor>>(
        ReadTensorList(env, list, optimizer ? "state" : "tensors"));
    return Enqueue(
        env,
        [this, tensors, optimizer] {
          auto views = ViewsOf(*tensors);
          if (optimizer) engine().SetOptimizerState(views);
          else engine().SetTensors(views);
        },
        Undefined);
  }

  Napi::Value GetTensors(const Napi::CallbackInfo& info) {
    CheckAlive(info.Env(), "getTensors");
    return GetTensorsImpl(info.Env(), false);
  }
  Napi::Value SetTensors(const Napi::CallbackInfo& info) {
    CheckAlive(info.Env(), "setTensors");
    return SetTensorsImpl(info.Env(), info[0], false);
  }
  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    CheckAlive(info.Env(), "getOptimizerState");
    return GetTensorsImpl(info.Env(), true);
  }
  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    CheckAlive(info.Env(), "setOptimizerState");
    return SetTensorsImpl(info.Env(), info[0], true);
  }

  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setThreads");
    int threads = static_cast<int>(ExpectInteger(env, info[0], "threads", 0, kMaxThreads));
    return Enqueue(
        env, [this, threads] { engine().SetThreads(threads); threads_ = engine().Threads(); },
        Undefined);
  }

  // A queued call of an engine setter that takes one boolean.
  Napi::Value EnqueueFlag(const Napi::CallbackInfo& info, const char* method, const char* param,
                          void (Engine::*setter)(bool)) {
    Napi::Env env = info.Env();
    CheckAlive(env, method);
    bool value = ExpectBoolean(env, info[0], param);
    return Enqueue(env, [this, setter, value] { (engine().*setter)(value); }, Undefined);
  }

  Napi::Value SetTraining(const Napi::CallbackInfo& info) {
    Napi::Value promise = EnqueueFlag(info, "setTraining", "training", &Engine::SetTraining);
    training_ = info[0].As<Napi::Boolean>().Value();
    return promise;
  }
  Napi::Value SetInferenceGraph(const Napi::CallbackInfo& info) {
    return EnqueueFlag(info, "setInferenceGraph", "enabled", &Engine::SetInferenceGraph);
  }
  Napi::Value SetMixedPrecision(const Napi::CallbackInfo& info) {
    return EnqueueFlag(info, "setMixedPrecision", "enabled", &Engine::SetMixedPrecision);
  }

  Napi::Value Seed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "seed");
    auto seed = static_cast<uint64_t>(ExpectInteger(env, info[0], "seed", 0, (1LL << 53) - 1));
    return Enqueue(env, [this, seed] { engine().Seed(seed); }, Undefined);
  }

  Napi::Value Ready(const Napi::CallbackInfo& info) { return ready_ref_.Value(); }

  // Resolves once every operation queued before it has finished and the
  // engine's memory is released; every later call throws.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (disposed_) return dispose_ref_.Value();
    disposed_ = true;
    Napi::Value promise = Enqueue(env, [this] { engine_.reset(); }, Undefined);
    dispose_ref_ = Napi::Persistent(promise.As<Napi::Object>());
    return promise;
  }

  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_); }
  Napi::Value GetNumClasses(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(num_classes_)); }
  Napi::Value GetParameterCount(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), static_cast<double>(parameter_count_)); }
  Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }
  Napi::Value GetTraining(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), training_); }
  Napi::Value GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

  std::shared_ptr<Engine> engine_;
  std::shared_ptr<SerialExecutor> executor_ = std::make_shared<SerialExecutor>();
  std::deque<Operation*> queue_;
  bool busy_ = false;
  bool disposed_ = false;
  bool training_ = false;
  int64_t num_classes_ = 0;
  // Written by the init operation on a worker; read on the JS thread only
  // after ready() has resolved (the promise settles on the JS thread).
  std::string device_ = "pending";
  int64_t parameter_count_ = 0;
  int threads_ = 0;
  Napi::ObjectReference ready_ref_;
  Napi::ObjectReference dispose_ref_;
};

Operation::Operation(Napi::Env env, ModelWrap* owner, Work work, Settle settle)
    : Napi::AsyncWorker(env, "torchdog:model"),
      deferred_(Napi::Promise::Deferred::New(env)),
      owner_(owner),
      keep_owner_alive_(Napi::Persistent(owner->Value())),
      executor_(owner->executor()),
      work_(std::move(work)),
      settle_(std::move(settle)) {}

void Operation::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  try {
    deferred_.Resolve(settle_(env));
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  }
  owner_->OperationDone();
}

void Operation::OnError(const Napi::Error& error) {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  Napi::Error e = invalid_argument_ ? Napi::Error(env, Napi::TypeError::New(env, error.Message()).Value())
                                    : Napi::Error::New(env, error.Message());
  e.Set("code", Napi::String::New(env, invalid_argument_ ? "ERR_TORCHDOG_INVALID_ARGUMENT" : "ERR_TORCHDOG_NATIVE"));
  deferred_.Reject(e.Value());
  owner_->OperationDone();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Model", ModelWrap::Define(env));
  exports.Set("cudaAvailable", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Boolean::New(info.Env(), CudaAvailable());
              }));
  exports.Set("setTf32", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                SetTf32(ExpectBoolean(info.Env(), info[0], "allowed"));
                return info.Env().Undefined();
              }));
  exports.Set("checkDevice", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                Napi::Env env = info.Env();
                std::string problem = CheckDevice(ExpectString(env, info[0], "device"));
                return problem.empty() ? env.Null() : Napi::String::New(env, problem);
              }));
  return exports;
}

}  // namespace
}  // namespace torchdog

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return torchdog::Init(env, exports); }

NODE_API_MODULE(torchdog, InitAddon)
