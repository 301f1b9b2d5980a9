// Distributed training's pieces: how an epoch is cut across ranks, and the
// process group itself (two ranks in this process, each model on its own
// thread): broadcast, all-reduce, and gradient averaging, checked against
// single-process steps on each rank's half of the batch.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { createModel, InvalidArgumentError, type Model, type Tensor } from '../src/index.ts';
import { epochBatches, epochSteps, shardRange } from '../src/train/index.ts';
import { freePort, Random } from '../src/util/index.ts';
import { randomPixels } from './helpers/images.ts';

const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const SIZE = 32;
const fresh = { step: 0, partial: { count: 0 } };

test('each global batch is cut in even contiguous parts: the ranks together see exactly the epoch, once, in its order', () => {
  for (const [n, batch, world] of [[20, 4, 2], [23, 4, 3], [7, 2, 4], [1, 3, 2], [64, 16, 1]] as const) {
    const order = new Random(n).shuffle([...Array(n).keys()]);
    const shards = Array.from({ length: world }, (_, r) => epochBatches(order, fresh, batch, r, world));
    const steps = epochSteps(n, null, batch, world);
    for (const s of shards) assert.equal(s.length, steps, `every rank has ${steps} steps (n ${n}, batch ${batch}, world ${world})`);
    for (let step = 0; step < steps; step++) {
      const global = order.slice(step * batch * world, (step + 1) * batch * world);
      const joined = shards.flatMap((s) => s[step]!);
      if (global.length >= world) {
        // The step of N ranks is the step of one rank with batch N·B.
        assert.deepEqual(joined, global);
      } else {
        // A last batch smaller than the world lends its images to the empty ranks.
        assert.deepEqual([...new Set(joined)].sort(), [...global].sort());
        assert.ok(shards.every((s) => s[step]!.length === 1));
      }
      for (const s of shards) assert.ok(s[step]!.length >= Math.floor(global.length / world) && s[step]!.length <= Math.ceil(global.length / world));
    }
    assert.deepEqual(new Set(shards.flat(2)), new Set(order), 'the union is the epoch');
  }
  assert.deepEqual(shardRange(10, 0, 3), [0, 3]);
  assert.deepEqual(shardRange(10, 2, 3), [6, 10]);
  assert.deepEqual(epochBatches([5, 6, 7, 8, 9], fresh, 2), [[5, 6], [7, 8], [9]], 'one rank: the plain batches');
});

test('a resumed epoch goes on from the images done, whatever world size did them', () => {
  const order = [...Array(30).keys()];
  // 2 ranks × batch 4 did 2 steps (16 images); 3 ranks × batch 2 go on.
  const state = { step: 2, partial: { count: 16 } };
  const parts = [0, 1, 2].map((r) => epochBatches(order, state, 2, r, 3));
  assert.equal(epochSteps(30, state, 2, 3), 2 + Math.ceil(14 / 6));
  for (const p of parts) {
    assert.equal(p.length, epochSteps(30, state, 2, 3));
    assert.deepEqual(p.slice(0, 2), [[], []], 'the steps done are not run again');
  }
  assert.deepEqual(new Set(parts.flatMap((p) => p.slice(2)).flat()), new Set(order.slice(16)));
  assert.deepEqual(parts.map((p) => p[2]), [[16, 17], [18, 19], [20, 21]]);
});

async function sgdModel(seed: number): Promise<Model> {
  const model = await createModel({ numClasses: 3, device: 'cpu', seed, threads: 1 });
  await model.setOptimizer({ name: 'sgd', lr: 0.5, momentum: 0, weightDecay: 0 });
  return model;
}

const floats = (t: Tensor) => new Float32Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength));
const byName = async (m: Model) => new Map((await m.getTensors()).map((t) => [t.name, t]));

test('two ranks: rank 0 broadcasts its weights, sums are summed, and a step averages the gradients of both halves', async (t) => {
  const port = await freePort();
  const ranks = [await sgdModel(1), await sgdModel(2)];
  t.after(() => Promise.all(ranks.map((m) => m.dispose())));
  const group = (rank: number) => ({ rank, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, host: '127.0.0.1', connectTimeout: 30, opTimeout: 30, bucketBytes: 1 << 20 });
  assert.throws(() => ranks[0]!.joinProcessGroup({ ...group(0), rank: 2 }), InvalidArgumentError);
  assert.throws(() => ranks[0]!.joinProcessGroup({ ...group(0), host: undefined }), /a local address/);
  await Promise.all(ranks.map((m, r) => m.joinProcessGroup(group(r))));

  const before = [await byName(ranks[0]!), await byName(ranks[1]!)];
  assert.notDeepEqual(floats(before[0]!.get('fc.weight')!), floats(before[1]!.get('fc.weight')!), 'different seeds start apart');
  await Promise.all(ranks.map((m) => m.broadcastTensors()));
  const start = await byName(ranks[1]!);
  for (const [name, tensor] of before[0]!) assert.deepEqual(start.get(name)!.data, tensor.data, `${name} is rank 0's on rank 1`);

  assert.deepEqual(await Promise.all([ranks[0]!.allReduceSum([1, 2.5]), ranks[1]!.allReduceSum([3, -1])]), [[4, 1.5], [4, 1.5]]);

  // The halves of one batch of 8: one per rank, and each alone on a model with rank 0's start.
  const pixels = randomPixels(8, SIZE, 7);
  const labels = Int32Array.from([0, 1, 2, 0, 1, 2, 2, 1]);
  const half = (h: number) => ({ data: pixels.subarray(h * 4 * SIZE * SIZE * 3, (h + 1) * 4 * SIZE * SIZE * 3), count: 4, height: SIZE, width: SIZE });
  const alone = await Promise.all([0, 1].map(async (h) => {
    const m = await sgdModel(1);
    try {
      await m.trainStep(half(h), labels.subarray(h * 4, (h + 1) * 4), norm);
      return await byName(m);
    } finally {
      await m.dispose();
    }
  }));
  await Promise.all(ranks.map((m, r) => m.trainStep(half(r), labels.subarray(r * 4, (r + 1) * 4), norm)));
  const after = [await byName(ranks[0]!), await byName(ranks[1]!)];

  let checked = 0;
  for (const [name, w0] of before[0]!) {
    if (w0.dtype !== 'F32' || name.includes('running_')) continue;
    const got = floats(after[0]!.get(name)!);
    assert.deepEqual(got, floats(after[1]!.get(name)!), `${name}: both ranks hold the same weights`);
    // SGD without momentum: the averaged step is the mean of the two single steps.
    const a = floats(alone[0]!.get(name)!), b = floats(alone[1]!.get(name)!), w = floats(w0);
    let maxUpdate = 0, maxError = 0, maxHalf = 0;
    for (let i = 0; i < w.length; i++) {
      const expected = (a[i]! + b[i]!) / 2;
      maxUpdate = Math.max(maxUpdate, Math.abs(expected - w[i]!));
      maxError = Math.max(maxError, Math.abs(got[i]! - expected));
      maxHalf = Math.max(maxHalf, Math.abs(a[i]! - b[i]!) / 2);
    }
    if (maxUpdate === 0) continue;
    assert.ok(maxError <= 1e-3 * maxUpdate + 1e-7, `${name}: ${maxError} off the mean of the single steps (updates up to ${maxUpdate})`);
    if (maxHalf > 1e-2 * maxUpdate) checked++; // a parameter where averaging was needed (the halves disagree)
  }
  assert.ok(checked > 10, `the halves' gradients differ on ${checked} parameters`);

  // BatchNorm running statistics are each rank's own: rank 0's are those of its half alone.
  const mean = 'bn1.running_mean';
  assert.deepEqual(floats(after[0]!.get(mean)!).map((x) => Math.round(x * 1e5)), floats(alone[0]!.get(mean)!).map((x) => Math.round(x * 1e5)));
  assert.notDeepEqual(floats(after[0]!.get(mean)!), floats(after[1]!.get(mean)!));
});
