import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Model, createModel, cudaAvailable, readCheckpoint, loadWeights, saveCheckpoint, Classifier, InvalidArgumentError, ModelOutputError } from '../src/index.ts';
import { randomPixels } from './helpers/images.ts';
import { TEST_INFO, tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';

const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const SIZE = 64;

function batch(count: number, seed: number) {
  return { data: randomPixels(count, SIZE, seed), count, height: SIZE, width: SIZE };
}

test('a model reports its shape and checks every argument by name before native work', async () => {
  const model = await Model.create({ numClasses: 3, device: 'cpu', threads: 1 });
  try {
    assert.equal(model.device, 'cpu');
    assert.equal(model.numClasses, 3);
    assert.equal(model.parameterCount, 11_178_051); // torchvision resnet18(num_classes=3)
    const ok = batch(2, 1);
    const refused = (call: () => unknown, message: RegExp) =>
      assert.throws(call, (e: Error & { code?: string }) => {
        assert.ok(e instanceof InvalidArgumentError, `${e.name}: ${e.message}`);
        assert.equal(e.code, 'ERR_TORCHDOG_INVALID_ARGUMENT');
        assert.match(e.message, message);
        return true;
      });
    refused(() => model.forward({ ...ok, count: 3 }, norm), /Expected count\*height\*width\*3 = 36864 bytes \(3x64x64x3\) for images\.data but received a Uint8Array of 24576 bytes/);
    refused(() => model.forward({ ...ok, data: new Float32Array(4) as unknown as Uint8Array }, norm), /for images\.data but received a Float32Array/);
    refused(() => model.forward({ ...ok, height: 0 }, norm), /Expected an integer between 1 and 8192 for images\.height but received number 0/);
    refused(() => model.forward(ok, { mean: [0, 0], std: [1, 1, 1] }), /Expected an array of 3 numbers for normalization\.mean/);
    refused(() => model.forward(ok, { mean: [0, 0, 0], std: [1, 0, 1] }), /normalization\.std\[1\] but received number 0/);
    refused(() => model.trainStep(ok, new Int32Array([0, 3]), norm), /Expected a class index in \[0, 3\) for labels\[1\] but received number 3/);
    refused(() => model.trainStep(ok, new Int32Array([0]), norm), /Expected one label per image \(2\) for labels but received a Int32Array of 4 bytes/);
    refused(() => model.evalStep(ok, [0, 1] as unknown as Int32Array, norm), /Expected an Int32Array for labels/);
    refused(() => model.setThreads(-1), /Expected an integer between 0 and 1024 for threads/);
    refused(() => model.setLearningRate(Number.NaN), /for lr but received number NaN/);
    refused(() => model.setTraining('yes' as unknown as boolean), /Expected a boolean for training/);
    refused(() => model.setOptimizer({ name: 'rmsprop' as 'adam' }), /Expected one of 'adam', 'adamw', 'sgd' for optimizer\.name/);
    refused(() => model.setOptimizer({ lr: -1 }), /optimizer\.lr/);
    refused(() => model.setOptimizer({ name: 'sgd', momentum: 0, nesterov: true }), /Expected a number > 0 with nesterov: true for optimizer\.momentum/);
    refused(() => model.setOptimizer({ momentum: 0.9, beta: 0.5 } as never), /Unknown option optimizer\.beta/);
    refused(() => model.setTensors([{ name: 'fc.bias', dtype: 'F32', shape: [1.5], data: new Uint8Array(4) }]), /tensors\[0\]\.shape\[0\]/);
    // What only the engine knows: the network's own tensor names, shapes and dtypes.
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
  assert.throws(() => model.getTensors(), /Model\.getTensors: the model has been disposed/);
  await model.dispose(); // idempotent
});

test('a rejection from the engine carries the caller\'s stack, its message and its code', async () => {
  await using model = await Model.create({ numClasses: 2, device: 'cpu', threads: 1 });
  const error = await model.setTensors([{ name: 'fc.bias', dtype: 'F32', shape: [5], data: new Uint8Array(20) }]).then(
    () => assert.fail('setTensors accepted a head of 5 classes'),
    (e: Error & { code?: string }) => e,
  );
  assert.match(error.message, /tensor 'fc\.bias': expected shape \[2\] but received \[5\]/);
  assert.equal(error.code, 'ERR_TORCHDOG_INVALID_ARGUMENT');
  assert.match(error.stack!, /native-model\.test\.ts/, 'the stack names the calling file');
});

test('dispose() rejects what has not started, with ERR_TORCHDOG_DISPOSED', async () => {
  const model = await Model.create({ numClasses: 2, device: 'cpu', threads: 1 });
  const images = batch(8, 9);
  const queued = [model.forward(images, norm), model.forward(images, norm), model.forward(images, norm)].map((p) =>
    p.then(() => 'done', (e: Error & { code?: string }) => `${e.code}: ${e.message}`),
  );
  await model.dispose();
  const outcomes = await Promise.all(queued);
  assert.equal(outcomes.at(-1), 'ERR_TORCHDOG_DISPOSED: Model.forward: the model was disposed before this operation ran');
  assert.ok(outcomes.every((o) => o === 'done' || o.startsWith('ERR_TORCHDOG_DISPOSED')), outcomes.join('; '));
});

test('the Model keeps its engine handle out of reach', async () => {
  await using model = await Model.create({ numClasses: 2, device: 'cpu', threads: 1 });
  // No enumerable or string-keyed property leads to the addon's handle.
  assert.deepEqual(Object.keys(model), []);
  assert.deepEqual(Object.getOwnPropertyNames(model), []);
  assert.deepEqual(Object.getOwnPropertySymbols(model), []);
  const mod = await import('../src/index.ts');
  assert.equal('native' in mod, false, 'the package does not export the addon');
});

test('bad model options are refused before any native work', async () => {
  await assert.rejects(createModel({ numClasses: 0 }), /Expected an integer between 1 and 1048576 for options\.numClasses but received number 0/);
  await assert.rejects(createModel({ numClasses: 2, device: 'tpu' }), /Expected 'cpu', 'cuda', 'cuda:N' or 'auto' for options\.device but received string "tpu"/);
  if (!cudaAvailable()) {
    await assert.rejects(createModel({ numClasses: 2, device: 'cuda:0' }), /this LibTorch build has no CUDA or no GPU is visible/);
  }
  await assert.rejects(createModel({ numClasses: 2, arch: 'vgg' as 'resnet18' }), /options\.arch/);
  await assert.rejects(createModel({ numClasses: 2, colour: 1 } as never), /Unknown option options\.colour/);
  await assert.rejects(createModel(null as never), /Expected an object for options but received null/);
});

test('training steps lower the loss on a fixed batch (Adam and SGD)', async () => {
  for (const optimizer of [{ name: 'adam' as const, lr: 1e-3 }, { name: 'sgd' as const, lr: 0.01, momentum: 0.9, weightDecay: 1e-4 }]) {
    const model = await createModel({ numClasses: 2, device: 'cpu', seed: 3, threads: 2 });
    try {
      await model.setOptimizer(optimizer);
      const images = batch(8, 7);
      const labels = new Int32Array([0, 1, 0, 1, 1, 0, 0, 1]);
      const losses: number[] = [];
      for (let i = 0; i < 30; i++) losses.push((await model.trainStep(images, labels, norm)).loss);
      // Memorising 8 images, judged as the steps saw them (train mode, batch
      // statistics): eval mode's running statistics after 30 steps of a
      // fast-moving network are not a property of the optimizer, and how far
      // they lag depends on the CPU's rounding.
      assert.ok(losses.at(-1)! < losses[0]! / 10, `${optimizer.name}: loss ${losses[0]} -> ${losses.at(-1)}`);
      const { probabilities } = await model.forward(images, norm);
      const predicted = [...labels].map((_, i) => (probabilities[2 * i]! > probabilities[2 * i + 1]! ? 0 : 1));
      assert.deepEqual(predicted, [...labels], `${optimizer.name}: predictions after training`);
      assert.equal(model.training, true, 'trainStep leaves the model in train mode');
      const evaluated = await model.evalStep(images, labels, norm);
      assert.equal(evaluated.count, 8);
      assert.equal(evaluated.predicted.length, 8);
      assert.equal(model.training, false, 'evalStep leaves the model in eval mode');
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
  await assert.rejects(loadWeights(other, tensors.slice(1), path), /missing 1 of resnet18's 122 tensors: bn1\.bias/);
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
  ]);
  const disposed = model.dispose().then(() => order.push('dispose'));
  await disposed;
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

test('class names that are Object.prototype keys stay keys of probabilities', async () => {
  const dir = await tempDir();
  const path = join(dir, 'proto.safetensors');
  const classes = ['__proto__', 'constructor', 'toString'];
  await writeRandomCheckpoint(path, { ...TEST_INFO, classes, imageSize: SIZE });
  await using classifier = await Classifier.load(path, { device: 'cpu', threads: 1 });
  const [prediction] = await classifier.predictPixels([randomPixels(1, SIZE, 3)]);
  assert.deepEqual(Object.keys(prediction!.probabilities), classes);
  const total = classes.reduce((sum, name) => sum + Object.getOwnPropertyDescriptor(prediction!.probabilities, name)!.value, 0);
  assert.ok(Math.abs(total - 1) < 1e-5, `probabilities sum to ${total}`);
  assert.ok(classes.includes(prediction!.category));
  assert.equal(JSON.parse(JSON.stringify(prediction)).probabilities.__proto__ !== undefined, true);
});

test('weights that load but overflow float32 give an error naming the checkpoint\'s fault, not NaN probabilities', async () => {
  const dir = await tempDir();
  const path = join(dir, 'huge.safetensors');
  const model = await createModel({ numClasses: 2, device: 'cpu', seed: 2, threads: 1 });
  const fc = (await model.getTensors()).find((t) => t.name === 'fc.weight')!;
  const huge = new Float32Array(fc.data.byteLength / 4).fill(3e38);
  await model.setTensors([{ ...fc, data: new Uint8Array(huge.buffer) }]);
  await saveCheckpoint(path, model, { ...TEST_INFO, imageSize: SIZE });
  await model.dispose();
  await using classifier = await Classifier.load(path, { device: 'cpu', threads: 1 });
  await assert.rejects(classifier.predictPixels([randomPixels(1, SIZE, 5)]), (e: Error & { code?: string }) => {
    assert.ok(e instanceof ModelOutputError);
    assert.equal(e.code, 'ERR_TORCHDOG_MODEL_OUTPUT');
    assert.match(e.message, /non-finite probability for image 0/);
    return true;
  });
});

test('more images than one pass may hold run as several passes, with the same answers', async () => {
  const dir = await tempDir();
  const path = join(dir, 'passes.safetensors');
  await writeRandomCheckpoint(path, { ...TEST_INFO, imageSize: SIZE });
  const images = Array.from({ length: 5 }, (_, i) => randomPixels(1, SIZE, 40 + i));
  // Room for two images a pass (160 bytes a pixel is the bound's own estimate): 5 images → 3 passes.
  const { info, tensors } = await readCheckpoint(path);
  const model = await Model.create({ numClasses: 2, device: 'cpu', threads: 1 });
  await loadWeights(model, tensors, path);
  await model.setTraining(false);
  const passes: number[] = [];
  const forward = model.forward.bind(model);
  model.forward = (batch, normalization) => (passes.push(batch.count), forward(batch, normalization));
  await using small = Classifier.fromModel(model, info, { passMemoryBytes: 2 * SIZE * SIZE * 160 });
  await using whole = await Classifier.load(path, { device: 'cpu', threads: 1 });
  const split = await small.scorePixels(images);
  const one = await whole.scorePixels(images);
  assert.deepEqual(passes, [2, 2, 1], 'passes of at most two images');
  assert.equal(split.length, 5);
  split.forEach((s, i) => {
    assert.equal(s.prediction.category, one[i]!.prediction.category);
    s.probabilities.forEach((p, c) => assert.ok(Math.abs(p - one[i]!.probabilities[c]!) < 1e-5, `image ${i} class ${c}`));
  });
  assert.throws(() => Classifier.fromModel(null as never, TEST_INFO, { passMemoryBytes: 0 }), /options\.passMemoryBytes/);
});
