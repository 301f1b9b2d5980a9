// CPU reference points for torchdog_bench (not part of the addon): the best
// FP32 throughput of one large oneDNN convolution through this LibTorch
// (--conv), and the core's own FMA peak and clock (--peak). Each returns a
// JSON object as text and reports progress on stderr.
#pragma once

#include <string>

namespace torchdog {

// A 3x3, stride 1, padding 1 convolution, `channels` -> `channels`, on a
// batch x channels x hw x hw float32 input, through three LibTorch paths
// (NCHW, channels-last, oneDNN-blocked tensors with a pre-reordered weight),
// each at 1 thread and at `threads`. GFLOP/s counts 2 FLOP per multiply-add.
std::string ConvBenchJson(int threads, double seconds, int64_t batch = 32, int64_t channels = 256, int64_t hw = 32);

// Independent FMA chains (AVX-512 and AVX2, 12 accumulators per thread) on
// 1 thread and on `threads` threads at once, and the clock measured with a
// chain of dependent integer adds (one cycle each): GFLOP/s, GHz and FP32
// FLOP per cycle per core.
std::string PeakFlopsJson(int threads, double seconds);

}  // namespace torchdog
