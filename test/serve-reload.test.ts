// Reloading the model without downtime: app.reload(), POST
// /v2/repository/models/NAME/load and SIGHUP re-read the checkpoint; the new
// model is loaded and warmed beside the old, requests switch in one step, the
// old one finishes what it started and is disposed; a model that fails to load
// leaves the old one serving and says why (answer, log, metric). Last, a
// `torchdog serve` process under load (autocannon) takes SIGHUP twice: a
// model with other classes, then a corrupt file.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { CheckpointInfo } from '../src/index.ts';
import { createApp, loadModel, type LogEntry, type ModelLoad } from '../src/serve/index.ts';
import { loadWithSwap, replaceFile } from '../bench/lib/reload.ts';
import { multipart } from '../bench/lib/photo.ts';
import { startTorchdog } from '../bench/lib/services.ts';
import { TEST_INFO, tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { json, post, spy, type Spy } from './helpers/serve.ts';

const OTHER: CheckpointInfo = { arch: 'resnet18', classes: ['cat', 'dog', 'bird'], imageSize: 32, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

interface Loaded {
  spy: Spy;
  disposed: boolean;
}

/** A checkpoint at RUN/model.safetensors, a second one beside it to swap in, and a `load` that records what it loaded. */
async function setUp() {
  const dir = await tempDir('torchdog-reload-');
  const path = join(dir, 'run-a', 'model.safetensors');
  await mkdir(join(dir, 'run-a'));
  await writeRandomCheckpoint(path, TEST_INFO, 1);
  const other = join(dir, 'other.safetensors');
  await writeRandomCheckpoint(other, OTHER, 2);
  const loads: Loaded[] = [];
  // Each model through a spy (to hold its forward passes) that notes its disposal.
  const load = async (): Promise<ModelLoad> => {
    const model = await loadModel(path, { device: 'cpu', threads: 1 });
    const record: Loaded = { spy: spy(model.classifier), disposed: false };
    loads.push(record);
    const classifier = {
      ...record.spy.classifier,
      dispose: async () => {
        record.disposed = true;
        await model.classifier.dispose();
      },
    };
    return { ...model, classifier };
  };
  const logs: LogEntry[] = [];
  const app = createApp({ load, modelName: 'm', logger: (e) => logs.push(e), maxWaitMs: 0 });
  await app.loaded;
  return { app, path, other, loads, logs };
}

async function until(what: string, check: () => boolean, ms = 5000): Promise<void> {
  for (const started = Date.now(); !check(); ) {
    assert.ok(Date.now() - started < ms, `${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

test('a reload puts a model with other classes and size in service at once; what started on the old one finishes there; then it is disposed', async () => {
  const { app, path, other, loads, logs } = await setUp();
  const jpeg = await encodeImage('jpeg', 120, 90, 3);
  const first = await json(await app.request('/ready'));
  assert.deepEqual(first.model.classes, ['hotdog', 'nothotdog']);

  // A prediction held in the old model's forward pass while the reload happens.
  loads[0]!.spy.close();
  const started = loads[0]!.spy.nextPass();
  const inflight = app.request('/predict', post(jpeg));
  await started;
  await replaceFile(path, await readFile(other));
  const reloaded = await app.reload('test');
  assert.deepEqual(reloaded.model.classes, ['cat', 'dog', 'bird']);
  assert.equal(reloaded.model.image_size, 32);
  assert.equal(reloaded.previous?.version, first.model.version);
  assert.notEqual(reloaded.model.version, first.model.version);
  assert.equal(loads.length, 2);
  assert.equal(loads[1]!.spy.batches[0], 1, 'warmed up before it took requests');

  // New requests go to the new model; readiness never dropped.
  const ready = await app.request('/ready');
  assert.equal(ready.status, 200);
  assert.equal((await ready.json()).model.version, reloaded.model.version);
  const after = await json(await app.request('/predict', post(jpeg)));
  assert.deepEqual(Object.keys(after.probabilities), ['cat', 'dog', 'bird']);
  assert.equal(after.model.version, reloaded.model.version);
  const metadata = await json(await app.request('/v2/models/m'));
  assert.deepEqual(metadata.inputs[0].shape, [-1, 32, 32, 3]);
  assert.deepEqual(metadata.versions, [reloaded.model.version]);
  assert.equal(loads[0]!.disposed, false, 'still answering a request');

  // The held request is answered by the model it started on, then that model goes.
  loads[0]!.spy.open();
  const old = await inflight;
  assert.equal(old.status, 200);
  const oldAnswer = await old.json();
  assert.deepEqual(Object.keys(oldAnswer.probabilities), ['hotdog', 'nothotdog']);
  assert.equal(oldAnswer.model.version, first.model.version);
  await until('the old model disposed', () => logs.some((e) => e.message === `model version ${first.model.version} drained and disposed`));
  assert.equal(loads[0]!.disposed, true);
  assert.ok(logs.some((e) => e.severity === 'INFO' && /^test: model reloaded, now serving 'm' version \w{12} \(run run-a, .*\): 3 classes, 32px, cpu instead of version/.test(e.message)));

  const metrics = await (await app.request('/metrics')).text();
  assert.match(metrics, /^torchdog_model_reloads_total\{outcome="loaded"\} 1$/m);
  const info = metrics.split('\n').filter((l) => l.startsWith('torchdog_model_info{'));
  assert.equal(info.length, 1, 'only the model in service');
  assert.match(info[0]!, new RegExp(`version="${reloaded.model.version}",run="run-a",sha256="${reloaded.model.sha256}",arch="resnet18",classes="cat,dog,bird",image_size="32"`));
  await app.shutdown();
  assert.equal(loads[1]!.disposed, true, 'shutdown disposes the model the app loaded');
});

test('a reload that fails leaves the old model serving and says why: the answer, the log, the metric', async () => {
  const { app, path, loads, logs } = await setUp();
  const jpeg = await encodeImage('jpeg', 120, 90, 4);
  const version = (await json(await app.request('/ready'))).model.version as string;
  await writeFile(path, 'this is not a checkpoint');
  const res = await app.request('/v2/repository/models/m/load', post(null, { 'x-request-id': 'reload-1' }));
  const body = await json(res);
  assert.equal(res.status, 400);
  assert.equal(body.code, 'ERR_RELOAD_FAILED');
  assert.equal(body.request_id, 'reload-1');
  assert.match(body.error, new RegExp(`^the model could not be reloaded \\(.*model\\.safetensors.*\\); still serving 'm' version ${version} \\(run run-a`));
  const logged = logs.find((e) => e.severity === 'ERROR' && /model reload failed/.test(e.message));
  assert.ok(logged, JSON.stringify(logs.map((e) => e.message)));
  assert.equal(logged.request_id, 'reload-1');
  assert.match(logged.message, new RegExp(`^POST /v2/repository/models/m/load: model reload failed, still serving 'm' version ${version}`));

  for (const path of ['/ready', '/v2/health/ready', '/v2/models/m/ready']) assert.equal((await app.request(path)).status, 200, path);
  const answer = await json(await app.request('/predict', post(jpeg)));
  assert.equal(answer.model.version, version);
  assert.deepEqual(Object.keys(answer.probabilities), ['hotdog', 'nothotdog']);

  await rm(path);
  await assert.rejects(app.reload(), (e: Error & { code?: string }) => e.code === 'ERR_RELOAD_FAILED' && /no model at .*model\.safetensors/.test(e.message));
  assert.match(await (await app.request('/metrics')).text(), /^torchdog_model_reloads_total\{outcome="failed"\} 2$/m);
  assert.equal(loads.length, 1, 'the failed loads left nothing behind');
  assert.equal(loads[0]!.disposed, false);
  await app.shutdown();
});

test('reloads at the same time share one load; none once shutting down; an app given a classifier has nothing to reload from', async () => {
  const { app, loads } = await setUp();
  const [a, b] = await Promise.all([app.reload(), app.reload()]);
  assert.equal(a, b);
  assert.equal(loads.length, 2);
  await app.shutdown();
  assert.deepEqual(loads.map((l) => l.disposed), [true, true]);
  await assert.rejects(app.reload(), (e: Error & { code?: string }) => e.code === 'ERR_SHUTTING_DOWN');

  const { classifier } = await loadModelFresh();
  try {
    const fixed = createApp({ classifier, logger: null, modelName: 'm' });
    const res = await fixed.request('/v2/repository/models/m/load', post(null));
    assert.equal(res.status, 400);
    assert.match((await res.json()).error, /given a classifier, not a model source to reload it from/);
  } finally {
    await classifier.dispose();
  }
});

async function loadModelFresh() {
  const path = join(await tempDir(), 'model.safetensors');
  await writeRandomCheckpoint(path);
  return loadModel(path, { device: 'cpu', threads: 1 });
}

test('torchdog serve under load takes SIGHUP: 0 failed requests, the new model answers after the swap; a corrupt file: 0 failed, the old one answers', { timeout: 240_000 }, async (t) => {
  const dir = await tempDir('torchdog-reload-cli-');
  const path = join(dir, 'run', 'model.safetensors');
  await mkdir(join(dir, 'run'));
  await writeRandomCheckpoint(path, TEST_INFO, 1);
  const other = join(dir, 'other.safetensors');
  await writeRandomCheckpoint(other, OTHER, 2);
  const service = await startTorchdog({ model: path, dir, threads: 1, logFile: join(dir, 'serve.log') });
  try {
    const upload = multipart(await encodeImage('jpeg', 160, 120, 5));
    // 3 s of load at least, and 1 s more once the reload settled (its load takes a few seconds on a busy 2-core machine).
    const swap = { url: service.url, pid: service.pid, modelPath: path, upload, connections: 4, seconds: 3, swapAt: 1, tail: 1 };
    const swapped = await loadWithSwap({ ...swap, replacement: await readFile(other) });
    t.diagnostic(`reload: ${JSON.stringify(swapped)}`);
    assert.equal(swapped.reload, 'loaded');
    assert.equal(swapped.failed, 0);
    assert.equal(swapped.ready_not_200, 0);
    assert.notEqual(swapped.ready_after, swapped.ready_before);
    assert.deepEqual(Object.keys(swapped.answers_before), [`${swapped.ready_before} [hotdog,nothotdog]`]);
    assert.deepEqual(Object.keys(swapped.answers_after), [`${swapped.ready_after} [cat,dog,bird]`]);

    const corrupt = (await readFile(other)).subarray(0, 4096);
    const failed = await loadWithSwap({ ...swap, replacement: corrupt });
    t.diagnostic(`corrupt: ${JSON.stringify(failed)}`);
    assert.equal(failed.reload, 'failed');
    assert.equal(failed.failed, 0);
    assert.equal(failed.ready_not_200, 0);
    assert.equal(failed.ready_after, swapped.ready_after);
    assert.deepEqual(Object.keys(failed.answers_after), [`${swapped.ready_after} [cat,dog,bird]`]);
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    assert.match(metrics, /^torchdog_model_reloads_total\{outcome="loaded"\} 1$/m);
    assert.match(metrics, /^torchdog_model_reloads_total\{outcome="failed"\} 1$/m);
    const log = (await readFile(join(dir, 'serve.log'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.ok(log.some((e) => e.severity === 'ERROR' && /^SIGHUP: model reload failed, still serving '\w+' version \w+/.test(e.message)));
  } finally {
    await service.stop();
  }
});
