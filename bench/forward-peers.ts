// Forward-pass throughput of torchdog at each serving precision against
// onnxruntime-node, on the same weights (the ONNX model src/export writes
// from the same checkpoint), the same threads and the same uint8 NHWC input.
//
//   node --import tsx bench/forward-peers.ts [--threads 2] [--batches 1,8,32]
//        [--precisions fp32,int8] (bf16 too: fast only on CPUs with AVX512-BF16/AMX;
//        fp32-torch, int8-torch: the LibTorch paths of builds without oneDNN's
//        headers, TorchScript and quantized operators) [--seconds 6] [--rounds 5] [--size 128]
//
// int8 is calibrated on 64 images of the same kind as the timed ones. Per
// batch size: one warm-up batch per side, then --rounds rounds in which every
// side runs batches for seconds/rounds (at least one), the order rotating
// round by round; medians over rounds, and each side's ratio to
// onnxruntime's median of the same run. Progress on stderr; the table and
// one JSON line on stdout.
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { median, table, integer, positive, load1 } from './lib/stats.ts';

process.env.OPENBLAS_NUM_THREADS = '1';
const { Model, calibrate, onnxModel } = await import('../src/index.ts');

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    batches: { type: 'string', default: '1,8,32' },
    precisions: { type: 'string', default: 'fp32,int8' },
    seconds: { type: 'string', default: '6' },
    rounds: { type: 'string', default: '5' },
    size: { type: 'string', default: '128' },
  },
});
const threads = integer('threads', values.threads!, 1);
const batches = values.batches!.split(',').map((s) => integer('batches', s, 1));
const precisions = values.precisions!.split(',').map((p) => {
  if (p !== 'fp32' && p !== 'int8' && p !== 'bf16' && p !== 'fp32-torch' && p !== 'int8-torch') {
    throw new RangeError(`--precisions: expected fp32, int8, bf16, fp32-torch or int8-torch but received '${p}'`);
  }
  return p;
});
const seconds = positive('seconds', values.seconds!);
const rounds = integer('rounds', values.rounds!, 1);
const size = integer('size', values.size!, 16);
const normalization = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] } as const;
const CLASSES = 10;

/** Smooth pseudo-photos (gradients plus xorshift noise): calibration and timing see image-like statistics. */
function pixels(count: number, seed: number): Uint8Array {
  const data = new Uint8Array(count * size * size * 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const p = Math.floor(i / 3) % (size * size);
    data[i] = (((p % size) + Math.floor(p / size) * (1 + (i % 3))) % 200) + (x & 0x37);
  }
  return data;
}

interface Side {
  name: string;
  run(batch: number): Promise<void>;
  close(): Promise<void>;
}

const inputs = new Map(batches.map((b) => [b, { data: pixels(b, 1234 + b), count: b, height: size, width: size }]));

const reference = await Model.create({ numClasses: CLASSES, device: 'cpu', seed: 0, threads });
const tensors = await reference.getTensors();
await reference.setTraining(false);
const calibration = await calibrate(reference, [{ data: pixels(64, 99), count: 64, height: size, width: size }], normalization);
await reference.dispose();

async function torchdogSide(side: (typeof precisions)[number]): Promise<Side> {
  const model = await Model.create({ numClasses: CLASSES, device: 'cpu', seed: 0, threads });
  await model.setTensors(tensors);
  await model.setTraining(false);
  const precision = side === 'int8-torch' ? 'int8' : side === 'fp32-torch' ? 'fp32' : side;
  await model.setPrecision(precision, precision === 'int8' ? calibration.ranges : []);
  // The kernels are chosen when the graph is built, at the first forward.
  if (side.endsWith('-torch')) process.env.TORCHDOG_ONEDNN = '0';
  await model.forward(inputs.get(batches[0]!)!, normalization);
  delete process.env.TORCHDOG_ONEDNN;
  return {
    name: `torchdog ${side}`,
    run: async (batch) => void (await model.forward(inputs.get(batch)!, normalization)),
    close: () => model.dispose(),
  };
}

async function onnxSide(): Promise<Side> {
  const info = { arch: 'resnet18' as const, classes: Array.from({ length: CLASSES }, (_, i) => `c${i}`), imageSize: size, mean: [...normalization.mean] as [number, number, number], std: [...normalization.std] as [number, number, number] };
  const bytes = onnxModel({ info, tensors }).toBytes();
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  });
  const feeds = new Map([...inputs].map(([b, img]) => [b, { [session.inputNames[0]!]: new ort.Tensor('uint8', img.data, [b, size, size, 3]) }]));
  return {
    name: `onnxruntime-node ${ort.env.versions?.common ?? ''}`.trim(),
    run: async (batch) => void (await session.run(feeds.get(batch)!)),
    close: () => session.release(),
  };
}

const sides: Side[] = [await onnxSide()];
for (const precision of precisions) sides.push(await torchdogSide(precision));
console.error(`forward-peers: resnet18 ${size}px, ${threads} threads, batches ${batches.join(',')}, ${seconds}s per batch and side in ${rounds} rounds; load ${load1()}`);

const result: Record<string, Record<string, number>> = Object.fromEntries(sides.map((s) => [s.name, {}]));
for (const batch of batches) {
  for (const side of sides) await side.run(batch);
  const samples = new Map<Side, number[]>(sides.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) {
    const order = sides.map((_, i) => sides[(i + r) % sides.length]!);
    for (const side of order) {
      const start = performance.now();
      let iters = 0;
      do {
        await side.run(batch);
        iters++;
      } while (performance.now() - start < (seconds / rounds) * 1000);
      samples.get(side)!.push((iters * batch) / ((performance.now() - start) / 1000));
    }
  }
  for (const side of sides) {
    result[side.name]![batch] = median(samples.get(side)!);
    console.error(`  batch ${batch} ${side.name}: ${result[side.name]![batch]!.toFixed(1)} img/s (rounds ${samples.get(side)!.map((x) => x.toFixed(0)).join(' ')})`);
  }
}
for (const side of sides) await side.close();

const base = sides[0]!.name;
const header = ['batch', ...sides.map((s) => `${s.name} img/s`), ...sides.slice(1).map((s) => `${s.name.replace('torchdog ', '')}/ort`)];
const rows = batches.map((b) => [
  b,
  ...sides.map((s) => result[s.name]![b]!.toFixed(1)),
  ...sides.slice(1).map((s) => (result[s.name]![b]! / result[base]![b]!).toFixed(2)),
]);
console.log(`\nresnet18 forward ${size}px, ${threads} threads, median of ${rounds} rounds; ratio > 1: torchdog faster than ${base}; load ${load1()}`);
console.log(table(header, rows));
console.log(JSON.stringify({ bench: 'forward-peers', size, threads, rounds, seconds, unit: 'img/s', results: result }));
