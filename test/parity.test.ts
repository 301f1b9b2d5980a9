// The native ResNet18 computes torchvision's function: same closed-form weights
// and images on both sides, outputs compared with the fixture that
// scripts/make-parity-fixture.py wrote from an eval-mode torchvision forward.
import { test, before, after } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Model, type ForwardResult, type ImageBatch, type Tensor } from '../src/index.ts';
import { kFormulaVersion, kImageCount, kImageSize, parityImages, parityTensors, sortedNames } from './helpers/parity-weights.ts';

interface ParityFixture {
  formula: { version: number };
  images: { count: number; height: number; width: number; sha256: string };
  numClasses: number;
  normalization: { mean: number[]; std: number[] };
  logits: number[][];
  probabilities: number[][];
  tensors: { name: string; dtype: string; shape: number[]; samples: Record<string, number>; sha256: string }[];
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/parity.json', import.meta.url), 'utf8'),
) as ParityFixture;

const kTolerance = 1e-4;
// One weight of the first residual block (whose weights lie within ±0.11), far
// from the output: the check shows the comparison sees a change that has to
// pass through the whole network. It moves logits ~280x and probabilities ~28x
// past the tolerance (the test's diagnostics print both).
const kPerturbed = { name: 'layer1.0.conv1.weight', index: 0, delta: 0.5 };

let model: Model;
let tensors: Tensor[];
let images: ImageBatch;

before(async () => {
  model = await Model.create({ numClasses: fixture.numClasses, device: 'cpu', seed: 0, threads: 1 });
  tensors = parityTensors(await model.getTensors());
  images = parityImages();
  await model.setTensors(tensors);
  await model.setTraining(false);
});

after(async () => {
  await model?.dispose();
});

function forward(): Promise<ForwardResult> {
  return model.forward(images, fixture.normalization);
}

/** Largest |actual - expected| over every image and class, and where it is. */
function maxAbsDiff(actual: Float32Array, expected: number[][]): { diff: number; at: string } {
  const classes = fixture.numClasses;
  assert.equal(actual.length, expected.length * classes, 'output length');
  let worst = { diff: -1, at: '' };
  expected.forEach((row, n) =>
    row.forEach((want, c) => {
      const diff = Math.abs(actual[n * classes + c]! - want);
      // NaN must not pass as "no larger than the worst so far".
      if (!(diff <= worst.diff)) worst = { diff: Number.isNaN(diff) ? Infinity : diff, at: `image ${n}, class ${c}` };
    }),
  );
  return worst;
}

test('the fixture was made with the same formula version as the helper', () => {
  assert.equal(fixture.formula.version, kFormulaVersion);
  assert.deepEqual(
    [fixture.images.count, fixture.images.height, fixture.images.width],
    [kImageCount, kImageSize, kImageSize],
  );
});

test('the native model has exactly torchvision resnet18(num_classes=3) tensors', () => {
  const got = tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  const want = fixture.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape }));
  assert.deepEqual(sortedNames(got.map((t) => t.name)), got.map((t) => t.name), 'helper returns sorted names');
  assert.deepEqual(got, want);
});

test('the TypeScript formula reproduces the Python weights bit for bit', () => {
  for (const [i, t] of tensors.entries()) {
    const want = fixture.tensors[i]!;
    const values =
      t.dtype === 'I64'
        ? new BigInt64Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 8)
        : new Float32Array(t.data.buffer, t.data.byteOffset, t.data.byteLength / 4);
    for (const [index, value] of Object.entries(want.samples)) {
      const got = values[Number(index)]!;
      assert.equal(typeof got === 'bigint' ? Number(got) : got, value, `${t.name}[${index}]`);
    }
    assert.equal(createHash('sha256').update(t.data).digest('hex'), want.sha256, `${t.name} bytes`);
  }
});

test('the TypeScript images are the Python images', () => {
  assert.equal(createHash('sha256').update(images.data).digest('hex'), fixture.images.sha256);
});

// Eval mode serves from the network on oneDNN primitives where the build has
// it, and from LibTorch's frozen TorchScript graph with TORCHDOG_ONEDNN=0
// (and in builds without oneDNN's headers): both must be torchvision's function.
for (const onednn of ['default', '0'] as const) {
  test(`eval-mode forward matches torchvision within 1e-4 for every image and class (TORCHDOG_ONEDNN ${onednn})`, async (t) => {
    const saved = process.env.TORCHDOG_ONEDNN;
    if (onednn === '0') process.env.TORCHDOG_ONEDNN = '0';
    try {
      await model.setTensors(tensors);  // the graph is built again, at the next forward
      const out = await forward();
      assert.equal(out.count, kImageCount);
      assert.equal(out.classes, fixture.numClasses);
      const logits = maxAbsDiff(out.logits, fixture.logits);
      const probabilities = maxAbsDiff(out.probabilities, fixture.probabilities);
      t.diagnostic(`max |logit diff| ${logits.diff.toExponential(2)} (${logits.at})`);
      t.diagnostic(`max |probability diff| ${probabilities.diff.toExponential(2)} (${probabilities.at})`);
      assert.ok(logits.diff <= kTolerance, `logits differ by ${logits.diff} at ${logits.at}`);
      assert.ok(probabilities.diff <= kTolerance, `probabilities differ by ${probabilities.diff} at ${probabilities.at}`);
    } finally {
      if (saved === undefined) delete process.env.TORCHDOG_ONEDNN;
      else process.env.TORCHDOG_ONEDNN = saved;
      await model.setTensors(tensors);
    }
  });
}

test('the comparison fails when one weight is perturbed', async (t) => {
  const perturbed = tensors.map((tensor) => {
    if (tensor.name !== kPerturbed.name) return tensor;
    const values = new Float32Array(tensor.data.slice().buffer);
    values[kPerturbed.index]! += kPerturbed.delta;
    return { ...tensor, data: new Uint8Array(values.buffer) };
  });
  await model.setTensors(perturbed);
  try {
    const out = await forward();
    const logits = maxAbsDiff(out.logits, fixture.logits);
    const probabilities = maxAbsDiff(out.probabilities, fixture.probabilities);
    t.diagnostic(`perturbed: max |logit diff| ${logits.diff.toExponential(2)}, max |probability diff| ${probabilities.diff.toExponential(2)}`);
    assert.ok(logits.diff > kTolerance, `a perturbed ${kPerturbed.name} should move the logits past ${kTolerance}`);
    assert.ok(probabilities.diff > kTolerance, `a perturbed ${kPerturbed.name} should move the probabilities past ${kTolerance}`);
  } finally {
    await model.setTensors(tensors);
  }
});
