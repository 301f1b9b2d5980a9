// Serving precisions: bf16 and int8 classify the parity fixture's images as
// torchvision's fp32 does, an int8 calibration survives the checkpoint, and
// every way of asking for a precision that cannot serve is refused.
//
// The class check holds by construction on any CPU: the fixture (computed
// by torchvision, not on this machine) puts every image's top class at least
// kMargin above the runner-up, so an error below kMargin / 2 per probability
// cannot change a class. The tolerances are far below that and far above
// what the kernels' rounding does (int8 measured 0.007 on oneDNN's primitives,
// 0.016 on LibTorch's quantized operators; bf16 0.005).
import { test, before, after } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  Classifier,
  CheckpointError,
  InvalidArgumentError,
  Model,
  PrecisionError,
  CALIBRATION_KEY,
  calibrate,
  checkpointMetadata,
  choosePrecision,
  compareInt8,
  parseCalibration,
  readCheckpoint,
  serializeCalibration,
  writeSafetensors,
  type Calibration,
  type CheckpointInfo,
  type ImageBatch,
  type Tensor,
} from '../src/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { kImageSize, parityImages, parityTensors } from './helpers/parity-weights.ts';

const fixture = JSON.parse(readFileSync(new URL('./fixtures/parity.json', import.meta.url), 'utf8')) as {
  numClasses: number;
  normalization: { mean: [number, number, number]; std: [number, number, number] };
  probabilities: number[][];
};

const kMargin = 0.5;
const kTolerance = { bf16: 1e-2, int8: 0.1 } as const;
const INFO: CheckpointInfo = {
  arch: 'resnet18',
  classes: ['a', 'b', 'c'],
  imageSize: kImageSize,
  mean: fixture.normalization.mean,
  std: fixture.normalization.std,
};
const SSE_ONLY = { int8Dot: false, avx2: false, bf16: false, flags: [] };
const AVX2 = { int8Dot: false, avx2: true, bf16: false, flags: ['avx2'] };
const VNNI = { int8Dot: true, avx2: true, bf16: false, flags: ['avx2', 'avx512_vnni'] };

let dir: string;
let model: Model;
let tensors: Tensor[];
let images: ImageBatch;
let calibration: Calibration;
let plain: string;
let calibrated: string;

const argmax = (row: readonly number[] | Float32Array) => row.indexOf(Math.max(...row));
const expectedClasses = () => fixture.probabilities.map(argmax);

function maxProbabilityDiff(actual: Float32Array): number {
  let worst = 0;
  fixture.probabilities.forEach((row, n) =>
    row.forEach((want, c) => {
      const d = Math.abs(actual[n * fixture.numClasses + c]! - want);
      worst = Number.isNaN(d) ? Infinity : Math.max(worst, d);
    }),
  );
  return worst;
}

async function writeCheckpoint(path: string, extra: Record<string, string> = {}): Promise<string> {
  await writeSafetensors(path, tensors, checkpointMetadata({ ...INFO, extra }));
  return path;
}

function split(batch: ImageBatch): Uint8Array[] {
  const n = batch.height * batch.width * 3;
  return Array.from({ length: batch.count }, (_, i) => batch.data.subarray(i * n, (i + 1) * n));
}

before(async () => {
  dir = await tempDir('torchdog-precision-');
  model = await Model.create({ numClasses: fixture.numClasses, device: 'cpu', seed: 0, threads: 2 });
  tensors = parityTensors(await model.getTensors());
  images = parityImages();
  await model.setTensors(tensors);
  await model.setTraining(false);
  calibration = await calibrate(model, [images], fixture.normalization);
  plain = await writeCheckpoint(join(dir, 'plain.safetensors'));
  calibrated = await writeCheckpoint(join(dir, 'calibrated.safetensors'), { [CALIBRATION_KEY]: serializeCalibration(calibration) });
});

after(async () => {
  await model?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('the fixture separates every image\'s class by the margin the tolerances rely on', () => {
  for (const [n, row] of fixture.probabilities.entries()) {
    const sorted = [...row].sort((a, b) => b - a);
    assert.ok(sorted[0]! - sorted[1]! >= kMargin, `image ${n}: top-1 margin ${sorted[0]! - sorted[1]!} < ${kMargin}`);
  }
  for (const tolerance of Object.values(kTolerance)) assert.ok(tolerance < kMargin / 2);
});

test('calibration records a finite range for every quantize point', () => {
  assert.equal(calibration.images, images.count);
  assert.ok(calibration.ranges.length >= 20, `${calibration.ranges.length} points`);
  assert.equal(calibration.ranges[0]!.name, 'input');
  for (const r of calibration.ranges) assert.ok(Number.isFinite(r.min) && Number.isFinite(r.max) && r.min <= r.max, JSON.stringify(r));
  // After a ReLU nothing is negative; the input spans normalised pixels.
  assert.equal(calibration.ranges.find((r) => r.name === 'conv1')!.min, 0);
  assert.ok(calibration.ranges[0]!.min < 0 && calibration.ranges[0]!.max > 0);
});

for (const precision of ['bf16', 'int8'] as const) {
  test(`${precision} classifies the parity images as torchvision's fp32, probabilities within ${kTolerance[precision]}`, async (t) => {
    await model.setPrecision(precision, precision === 'int8' ? calibration.ranges : []);
    try {
      const out = await model.forward(images, fixture.normalization);
      const diff = maxProbabilityDiff(out.probabilities);
      t.diagnostic(`${precision}: max |probability - torchvision fp32| ${diff.toExponential(2)}`);
      const classes = Array.from({ length: out.count }, (_, n) => argmax(out.probabilities.subarray(n * out.classes, (n + 1) * out.classes)));
      assert.deepEqual(classes, expectedClasses());
      assert.ok(diff <= kTolerance[precision], `${precision} probabilities differ by ${diff}`);
    } finally {
      await model.setPrecision('fp32');
    }
  });
}

test('int8 on LibTorch\'s quantized operators (TORCHDOG_ONEDNN=0, the path of builds without oneDNN\'s headers) classifies the same way', async (t) => {
  const saved = process.env.TORCHDOG_ONEDNN;
  process.env.TORCHDOG_ONEDNN = '0';
  try {
    await model.setPrecision('int8', calibration.ranges);
    const out = await model.forward(images, fixture.normalization);
    const diff = maxProbabilityDiff(out.probabilities);
    t.diagnostic(`int8 (LibTorch quantized operators): max |probability - torchvision fp32| ${diff.toExponential(2)}`);
    const classes = Array.from({ length: out.count }, (_, n) => argmax(out.probabilities.subarray(n * out.classes, (n + 1) * out.classes)));
    assert.deepEqual(classes, expectedClasses());
    assert.ok(diff <= kTolerance.int8, `int8 probabilities differ by ${diff}`);
  } finally {
    if (saved === undefined) delete process.env.TORCHDOG_ONEDNN;
    else process.env.TORCHDOG_ONEDNN = saved;
    await model.setPrecision('fp32');
  }
});

test('int8 gives each image the same output in a batch as alone (batches past 64 run in chunks: 66 = 64 + 2)', async () => {
  const pixels = split(images);
  const one = images.height * images.width * 3;
  await model.setPrecision('int8', calibration.ranges);
  try {
    const alone = [];
    for (const p of pixels) alone.push((await model.forward({ data: p, count: 1, height: images.height, width: images.width }, fixture.normalization)).probabilities);
    for (const count of [7, 66]) {
      const order = Array.from({ length: count }, (_, i) => (i * 3) % pixels.length);
      const data = new Uint8Array(count * one);
      order.forEach((n, i) => data.set(pixels[n]!, i * one));
      const batch = await model.forward({ data, count, height: images.height, width: images.width }, fixture.normalization);
      for (const [i, n] of order.entries()) {
        const inBatch = batch.probabilities.subarray(i * batch.classes, (i + 1) * batch.classes);
        // Integer accumulation is exact whatever the batch; only the float head's sums may round differently.
        for (let c = 0; c < batch.classes; c++) assert.ok(Math.abs(inBatch[c]! - alone[n]![c]!) < 1e-4, `batch ${count}: image ${i} (fixture ${n}) class ${c}`);
      }
    }
  } finally {
    await model.setPrecision('fp32');
  }
});

test('the int8 check sees a bad calibration: ranges 50x too narrow move the probabilities past the tolerance', async (t) => {
  const narrow = calibration.ranges.map((r) => ({ ...r, min: r.min / 50, max: r.max / 50 }));
  await model.setPrecision('int8', narrow);
  try {
    const diff = maxProbabilityDiff((await model.forward(images, fixture.normalization)).probabilities);
    t.diagnostic(`narrow ranges: max |probability diff| ${diff.toExponential(2)}`);
    assert.ok(diff > kTolerance.int8, `clipped activations should move the output (diff ${diff})`);
  } finally {
    await model.setPrecision('fp32');
  }
});

test('compareInt8 counts agreement and accuracy, and leaves the model in fp32', async () => {
  const labels = Int32Array.from(expectedClasses());
  const count = await compareInt8(model, calibration, [{ images, labels }], fixture.normalization);
  assert.deepEqual(count, { images: 4, agree: 4, fp32Correct: 4, int8Correct: 4 });
  const wrong = Int32Array.from(labels, (c) => (c + 1) % fixture.numClasses);
  assert.equal((await compareInt8(model, calibration, [{ images, labels: wrong }], fixture.normalization)).fp32Correct, 0);
  const fp = await model.forward(images, fixture.normalization);
  assert.ok(maxProbabilityDiff(fp.probabilities) <= 1e-4, 'fp32 again after the comparison');
});

test('the calibration round-trips through the checkpoint, and int8 serves from it', async () => {
  const { info } = await readCheckpoint(calibrated);
  assert.deepEqual(parseCalibration(info.extra![CALIBRATION_KEY]!, calibrated), calibration);
  const withCheck = { ...calibration, check: { images: 10, agreement: 0.995, fp32Accuracy: 0.9, int8Accuracy: 0.8 } };
  assert.deepEqual(parseCalibration(serializeCalibration(withCheck), 'x'), withCheck);
  const classifier = await Classifier.load(calibrated, { precision: 'int8', device: 'cpu', threads: 2 });
  try {
    assert.equal(classifier.precision, 'int8');
    const predictions = await classifier.predictPixels(split(images));
    assert.deepEqual(predictions.map((p) => INFO.classes.indexOf(p.category)), expectedClasses());
  } finally {
    await classifier.dispose();
  }
});

test('int8 on a checkpoint without calibration is refused, naming torchdog quantize', async () => {
  await assert.rejects(Classifier.load(plain, { precision: 'int8', device: 'cpu' }), (e: Error) => {
    assert.ok(e instanceof PrecisionError, String(e));
    assert.match(e.message, /has no int8 calibration: run `torchdog quantize --model .*plain\.safetensors --data DIR`/);
    return true;
  });
});

test('int8 on CUDA is refused; auto picks bf16 there', () => {
  assert.throws(() => choosePrecision('int8', { device: 'cuda:0', calibration, source: 'm' }), (e: Error) => e instanceof PrecisionError && /int8 runs on the CPU only.*cuda:0/.test(e.message));
  assert.deepEqual(choosePrecision('auto', { device: 'cuda:0', calibration, source: 'm' }).precision, 'bf16');
});

test('an unknown precision is refused naming the option and the choices', async () => {
  await assert.rejects(Classifier.load(plain, { precision: 'int4' as 'int8' }), (e: Error) => e instanceof InvalidArgumentError && /'fp32', 'bf16', 'int8', 'auto' for options\.precision/.test(e.message));
  assert.throws(() => model.setPrecision('fp16' as 'fp32'), InvalidArgumentError);
  assert.throws(() => model.setPrecision('int8'), (e: Error) => e instanceof InvalidArgumentError && /ranges/.test(e.message));
});

test('corrupt calibration metadata is refused with the reason', async () => {
  const cases: [string, RegExp][] = [
    ['{not json', /is unusable: not JSON/],
    ['[]', /not a JSON object/],
    [JSON.stringify({ observer: 'histogram', images: 4, ranges: { input: [0, 1] } }), /observer is "histogram"/],
    [JSON.stringify({ observer: 'minmax', images: 0, ranges: { input: [0, 1] } }), /images must be an integer >= 1/],
    [JSON.stringify({ observer: 'minmax', images: 4, ranges: { input: [2, 1] } }), /range of 'input' must be \[min, max\]/],
    [JSON.stringify({ observer: 'minmax', images: 4, ranges: { input: [0, 'x'] } }), /range of 'input'/],
    [JSON.stringify({ ...JSON.parse(serializeCalibration(calibration)), check: { images: 3, agreement: 2 } }), /check\.agreement must be a number between 0 and 1/],
  ];
  for (const [i, [text, reason]] of cases.entries()) {
    const path = await writeCheckpoint(join(dir, `corrupt-${i}.safetensors`), { [CALIBRATION_KEY]: text });
    await assert.rejects(Classifier.load(path, { precision: 'int8', device: 'cpu' }), (e: Error) => {
      assert.ok(e instanceof CheckpointError, String(e));
      assert.match(e.message, reason);
      assert.ok(e.message.includes(path), e.message);
      return true;
    });
  }
  // Well-formed JSON without every activation: the engine names the first missing one.
  const partial = { ...calibration, ranges: calibration.ranges.filter((r) => r.name !== 'layer3.1.out') };
  const path = await writeCheckpoint(join(dir, 'partial.safetensors'), { [CALIBRATION_KEY]: serializeCalibration(partial) });
  await assert.rejects(Classifier.load(path, { precision: 'int8', device: 'cpu' }), (e: Error) => e instanceof CheckpointError && /no range for activation 'layer3\.1\.out'/.test(e.message));
  // fp32 does not read the calibration at all.
  const fp32 = await Classifier.load(join(dir, 'corrupt-0.safetensors'), { precision: 'fp32', device: 'cpu' });
  await fp32.dispose();
});

test('auto: int8 only with a measured agreement >= 99% on a CPU with oneDNN int8 kernels (VNNI/AMX or AVX2), else fp32, saying why', () => {
  const checked = (agreement: number): Calibration => ({ ...calibration, check: { images: 200, agreement } });
  const choose = (c: Calibration | undefined, cpu = VNNI) => choosePrecision('auto', { device: 'cpu', calibration: c, source: 'm', cpu });
  assert.equal(choose(checked(0.995)).precision, 'int8');
  assert.match(choose(checked(0.995)).reason, /99\.5% agreement with fp32 and this CPU has avx512_vnni$/);
  assert.deepEqual(choose(checked(0.985)), { precision: 'fp32', reason: 'auto: fp32, int8 agreed with fp32 on only 98.5% of 200 images' });
  assert.match(choose(checked(0.995), AVX2).reason, /int8, .*avx2 \(no VNNI\)/);
  assert.match(choose(checked(0.995), SSE_ONLY).reason, /fp32, this CPU has neither AVX2 nor VNNI\/AMX/);
  assert.match(choose(calibration).reason, /fp32, the calibration has no measured agreement/);
  assert.match(choose(undefined).reason, /fp32, the checkpoint has no int8 calibration/);
  assert.deepEqual(choosePrecision('bf16', { device: 'cpu', calibration: undefined, source: 'm' }), { precision: 'bf16', reason: 'asked for' });
});
