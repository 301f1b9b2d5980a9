#include "cpu_bench.h"

#include <ATen/Config.h>
#include <immintrin.h>
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <sstream>
#include <thread>
#include <vector>

namespace torchdog {
namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) { return std::chrono::duration<double>(Clock::now() - since).count(); }

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n == 0 ? 0 : (n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]));
}

// Times `step` (after two warm-up calls) for about `seconds`, at least 3 calls.
template <typename Step>
std::vector<double> Time(double seconds, Step step) {
  step();
  step();
  std::vector<double> times;
  auto start = Clock::now();
  while (Seconds(start) < seconds || times.size() < 3) {
    auto t = Clock::now();
    step();
    times.push_back(Seconds(t));
  }
  return times;
}

// ---- peak ---------------------------------------------------------------

constexpr int kChains = 12;  // > FMA latency (4) x FMA pipes (2): the pipes never wait

__attribute__((target("avx512f"), noinline)) float Fma512(int64_t iterations) {
  __m512 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm512_set1_ps(1.0f + i * 1e-3f);
  const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
  for (int64_t n = 0; n < iterations; ++n) {
    for (int i = 0; i < kChains; ++i) acc[i] = _mm512_fmadd_ps(acc[i], m, c);
  }
  __m512 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm512_add_ps(sum, acc[i]);
  return _mm512_reduce_add_ps(sum);
}

__attribute__((target("avx2,fma"), noinline)) float Fma256(int64_t iterations) {
  __m256 acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = _mm256_set1_ps(1.0f + i * 1e-3f);
  const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
  for (int64_t n = 0; n < iterations; ++n) {
    for (int i = 0; i < kChains; ++i) acc[i] = _mm256_fmadd_ps(acc[i], m, c);
  }
  __m256 sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = _mm256_add_ps(sum, acc[i]);
  alignas(32) float out[8];
  _mm256_store_ps(out, sum);
  float total = 0;
  for (float f : out) total += f;
  return total;
}

// 8 dependent adds per iteration: 8 cycles per iteration on any core with
// 1-cycle integer add latency (Zen, Intel Core); the loop counter runs beside it.
__attribute__((noinline)) uint64_t AddChain(int64_t iterations) {
  uint64_t x = 0;
  int64_t n = iterations;
  asm volatile(
      "1:\n\t"
      "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
      "add $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\tadd $1, %0\n\t"
      "dec %1\n\tjnz 1b\n"
      : "+r"(x), "+r"(n)
      :
      : "cc");
  return x;
}

// Runs `work(iterations)` on `threads` threads at once, `rounds` times;
// returns the best (shortest) wall time per round.
template <typename Work>
double BestWall(int threads, int64_t iterations, int rounds, Work work) {
  double best = 1e30;
  std::atomic<float> sink{0};
  for (int r = 0; r < rounds; ++r) {
    std::atomic<int> arrived{0};
    std::vector<std::thread> pool;
    Clock::time_point start;
    std::atomic<bool> go{false};
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        arrived.fetch_add(1);
        while (!go.load(std::memory_order_acquire)) {
        }
        sink.store(static_cast<float>(work(iterations)));
      });
    }
    while (arrived.load() < threads) {
    }
    start = Clock::now();
    go.store(true, std::memory_order_release);
    for (auto& th : pool) th.join();
    best = std::min(best, Seconds(start));
  }
  return best;
}

// Iterations that take about `target` seconds on one thread.
template <typename Work>
int64_t Calibrate(double target, Work work) {
  int64_t n = 1 << 16;
  for (;;) {
    auto start = Clock::now();
    work(n);
    double s = Seconds(start);
    if (s > target / 4 || n > (int64_t{1} << 40)) return std::max<int64_t>(n, static_cast<int64_t>(n * target / std::max(s, 1e-9)));
    n *= 4;
  }
}

}  // namespace

std::string PeakFlopsJson(int threads, double seconds) {
  std::ostringstream json;
  const double slice = std::max(0.05, seconds / 20);  // one timed round
  const int rounds = 7;
  const int64_t add_iterations = Calibrate(slice, AddChain);
  const double add_s = BestWall(1, add_iterations, rounds, AddChain);
  const double ghz = 8.0 * add_iterations / add_s / 1e9;
  std::fprintf(stderr, "peak: clock from a dependent add chain %.2f GHz\n", ghz);
  json << "{\"clock_ghz\":" << ghz;
  struct Kind {
    const char* name;
    bool supported;
    int lanes;
    float (*work)(int64_t);
  };
  const Kind kinds[] = {{"avx512", static_cast<bool>(__builtin_cpu_supports("avx512f")), 16, Fma512},
                        {"avx2", static_cast<bool>(__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")), 8, Fma256}};
  for (const Kind& k : kinds) {
    if (!k.supported) {
      json << ",\"" << k.name << "\":null";
      continue;
    }
    const int64_t n = Calibrate(slice, k.work);
    const double flop_per_thread = 2.0 * k.lanes * kChains * static_cast<double>(n);
    const double one = flop_per_thread / BestWall(1, n, rounds, k.work) / 1e9;
    const double all = threads * flop_per_thread / BestWall(threads, n, rounds, k.work) / 1e9;
    const double per_cycle = one / ghz;
    std::fprintf(stderr, "peak %s FMA: 1 thread %.1f GFLOP/s (%.1f FLOP/cycle), %d threads %.1f GFLOP/s\n", k.name, one,
                 per_cycle, threads, all);
    json << ",\"" << k.name << "\":{\"gflops_1_thread\":" << one << ",\"flop_per_cycle\":" << per_cycle
         << ",\"threads\":" << threads << ",\"gflops\":" << all << "}";
  }
  json << "}";
  return json.str();
}

std::string ConvBenchJson(int threads, double seconds, int64_t batch, int64_t channels, int64_t hw) {
  torch::NoGradGuard no_grad;
  const double flop = 2.0 * batch * channels * hw * hw * channels * 9;
  torch::manual_seed(0);
  auto input = torch::randn({batch, channels, hw, hw});
  auto weight = torch::randn({channels, channels, 3, 3}) * 0.02;
  auto bias = torch::zeros({channels});
  auto input_cl = input.contiguous(at::MemoryFormat::ChannelsLast);
  auto weight_cl = weight.contiguous(at::MemoryFormat::ChannelsLast);

  std::ostringstream json;
  json << "{\"shape\":[" << batch << "," << channels << "," << hw << "," << hw << "],\"kernel\":[" << channels << ","
       << channels << ",3,3],\"gflop_per_call\":" << flop / 1e9 << ",\"results\":[";
  std::vector<int> counts = {1};
  if (threads > 1) counts.push_back(threads);
  bool first = true;
  double best = 0;
  std::string best_name;
  const int saved = at::get_num_threads();
  for (int t : counts) {
    at::set_num_threads(t);
    struct Path {
      std::string name;
      std::function<void()> step;
    };
    std::vector<Path> paths = {
        {"nchw", [&] { at::conv2d(input, weight, bias, 1, 1); }},
        {"channels_last", [&] { at::conv2d(input_cl, weight_cl, bias, 1, 1); }},
    };
#if AT_MKLDNN_ENABLED()
    // What the frozen, optimised inference graph runs: oneDNN's blocked
    // layout end to end and the weight reordered once.
    auto input_mkldnn = input.to_mkldnn();
    auto weight_mkldnn = at::mkldnn_reorder_conv2d_weight(weight.to_mkldnn(), {1, 1}, {1, 1}, {1, 1}, 1);
    auto bias_mkldnn = bias;
    paths.push_back({"onednn_blocked", [&, weight_mkldnn, input_mkldnn] {
                       at::mkldnn_convolution(input_mkldnn, weight_mkldnn, bias_mkldnn, {1, 1}, {1, 1}, {1, 1}, 1);
                     }});
#endif
    for (const Path& p : paths) {
      std::vector<double> times;
      try {
        times = Time(seconds / (counts.size() * paths.size()), p.step);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "conv %s, %d thread(s): failed: %s\n", p.name.c_str(), t, e.what());
        continue;
      }
      const double median = flop / Median(times) / 1e9;
      const double peak = flop / *std::min_element(times.begin(), times.end()) / 1e9;
      std::fprintf(stderr, "conv %s, %d thread(s): median %.1f GFLOP/s, best %.1f GFLOP/s (%zu calls)\n", p.name.c_str(),
                   t, median, peak, times.size());
      json << (first ? "" : ",") << "{\"path\":\"" << p.name << "\",\"threads\":" << t << ",\"calls\":" << times.size()
           << ",\"gflops_median\":" << median << ",\"gflops_best\":" << peak << "}";
      first = false;
      if (t == counts.back() && peak > best) {
        best = peak;
        best_name = p.name;
      }
    }
  }
  at::set_num_threads(saved);
  json << "],\"best\":{\"path\":\"" << best_name << "\",\"threads\":" << counts.back() << ",\"gflops\":" << best << "}}";
  return json.str();
}

}  // namespace torchdog
