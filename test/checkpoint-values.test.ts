// Weights and metadata that are not what they claim are refused when the
// checkpoint is read, naming the file and the tensor or key: NaN/Inf weights,
// a negative BatchNorm variance, a loosely written or huge image_size, a mean
// the model would refuse later, a tensor of another shape. (issue 12)
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
  Classifier, CheckpointError, checkpointMetadata, createModel, loadWeights, readCheckpoint, readSafetensors, writeSafetensors,
  type Tensor,
} from '../src/model/index.ts';
import { tempDir, TEST_INFO, writeRandomCheckpoint } from './helpers/checkpoint.ts';

let good: string | undefined;
async function goodCheckpoint(): Promise<string> {
  if (!good) {
    good = join(await tempDir('torchdog-values-'), 'good.safetensors');
    await writeRandomCheckpoint(good);
  }
  return good;
}

/** A copy of the good checkpoint with `edit` applied to its tensors and metadata. */
async function crafted(name: string, edit: (tensors: Map<string, Tensor>, metadata: Record<string, string>) => void): Promise<string> {
  const { tensors, metadata } = await readSafetensors(await goodCheckpoint());
  const copies = new Map([...tensors].map(([k, t]) => [k, { ...t, data: new Uint8Array(t.data) }]));
  const meta = { ...metadata };
  edit(copies, meta);
  const path = join(await tempDir('torchdog-values-'), `${name}.safetensors`);
  await writeSafetensors(path, [...copies.values()], meta);
  return path;
}

function setFloat(t: Tensor, index: number, value: number): void {
  new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength).setFloat32(index * 4, value, true);
}

async function refused(path: string, message: RegExp): Promise<void> {
  for (const load of [() => readCheckpoint(path), () => Classifier.load(path, { device: 'cpu', threads: 1 })]) {
    await assert.rejects(load(), (error: unknown) => {
      assert.ok(error instanceof CheckpointError, String(error));
      assert.ok(error.message.startsWith(`${path}: `), error.message);
      assert.match(error.message, message);
      return true;
    });
  }
}

test('NaN and infinite weights are refused at load, naming the tensor', async () => {
  await refused(await crafted('nan', (t) => setFloat(t.get('layer2.0.conv1.weight')!, 7, NaN)), /tensor 'layer2\.0\.conv1\.weight' holds a value that is not a finite number \(NaN at element 7\)$/);
  await refused(await crafted('inf', (t) => setFloat(t.get('fc.bias')!, 1, Infinity)), /tensor 'fc\.bias' holds a value that is not a finite number \(Infinity at element 1\)$/);
  await refused(await crafted('neg-inf', (t) => setFloat(t.get('bn1.running_mean')!, 0, -Infinity)), /tensor 'bn1\.running_mean' .*-Infinity at element 0/);
});

test('a negative BatchNorm running_var is refused, naming the tensor', async () => {
  await refused(await crafted('negvar', (t) => setFloat(t.get('layer3.1.bn2.running_var')!, 3, -0.5)), /tensor 'layer3\.1\.bn2\.running_var' holds a negative variance \(-0\.5 at element 3\)$/);
});

test('image_size is a plain decimal integer up to 1024 (what training accepts)', async () => {
  for (const text of ['1e2', '0x80', ' 128 ', '128.0', '+128', '0128', '4096', '1025', '8', '']) {
    await refused(await crafted(`size-${text.trim() || 'empty'}`, (_, m) => (m.image_size = text)), new RegExp(`metadata 'image_size' must be a decimal integer between 16 and 1024, got ${JSON.stringify(JSON.stringify(text)).slice(1, -1).replace(/[.+]/g, '\\$&')}$`));
  }
  const { info } = await readCheckpoint(await crafted('size-1024', (_, m) => (m.image_size = '1024')));
  assert.equal(info.imageSize, 1024);
});

test('mean and std the model would refuse at its first forward pass are refused at load, naming the file', async () => {
  await refused(await crafted('mean', (_, m) => (m.mean = '[1e7, 0, 0]')), /metadata 'mean' must be a JSON array of 3 numbers between -1000000 and 1000000, got \[1e7, 0, 0\]$/);
  await refused(await crafted('std', (_, m) => (m.std = '[0.5, 2e6, 0.5]')), /metadata 'std' must be a JSON array of 3 numbers > 0 and <= 1000000/);
});

test('a tensor of another shape or dtype is refused naming the file and the tensor, not its index in a list', async () => {
  // Nine dimensions of the same bytes: the engine's own check would say `tensors[5].shape`.
  const ninefold = await crafted('rank', (t) => {
    const w = t.get('bn1.weight')!;
    w.shape = [1, 1, 1, 1, 1, 1, 1, 1, 64];
  });
  await assert.rejects(Classifier.load(ninefold, { device: 'cpu', threads: 1 }), {
    name: 'Error', message: `${ninefold}: tensor 'bn1.weight' is F32 [1,1,1,1,1,1,1,1,64], expected F32 [64]`,
  });
  const model = await createModel({ numClasses: 2, device: 'cpu', seed: 0, threads: 1 });
  try {
    const { tensors } = await readSafetensors(await goodCheckpoint());
    const list = [...tensors.values()].map((t) => (t.name === 'conv1.weight' ? { ...t, shape: [64, 3, 49, 1] } : t));
    await assert.rejects(loadWeights(model, list, 'x.safetensors'), { message: "x.safetensors: tensor 'conv1.weight' is F32 [64,3,49,1], expected F32 [64,3,7,7]" });
  } finally {
    await model.dispose();
  }
});

test('a checkpoint as training writes it still loads', async () => {
  const c = await Classifier.load(await goodCheckpoint(), { device: 'cpu', threads: 1 });
  assert.deepEqual(c.classes, TEST_INFO.classes);
  await c.dispose();
  assert.equal(checkpointMetadata(TEST_INFO).image_size, '64');
});

test('a batch is bounded by memory where image_size drives it', async () => {
  const { maxBatchForMemory } = await import('../src/model/index.ts');
  assert.ok(maxBatchForMemory(128) >= 32, 'the default batch of 32 stays at 128 px');
  assert.ok(maxBatchForMemory(1024) < 32 && maxBatchForMemory(1024) >= 1);
  assert.equal(maxBatchForMemory(1024, 1), 1, 'at least one image');
});
