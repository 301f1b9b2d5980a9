// torchdog_bench: the engine's training and inference throughput without
// Node, for machines that have LibTorch but no Node (the GPU check), and for
// CPU numbers in GFLOP/s. Prints one JSON object.
//
//   torchdog_bench [--device cuda] [--size 128] [--train-batch 256]
//                  [--infer-batches 1,256] [--seconds 10] [--threads 0] [--check]
//                  [--no-train] [--conv] [--peak] [--int8]
//
// --no-train skips the training measurement (no "train" key); --conv adds
// "conv", the best oneDNN throughput of one large 3x3 convolution on the
// CPU; --peak adds "peak", the cores' FMA peak and clock (native/cpu_bench.h);
// --int8 adds "B_int8" inference entries (CPU only), calibrated on 16 random
// images: the int8 graph's speed without Node in between.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "cpu_bench.h"
#include "engine.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Args {
  std::string device = "auto";
  int64_t size = 128;
  int64_t train_batch = 64;
  std::vector<int64_t> infer_batches = {1, 32};
  double seconds = 5;
  int threads = 0;
  bool check = false;
  bool train = true;
  bool conv = false;
  bool peak = false;
  bool int8 = false;
};

std::vector<int64_t> ParseList(const std::string& text) {
  std::vector<int64_t> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) out.push_back(std::stoll(item));
  return out;
}

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", flag.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (flag == "--device") a.device = value();
    else if (flag == "--size") a.size = std::stoll(value());
    else if (flag == "--train-batch") a.train_batch = std::stoll(value());
    else if (flag == "--infer-batches") a.infer_batches = ParseList(value());
    else if (flag == "--seconds") a.seconds = std::stod(value());
    else if (flag == "--threads") a.threads = std::stoi(value());
    else if (flag == "--check") a.check = true;
    else if (flag == "--no-train") a.train = false;
    else if (flag == "--conv") a.conv = true;
    else if (flag == "--peak") a.peak = true;
    else if (flag == "--int8") a.int8 = true;
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      std::exit(2);
    }
  }
  return a;
}

std::vector<uint8_t> RandomPixels(int64_t count, int64_t size, uint32_t seed) {
  std::vector<uint8_t> pixels(static_cast<size_t>(count * size * size * 3));
  std::mt19937 rng(seed);
  for (auto& p : pixels) p = static_cast<uint8_t>(rng() & 0xff);
  return pixels;
}

const torchdog::Normalization kNorm{{0.5f, 0.5f, 0.5f}, {0.5f, 0.5f, 0.5f}};

// Runs `step` repeatedly for about `seconds` after a warm-up; returns
// {images per second, mean milliseconds per call}.
template <typename Step>
std::pair<double, double> Measure(torchdog::Engine& engine, int64_t batch, double seconds, Step step) {
  for (int i = 0; i < 3; ++i) step();
  engine.Synchronize();
  int64_t calls = 0;
  auto start = Clock::now();
  double elapsed = 0;
  while (elapsed < seconds || calls < 3) {
    step();
    ++calls;
    if (calls % 4 == 0 || elapsed >= seconds) engine.Synchronize();
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  }
  engine.Synchronize();
  elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  return {calls * batch / elapsed, 1000.0 * elapsed / calls};
}

// Largest absolute difference between CPU and `device` probabilities for the
// same weights and images, with TF32 allowed or not on the device.
double CompareWithCpu(const Args& args, torchdog::Engine& device_engine, bool tf32) {
  torchdog::SetTf32(tf32);
  torchdog::Engine cpu({"resnet18", 2, "cpu", 0, args.threads});
  std::vector<torchdog::TensorView> views;
  auto tensors = device_engine.GetTensors();
  for (const auto& t : tensors) views.push_back({t.name, t.dtype, t.shape, t.bytes.data(), t.bytes.size()});
  cpu.SetTensors(views);
  cpu.SetTraining(false);
  device_engine.SetTraining(false);
  device_engine.SetTensors(views);  // rebuilds the serving graph under the TF32 setting
  auto pixels = RandomPixels(8, args.size, 7);
  torchdog::ImageBatchView batch{pixels.data(), 8, args.size, args.size};
  auto a = cpu.Forward(batch, kNorm);
  auto b = device_engine.Forward(batch, kNorm);
  double worst = 0;
  for (size_t i = 0; i < a.probabilities.size(); ++i) {
    worst = std::max(worst, static_cast<double>(std::fabs(a.probabilities[i] - b.probabilities[i])));
  }
  torchdog::SetTf32(true);
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  Args args = Parse(argc, argv);
  std::string problem = torchdog::CheckDevice(args.device);
  if (!problem.empty()) {
    std::fprintf(stderr, "%s\n", problem.c_str());
    return 1;
  }
  try {
    torchdog::Engine engine({"resnet18", 2, args.device, 0, args.threads});
    std::ostringstream json;
    json << "{\"device\":\"" << engine.Device() << "\",\"threads\":" << engine.Threads() << ",\"size\":" << args.size;

    if (args.train) {
      auto train_pixels = RandomPixels(args.train_batch, args.size, 1);
      std::vector<int32_t> labels(static_cast<size_t>(args.train_batch));
      for (size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int32_t>(i % 2);
      torchdog::ImageBatchView train_batch{train_pixels.data(), args.train_batch, args.size, args.size};
      json << ",\"train\":{\"batch\":" << args.train_batch;
      for (bool amp : {false, true}) {
        engine.SetMixedPrecision(amp);
        auto [img_s, ms] = Measure(engine, args.train_batch, args.seconds,
                                   [&] { engine.TrainStep(train_batch, labels.data(), kNorm); });
        json << ",\"" << (amp ? "amp" : "fp32") << "\":{\"img_per_s\":" << img_s << ",\"ms_per_step\":" << ms << "}";
        std::fprintf(stderr, "train batch %lld %s: %.1f img/s (%.2f ms/step)\n", static_cast<long long>(args.train_batch),
                     amp ? "amp" : "fp32", img_s, ms);
      }
      // Where a step's time goes (synchronised phases; see ProfileTrainSteps).
      for (bool amp : {false, true}) {
        engine.SetMixedPrecision(amp);
        auto split = engine.ProfileTrainSteps(train_batch, labels.data(), kNorm, 10);
        json << ",\"split_" << (amp ? "amp" : "fp32") << "_ms\":{\"upload\":" << split.upload * 1e3
             << ",\"compute\":" << split.compute * 1e3 << ",\"host\":" << split.host * 1e3 << "}";
        std::fprintf(stderr, "train step %s split: upload %.2f ms, compute %.2f ms, host %.2f ms\n", amp ? "amp" : "fp32",
                     split.upload * 1e3, split.compute * 1e3, split.host * 1e3);
      }
      engine.SetMixedPrecision(false);
      json << "}";
    }
    json << ",\"infer\":{";
    engine.SetTraining(false);
    bool first = true;
    for (int64_t batch : args.infer_batches) {
      auto pixels = RandomPixels(batch, args.size, 2);
      torchdog::ImageBatchView view{pixels.data(), batch, args.size, args.size};
      for (bool graph : {false, true}) {
        engine.SetInferenceGraph(graph);
        auto [img_s, ms] = Measure(engine, batch, args.seconds, [&] { engine.Forward(view, kNorm); });
        json << (first ? "" : ",") << "\"" << batch << (graph ? "_graph" : "_eager") << "\":{\"img_per_s\":" << img_s
             << ",\"ms_per_batch\":" << ms << "}";
        first = false;
        std::fprintf(stderr, "infer batch %lld %s: %.1f img/s (%.2f ms/batch)\n", static_cast<long long>(batch),
                     graph ? "graph" : "eager", img_s, ms);
      }
      if (args.int8 && engine.Device() == "cpu") {
        auto calibration_pixels = RandomPixels(16, args.size, 3);
        auto ranges = engine.ObserveActivations({calibration_pixels.data(), 16, args.size, args.size}, kNorm);
        engine.SetPrecision("int8", ranges);
        auto [img_s, ms] = Measure(engine, batch, args.seconds, [&] { engine.Forward(view, kNorm); });
        engine.SetPrecision("fp32", {});
        json << ",\"" << batch << "_int8\":{\"img_per_s\":" << img_s << ",\"ms_per_batch\":" << ms << "}";
        std::fprintf(stderr, "infer batch %lld int8: %.1f img/s (%.2f ms/batch)\n", static_cast<long long>(batch), img_s, ms);
      }
    }
    json << "}";
    // The CPU reference points run on this (the main) thread, whose OpenMP
    // team the engine has been using at engine.Threads().
    if (args.conv) json << ",\"conv\":" << torchdog::ConvBenchJson(std::max(1, engine.Threads()), args.seconds);
    if (args.peak) json << ",\"peak\":" << torchdog::PeakFlopsJson(std::max(1, engine.Threads()), args.seconds);
    if (args.check && engine.Device() != "cpu") {
      double strict = CompareWithCpu(args, engine, /*tf32=*/false);
      double tf32 = CompareWithCpu(args, engine, /*tf32=*/true);
      json << ",\"cpu_vs_device_max_abs_prob_diff\":" << strict << ",\"cpu_vs_device_tf32_max_abs_prob_diff\":" << tf32;
      std::fprintf(stderr, "CPU vs %s probabilities: max |diff| %.3g in fp32, %.3g with TF32\n", engine.Device().c_str(),
                   strict, tf32);
    }
    json << "}";
    std::printf("%s\n", json.str().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "torchdog_bench: %s\n", e.what());
    return 1;
  }
  return 0;
}
