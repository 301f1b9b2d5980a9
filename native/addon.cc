// Node-API glue, a trusted marshaller: TypeScript (src/model) has checked
// every option and value range; this file checks only what it needs to turn
// JS values into C++ ones safely (types, integers a C++ type can hold, byte
// lengths against shapes, label indices against the class count), copies JS
// memory on the JS thread, and queues each engine call on the model's own
// executor thread (serial_executor.h). That thread runs a model's operations
// one at a time in call order and hands each result back through the
// model's thread-safe function, which settles the operation's promise on the
// JS thread. No libuv worker waits on a model: the pool stays free for
// sharp and fs.
//
// Deliberately free of torch headers (see engine.h).
#include <napi.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

#include "distributed.h"
#include "engine.h"
#include "onednn_resnet.h"
#include "serial_executor.h"

namespace torchdog {
namespace {

std::atomic<int64_t> live_engines{0};

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

[[noreturn]] void ThrowRange(Napi::Env env, const std::string& message) {
  throw Napi::RangeError::New(env, message);
}

Napi::Object ExpectObject(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsObject() || v.IsArray()) ThrowType(env, name + ": expected an object but received " + Describe(v));
  return v.As<Napi::Object>();
}

// A JS number as the integer type T. Casting a fractional, non-finite or
// out-of-range double to an integer is undefined behaviour, so this is a
// marshalling check, not a policy: the bounds are T's.
template <typename T>
T ExpectInteger(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) ThrowType(env, name + ": expected an integer but received " + Describe(v));
  const double d = v.As<Napi::Number>().DoubleValue();
  const double limit = std::ldexp(1.0, std::numeric_limits<T>::digits);  // exclusive upper bound
  const double lowest = std::numeric_limits<T>::is_signed ? -limit : 0.0;
  if (!std::isfinite(d) || std::floor(d) != d || d < lowest || d >= limit) {
    ThrowRange(env, name + ": expected an integer between " + std::to_string(std::numeric_limits<T>::min()) +
                        " and " + std::to_string(std::numeric_limits<T>::max()) + " but received " + Describe(v));
  }
  return static_cast<T>(d);
}

// An image dimension: negative ones could multiply to a plausible byte
// count and describe memory that is not there.
int64_t ExpectPositive(Napi::Env env, const Napi::Value& v, const std::string& name) {
  int64_t n = ExpectInteger<int64_t>(env, v, name);
  if (n < 1) ThrowRange(env, name + ": expected a positive integer but received " + Describe(v));
  return n;
}

double ExpectNumber(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsNumber()) ThrowType(env, name + ": expected a number but received " + Describe(v));
  return v.As<Napi::Number>().DoubleValue();
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
// buffer afterwards (reuse, transfer, GC) can reach the executor thread.
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
  images.count = ExpectPositive(env, obj.Get("count"), "images.count");
  images.height = ExpectPositive(env, obj.Get("height"), "images.height");
  images.width = ExpectPositive(env, obj.Get("width"), "images.width");
  Napi::Value data = obj.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    ThrowType(env, "images.data: expected a Uint8Array or Buffer of RGB pixels (NHWC) but received " + Describe(data));
  }
  const std::string shape = std::to_string(images.count) + "x" + std::to_string(images.height) + "x" +
                            std::to_string(images.width) + "x3";
  int64_t expected = 0;
  if (__builtin_mul_overflow(images.count, images.height, &expected) ||
      __builtin_mul_overflow(expected, images.width, &expected) || __builtin_mul_overflow(expected, 3, &expected)) {
    ThrowRange(env, "images: a batch of " + shape + " bytes cannot exist");
  }
  const size_t actual = data.As<Napi::TypedArray>().ByteLength();
  if (actual != static_cast<size_t>(expected)) {
    ThrowRange(env, "images.data: expected count*height*width*3 = " + std::to_string(expected) + " bytes (" + shape +
                        ") but received " + std::to_string(actual));
  }
  images.pixels = CopyBytes(env, data, "images.data");
  return images;
}

// Each label indexes the network's output row: out of [0, numClasses) it
// would read past the logits.
std::vector<int32_t> ReadLabels(Napi::Env env, const Napi::Value& v, int64_t count, int64_t num_classes) {
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    ThrowType(env, "labels: expected an Int32Array but received " + Describe(v));
  }
  auto array = v.As<Napi::Int32Array>();
  if (static_cast<int64_t>(array.ElementLength()) != count) {
    ThrowRange(env, "labels: expected one label per image (" + std::to_string(count) + ") but received " +
                        std::to_string(array.ElementLength()));
  }
  std::vector<int32_t> labels(array.Data(), array.Data() + array.ElementLength());
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      ThrowRange(env, "labels[" + std::to_string(i) + "]: expected a class index in [0, " +
                          std::to_string(num_classes) + ") but received " + std::to_string(labels[i]));
    }
  }
  return labels;
}

// {mean: [3 numbers], std: [3 numbers]}, as the doubles JavaScript has.
ExportNormalization ReadNormalizationValues(Napi::Env env, const Napi::Value& v) {
  auto obj = ExpectObject(env, v, "normalization");
  ExportNormalization norm{};
  for (const char* key : {"mean", "std"}) {
    Napi::Value list = obj.Get(key);
    const std::string name = std::string("normalization.") + key;
    if (!list.IsArray() || list.As<Napi::Array>().Length() != 3) {
      ThrowType(env, name + ": expected an array of 3 numbers but received " + Describe(list));
    }
    auto& out = std::string(key) == "mean" ? norm.mean : norm.std;
    for (uint32_t i = 0; i < 3; ++i) {
      const std::string item = name + "[" + std::to_string(i) + "]";
      out[i] = ExpectNumber(env, list.As<Napi::Array>().Get(i), item);
    }
  }
  return norm;
}

Normalization ReadNormalization(Napi::Env env, const Napi::Value& v) {
  ExportNormalization values = ReadNormalizationValues(env, v);
  Normalization norm{};
  for (size_t i = 0; i < 3; ++i) {
    norm.mean[i] = static_cast<float>(values.mean[i]);
    norm.std[i] = static_cast<float>(values.std[i]);
  }
  return norm;
}

// {name: string content, ...}
std::map<std::string, std::string> ReadStringMap(Napi::Env env, const Napi::Value& v, const std::string& name) {
  auto obj = ExpectObject(env, v, name);
  std::map<std::string, std::string> out;
  Napi::Array keys = obj.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    const std::string key = keys.Get(i).ToString().Utf8Value();
    out[key] = ExpectString(env, obj.Get(key), name + "['" + key + "']");
  }
  return out;
}

std::vector<std::string> ReadStringList(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) ThrowType(env, name + ": expected an array of strings but received " + Describe(v));
  auto list = v.As<Napi::Array>();
  std::vector<std::string> out;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    out.push_back(ExpectString(env, list.Get(i), name + "[" + std::to_string(i) + "]"));
  }
  return out;
}

// [{name, min, max}, ...]: activation ranges (setPrecision, histogramActivations).
std::vector<NamedRange> ReadRanges(Napi::Env env, const Napi::Value& v, const std::string& name) {
  if (!v.IsArray()) ThrowType(env, name + ": expected an array of {name, min, max} but received " + Describe(v));
  auto list = v.As<Napi::Array>();
  std::vector<NamedRange> out;
  for (uint32_t i = 0; i < list.Length(); ++i) {
    const std::string at = name + "[" + std::to_string(i) + "]";
    auto obj = ExpectObject(env, list.Get(i), at);
    out.push_back({ExpectString(env, obj.Get("name"), at + ".name"), ExpectNumber(env, obj.Get("min"), at + ".min"),
                   ExpectNumber(env, obj.Get("max"), at + ".max")});
  }
  return out;
}

struct OwnedTensor {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// Names, dtypes, shapes and byte lengths are checked by the engine against
// the network's own tensors; here only that the shape is one LibTorch can
// hold: non-negative dimensions whose element count (times the widest
// dtype's 8 bytes) does not overflow.
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
    int64_t bytes = 8;
    for (uint32_t d = 0; d < dims.Length(); ++d) {
      const std::string dim = at + ".shape[" + std::to_string(d) + "]";
      int64_t n = ExpectInteger<int64_t>(env, dims.Get(d), dim);
      if (n < 0) ThrowRange(env, dim + ": expected a non-negative integer but received " + std::to_string(n));
      if (__builtin_mul_overflow(bytes, n, &bytes)) ThrowRange(env, at + ".shape: too many elements for one tensor");
      t.shape.push_back(n);
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

// One engine call: made on the JS thread, run on the model's executor
// thread, settled on the JS thread. Holds no JS references (a Deferred is
// two raw handles), so it may be deleted on any thread when the
// environment is gone and nobody is left to tell.
struct Operation {
  using Work = std::function<void()>;
  using Settle = std::function<Napi::Value(Napi::Env)>;
  enum class Outcome { kDone, kInvalidArgument, kFailed, kCancelled };

  Operation(Napi::Env env, const char* method, bool cancellable, bool closes_model, Work work, Settle settle)
      : method(method),
        cancellable(cancellable),
        closes_model(closes_model),
        work(std::move(work)),
        settle(std::move(settle)),
        deferred(Napi::Promise::Deferred::New(env)) {}

  const char* method;  // for messages: "forward"
  bool cancellable;    // false for the engine's construction and release
  bool closes_model;   // dispose(): the executor and the thread-safe function end with it
  Work work;
  Settle settle;  // the promise's value, built on the JS thread
  Napi::Promise::Deferred deferred;
  Outcome outcome = Outcome::kDone;
  std::string error;

  // On the executor thread.
  void Run(bool cancelled) {
    if (cancelled && cancellable) {
      outcome = Outcome::kCancelled;
      return;
    }
    try {
      work();
    } catch (const std::invalid_argument& e) {
      Fail(Outcome::kInvalidArgument, e.what());
    } catch (const std::bad_alloc&) {
      Fail(Outcome::kFailed, "not enough memory for this operation (std::bad_alloc)");
    } catch (const std::exception& e) {
      Fail(Outcome::kFailed, e.what());
    } catch (...) {
      Fail(Outcome::kFailed, "unknown native error");
    }
  }

  // On the JS thread: the rejection, with the conventions of src/model.
  Napi::Value Rejection(Napi::Env env) const {
    Napi::Error e;
    const char* code;
    switch (outcome) {
      case Outcome::kInvalidArgument:
        e = Napi::Error(env, Napi::TypeError::New(env, error).Value());
        code = "ERR_TORCHDOG_INVALID_ARGUMENT";
        break;
      case Outcome::kCancelled:
        e = Napi::Error::New(env, std::string("Model.") + method +
                                      ": the model was disposed before this operation ran");
        code = "ERR_TORCHDOG_DISPOSED";
        break;
      default:
        e = Napi::Error::New(env, error);
        code = "ERR_TORCHDOG_NATIVE";
    }
    e.Set("code", Napi::String::New(env, code));
    return e.Value();
  }

 private:
  void Fail(Outcome why, const char* message) {
    outcome = why;
    error = message;
  }
};

class ModelWrap;

// Settles finished operations through the model's thread-safe function
// (TSFN). Shared by the model (JS thread), its executor thread and the
// TSFN's finalizer, which can outlive the model; the mutex orders the
// executor's calls against the TSFN going away with the environment.
class Settler {
 public:
  static void CallJs(Napi::Env env, Napi::Function, ModelWrap* model, Operation* op);
  using Tsfn = Napi::TypedThreadSafeFunction<ModelWrap, Operation, &Settler::CallJs>;

  static std::shared_ptr<Settler> New(Napi::Env env, ModelWrap* model) {
    auto settler = std::make_shared<Settler>();
    auto* keep = new std::shared_ptr<Settler>(settler);
    settler->tsfn_ = Tsfn::New(env, "torchdog:model", /*maxQueueSize=*/0, /*initialThreadCount=*/1, model,
                               [](Napi::Env, std::shared_ptr<Settler>* keep, ModelWrap*) {
                                 (*keep)->Finalized();
                                 delete keep;
                               },
                               keep);
    settler->tsfn_.Unref(env);  // idle until the first operation
    return settler;
  }

  // Executor thread: hands `op` to the JS thread, or drops it when the
  // environment no longer has a JS thread to settle it on.
  void Deliver(Operation* op) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_ || tsfn_.NonBlockingCall(op) != napi_ok) delete op;
  }

  // JS thread: whether the event loop waits for the model (while it has
  // operations pending) or not (idle).
  void Ref(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_) tsfn_.Ref(env);
  }
  void Unref(Napi::Env env) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (open_) tsfn_.Unref(env);
  }

  // JS thread: no further calls. `abort` also drops what is queued in the
  // TSFN (only when the model is going away without its promises settled).
  void Close(bool abort) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!open_) return;
    open_ = false;
    if (abort) tsfn_.Abort();
    else tsfn_.Release();
  }

 private:
  void Finalized() {
    std::lock_guard<std::mutex> lock(mutex_);
    open_ = false;
  }

  std::mutex mutex_;
  bool open_ = true;
  Tsfn tsfn_;
};

// What the executor thread owns: the engine, built by the first operation
// and freed by the last.
struct EngineSlot {
  std::unique_ptr<Engine> engine;
  std::string init_error;
  std::shared_ptr<Collectives> collectives;  // joinProcessGroup's, shared with the engine

  Engine& Get() const {
    if (!engine) throw std::runtime_error("the model failed to initialise: " + init_error);
    return *engine;
  }
  void Free() {
    if (!engine) return;
    engine.reset();
    collectives.reset();
    --live_engines;
  }
};

// Read on the executor thread by the init operation, copied to the model's
// JS-side fields when it settles, so getters never race the executor.
struct EngineInfo {
  std::string device;
  int64_t parameter_count = 0;
  int threads = 0;
};

// native.Model: see src/native.ts (NativeModel) for the JS-side contract.
// Every method that computes is async: it copies its arguments, queues an
// operation and returns a promise. Synchronous throws are TypeError /
// RangeError for arguments that cannot be marshalled, and Error once the
// model is disposed. Rejections carry `code`: ERR_TORCHDOG_INVALID_ARGUMENT
// (TypeError; the engine refused a value, e.g. a tensor shape),
// ERR_TORCHDOG_NATIVE (LibTorch failed) or ERR_TORCHDOG_DISPOSED (dispose()
// was called before the operation started).
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
                           InstanceMethod<&ModelWrap::ExportTorchScript>("exportTorchScript"),
                           InstanceMethod<&ModelWrap::RunTorchScript>("runTorchScript"),
                           InstanceMethod<&ModelWrap::SetPrecision>("setPrecision"),
                           InstanceMethod<&ModelWrap::ObserveActivations>("observeActivations"),
                           InstanceMethod<&ModelWrap::HistogramActivations>("histogramActivations"),
                           InstanceMethod<&ModelWrap::JoinProcessGroup>("joinProcessGroup"),
                           InstanceMethod<&ModelWrap::BroadcastTensors>("broadcastTensors"),
                           InstanceMethod<&ModelWrap::AllReduceSum>("allReduceSum"),
                           InstanceMethod<&ModelWrap::LeaveProcessGroup>("leaveProcessGroup"),
                           InstanceMethod<&ModelWrap::SetTrainRecipe>("setTrainRecipe"),
                           InstanceMethod<&ModelWrap::SwapEmaWeights>("swapEmaWeights"),
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

  // new Model({arch, numClasses, device, seed, threads})
  //   Sync: starts the model's executor thread and queues the engine's
  //   construction there; ready() is its promise.
  //   Throws: TypeError/RangeError when an option is not an object, string or
  //   integer of the C++ type. arch, numClasses >= 1, threads >= 0 and the
  //   device are the engine's to refuse: ready() rejects.
  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ModelWrap>(info) {
    Napi::Env env = info.Env();
    auto options = ExpectObject(env, info[0], "options");
    EngineOptions o;
    o.arch = ExpectString(env, options.Get("arch"), "options.arch");
    o.num_classes = ExpectInteger<int32_t>(env, options.Get("numClasses"), "options.numClasses");
    o.device = ExpectString(env, options.Get("device"), "options.device");
    o.seed = ExpectInteger<uint64_t>(env, options.Get("seed"), "options.seed");
    o.threads = ExpectInteger<int>(env, options.Get("threads"), "options.threads");
    num_classes_ = o.num_classes;

    settler_ = Settler::New(env, this);
    executor_ = std::make_unique<SerialExecutor>();
    auto info_out = std::make_shared<EngineInfo>();
    Napi::Promise ready = Enqueue(
        env, "ready",
        [slot = slot_, o, info_out] {
          try {
            slot->engine = std::make_unique<Engine>(o);
          } catch (const std::exception& e) {
            slot->init_error = e.what();
            throw;
          }
          ++live_engines;
          info_out->device = slot->engine->Device();
          info_out->parameter_count = slot->engine->ParameterCount();
          info_out->threads = slot->engine->Threads();
        },
        [this, info_out](Napi::Env env) {
          device_ = info_out->device;
          parameter_count_ = info_out->parameter_count;
          threads_ = info_out->threads;
          return env.Undefined();
        },
        /*cancellable=*/false);
    ready_ref_ = Napi::Persistent(ready.As<Napi::Object>());
  }

  // Garbage collection (never with an operation pending: a pending model
  // holds a reference to itself) or the environment's teardown (a worker
  // that ends, the process exiting normally). Frees the engine on its
  // thread and joins it: after the running operation, at most.
  ~ModelWrap() override {
    if (!executor_) return;  // disposed: nothing left
    settler_->Close(/*abort=*/true);
    executor_->CancelQueued();
    executor_->Post([slot = slot_](bool) { slot->Free(); });
    executor_.reset();
  }

  // Thread-safe function callback, on the JS thread (`env` is null when the
  // environment is being torn down: the operation is dropped unsettled).
  void Settle(Napi::Env env, std::unique_ptr<Operation> op) {
    Napi::HandleScope scope(env);
    try {
      if (op->outcome == Operation::Outcome::kDone) op->deferred.Resolve(op->settle(env));
      else op->deferred.Reject(op->Rejection(env));
    } catch (const Napi::Error& e) {
      op->deferred.Reject(e.Value());
    }
    if (--pending_ == 0) {
      settler_->Unref(env);
      keep_alive_.Reset();
    }
    if (op->closes_model) {
      executor_.reset();  // idle: its last task just ended
      settler_->Close(/*abort=*/false);
    }
  }

 private:
  // Queues an operation; returns its promise. The first pending operation
  // keeps the event loop and this object alive until the last one settles.
  Napi::Promise Enqueue(Napi::Env env, const char* method, Operation::Work work, Operation::Settle settle,
                        bool cancellable = true, bool closes_model = false) {
    auto* op = new Operation(env, method, cancellable, closes_model, std::move(work), std::move(settle));
    Napi::Promise promise = op->deferred.Promise();
    if (pending_++ == 0) {
      settler_->Ref(env);
      keep_alive_ = Napi::Persistent(Value());
    }
    executor_->Post([op, settler = settler_](bool cancelled) {
      op->Run(cancelled);
      settler->Deliver(op);
    });
    return promise;
  }

  static Napi::Value Undefined(Napi::Env env) { return env.Undefined(); }

  void CheckAlive(Napi::Env env, const char* method) const {
    if (disposed_) throw Napi::Error::New(env, std::string("Model.") + method + ": the model has been disposed");
  }

  // forward(images, normalization) -> Promise<{count, classes, logits, probabilities}>
  //   Async. images: {data: Uint8Array (RGB, NHWC), count, height, width};
  //   normalization: {mean: [3 numbers], std: [3 numbers]}. Runs in the
  //   current train/eval mode, without gradients.
  //   Throws: TypeError/RangeError (types, positive dimensions, data length).
  Napi::Value Forward(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "forward");
    auto images = std::make_shared<OwnedImages>(ReadImages(env, info[0]));
    auto norm = ReadNormalization(env, info[1]);
    auto result = std::make_shared<ForwardResult>();
    return Enqueue(
        env, "forward", [slot = slot_, images, norm, result] { *result = slot->Get().Forward(images->View(), norm); },
        [result](Napi::Env env) {
          auto obj = Napi::Object::New(env);
          obj.Set("count", static_cast<double>(result->count));
          obj.Set("classes", static_cast<double>(result->classes));
          obj.Set("logits", FloatsToJs(env, result->logits));
          obj.Set("probabilities", FloatsToJs(env, result->probabilities));
          return obj;
        });
  }

  // trainStep(images, labels, normalization, {targets?, apply}?) -> Promise<{loss, correct, count}>
  // evalStep(images, labels, normalization) -> Promise<{loss, correct, count, predicted}>
  //   Async. labels: Int32Array, one class index in [0, numClasses) per
  //   image. targets: Float32Array [count, numClasses] of soft targets;
  //   apply: false accumulates the gradients without an optimizer step.
  //   The step leaves the model in train (resp. eval) mode.
  //   Throws: as forward, and TypeError/RangeError for labels and targets.
  Napi::Value Step(const Napi::CallbackInfo& info, bool train) {
    Napi::Env env = info.Env();
    const char* method = train ? "trainStep" : "evalStep";
    CheckAlive(env, method);
    auto images = std::make_shared<OwnedImages>(ReadImages(env, info[0]));
    auto labels = std::make_shared<std::vector<int32_t>>(ReadLabels(env, info[1], images->count, num_classes_));
    auto norm = ReadNormalization(env, info[2]);
    auto targets = std::make_shared<std::vector<float>>();
    TrainStepOptions step;
    if (train && !info[3].IsUndefined()) {
      auto options = ExpectObject(env, info[3], "options");
      step.apply = ExpectBoolean(env, options.Get("apply"), "options.apply");
      auto given = options.Get("targets");
      if (!given.IsUndefined()) {
        const size_t length = static_cast<size_t>(images->count * num_classes_);
        if (!given.IsTypedArray() || given.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array ||
            given.As<Napi::Float32Array>().ElementLength() != length) {
          ThrowType(env, "options.targets: expected a Float32Array of count*numClasses (" + std::to_string(length) +
                             ") soft targets but received " + Describe(given));
        }
        auto array = given.As<Napi::Float32Array>();
        targets->assign(array.Data(), array.Data() + length);
      }
    }
    auto result = std::make_shared<StepResult>();
    training_ = train;
    return Enqueue(
        env, method,
        [slot = slot_, images, labels, norm, result, train, targets, step]() mutable {
          step.targets = targets->empty() ? nullptr : targets->data();
          *result = train ? slot->Get().TrainStep(images->View(), labels->data(), norm, step)
                          : slot->Get().EvalStep(images->View(), labels->data(), norm);
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

  // setOptimizer({name, lr, weightDecay, momentum, nesterov, beta1, beta2, eps}) -> Promise<void>
  //   Async; replaces the optimizer and its state. Throws: TypeError for a
  //   field of the wrong type. The engine refuses an unknown name and
  //   LibTorch values it cannot use (rejections).
  Napi::Value SetOptimizer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setOptimizer");
    auto obj = ExpectObject(env, info[0], "optimizer");
    OptimizerOptions o;
    o.name = ExpectString(env, obj.Get("name"), "optimizer.name");
    o.lr = ExpectNumber(env, obj.Get("lr"), "optimizer.lr");
    o.weight_decay = ExpectNumber(env, obj.Get("weightDecay"), "optimizer.weightDecay");
    o.momentum = ExpectNumber(env, obj.Get("momentum"), "optimizer.momentum");
    o.nesterov = ExpectBoolean(env, obj.Get("nesterov"), "optimizer.nesterov");
    o.beta1 = ExpectNumber(env, obj.Get("beta1"), "optimizer.beta1");
    o.beta2 = ExpectNumber(env, obj.Get("beta2"), "optimizer.beta2");
    o.eps = ExpectNumber(env, obj.Get("eps"), "optimizer.eps");
    return Enqueue(env, "setOptimizer", [slot = slot_, o] { slot->Get().SetOptimizer(o); }, Undefined);
  }

  // setLearningRate(lr: number) -> Promise<void>. Async. Throws: TypeError.
  Napi::Value SetLearningRate(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setLearningRate");
    double lr = ExpectNumber(env, info[0], "lr");
    return Enqueue(env, "setLearningRate", [slot = slot_, lr] { slot->Get().SetLearningRate(lr); }, Undefined);
  }

  // getTensors() / getOptimizerState() -> Promise<[{name, dtype, shape, data: Uint8Array}]>
  //   Async; copies to the CPU.
  Napi::Value GetTensorsImpl(Napi::Env env, const char* method, bool optimizer) {
    CheckAlive(env, method);
    auto result = std::make_shared<std::vector<TensorBytes>>();
    return Enqueue(
        env, method,
        [slot = slot_, result, optimizer] {
          *result = optimizer ? slot->Get().GetOptimizerState() : slot->Get().GetTensors();
        },
        [result](Napi::Env env) { return TensorListToJs(env, *result); });
  }

  // setTensors(tensors) / setOptimizerState(state) -> Promise<void>
  //   Async; all-or-nothing. Throws: TypeError/RangeError for a list that
  //   cannot be marshalled. Rejects (ERR_TORCHDOG_INVALID_ARGUMENT) for a
  //   name, dtype, shape or byte length that does not fit the model.
  Napi::Value SetTensorsImpl(Napi::Env env, const Napi::Value& list, const char* method, bool optimizer) {
    CheckAlive(env, method);
    auto tensors = std::make_shared<std::vector<OwnedTensor>>(ReadTensorList(env, list, optimizer ? "state" : "tensors"));
    return Enqueue(
        env, method,
        [slot = slot_, tensors, optimizer] {
          auto views = ViewsOf(*tensors);
          if (optimizer) slot->Get().SetOptimizerState(views);
          else slot->Get().SetTensors(views);
        },
        Undefined);
  }

  Napi::Value GetTensors(const Napi::CallbackInfo& info) { return GetTensorsImpl(info.Env(), "getTensors", false); }
  Napi::Value GetOptimizerState(const Napi::CallbackInfo& info) {
    return GetTensorsImpl(info.Env(), "getOptimizerState", true);
  }
  Napi::Value SetTensors(const Napi::CallbackInfo& info) {
    return SetTensorsImpl(info.Env(), info[0], "setTensors", false);
  }
  Napi::Value SetOptimizerState(const Napi::CallbackInfo& info) {
    return SetTensorsImpl(info.Env(), info[0], "setOptimizerState", true);
  }

  // setThreads(threads: integer) -> Promise<void>; 0 = one per hardware
  //   thread. Async; `threads` reads the new count once it settles.
  //   Throws: TypeError/RangeError (not an int). Rejects for threads < 0.
  Napi::Value SetThreads(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setThreads");
    int threads = ExpectInteger<int>(env, info[0], "threads");
    auto applied = std::make_shared<int>(0);
    return Enqueue(
        env, "setThreads",
        [slot = slot_, threads, applied] {
          slot->Get().SetThreads(threads);
          *applied = slot->Get().Threads();
        },
        [this, applied](Napi::Env env) {
          threads_ = *applied;
          return env.Undefined();
        });
  }

  // setTraining / setInferenceGraph / setMixedPrecision(value: boolean) -> Promise<void>
  //   Async. Throws: TypeError. `training` reads the new mode at once.
  Napi::Value EnqueueFlag(const Napi::CallbackInfo& info, const char* method, const char* param,
                          void (Engine::*setter)(bool)) {
    Napi::Env env = info.Env();
    CheckAlive(env, method);
    bool value = ExpectBoolean(env, info[0], param);
    return Enqueue(env, method, [slot = slot_, setter, value] { (slot->Get().*setter)(value); }, Undefined);
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

  // exportTorchScript(path: string, normalization: {mean, std}, extraFiles: {[name]: string}) -> Promise<void>
  //   Async. Writes the current weights to `path` as a TorchScript module
  //   (torchscript_export.h), overwriting it; the caller makes it atomic.
  //   Throws: TypeError for an argument of the wrong type. Rejects
  //   (ERR_TORCHDOG_NATIVE) when LibTorch cannot write the file.
  Napi::Value ExportTorchScript(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "exportTorchScript");
    const std::string path = ExpectString(env, info[0], "path");
    const ExportNormalization norm = ReadNormalizationValues(env, info[1]);
    auto files = std::make_shared<std::map<std::string, std::string>>(ReadStringMap(env, info[2], "extraFiles"));
    return Enqueue(
        env, "exportTorchScript",
        [slot = slot_, path, norm, files] { slot->Get().ExportTorchScript(path, norm, *files); }, Undefined);
  }

  // runTorchScript(path: string, images, extraFiles: string[])
  //     -> Promise<{count, classes, logits, probabilities, extraFiles: {[name]: string}}>
  //   Async. Loads a TorchScript file on the CPU and runs forward(images):
  //   it must return (logits, probabilities). extraFiles names the files to
  //   read from it ('' for one it lacks). Throws: as forward for images,
  //   TypeError for the others. Rejects (ERR_TORCHDOG_NATIVE) for a file
  //   LibTorch cannot load or run, (ERR_TORCHDOG_INVALID_ARGUMENT) for one
  //   whose forward returns something else.
  Napi::Value RunTorchScript(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "runTorchScript");
    const std::string path = ExpectString(env, info[0], "path");
    auto images = std::make_shared<OwnedImages>(ReadImages(env, info[1]));
    auto names = std::make_shared<std::vector<std::string>>(ReadStringList(env, info[2], "extraFiles"));
    auto result = std::make_shared<TorchScriptRun>();
    return Enqueue(
        env, "runTorchScript",
        [slot = slot_, path, images, names, result] {
          *result = slot->Get().RunTorchScript(path, images->View(), *names);
        },
        [result](Napi::Env env) {
          auto obj = Napi::Object::New(env);
          obj.Set("count", static_cast<double>(result->outputs.count));
          obj.Set("classes", static_cast<double>(result->outputs.classes));
          obj.Set("logits", FloatsToJs(env, result->outputs.logits));
          obj.Set("probabilities", FloatsToJs(env, result->outputs.probabilities));
          auto files = Napi::Object::New(env);
          for (const auto& [name, content] : result->extra_files) files.Set(name, content);
          obj.Set("extraFiles", files);
          return obj;
        });
  }

  // setPrecision(precision: string, ranges: [{name, min, max}]) -> Promise<void>
  //   Async. Rejects (ERR_TORCHDOG_INVALID_ARGUMENT) for a precision or
  //   device the engine refuses, or int8 ranges missing a quantize point.
  Napi::Value SetPrecision(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setPrecision");
    const std::string precision = ExpectString(env, info[0], "precision");
    auto ranges = std::make_shared<std::vector<NamedRange>>(ReadRanges(env, info[1], "ranges"));
    return Enqueue(
        env, "setPrecision", [slot = slot_, precision, ranges] { slot->Get().SetPrecision(precision, *ranges); },
        Undefined);
  }

  // observeActivations(images, normalization) -> Promise<[{name, min, max}]>
  //   Async. The float32 network's range at each int8 quantize point on
  //   this batch. Throws: as forward.
  Napi::Value ObserveActivations(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "observeActivations");
    auto images = std::make_shared<OwnedImages>(ReadImages(env, info[0]));
    auto norm = ReadNormalization(env, info[1]);
    auto result = std::make_shared<std::vector<NamedRange>>();
    return Enqueue(
        env, "observeActivations",
        [slot = slot_, images, norm, result] { *result = slot->Get().ObserveActivations(images->View(), norm); },
        [result](Napi::Env env) {
          auto list = Napi::Array::New(env, result->size());
          for (size_t i = 0; i < result->size(); ++i) {
            auto obj = Napi::Object::New(env);
            obj.Set("name", (*result)[i].name);
            obj.Set("min", (*result)[i].min);
            obj.Set("max", (*result)[i].max);
            list.Set(static_cast<uint32_t>(i), obj);
          }
          return list;
        });
  }

  // histogramActivations(images, normalization, over: [{name, min, max}], bins) -> Promise<[{name, counts: Float64Array}]>
  //   Async. Counts of each quantize point's float32 values in `bins` equal
  //   bins over its range in `over`. Throws: as forward; Error for a point
  //   `over` lacks.
  Napi::Value HistogramActivations(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "histogramActivations");
    auto images = std::make_shared<OwnedImages>(ReadImages(env, info[0]));
    auto norm = ReadNormalization(env, info[1]);
    auto over = std::make_shared<std::vector<NamedRange>>(ReadRanges(env, info[2], "over"));
    const auto bins = static_cast<int64_t>(ExpectNumber(env, info[3], "bins"));
    auto result = std::make_shared<std::vector<NamedHistogram>>();
    return Enqueue(
        env, "histogramActivations",
        [slot = slot_, images, norm, over, bins, result] {
          *result = slot->Get().HistogramActivations(images->View(), norm, *over, bins);
        },
        [result](Napi::Env env) {
          auto list = Napi::Array::New(env, result->size());
          for (size_t i = 0; i < result->size(); ++i) {
            const auto& counts = (*result)[i].counts;
            auto array = Napi::Float64Array::New(env, counts.size());
            std::copy(counts.begin(), counts.end(), array.Data());
            auto obj = Napi::Object::New(env);
            obj.Set("name", (*result)[i].name);
            obj.Set("counts", array);
            list.Set(static_cast<uint32_t>(i), obj);
          }
          return list;
        });
  }

  // setTrainRecipe({labelSmoothing, clipGradNorm, lossScale, freezeBatchNorm, emaDecay}) -> Promise<void>
  //   Async (engine.h TrainRecipe). Throws: TypeError for a field of the wrong type.
  Napi::Value SetTrainRecipe(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "setTrainRecipe");
    auto obj = ExpectObject(env, info[0], "recipe");
    TrainRecipe r;
    r.label_smoothing = ExpectNumber(env, obj.Get("labelSmoothing"), "recipe.labelSmoothing");
    r.clip_grad_norm = ExpectNumber(env, obj.Get("clipGradNorm"), "recipe.clipGradNorm");
    r.loss_scale = ExpectNumber(env, obj.Get("lossScale"), "recipe.lossScale");
    r.freeze_batchnorm = ExpectBoolean(env, obj.Get("freezeBatchNorm"), "recipe.freezeBatchNorm");
    r.ema_decay = ExpectNumber(env, obj.Get("emaDecay"), "recipe.emaDecay");
    return Enqueue(env, "setTrainRecipe", [slot = slot_, r] { slot->Get().SetTrainRecipe(r); }, Undefined);
  }

  // swapEmaWeights() -> Promise<void>: exchanges the weights with their EMA. Async;
  //   rejects (ERR_TORCHDOG_INVALID_ARGUMENT) when the recipe keeps no EMA.
  Napi::Value SwapEmaWeights(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "swapEmaWeights");
    return Enqueue(env, "swapEmaWeights", [slot = slot_] { slot->Get().SwapEmaWeights(); }, Undefined);
  }

  // seed(seed: non-negative integer) -> Promise<void>; seeds LibTorch's
  //   process-wide generator. Async. Throws: TypeError/RangeError.
  Napi::Value Seed(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "seed");
    auto seed = ExpectInteger<uint64_t>(env, info[0], "seed");
    return Enqueue(env, "seed", [slot = slot_, seed] { slot->Get().Seed(seed); }, Undefined);
  }

  // joinProcessGroup({rank, worldSize, masterAddr, masterPort, host, interface,
  //     connectTimeout, opTimeout, setupTimeout (seconds), bucketBytes}) -> Promise<void>
  //   Async; blocks the model's thread until every rank has joined (see
  //   distributed.h). From then on trainStep averages gradients over the
  //   ranks. Throws: TypeError/RangeError. Rejects (ERR_TORCHDOG_NATIVE)
  //   when the rendezvous or Gloo fails, or the build has no distributed.
  Napi::Value JoinProcessGroup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "joinProcessGroup");
    auto obj = ExpectObject(env, info[0], "options");
    ProcessGroupOptions o;
    o.rank = ExpectInteger<int>(env, obj.Get("rank"), "options.rank");
    o.world_size = ExpectInteger<int>(env, obj.Get("worldSize"), "options.worldSize");
    o.master_addr = ExpectString(env, obj.Get("masterAddr"), "options.masterAddr");
    o.master_port = ExpectInteger<uint16_t>(env, obj.Get("masterPort"), "options.masterPort");
    o.host = ExpectString(env, obj.Get("host"), "options.host");
    o.interface = ExpectString(env, obj.Get("interface"), "options.interface");
    o.connect_timeout_s = ExpectNumber(env, obj.Get("connectTimeout"), "options.connectTimeout");
    o.op_timeout_s = ExpectNumber(env, obj.Get("opTimeout"), "options.opTimeout");
    o.setup_timeout_s = ExpectNumber(env, obj.Get("setupTimeout"), "options.setupTimeout");
    o.bucket_bytes = ExpectInteger<int64_t>(env, obj.Get("bucketBytes"), "options.bucketBytes");
    return Enqueue(env, "joinProcessGroup", [slot = slot_, o] {
      Engine& engine = slot->Get();
      slot->collectives = torchdog::JoinProcessGroup(o);
      engine.SetCollectives(slot->collectives);
    }, Undefined);
  }

  // broadcastTensors() -> Promise<void>: rank 0's parameters and buffers to every rank. Async.
  Napi::Value BroadcastTensors(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "broadcastTensors");
    return Enqueue(env, "broadcastTensors", [slot = slot_] { slot->Get().BroadcastTensors(); }, Undefined);
  }

  // allReduceSum(values: Float64Array) -> Promise<Float64Array>: the element-wise sum over the ranks. Async.
  Napi::Value AllReduceSum(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "allReduceSum");
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array) {
      ThrowType(env, "values: expected a Float64Array but received " + Describe(info[0]));
    }
    auto array = info[0].As<Napi::Float64Array>();
    auto values = std::make_shared<std::vector<double>>(array.Data(), array.Data() + array.ElementLength());
    return Enqueue(
        env, "allReduceSum",
        [slot = slot_, values] {
          if (!slot->collectives) throw std::invalid_argument("allReduceSum: the model is not in a process group");
          slot->collectives->AllReduceSum(*values);
        },
        [values](Napi::Env env) {
          auto out = Napi::Float64Array::New(env, values->size());
          std::copy(values->begin(), values->end(), out.Data());
          return out;
        });
  }

  // leaveProcessGroup() -> Promise<void>: trains alone again; closes the group's connections. Async.
  Napi::Value LeaveProcessGroup(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    CheckAlive(env, "leaveProcessGroup");
    return Enqueue(env, "leaveProcessGroup", [slot = slot_] {
      slot->Get().SetCollectives(nullptr);
      slot->collectives.reset();
    }, Undefined);
  }

  // ready() -> Promise<void>: the engine's construction (the same promise
  //   every time). Rejects when the engine refused the options.
  Napi::Value Ready(const Napi::CallbackInfo& info) { return ready_ref_.Value(); }

  // dispose() -> Promise<void>
  //   Sync part: marks the model disposed (later calls throw) and cancels
  //   the operations queued and not started; they reject with
  //   ERR_TORCHDOG_DISPOSED. The running one completes. Then the engine is
  //   freed on its thread, the thread ends, and the promise resolves.
  //   Idempotent: later calls return the same promise. Never throws.
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (disposed_) return dispose_ref_.Value();
    disposed_ = true;
    executor_->CancelQueued();
    Napi::Promise promise = Enqueue(env, "dispose", [slot = slot_] { slot->Free(); }, Undefined,
                                    /*cancellable=*/false, /*closes_model=*/true);
    dispose_ref_ = Napi::Persistent(promise.As<Napi::Object>());
    return promise;
  }

  // Synchronous getters. device, parameterCount and threads are known once
  // ready() has resolved ("pending", 0, 0 before).
  Napi::Value GetDevice(const Napi::CallbackInfo& info) { return Napi::String::New(info.Env(), device_); }
  Napi::Value GetNumClasses(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(num_classes_));
  }
  Napi::Value GetParameterCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(parameter_count_));
  }
  Napi::Value GetThreads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), threads_); }
  Napi::Value GetTraining(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), training_); }
  Napi::Value GetDisposed(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), disposed_); }

  // Executor side: only touched by tasks on the executor thread.
  std::shared_ptr<EngineSlot> slot_ = std::make_shared<EngineSlot>();
  // JS side: only touched on the JS thread.
  std::shared_ptr<Settler> settler_;
  std::unique_ptr<SerialExecutor> executor_;  // null once disposed
  int64_t pending_ = 0;
  Napi::ObjectReference keep_alive_;  // set while pending_ > 0
  bool disposed_ = false;
  bool training_ = false;
  int64_t num_classes_ = 0;
  std::string device_ = "pending";
  int64_t parameter_count_ = 0;
  int threads_ = 0;
  Napi::ObjectReference ready_ref_;
  Napi::ObjectReference dispose_ref_;
};

void Settler::CallJs(Napi::Env env, Napi::Function, ModelWrap* model, Operation* op) {
  std::unique_ptr<Operation> owned(op);
  if (env == nullptr || owned == nullptr) return;
  model->Settle(env, std::move(owned));
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  // Before the first executor registers its atexit handler (serial_executor.cc),
  // so that at exit the handler joins a running oneDNN forward pass before
  // oneDNN's static state is destroyed, not after (seen: segfaults and hangs
  // in process.exit() during a forward).
  if (OnednnResNet18::Available()) OnednnResNet18::Prime();
  exports.Set("Model", ModelWrap::Define(env));
  // cudaAvailable() -> boolean. Sync.
  exports.Set("cudaAvailable", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                return Napi::Boolean::New(info.Env(), CudaAvailable());
              }));
  // setTf32(allowed: boolean) -> undefined. Sync, process-wide. Throws: TypeError.
  exports.Set("setTf32", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                SetTf32(ExpectBoolean(info.Env(), info[0], "allowed"));
                return info.Env().Undefined();
              }));
  // checkDevice(device: string) -> null | string (why it cannot be used). Sync. Throws: TypeError.
  exports.Set("checkDevice", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                Napi::Env env = info.Env();
                std::string problem = CheckDevice(ExpectString(env, info[0], "device"));
                return problem.empty() ? env.Null() : Napi::String::New(env, problem);
              }));
  // distributedAvailable() -> null | string (why this build cannot join a process group). Sync.
  exports.Set("distributedAvailable", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                std::string problem = DistributedAvailable();
                return problem.empty() ? info.Env().Null() : Napi::String::New(info.Env(), problem);
              }));
  // liveCounts() -> {engines, executors}: engines built and not yet freed,
  //   executor threads running, in this process. Sync; for leak tests.
  exports.Set("liveCounts", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
                Napi::Env env = info.Env();
                auto counts = Napi::Object::New(env);
                counts.Set("engines", static_cast<double>(live_engines.load()));
                counts.Set("executors", static_cast<double>(SerialExecutor::LiveCount()));
                return counts;
              }));
  return exports;
}

}  // namespace
}  // namespace torchdog

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return torchdog::Init(env, exports); }

NODE_API_MODULE(torchdog, InitAddon)
