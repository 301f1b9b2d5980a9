import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { createModel, native, readCheckpoint, loadWeights, saveCheckpoint, resolveOptimizer, Classifier } from '../src/index.ts';
import { randomPixels } from './helpers/images.ts';
import { TEST_INFO, tempDir } from './helpers/checkpoint.ts';

const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const SIZE = 64;

function batch(count: number, seed: number) {
  return { data: randomPixels(count, SIZE, seed), count, height: SIZE, width: SIZE };
}

test('a model reports its shape and validates arguments by name', async () => {
  const model = await createModel({ numClasses: 3, device: 'cpu', threads: 1 });
  try {
    assert.equal(model.device, 'cpu');
    assert.equal(model.numClasses, 3);
    assert.equal(model.parameterCount, 11_178_051); // torchvision resnet18(num_classes=3)
    const ok = batch(2, 1);
    assert.throws(() => model.forward({ ...ok, count: 3 }, norm), /images\.data: expected count\*height\*width\*3 = 36864 bytes/);
    assert.throws(() => model.forward({ ...ok, data: new Float32Array(4) as unknown as Uint8Array }, norm), /images\.data: expected a Uint8Array/);
    assert.throws(() => model.forward(ok, { mean: [0, 0], std: [1, 1, 1] }), /normalization\.mean: expected an array of 3 numbers/);
    assert.throws(() => model.forward(ok, { mean: [0, 0, 0], std: [1, 0, 1] }), /normalization\.std\[1\]/);
    assert.throws(() => model.trainStep(ok, new Int32Array([0, 3]), norm), /labels\[1\]: expected a class index in \[0, 3\) but received 3/);
    assert.throws(() => model.trainStep(ok, new Int32Array([0]), norm), /labels: expected one label per image \(2\) but received 1/);
    assert.throws(() => model.trainStep(ok, [0, 1] as unknown as Int32Array, norm), /labels: expected an Int32Array/);
    assert.throws(() => model.setThreads(-1), /threads: expected an integer between 0 and 1024/);
    await assert.rejects(model.setTensors([{ name: 'fc.weight', dtype: 'F32', shape: [2, 512], data: new Uint8Array(2 * 512 * 4) }]), (e: Error & { code?: string }) => {
      assert.match(e.message, /tensor 'fc\.weight': expected shape \[3, 512\] but received \[2, 512\]/);
      assert.equal(e.code, 'ERR_TORCHDOG_INVALID_ARGUMENT');
      return true;
    });
    await assert.rejects(model.setTensors([{ name: 'nope', dtype: 'F32', shape: [1], data: new Uint8Array(4) }]), /tensor 'nope': the model has no tensor/);
    await assert.rejects(model.setTensors([{ name: 'fc.bias', dtype: 'F32', shape: [3], data: new Uint8Array(8) }]), /expected 12 bytes/);
    await assert.rejects(model.setTensors([{ name: 'bn1.num_batches_tracked', dtype: 'F32', shape: [], data: new Uint8Array(4) }]), /expected dtype I64/);
  } finally {
    await model.dispose();
  }
  assert.equal(model.disposed, true);
  assert.throws(() => model.forward(batch(1, 1), norm), /Model\.forward: the model has been disposed/);
  assert.throws(() => model.getTensors(), /disposed/);
  await model.dispose(); // idempotent
});

test('bad model options are refused before any native work', async () => {
  await assert.rejects(createModel({ numClasses: 0 }), /Expected an integer between 1 and 1048576 for options\.numClasses but received number 0/);
  await assert.rejects(createModel({ numClasses: 2, device: 'tpu' }), /device: expected 'cpu', 'cuda', 'cuda:N' or 'auto' but received 'tpu'/);
  if (!native.cudaAvailable()) {
    await assert.rejects(createModel({ numClasses: 2, device: 'cuda:0' }), /this LibTorch build has no CUDA or no GPU is visible/);
  }
  await assert.rejects(createModel({ numClasses: 2, arch: 'vgg' as 'resnet18' }), /options\.arch/);
  await assert.rejects(createModel({ numClasses: 2, colour: 1 } as never), /Unknown option options\.colour/);
  assert.throws(() => resolveOptimizer({ name: 'rmsprop' as 'adam' }), /Expected one of 'adam', 'adamw', 'sgd' for optimizer\.name/);
  assert.throws(() => resolveOptimizer({ lr: -1 }), /optimizer\.lr/);
});

test('training steps lower the loss on a fixed batch (Adam and SGD)', async () => {
  for (const optimizer of [{ name: 'adam' as const, lr: 1e-3 }, { name: 'sgd' as const, lr: 0.05, momentum: 0.9, weightDecay: 1e-4 }]) {
    const model = await createModel({ numClasses: 2, device: 'cpu', seed: 3, threads: 2 });
    try {
      await model.setOptimizer(resolveOptimizer(optimizer));
      const images = batch(8, 7);
      const labels = new Int32Array([0, 1, 0, 1, 1, 0, 0, 1]);
      const before = await model.evalStep(images, labels, norm);
      for (let i = 0; i < 30; i++) await model.trainStep(images, labels, norm);
      const after = await model.evalStep(images, labels, norm);
      // Memorising 8 images: the eval-mode loss falls by over 10x and all are right.
      assert.ok(after.loss < before.loss / 10, `${optimizer.name}: loss ${before.loss} -> ${after.loss}`);
      assert.equal(after.correct, 8, `${optimizer.name}: ${after.correct}/8 correct`);
      assert.deepEqual([...after.predicted], [...labels]);
    } finally {
      await model.dispose();
    }
  }
});

test('a saved checkpoint loads back to identical outputs; a malformed one is refused', async () => {
  const dir = await tempDir();
  const path = join(dir, 'm.safetensors');
  const model = await createModel({ numClasses: 2, device: 'cpu', seed: 5, threads: 1 });
  const images = batch(3, 11);
  await model.trainStep(images, new Int32Array([0, 1, 1]), norm); // move BN statistics off their defaults
  await model.setTraining(false);
  const expected = await model.forward(images, norm);
  await saveCheckpoint(path, model, { ...TEST_INFO, imageSize: SIZE, mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] });
  await model.dispose();

  const { tensors, info } = await readCheckpoint(path);
  assert.deepEqual(info.classes, ['hotdog', 'nothotdog']);
  assert.equal(tensors.find((t) => t.name === 'bn1.num_batches_tracked')?.dtype, 'I64');
  const other = await createModel({ numClasses: 2, device: 'cpu', seed: 99, threads: 1 });
  await loadWeights(other, tensors, path);
  await other.setTraining(false);
  const actual = await other.forward(images, norm);
  assert.deepEqual([...actual.logits], [...expected.logits]);
  await assert.rejects(loadWeights(other, tensors.slice(1), path), /missing 1 tensor\(s\)/);
  await other.dispose();

  const classifier = await Classifier.load(path, { device: 'cpu', threads: 1 });
  assert.deepEqual(classifier.classes, ['hotdog', 'nothotdog']);
  await classifier.dispose();

  const bad = join(dir, 'bad.safetensors');
  await writeFile(bad, Buffer.from('\x10\x00\x00\x00\x00\x00\x00\x00{"a":'));
  await assert.rejects(Classifier.load(bad), /bad\.safetensors: not a valid safetensors file/);
  const notOurs = join(dir, 'plain.safetensors');
  const { writeSafetensors } = await import('../src/index.ts');
  await writeSafetensors(notOurs, tensors, {});
  await assert.rejects(Classifier.load(notOurs), /metadata 'format' is null, expected "torchdog\/1"/);
});

test('the event loop keeps ticking while native work runs', async () => {
  const model = await createModel({ numClasses: 2, device: 'cpu', threads: 1 });
  try {
    const images = batch(16, 2);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = performance.now();
    await Promise.all([model.forward(images, norm), model.trainStep(images, new Int32Array(16), norm)]);
    const elapsed = performance.now() - started;
    clearInterval(timer);
    // Blocking the thread would leave no ticks at all; expect most of them.
    assert.ok(elapsed > 50, `work took ${elapsed} ms, too short to observe`);
    assert.ok(ticks >= (elapsed / 5) * 0.3, `${ticks} ticks in ${elapsed.toFixed(0)} ms`);
  } finally {
    await model.dispose();
  }
});

test('operations on one model run one at a time, in call order', async () => {
  const model = await createModel({ numClasses: 2, device: 'cpu', threads: 1 });
  const order: string[] = [];
  const images = batch(2, 4);
  const labels = new Int32Array([0, 1]);
  await Promise.all([
    model.trainStep(images, labels, norm).then(() => order.push('train')),
    model.forward(images, norm).then(() => order.push('forward')),
    model.setLearningRate(0.01).then(() => order.push('lr')),
    model.evalStep(images, labels, norm).then(() => order.push('eval')),
    model.dispose().then(() => order.push('dispose')),
  ]);
  assert.deepEqual(order, ['train', 'forward', 'lr', 'eval', 'dispose']);
});

test('the optimised inference graph matches the eager model and follows weight changes', async () => {
  const model = await createModel({ numClasses: 3, device: 'cpu', seed: 8, threads: 1 });
  try {
    const images = batch(4, 21);
    const labels = new Int32Array([0, 1, 2, 1]);
    const compare = async () => {
      await model.setTraining(false);
      await model.setInferenceGraph(false);
      const eager = await model.forward(images, norm);
      await model.setInferenceGraph(true);
      const graph = await model.forward(images, norm);
      let worst = 0;
      eager.logits.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - graph.logits[i]!))));
      assert.ok(worst < 1e-4, `graph differs from eager by ${worst}`);
      return graph.logits;
    };
    await model.trainStep(images, labels, norm); // BatchNorm statistics off their defaults
    const before = await compare();
    await model.trainStep(images, labels, norm);
    const after = await compare();
    assert.ok(before.some((v, i) => Math.abs(v - after[i]!) > 1e-4), 'a training step must reach the serving graph');
    const tensors = await model.getTensors();
    const fcBias = tensors.find((t) => t.name === 'fc.bias')!;
    const shifted = new Float32Array(fcBias.data.slice().buffer);
    shifted[0]! += 1;
    await model.setTensors([{ ...fcBias, data: new Uint8Array(shifted.buffer) }]);
    const moved = await compare();
    for (let i = 0; i < 4; i++) assert.ok(Math.abs(moved[i * 3]! - after[i * 3]! - 1) < 1e-4, 'setTensors reaches the serving graph');
  } finally {
    await model.dispose();
  }
});
