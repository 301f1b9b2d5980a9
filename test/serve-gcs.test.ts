// gs:// models and prediction logs, against the Cloud Storage emulator of
// test/helpers (the client library honours STORAGE_EMULATOR_HOST, without auth).
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, loadModel } from '../src/serve/index.ts';
import { tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { GcsEmulator } from './helpers/gcs-emulator.ts';
import { encodeImage } from './helpers/images.ts';
import { post } from './helpers/serve.ts';

let gcs: GcsEmulator;
let checkpoint: string;
const previousHost = process.env.STORAGE_EMULATOR_HOST;

before(async () => {
  gcs = await GcsEmulator.start({ buckets: ['torchdog-models', 'torchdog-logs'] });
  process.env.STORAGE_EMULATOR_HOST = gcs.endpoint;
  checkpoint = join(await tempDir(), 'model.safetensors');
  await writeRandomCheckpoint(checkpoint);
});

after(async () => {
  if (previousHost === undefined) delete process.env.STORAGE_EMULATOR_HOST;
  else process.env.STORAGE_EMULATOR_HOST = previousHost;
  await gcs.close();
});

test('a gs:// model is downloaded, loaded, and its temporary copy removed', async () => {
  gcs.put('torchdog-models', 'runs/7/model.safetensors', await readFile(checkpoint));
  const temporary = async () => (await readdir(tmpdir())).filter((f) => f.startsWith('torchdog-model-')).length;
  const before = await temporary();
  const { classifier, source } = await loadModel('gs://torchdog-models/runs/7/model.safetensors', { device: 'cpu', threads: 1 });
  try {
    assert.equal(source, 'gs://torchdog-models/runs/7/model.safetensors');
    assert.deepEqual(classifier.classes, ['hotdog', 'nothotdog']);
    const image = await encodeImage('png', 32, 32);
    const local = await loadModel(checkpoint, { device: 'cpu', threads: 1 });
    assert.deepEqual(await classifier.predict(image), await local.classifier.predict(image));
    await local.classifier.dispose();
  } finally {
    await classifier.dispose();
  }
  assert.equal(await temporary(), before);
});

test('a missing or malformed gs:// model is a clear error', async () => {
  await assert.rejects(
    loadModel('gs://torchdog-models/nope/model.safetensors', { device: 'cpu' }),
    /^Error: cannot download the model: gs:\/\/torchdog-models\/nope\/model\.safetensors: no such object$/,
  );
  await assert.rejects(loadModel('gs://torchdog-models/folder/'), /model: gs:\/\/torchdog-models\/folder\/ names a folder, not a checkpoint object/);
  await assert.rejects(loadModel('gs://A_B/x'), /model: expected gs:\/\/BUCKET\[\/PATH\] but received "gs:\/\/A_B\/x"/);
});

test('a gs:// prediction log writes one JSONL object per flush', async () => {
  const { classifier } = await loadModel(checkpoint, { device: 'cpu', threads: 1 });
  try {
    const app = createApp({ classifier, logger: null, predictionLog: 'gs://torchdog-logs/serving/', predictionLogFlushMs: 3_600_000 });
    for (const seed of [1, 2]) assert.equal((await app.request('/predict', post(await encodeImage('jpeg', 50, 40, seed)))).status, 200);
    await app.shutdown();
    const written = gcs.names('torchdog-logs', 'serving/');
    assert.equal(written.length, 1);
    assert.match(written[0]!, /^serving\/\d{8}T\d{6}\.\d{3}Z-\d+-000000\.jsonl$/);
    assert.equal(gcs.object('torchdog-logs', written[0]!)!.contentType, 'application/x-ndjson');
    const lines = gcs.get('torchdog-logs', written[0]!)!.toString().trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.ok(lines.every((l) => typeof l.sharpness === 'number' && typeof l.category === 'string'));
  } finally {
    await classifier.dispose();
  }
});
