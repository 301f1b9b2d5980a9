// A Python client written from the Open Inference Protocol's text
// (test/helpers/oip-client.py: urllib and json only) gets torchvision's
// probabilities and logits, within 1e-4, through /v2/models/NAME/infer: the
// parity fixture's closed-form weights are written as a checkpoint and
// served over HTTP, and the client posts the fixture's images as UINT8.
// Skipped without python3.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createModel, saveCheckpoint, type Tensor } from '../src/index.ts';
import { createApp, loadModel, startServer, type RunningServer, type TorchdogApp } from '../src/serve/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { kImageSize, parityTensors } from './helpers/parity-weights.ts';

const FIXTURE = join(import.meta.dirname, 'fixtures', 'parity.json');
const CLIENT = join(import.meta.dirname, 'helpers', 'oip-client.py');
const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['--version']).status === 0);
const skip = PYTHON ? false : 'no python3 on this machine';
const run = promisify(execFile);

interface ClientResult {
  within: boolean;
  max_probability_diff: number;
  max_logit_diff: number;
  images: number;
  classes: string[];
  model_version: string;
}

let app: TorchdogApp | undefined;
let server: RunningServer | undefined;
let checkpoint: string;
let tensors: Tensor[];
let info: Parameters<typeof saveCheckpoint>[2];

/** Writes the parity weights (or `change`d ones) as a torchdog checkpoint at `checkpoint`. */
async function writeParityCheckpoint(change?: (tensors: Tensor[]) => Tensor[]): Promise<void> {
  const model = await createModel({ numClasses: info.classes.length, device: 'cpu', seed: 0, threads: 1 });
  try {
    await model.setTensors(change ? change(tensors) : tensors);
    await saveCheckpoint(checkpoint, model, info);
  } finally {
    await model.dispose();
  }
}

/** Runs the Python client against the service; its JSON line and exit code. */
async function client(): Promise<{ code: number; result: ClientResult }> {
  const { stdout, code } = await run(PYTHON!, [CLIENT, server!.url, 'parity', FIXTURE], { timeout: 120_000 }).then(
    ({ stdout }) => ({ stdout, code: 0 }),
    (error: { stdout: string; stderr: string; code: number }) => ({ stdout: error.stdout || error.stderr, code: error.code }),
  );
  return { code, result: JSON.parse(stdout.trim().split('\n').pop()!) as ClientResult };
}

before(async () => {
  if (!PYTHON) return;
  const fixture = JSON.parse(await readFile(FIXTURE, 'utf8')) as { numClasses: number; normalization: { mean: number[]; std: number[] } };
  const dir = join(await tempDir('torchdog-oip-python-'), 'parity-run');
  await mkdir(dir);
  checkpoint = join(dir, 'model.safetensors');
  const { mean, std } = fixture.normalization;
  info = {
    arch: 'resnet18',
    classes: Array.from({ length: fixture.numClasses }, (_, i) => `class${i}`),
    imageSize: kImageSize,
    mean: mean as [number, number, number],
    std: std as [number, number, number],
  };
  const model = await createModel({ numClasses: fixture.numClasses, device: 'cpu', seed: 0, threads: 1 });
  try {
    tensors = parityTensors(await model.getTensors());
  } finally {
    await model.dispose();
  }
  await writeParityCheckpoint();
  app = createApp({ load: () => loadModel(checkpoint, { device: 'cpu', threads: 1 }), modelName: 'parity', logger: null });
  await app.loaded;
  server = await startServer(app, { port: 0, host: '127.0.0.1', logger: () => {} });
});

after(async () => {
  await server?.close();
});

test("the Python client gets torchvision's probabilities and logits within 1e-4 through /v2/models/parity/infer", { skip }, async (t) => {
  const { code, result } = await client();
  t.diagnostic(`max |probability diff| ${result.max_probability_diff.toExponential(2)}, max |logit diff| ${result.max_logit_diff.toExponential(2)} over ${result.images} images`);
  assert.equal(code, 0, JSON.stringify(result));
  assert.equal(result.within, true);
  assert.ok(result.max_probability_diff <= 1e-4);
  assert.ok(result.max_logit_diff <= 1e-4);
  assert.deepEqual(result.classes, ['class0', 'class1', 'class2']);
});

test('the same client sees the difference when one weight of the served model changes (reloaded)', { skip }, async (t) => {
  await writeParityCheckpoint((all) =>
    all.map((tensor) => {
      if (tensor.name !== 'layer1.0.conv1.weight') return tensor;
      const values = new Float32Array(tensor.data.slice().buffer);
      values[0]! += 0.5;
      return { ...tensor, data: new Uint8Array(values.buffer) };
    }),
  );
  const reloaded = await app!.reload('test');
  const { code, result } = await client();
  t.diagnostic(`perturbed: max |probability diff| ${result.max_probability_diff.toExponential(2)}, max |logit diff| ${result.max_logit_diff.toExponential(2)}`);
  assert.equal(result.model_version, reloaded.model.version);
  assert.equal(code, 1, JSON.stringify(result));
  assert.equal(result.within, false);
  assert.ok(result.max_logit_diff > 1e-4);
  assert.ok(existsSync(checkpoint));
});
