// The training recipe's knobs, each checked against what it must do by
// construction (closed forms, bounds), never against one CPU's rounding:
// label smoothing, EMA, gradient accumulation, soft targets (mixup, cutmix)
// and gradient clipping.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createModel, InvalidArgumentError, readSafetensors, type Model, type Tensor } from '../src/index.ts';
import { generateDemoData, mixBatch } from '../src/data/index.ts';
import { parseOverrides, resolveConfig, train } from '../src/train/index.ts';
import { cpuHasBf16 } from '../src/train/amp.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { Random } from '../src/util/index.ts';
import { randomPixels } from './helpers/images.ts';

const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const SIZE = 16;

function batch(count: number, seed: number) {
  return { data: randomPixels(count, SIZE, seed), count, height: SIZE, width: SIZE };
}

function alternating(count: number): Int32Array {
  return Int32Array.from({ length: count }, (_, i) => i % 2);
}

async function model(seed = 0): Promise<Model> {
  return createModel({ numClasses: 2, device: 'cpu', seed, threads: 1 });
}

function floats(t: Tensor): Float64Array {
  return Float64Array.from(new Float32Array(t.data.slice().buffer));
}

/** Parameters (weights and biases), not BatchNorm's running statistics. */
function isParameter(t: Tensor): boolean {
  return t.name.endsWith('.weight') || t.name.endsWith('.bias');
}

async function byName(m: Model): Promise<Map<string, Tensor>> {
  return new Map((await m.getTensors()).map((t) => [t.name, t]));
}

/** L2 norm of (b - a) over the parameters. */
function updateNorm(a: Map<string, Tensor>, b: Map<string, Tensor>): number {
  let sum = 0;
  for (const [name, t] of a) {
    if (!isParameter(t)) continue;
    const x = floats(t);
    const y = floats(b.get(name)!);
    for (let i = 0; i < x.length; i++) sum += (y[i]! - x[i]!) ** 2;
  }
  return Math.sqrt(sum);
}

function maxDifference(a: Map<string, Tensor>, b: Map<string, Tensor>): number {
  let max = 0;
  for (const [name, t] of a) {
    if (t.dtype !== 'F32') continue;
    const x = floats(t);
    const y = floats(b.get(name)!);
    for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(y[i]! - x[i]!));
  }
  return max;
}

/** Mean cross-entropy of row-major logits [n, k] against labels, in float64. */
function crossEntropy(logits: Float32Array, labels: Int32Array, k: number): number {
  let sum = 0;
  for (let i = 0; i < labels.length; i++) {
    const row = Array.from(logits.subarray(i * k, (i + 1) * k));
    const max = Math.max(...row);
    const logSum = max + Math.log(row.reduce((s, v) => s + Math.exp(v - max), 0));
    sum += logSum - row[labels[i]!]!;
  }
  return sum / labels.length;
}

test('label smoothing raises the loss floor of a memorised batch to the entropy of the smoothed targets', async () => {
  const images = batch(8, 1);
  const labels = alternating(8);
  const smoothing = 0.2;
  // Cross-entropy against q = (1 - s + s/K, s/K) is at least H(q), for any logits.
  const high = 1 - smoothing + smoothing / 2;
  const low = smoothing / 2;
  const floor = -(high * Math.log(high) + low * Math.log(low));
  const losses = async (labelSmoothing: number) => {
    const m = await model();
    try {
      await m.setTrainRecipe({ labelSmoothing });
      const out: number[] = [];
      for (let i = 0; i < 40; i++) out.push((await m.trainStep(images, labels, norm)).loss);
      return out;
    } finally {
      await m.dispose();
    }
  };
  const plain = await losses(0);
  assert.ok(plain.at(-1)! < floor, `precondition: 40 steps memorise the batch below ${floor} without smoothing (loss ${plain.at(-1)})`);
  const smoothed = await losses(smoothing);
  for (const [i, loss] of smoothed.entries()) assert.ok(loss >= floor - 1e-5, `step ${i + 1}: loss ${loss} below the floor ${floor}`);
  assert.ok(smoothed.at(-1)! < floor + 0.2, `the smoothed run memorises too, down towards its floor (loss ${smoothed.at(-1)})`);
});

test('EMA: the weights it keeps differ from the last ones and are the closed form after 2 steps; swapping twice restores', async () => {
  const m = await model();
  try {
    const decay = 0.6;
    await m.setOptimizer({ name: 'sgd', lr: 0.5, momentum: 0 });
    await m.setTrainRecipe({ emaDecay: decay });
    const w0 = await byName(m);
    await m.trainStep(batch(4, 1), alternating(4), norm);
    const w1 = await byName(m);
    await m.trainStep(batch(4, 2), alternating(4), norm);
    const w2 = await byName(m);
    await m.swapEmaWeights();
    const ema = await byName(m);
    await m.swapEmaWeights();
    assert.equal(maxDifference(await byName(m), w2), 0, 'swapping twice gives the trained weights back exactly');

    // e0 = w0, e1 = d·e0 + (1-d)·w1, e2 = d·e1 + (1-d)·w2 = d²·w0 + d(1-d)·w1 + (1-d)·w2.
    let worst = 0;
    for (const [name, t] of ema) {
      if (t.dtype !== 'F32') {
        assert.deepEqual(Buffer.from(t.data), Buffer.from(w2.get(name)!.data), `${name}: counters are copied`);
        continue;
      }
      const [a, b, c, e] = [w0, w1, w2, ema].map((w) => floats(w.get(name)!));
      for (let i = 0; i < e!.length; i++) {
        const expected = decay * decay * a![i]! + decay * (1 - decay) * b![i]! + (1 - decay) * c![i]!;
        worst = Math.max(worst, Math.abs(e![i]! - expected) / Math.max(1, Math.abs(expected)));
      }
    }
    assert.ok(worst < 1e-5, `EMA off its closed form by ${worst}`);
    assert.ok(maxDifference(ema, w2) > 1e-3, 'the EMA is not the last weights');
    const state = (await m.getOptimizerState()).map((t) => t.name);
    assert.ok(state.includes('ema.fc.weight') && state.includes('ema.bn1.running_mean'), 'the EMA travels with the optimizer state (exact resume)');
  } finally {
    await m.dispose();
  }
  const plain = await model();
  try {
    await assert.rejects(plain.swapEmaWeights(), /keeps no EMA/);
    assert.throws(() => plain.setTrainRecipe({ emaDecay: 1 }), InvalidArgumentError);
  } finally {
    await plain.dispose();
  }
});

test('4 accumulated batches of 8 make the same step as one batch of 32 (BatchNorm frozen)', async () => {
  const images = batch(32, 3);
  const labels = alternating(32);
  const each = SIZE * SIZE * 3;
  const start = async () => {
    const m = await model();
    await m.setOptimizer({ name: 'sgd', lr: 0.1, momentum: 0 });
    return m;
  };
  const whole = await start();
  const accumulated = await start();
  try {
    const before = await byName(whole);
    await whole.setTrainRecipe({ freezeBatchNorm: true });
    await whole.trainStep(images, labels, norm);
    await accumulated.setTrainRecipe({ freezeBatchNorm: true, lossScale: 1 / 4 });
    for (let k = 0; k < 4; k++) {
      const part = { data: images.data.subarray(k * 8 * each, (k + 1) * 8 * each), count: 8, height: SIZE, width: SIZE };
      await accumulated.trainStep(part, labels.subarray(k * 8, (k + 1) * 8), norm, { apply: k === 3 });
    }
    const one = await byName(whole);
    assert.ok(maxDifference(before, one) > 1e-3, 'precondition: the step moved the weights');
    assert.ok(maxDifference(one, await byName(accumulated)) < 1e-5, `accumulated step differs by ${maxDifference(one, await byName(accumulated))}`);
    // Running statistics are frozen: used, not updated.
    assert.deepEqual(Buffer.from(one.get('bn1.running_mean')!.data), Buffer.from(before.get('bn1.running_mean')!.data));
  } finally {
    await whole.dispose();
    await accumulated.dispose();
  }
});

test('mixup trains on soft targets: the loss of a mixed batch is the closed-form mix of the two cross-entropies', async () => {
  const m = await model();
  try {
    await m.setOptimizer({ name: 'adam', lr: 0 });
    const images = batch(4, 5);
    const own = new Int32Array([0, 0, 1, 1]);
    const mixed = mixBatch({ ...images, labels: own }, 2, { mixup: { alpha: 1, prob: 1 }, cutmix: { alpha: 0, prob: 1 } }, new Random(7))!;
    assert.equal(mixed.kind, 'mixup');
    assert.ok(mixed.lambda > 0 && mixed.lambda < 1);
    const partner = new Int32Array([1, 1, 0, 0]);
    assert.deepEqual(Array.from(mixed.targets), [0, 1, 2, 3].flatMap((i) => (own[i] === 0 ? [mixed.lambda, 1 - mixed.lambda] : [1 - mixed.lambda, mixed.lambda])).map(Math.fround));
    const { loss } = await m.trainStep(images, mixed.labels, norm, { targets: mixed.targets });
    // lr = 0 leaves the weights; a train-mode forward sees the same batch statistics as the step.
    const { logits } = await m.forward(images, norm);
    const a = crossEntropy(logits, own, 2);
    const b = crossEntropy(logits, partner, 2);
    assert.ok(Math.abs(a - b) > 1e-3, `precondition: the two labelings give different losses (${a}, ${b})`);
    const expected = mixed.lambda * a + (1 - mixed.lambda) * b;
    assert.ok(Math.abs(loss - expected) < 1e-5, `loss ${loss}, closed form ${expected}`);
    assert.throws(() => m.trainStep(images, own, norm, { targets: new Float32Array([1, 0, 0, 1, 0.5, 0.5, 0.2, 0.2]) }), /probabilities summing to 1/);

    const cut = mixBatch({ ...batch(4, 6), labels: own }, 2, { mixup: { alpha: 0, prob: 1 }, cutmix: { alpha: 1, prob: 1 } }, new Random(8))!;
    assert.equal(cut.kind, 'cutmix');
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(cut.targets[2 * i]! + cut.targets[2 * i + 1]! - 1) < 1e-6);
  } finally {
    await m.dispose();
  }
});

test('clip_grad_norm bounds the update: an SGD step (lr 1) moves the weights by exactly the clipping norm', async () => {
  const images = batch(8, 9);
  const labels = alternating(8);
  const step = async (clipGradNorm: number) => {
    const m = await model();
    try {
      await m.setOptimizer({ name: 'sgd', lr: 1, momentum: 0 });
      await m.setTrainRecipe({ clipGradNorm });
      const before = await byName(m);
      await m.trainStep(images, labels, norm);
      return updateNorm(before, await byName(m));
    } finally {
      await m.dispose();
    }
  };
  const unclipped = await step(0);
  assert.ok(unclipped > 0, 'precondition: the step moves the weights');
  // A bound a quarter of the gradient's own norm clips by construction.
  const bound = unclipped / 4;
  const clipped = await step(bound);
  assert.ok(Math.abs(clipped - bound) / bound < 0.01, `update norm ${clipped}, bound ${bound} (unclipped ${unclipped})`);
  assert.ok(Math.abs((await step(unclipped * 4)) - unclipped) / unclipped < 0.01, 'a bound above the norm changes nothing');
});

test('a run with ema, grad_accum_steps, mixup, cutmix, label smoothing and clipping resumes exactly; model.safetensors says it holds the EMA', async () => {
  const data = (await generateDemoData(join(await tempDir('torchdog-recipe-data-'), 'demo'), { perClass: 10, size: 32 })).root;
  const out = await tempDir();
  const config = (name: string) => resolveConfig(parseOverrides([
    `data.root=${data}`, 'data.image_size=16', 'train.batch_size=2', 'train.epochs=2', 'train.threads=1', 'train.device=cpu', `output.dir=${out}`,
    `output.name=${name}`, 'train.ema=0.9', 'train.grad_accum_steps=2', 'train.augment.mixup.alpha=0.4', 'train.augment.cutmix={alpha: 1, prob: 0.3}',
    'train.label_smoothing=0.1', 'train.clip_grad_norm=5',
  ]));
  const straight = await train(config('straight'));
  assert.equal(straight.precision, cpuHasBf16() ? 'bf16' : 'fp32', 'train.amp auto: bf16 only on a CPU with bf16 instructions');
  const controller = new AbortController();
  const steps: string[] = [];
  const first = await train(config('split'), {
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type !== 'step') return;
      steps.push(`${e.epoch}.${e.step}`);
      if (e.epoch === 2 && e.step === 1) controller.abort();
    },
  });
  assert.equal(first.interrupted, true);
  // Accumulated gradients are not checkpointed: the run stops after the optimizer step that closes the window.
  assert.equal(steps.at(-1), '2.2');
  const resumed = await train(config('split'), { resume: first.run_dir });
  const lines = async (dir: string) => (await readFile(join(dir, 'metrics.jsonl'), 'utf8')).trim().split('\n').map((l) => {
    const { img_per_s: _s, seconds: _t, ...rest } = JSON.parse(l);
    return rest;
  });
  assert.deepEqual(await lines(resumed.run_dir), await lines(straight.run_dir));
  const a = await readSafetensors(join(straight.run_dir, 'model.safetensors'));
  const b = await readSafetensors(join(resumed.run_dir, 'model.safetensors'));
  assert.deepEqual(Buffer.from(b.tensors.get('fc.weight')!.data), Buffer.from(a.tensors.get('fc.weight')!.data));
  assert.equal(a.metadata.weights, 'ema');
  assert.equal(a.metadata.ema_decay, '0.9');
  const last = await readSafetensors(join(straight.run_dir, 'last.safetensors'));
  assert.equal(last.metadata.weights, 'raw');
  if (a.metadata.epoch === '2') assert.notDeepEqual(Buffer.from(last.tensors.get('fc.weight')!.data), Buffer.from(a.tensors.get('fc.weight')!.data));
  assert.match(await readFile(join(straight.run_dir, 'report.html'), 'utf8'), /grad_accum_steps: 2/);
});
