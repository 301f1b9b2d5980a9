// Forward throughput of ResNet18 in GFLOP/s, against the CPU's FP32 peak and
// against the best oneDNN convolution this LibTorch runs (bench/flops.md
// explains the arithmetic).
//
//   node --import tsx bench/flops.ts [--size 128] [--batch 32] [--threads 2]
//        [--seconds 4] [--repeats 3] [--bench build-bench/torchdog_bench] [--layers]
//
// 1. Counts the multiply-adds of every convolution and the linear layer at
//    --size (x2 = FLOP), and those that fall on zero padding.
// 2. Runs torchdog_bench (native/bench_main.cc, no Node) --repeats times:
//    eval forward at --batch through the frozen, optimised graph; one 3x3
//    256->256 convolution on 32x256x32x32 through three LibTorch paths
//    (--conv); an FMA loop and the clock from a dependent add chain (--peak).
//    Medians of the repeats are reported (best in brackets).
// 3. Reads the CPU from /proc/cpuinfo and states the peak assumed.
// Build torchdog_bench first:
//   cmake -S . -B build-bench -G Ninja -DTORCHDOG_BUILD_BENCH=ON && ninja -C build-bench torchdog_bench
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT } from './lib/services.ts';
import { integer, load1, median, positive, table } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    size: { type: 'string', default: '128' },
    batch: { type: 'string', default: '32' },
    threads: { type: 'string', default: '2' },
    seconds: { type: 'string', default: '4' },
    repeats: { type: 'string', default: '3' },
    bench: { type: 'string', default: join(ROOT, 'build-bench', 'torchdog_bench') },
    layers: { type: 'boolean', default: false },
  },
});
const size = integer('size', values.size!, 32);
const batch = integer('batch', values.batch!, 1);
const threads = integer('threads', values.threads!, 1);
const seconds = positive('seconds', values.seconds!);
const repeats = integer('repeats', values.repeats!, 1);
const log = (line: string) => process.stderr.write(`flops: ${line}\n`);

// ---- 1. counting ------------------------------------------------------------

interface Layer { name: string; cin: number; cout: number; k: number; stride: number; pad: number; hin: number; hout: number; macs: number; usefulMacs: number }

/** Kernel taps (along one axis) that land inside the input, summed over output positions. */
function tapsInside(n: number, k: number, stride: number, pad: number): number {
  const out = Math.floor((n + 2 * pad - k) / stride) + 1;
  let taps = 0;
  for (let o = 0; o < out; o++) {
    for (let t = 0; t < k; t++) {
      const i = o * stride - pad + t;
      if (i >= 0 && i < n) taps++;
    }
  }
  return taps;
}

function conv(name: string, cin: number, cout: number, k: number, stride: number, pad: number, hin: number): Layer {
  const hout = Math.floor((hin + 2 * pad - k) / stride) + 1;
  const macs = cout * hout * hout * cin * k * k;
  const inside = tapsInside(hin, k, stride, pad);
  return { name, cin, cout, k, stride, pad, hin, hout, macs, usefulMacs: cout * cin * inside * inside };
}

/** torchvision's resnet18 at size x size, `classes` outputs. */
function resnet18(size: number, classes = 2): Layer[] {
  const layers: Layer[] = [];
  let h = size;
  const c1 = conv('conv1', 3, 64, 7, 2, 3, h);
  layers.push(c1);
  h = Math.floor((c1.hout + 2 - 3) / 2) + 1; // max pool 3x3 stride 2 pad 1
  let cin = 64;
  for (const [i, planes] of [64, 128, 256, 512].entries()) {
    for (let b = 0; b < 2; b++) {
      const stride = i > 0 && b === 0 ? 2 : 1;
      const a = conv(`layer${i + 1}.${b}.conv1`, cin, planes, 3, stride, 1, h);
      layers.push(a, conv(`layer${i + 1}.${b}.conv2`, planes, planes, 3, 1, 1, a.hout));
      if (stride !== 1 || cin !== planes) layers.push(conv(`layer${i + 1}.${b}.downsample.0`, cin, planes, 1, stride, 0, h));
      h = a.hout;
      cin = planes;
    }
  }
  layers.push({ name: 'fc', cin: 512, cout: classes, k: 1, stride: 1, pad: 0, hin: 1, hout: 1, macs: 512 * classes, usefulMacs: 512 * classes });
  return layers;
}

const layers = resnet18(size);
const macs = layers.reduce((a, l) => a + l.macs, 0);
const usefulMacs = layers.reduce((a, l) => a + l.usefulMacs, 0);
const gflopPerImage = (2 * macs) / 1e9;
if (values.layers) {
  process.stdout.write(table(['layer', 'in', 'out', 'k', 's', 'HxW in', 'HxW out', 'MMAC', 'MMAC off padding'],
    layers.map((l) => [l.name, l.cin, l.cout, l.k, l.stride, `${l.hin}`, `${l.hout}`, (l.macs / 1e6).toFixed(2), (l.usefulMacs / 1e6).toFixed(2)])) + '\n');
}

// ---- 2. measuring ------------------------------------------------------------

interface BenchOutput {
  threads: number;
  infer: Record<string, { img_per_s: number }>;
  conv: { gflop_per_call: number; results: { path: string; threads: number; gflops_median: number; gflops_best: number }[]; best: { path: string; gflops: number } };
  peak: { clock_ghz: number; avx512: { gflops_1_thread: number; flop_per_cycle: number; gflops: number } | null; avx2: { gflops_1_thread: number; flop_per_cycle: number; gflops: number } | null };
}

const runs: BenchOutput[] = [];
if (!existsSync(values.bench!)) {
  log(`${values.bench} is not built; build it with:\n  cmake -S . -B build-bench -G Ninja -DTORCHDOG_BUILD_BENCH=ON && ninja -C build-bench torchdog_bench`);
} else {
  for (let i = 0; i < repeats; i++) {
    log(`torchdog_bench run ${i + 1}/${repeats} (load ${load1()}) ...`);
    const run = spawnSync(values.bench!, ['--device', 'cpu', '--size', String(size), '--no-train', '--infer-batches', String(batch), '--threads', String(threads), '--seconds', String(seconds), '--conv', '--peak'], {
      encoding: 'utf8', env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
    });
    if (run.status !== 0) throw new Error(`torchdog_bench failed (${run.status}): ${run.stderr}`);
    for (const line of run.stderr.trim().split('\n')) log(`  ${line}`);
    runs.push(JSON.parse(run.stdout.trim().split('\n').pop()!) as BenchOutput);
  }
}

// ---- 3. the machine -------------------------------------------------------------

const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8');
const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, 'm').exec(cpuinfo)?.[1]?.trim() ?? '';
const flags = new Set(field('flags').split(/\s+/));
const cores = (cpuinfo.match(/^processor\s*:/gm) ?? []).length;
const vendor = field('vendor_id');
const family = Number(field('cpu family'));
const model = Number(field('model'));
const nominalGhz = Number(field('cpu MHz')) / 1000;
// FP32 FLOP per cycle per core from the vector units. Zen 4 (family 25,
// models 0x10-0x1f, 0x60-0x7f, 0xa0-0xaf) has two 256-bit FMA pipes and runs
// AVX-512 as two halves: 2 x 8 lanes x 2 = 32. Cores with two 512-bit FMA
// units (many Xeons) do 64; AVX2 cores with two FMA pipes 32.
const zen4 = vendor === 'AuthenticAMD' && family === 25 && ((model >= 0x10 && model <= 0x1f) || (model >= 0x60 && model <= 0x7f) || (model >= 0xa0 && model <= 0xaf));
const assumedPerCycle = zen4 ? 32 : flags.has('avx512f') ? 64 : flags.has('fma') ? 32 : 8;
const assumption = zen4
  ? 'Zen 4: 2 FMA pipes x 256 bit (AVX-512 double-pumped) = 16 FP32 FMA = 32 FLOP/cycle/core'
  : flags.has('avx512f')
    ? 'AVX-512 with 2 x 512-bit FMA units assumed = 64 FLOP/cycle/core (1 unit: 32)'
    : 'AVX2: 2 x 256-bit FMA assumed = 32 FLOP/cycle/core';

const med = (pick: (r: BenchOutput) => number) => (runs.length ? median(runs.map(pick)) : NaN);
const best = (pick: (r: BenchOutput) => number) => (runs.length ? Math.max(...runs.map(pick)) : NaN);
const imgPerS = med((r) => r.infer[`${batch}_graph`]!.img_per_s);
const imgPerSBest = best((r) => r.infer[`${batch}_graph`]!.img_per_s);
const forwardGflops = imgPerS * gflopPerImage;
const clock = med((r) => r.peak.clock_ghz);
const fmaPeak = med((r) => Math.max(r.peak.avx512?.gflops ?? 0, r.peak.avx2?.gflops ?? 0));
const fmaPerCycle = med((r) => Math.max(r.peak.avx512?.flop_per_cycle ?? 0, r.peak.avx2?.flop_per_cycle ?? 0));
const convPaths = runs.length ? runs[0]!.conv.results.map((c) => `${c.path}/${c.threads}`) : [];
const convMedian = (key: string) => med((r) => r.conv.results.find((c) => `${c.path}/${c.threads}` === key)?.gflops_best ?? NaN);
const convBest = med((r) => r.conv.best.gflops);
const peakNominal = cores * nominalGhz * assumedPerCycle;
const peakMeasuredClock = cores * clock * assumedPerCycle;

const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : '-');
const pct = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? `${((100 * a) / b).toFixed(0)}%` : '-');
process.stdout.write(`ResNet18 at ${size}x${size}: ${(macs / 1e6).toFixed(1)} M multiply-adds = ${gflopPerImage.toFixed(3)} GFLOP per image ` +
  `(${((usefulMacs / macs) * 100).toFixed(1)}% of them off the zero padding: ${((2 * usefulMacs) / 1e9).toFixed(3)} GFLOP)\n`);
process.stdout.write(`CPU: ${field('model name')} (${vendor} family ${family} model ${model}), ${cores} vCPUs, ${[...flags].filter((f) => /^(fma|avx2|avx512f|avx512_bf16|avx512_vnni)$/.test(f)).join(' ')}, ` +
  `nominal (TSC) ${nominalGhz.toFixed(2)} GHz, measured ${f1(clock)} GHz\n`);
process.stdout.write(`peak assumed: ${assumption}; measured FMA loop ${f1(fmaPerCycle)} FLOP/cycle/core\n\n`);
process.stdout.write(table(['what', 'GFLOP/s', 'of peak @ measured clock', 'of peak @ nominal clock'], [
  [`FP32 peak, ${cores} cores x ${assumedPerCycle} FLOP/cycle @ ${f1(clock)} GHz`, f1(peakMeasuredClock), '100%', pct(peakMeasuredClock, peakNominal)],
  [`FP32 peak @ nominal ${nominalGhz.toFixed(2)} GHz`, f1(peakNominal), pct(peakNominal, peakMeasuredClock), '100%'],
  [`FMA loop, ${threads} threads (measured peak)`, f1(fmaPeak), pct(fmaPeak, peakMeasuredClock), pct(fmaPeak, peakNominal)],
  ...convPaths.map((key) => [`conv 3x3 256ch 32x32, batch 32, ${key.replace('/', ', ')} thr (best call)`, f1(convMedian(key)), pct(convMedian(key), peakMeasuredClock), pct(convMedian(key), peakNominal)]),
  [`ResNet18 forward, batch ${batch}, ${threads} thr: ${f1(imgPerS)} img/s [best ${f1(imgPerSBest)}]`, f1(forwardGflops), pct(forwardGflops, peakMeasuredClock), pct(forwardGflops, peakNominal)],
]));
process.stdout.write(`\nforward / best convolution: ${pct(forwardGflops, convBest)}; forward / FMA-loop peak: ${pct(forwardGflops, fmaPeak)}; ` +
  `counting only multiply-adds off the padding: ${f1(imgPerS * (2 * usefulMacs) / 1e9)} GFLOP/s (${pct(imgPerS * (2 * usefulMacs) / 1e9, fmaPeak)} of the FMA-loop peak)\n`);
process.stdout.write(JSON.stringify({
  bench: 'flops', size, batch, threads, repeats, seconds,
  macs_per_image: macs, gflop_per_image: +gflopPerImage.toFixed(4), useful_gflop_per_image: +((2 * usefulMacs) / 1e9).toFixed(4),
  cpu: { model: field('model name'), vendor, family, model_number: model, vcpus: cores, nominal_ghz: nominalGhz, measured_ghz: +clock.toFixed(3), flags: [...flags].filter((f) => /^(fma|avx2|avx512f|avx512_bf16|avx512_vnni)$/.test(f)) },
  peak_assumption: assumption, assumed_flop_per_cycle: assumedPerCycle,
  peak_gflops: { at_measured_clock: +peakMeasuredClock.toFixed(1), at_nominal_clock: +peakNominal.toFixed(1), fma_loop: +fmaPeak.toFixed(1), fma_loop_flop_per_cycle: +fmaPerCycle.toFixed(2) },
  conv_gflops: Object.fromEntries(convPaths.map((k) => [k, +convMedian(k).toFixed(1)])), conv_best_gflops: +convBest.toFixed(1),
  forward: { img_per_s: +imgPerS.toFixed(1), img_per_s_best: +imgPerSBest.toFixed(1), gflops: +forwardGflops.toFixed(1) },
  runs: runs.length,
}) + '\n');
