#include "onednn_resnet.h"

#include <stdexcept>

#if __has_include(<oneapi/dnnl/dnnl.hpp>)
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <tuple>
#include <unordered_map>
#include <utility>

namespace torchdog {
namespace {

using dnnl::memory;
using Tag = memory::format_tag;
using Type = memory::data_type;
using Args = std::unordered_map<int, memory>;

constexpr float kTinyScale = 1e-8f;
// Primitives are built per input shape (30-40 ms for a new one) and kept for
// the most recent kMaxPlans shapes: a server's batch sizes 1 to 32. Their
// activations share one buffer (the plans run one at a time), so a plan
// costs its primitives' generated code (about 2 MB in int8), not its
// tensors. Larger batches run in chunks.
constexpr int64_t kLargestChunk = 64;
constexpr size_t kMaxPlans = 32;
constexpr size_t kAlignment = 64;

float Int8Scale(float absmax) { return std::max(absmax, kTinyScale) / 127.f; }

size_t AlignedBytes(const memory::desc& desc) { return (desc.get_size() + kAlignment - 1) / kAlignment * kAlignment; }

}  // namespace

struct OnednnResNet18::Impl {
  OnednnResNet18Spec spec;
  bool int8;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  // Reordered (int8: quantized) weights and (int8: scaled) biases per
  // convolution, shared by the plans whose primitives chose the same layout.
  struct PackedConv {
    memory::desc weights_desc;
    memory weights, bias;
  };
  std::unordered_map<const OnednnConv*, std::vector<PackedConv>> packed;
  // Per output channel, computed once per convolution (all ones in float32).
  std::unordered_map<const OnednnConv*, std::vector<float>> weight_scales;

  struct Plan {
    int64_t count, height, width;
    memory input, logits;  // handles set per call
    std::vector<std::pair<dnnl::primitive, Args>> steps;
    // Activations: each memory's offset in the shared buffer, bound before
    // a run whenever the buffer moved since this plan last ran.
    std::vector<std::pair<memory, size_t>> bound;
    size_t bytes = 0;
    uint64_t bound_to = 0;
  };
  std::list<Plan> plans;  // most recently used first
  std::unique_ptr<uint8_t, decltype(&std::free)> buffer{nullptr, &std::free};
  size_t buffer_bytes = 0;
  uint64_t buffer_generation = 0;

  // Offsets in the shared buffer while a plan is built: a tensor's space is
  // given back once no later step reads it, and reused first fit.
  struct Layout {
    std::vector<std::pair<size_t, size_t>> free;  // offset, bytes
    size_t top = 0;
  };

  Impl(OnednnResNet18Spec s, bool int8) : spec(std::move(s)), int8(int8) {}

  // Activations: int8 keeps uint8 (after a ReLU) and int8 in NHWC, the order
  // oneDNN's int8 kernels read; float32 the 8-channel blocks its AVX2 and
  // AVX-512 float kernels read (measured faster than NHWC).
  Type Act(Type quantized) const { return int8 ? quantized : Type::f32; }
  Tag Order() const { return int8 ? Tag::nhwc : Tag::nChw8c; }
  float Uint8Scale(float max) const { return std::max(max, kTinyScale) / spec.uint8_levels; }

  memory Allocate(Plan& plan, Layout& layout, const memory::desc& desc) {
    const size_t bytes = AlignedBytes(desc);
    size_t offset = layout.top;
    auto fit = std::find_if(layout.free.begin(), layout.free.end(), [&](const auto& f) { return f.second >= bytes; });
    if (fit != layout.free.end()) {
      offset = fit->first;
      layout.free.erase(fit);
    } else {
      layout.top += bytes;
    }
    memory m(desc, engine, DNNL_MEMORY_NONE);
    plan.bound.push_back({m, offset});
    plan.bytes = std::max(plan.bytes, layout.top);
    return m;
  }

  // `desc` over the bytes `of` has (in place).
  memory Alias(Plan& plan, const memory::desc& desc, const memory& of) {
    memory m(desc, engine, DNNL_MEMORY_NONE);
    plan.bound.push_back({m, OffsetOf(plan, of)});
    return m;
  }

  void Release(Plan& plan, Layout& layout, const memory& m) {
    layout.free.push_back({OffsetOf(plan, m), AlignedBytes(m.get_desc())});
  }

  static size_t OffsetOf(const Plan& plan, const memory& m) {
    for (const auto& [b, offset] : plan.bound) {
      if (b.get() == m.get()) return offset;
    }
    throw std::logic_error("onednn_resnet: a tensor outside the plan's buffer");
  }

  // Symmetric per output channel, as PyTorch's per-channel weight observer.
  const std::vector<float>& WeightScales(const OnednnConv& c) {
    auto found = weight_scales.find(&c);
    if (found != weight_scales.end()) return found->second;
    std::vector<float> scales(c.out_channels, 1.f);
    const int64_t per_channel = c.in_channels * c.kernel * c.kernel;
    for (int64_t o = 0; int8 && o < c.out_channels; ++o) {
      float amax = 0;
      for (int64_t i = 0; i < per_channel; ++i) amax = std::max(amax, std::fabs(c.weight[o * per_channel + i]));
      scales[o] = std::max(amax, kTinyScale) / 127.f;
    }
    return weight_scales.emplace(&c, std::move(scales)).first->second;
  }

  // The convolution `c` from `src` (int8: quantized with scale `src_scale`)
  // into a new tensor (int8: of `dst_type`, scale `dst_scale`), or, with
  // `sum`, added into the tensor `sum` holds (scale `sum_scale`, type
  // `sum_type`) in place. Scales and types are ignored in float32.
  memory Conv(Plan& plan, Layout& layout, const memory& src, float src_scale, const OnednnConv& c, bool relu,
              Type dst_type, float dst_scale, const memory* sum = nullptr, float sum_scale = 0,
              Type sum_type = Type::undef) {
    const auto dims = src.get_desc().dims();
    const int64_t out_size = (dims[2] + 2 * c.padding - c.kernel) / c.stride + 1;
    const int64_t out_width = (dims[3] + 2 * c.padding - c.kernel) / c.stride + 1;
    memory::desc dst_desc({plan.count, c.out_channels, out_size, out_width}, Act(dst_type), Order());
    memory::desc weights_any({c.out_channels, c.in_channels, c.kernel, c.kernel}, int8 ? Type::s8 : Type::f32,
                             Tag::any);
    memory::desc bias_desc({c.out_channels}, Type::f32, Tag::x);

    const auto& weight_scales = WeightScales(c);
    std::vector<float> output_scales(c.out_channels);
    for (int64_t o = 0; o < c.out_channels; ++o) output_scales[o] = src_scale * weight_scales[o] / dst_scale;
    dnnl::post_ops ops;
    if (sum) {
      if (int8) ops.append_sum(sum_scale / dst_scale, sum_type);
      else ops.append_sum(1.f);
    }
    if (relu) ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr;
    attr.set_post_ops(ops);
    if (int8) attr.set_output_scales(/*per output channel*/ 1 << 1, output_scales);
    dnnl::convolution_forward::desc desc(dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
                                         src.get_desc(), weights_any, bias_desc, dst_desc, {c.stride, c.stride},
                                         {c.padding, c.padding}, {c.padding, c.padding});
    dnnl::convolution_forward::primitive_desc pd(desc, attr, engine);

    const PackedConv& w = Pack(c, pd.weights_desc(), weight_scales, src_scale);
    memory dst = sum ? Alias(plan, pd.dst_desc(), *sum) : Allocate(plan, layout, pd.dst_desc());
    plan.steps.push_back({dnnl::convolution_forward(pd),
                          {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w.weights}, {DNNL_ARG_BIAS, w.bias}, {DNNL_ARG_DST, dst}}});
    return dst;
  }

  const PackedConv& Pack(const OnednnConv& c, const memory::desc& weights_desc, const std::vector<float>& weight_scales,
                         float src_scale) {
    auto& versions = packed[&c];
    for (const auto& p : versions) {
      if (p.weights_desc == weights_desc) return p;
    }
    memory plain({{c.out_channels, c.in_channels, c.kernel, c.kernel}, Type::f32, Tag::oihw}, engine,
                 const_cast<float*>(c.weight.data()));
    memory weights(weights_desc, engine);
    std::vector<float> inverse(weight_scales.size());
    for (size_t o = 0; o < inverse.size(); ++o) inverse[o] = 1.f / weight_scales[o];
    dnnl::primitive_attr quantize;
    if (int8) quantize.set_output_scales(1 << 0, inverse);
    dnnl::reorder(dnnl::reorder::primitive_desc(engine, plain.get_desc(), engine, weights_desc, quantize))
        .execute(stream, plain, weights);
    // oneDNN adds the bias to the int32 accumulator before the output scale.
    memory bias({{c.out_channels}, Type::f32, Tag::x}, engine);
    auto* b = static_cast<float*>(bias.get_data_handle());
    for (int64_t o = 0; o < c.out_channels; ++o) b[o] = int8 ? c.bias[o] / (src_scale * weight_scales[o]) : c.bias[o];
    stream.wait();
    versions.push_back({weights_desc, weights, bias});
    return versions.back();
  }

  // Pools `x` into a new tensor, which `x` then is; the old one's space is given back.
  void Pool(Plan& plan, Layout& layout, memory& x, dnnl::algorithm algorithm, const memory::desc& dst_desc,
            memory::dims strides, memory::dims kernel, memory::dims padding) {
    dnnl::pooling_forward::primitive_desc pd(
        dnnl::pooling_forward::desc(dnnl::prop_kind::forward_inference, algorithm, x.get_desc(), dst_desc, strides,
                                    kernel, padding, padding),
        engine);
    memory dst = Allocate(plan, layout, pd.dst_desc());
    plan.steps.push_back({dnnl::pooling_forward(pd), {{DNNL_ARG_SRC, x}, {DNNL_ARG_DST, dst}}});
    Release(plan, layout, x);
    x = dst;
  }

  Plan Build(int64_t count, int64_t height, int64_t width) {
    Plan plan{count, height, width, {}, {}, {}, {}, 0, 0};
    Layout layout;
    plan.input = memory({{count, 3, height, width}, Type::f32, Tag::nhwc}, engine, DNNL_MEMORY_NONE);
    const float input_scale = Int8Scale(spec.input_absmax);
    // int8: quantized; float32: planar, the stem's float kernels read that.
    memory x = Allocate(plan, layout, {{count, 3, height, width}, Act(Type::s8), int8 ? Tag::nhwc : Tag::nchw});
    {
      dnnl::primitive_attr quantize;
      if (int8) quantize.set_output_scales(0, {1.f / input_scale});
      plan.steps.push_back(
          {dnnl::reorder(dnnl::reorder::primitive_desc(engine, plan.input.get_desc(), engine, x.get_desc(), quantize)),
           {{DNNL_ARG_FROM, plan.input}, {DNNL_ARG_TO, x}}});
    }
    float scale = Uint8Scale(spec.stem_max);
    auto stem = Conv(plan, layout, x, input_scale, spec.stem, /*relu=*/true, Type::u8, scale);
    Release(plan, layout, x);
    x = stem;
    {
      const auto d = x.get_desc().dims();
      memory::desc pooled({count, d[1], (d[2] - 1) / 2 + 1, (d[3] - 1) / 2 + 1}, Act(Type::u8), Order());
      Pool(plan, layout, x, dnnl::algorithm::pooling_max, pooled, {2, 2}, {3, 3}, {1, 1});  // max keeps the scale
    }
    for (const auto& b : spec.blocks) {
      const float mid_scale = Uint8Scale(b.conv1_max), out_scale = Uint8Scale(b.out_max);
      auto y = Conv(plan, layout, x, scale, b.conv1, true, Type::u8, mid_scale);
      if (b.downsample) {
        const float shortcut_scale = Int8Scale(b.shortcut_absmax);
        auto shortcut = Conv(plan, layout, x, scale, b.shortcut, false, Type::s8, shortcut_scale);
        Release(plan, layout, x);
        x = Conv(plan, layout, y, mid_scale, b.conv2, true, Type::u8, out_scale, &shortcut, shortcut_scale, Type::s8);
      } else {
        // The block input is needed only for the sum: conv2 writes over it.
        x = Conv(plan, layout, y, mid_scale, b.conv2, true, Type::u8, out_scale, &x, scale);
      }
      Release(plan, layout, y);
      scale = out_scale;
    }
    // int8: dequantize. Then average over the map, and the float head.
    const auto d = x.get_desc().dims();
    if (int8) {
      memory features = Allocate(plan, layout, {d, Type::f32, Tag::nhwc});
      dnnl::primitive_attr dequantize;
      dequantize.set_output_scales(0, {scale});
      plan.steps.push_back(
          {dnnl::reorder(dnnl::reorder::primitive_desc(engine, x.get_desc(), engine, features.get_desc(), dequantize)),
           {{DNNL_ARG_FROM, x}, {DNNL_ARG_TO, features}}});
      Release(plan, layout, x);
      x = features;
    }
    Pool(plan, layout, x, dnnl::algorithm::pooling_avg_exclude_padding, {{count, d[1], 1, 1}, Type::f32, Tag::nchw},
         {1, 1}, {d[2], d[3]}, {0, 0});
    memory::desc src_desc({count, spec.features}, Type::f32, Tag::nc);
    memory::desc weights_desc({spec.classes, spec.features}, Type::f32, Tag::oi);
    memory::desc bias_desc({spec.classes}, Type::f32, Tag::x);
    memory::desc dst_desc({count, spec.classes}, Type::f32, Tag::nc);
    dnnl::inner_product_forward::primitive_desc head(
        dnnl::inner_product_forward::desc(dnnl::prop_kind::forward_inference, src_desc, weights_desc, bias_desc, dst_desc),
        engine);
    plan.logits = memory(dst_desc, engine, DNNL_MEMORY_NONE);
    // [count, features, 1, 1] in NCHW is [count, features] row-major: a view.
    plan.steps.push_back({dnnl::inner_product_forward(head),
                          {{DNNL_ARG_SRC, Alias(plan, src_desc, x)},
                           {DNNL_ARG_WEIGHTS, memory(weights_desc, engine, spec.fc_weight.data())},
                           {DNNL_ARG_BIAS, memory(bias_desc, engine, spec.fc_bias.data())},
                           {DNNL_ARG_DST, plan.logits}}});
    return plan;
  }

  // Binds `plan`'s tensors to the shared buffer, grown first if it is too small.
  void Bind(Plan& plan) {
    if (buffer_bytes < plan.bytes) {
      buffer.reset(static_cast<uint8_t*>(std::aligned_alloc(kAlignment, plan.bytes)));
      if (!buffer) throw std::bad_alloc();
      buffer_bytes = plan.bytes;
      ++buffer_generation;
    }
    if (plan.bound_to == buffer_generation) return;
    for (auto& [m, offset] : plan.bound) m.set_data_handle(buffer.get() + offset);
    plan.bound_to = buffer_generation;
  }

  Plan& PlanFor(int64_t count, int64_t height, int64_t width) {
    for (auto it = plans.begin(); it != plans.end(); ++it) {
      if (it->count == count && it->height == height && it->width == width) {
        plans.splice(plans.begin(), plans, it);
        return plans.front();
      }
    }
    plans.push_front(Build(count, height, width));
    if (plans.size() > kMaxPlans) plans.pop_back();
    return plans.front();
  }
};

bool OnednnResNet18::Available() { return true; }

void OnednnResNet18::Prime() {
  static std::once_flag once;
  std::call_once(once, [] {
    // A two-block network on one 16x16 image, in both precisions: every kind
    // of primitive and post-op the real one builds.
    auto conv = [](int64_t in, int64_t out, int64_t stride) {
      OnednnConv c;
      c.in_channels = in;
      c.out_channels = out;
      c.kernel = 3;
      c.stride = stride;
      c.padding = 1;
      c.weight.assign(static_cast<size_t>(out * in * 9), 0.01f);
      c.bias.assign(static_cast<size_t>(out), 0.f);
      return c;
    };
    OnednnResNet18Spec spec;
    spec.stem = conv(3, 8, 2);
    for (int64_t stride : {1, 2}) {
      OnednnBlock b;
      b.conv1 = conv(8, 8, stride);
      b.conv2 = conv(8, 8, 1);
      b.downsample = stride != 1;
      if (b.downsample) b.shortcut = conv(8, 8, stride);
      b.conv1_max = b.shortcut_absmax = b.out_max = 1.f;
      spec.blocks.push_back(b);
    }
    spec.features = 8;
    spec.classes = 2;
    spec.fc_weight.assign(16, 0.1f);
    spec.fc_bias.assign(2, 0.f);
    spec.input_absmax = spec.stem_max = 1.f;
    std::vector<float> image(16 * 16 * 3, 0.5f), logits(2);
    for (auto precision : {OnednnPrecision::kInt8, OnednnPrecision::kFloat32}) {
      OnednnResNet18(spec, precision).Forward(image.data(), 1, 16, 16, logits.data());
    }
  });
}

OnednnResNet18::OnednnResNet18(OnednnResNet18Spec spec, OnednnPrecision precision)
    : impl_(std::make_unique<Impl>(std::move(spec), precision == OnednnPrecision::kInt8)) {}

OnednnResNet18::~OnednnResNet18() = default;

int64_t OnednnResNet18::Classes() const { return impl_->spec.classes; }

void OnednnResNet18::Forward(const float* input, int64_t count, int64_t height, int64_t width, float* logits) {
  for (int64_t done = 0; done < count;) {
    const int64_t chunk = std::min(count - done, kLargestChunk);
    auto& plan = impl_->PlanFor(chunk, height, width);
    impl_->Bind(plan);
    plan.input.set_data_handle(const_cast<float*>(input + done * height * width * 3));
    plan.logits.set_data_handle(logits + done * impl_->spec.classes);
    for (auto& [primitive, args] : plan.steps) primitive.execute(impl_->stream, args);
    impl_->stream.wait();
    done += chunk;
  }
}

}  // namespace torchdog

#else  // no oneDNN headers

namespace torchdog {

struct OnednnResNet18::Impl {};

bool OnednnResNet18::Available() { return false; }

void OnednnResNet18::Prime() {}

OnednnResNet18::OnednnResNet18(OnednnResNet18Spec, OnednnPrecision) {
  throw std::runtime_error("this build of torchdog has no oneDNN (install libdnnl-dev and rebuild)");
}

OnednnResNet18::~OnednnResNet18() = default;

int64_t OnednnResNet18::Classes() const { return impl_->spec.classes; }

void OnednnResNet18::Forward(const float*, int64_t, int64_t, int64_t, float*) {}

}  // namespace torchdog

#endif
