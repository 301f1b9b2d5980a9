// Dynamic batching, the bounded queue, per-request timeouts and the drain on
// shutdown, with a spy that counts (and can hold) forward passes.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Classifier } from '../src/index.ts';
import { Batcher, createApp, type PredictionSink } from '../src/serve/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { form, post, spy, testClassifier } from './helpers/serve.ts';

let classifier: Classifier;
let images: Buffer[];

before(async () => {
  classifier = await testClassifier();
  images = await Promise.all(Array.from({ length: 12 }, (_, i) => encodeImage(i % 2 ? 'png' : 'jpeg', 96 + i * 8, 72 + i * 4, i)));
});

after(async () => {
  await classifier.dispose();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('concurrent requests share forward passes, and each gets its own image\'s answer', async () => {
  const s = spy(classifier);
  const app = createApp({ classifier: s.classifier, logger: null, maxBatch: 32, maxWaitMs: 50 });
  const responses = await Promise.all(images.map((image) => app.request('/predict', post(form('data', image)))));
  const answers = await Promise.all(responses.map((r) => r.json()));
  assert.ok(responses.every((r) => r.status === 200));
  assert.equal(s.batches.reduce((a, b) => a + b, 0), images.length);
  assert.ok(s.batches.length < images.length / 2, `passes: ${JSON.stringify(s.batches)}`);
  // Alone, one image per pass: the same class and probabilities.
  const distinct = new Set<number>();
  for (const [i, image] of images.entries()) {
    const alone = await classifier.predict(image);
    assert.equal(answers[i].category, alone.category, `image ${i}`);
    for (const name of classifier.classes) {
      assert.ok(Math.abs(answers[i].probabilities[name] - alone.probabilities[name]!) < 1e-5, `image ${i} ${name}`);
    }
    distinct.add(alone.probability);
  }
  // The images differ enough that a mix-up would show.
  assert.ok(distinct.size >= images.length - 1);
  const metrics = await (await app.request('/metrics')).text();
  assert.match(metrics, new RegExp(`torchdog_batch_size_count ${s.batches.length}\\b`));
  assert.match(metrics, new RegExp(`torchdog_batch_size_sum ${images.length}\\b`));
  assert.match(metrics, new RegExp(`torchdog_queue_wait_seconds_count ${images.length}\\b`));
});

test('no pass is larger than maxBatch', async () => {
  const s = spy(classifier);
  const app = createApp({ classifier: s.classifier, logger: null, maxBatch: 4, maxWaitMs: 50 });
  const responses = await Promise.all(images.slice(0, 10).map((image) => app.request('/predict', post(image))));
  assert.ok(responses.every((r) => r.status === 200));
  assert.ok(s.batches.every((n) => n <= 4), JSON.stringify(s.batches));
  assert.equal(s.batches.reduce((a, b) => a + b, 0), 10);
  assert.ok(s.batches.length >= 3);
});

test('a lone request waits at most maxWaitMs for company', async () => {
  const s = spy(classifier);
  const app = createApp({ classifier: s.classifier, logger: null, maxBatch: 32, maxWaitMs: 20 });
  await app.request('/predict', post(images[0]!)); // warm-up
  const started = performance.now();
  assert.equal((await app.request('/predict', post(images[1]!))).status, 200);
  assert.ok(performance.now() - started < 1000);
  assert.deepEqual(s.batches, [1, 1]);
});

test('queue full: 503 with Retry-After at once, and the admitted requests still succeed', async () => {
  const s = spy(classifier);
  const app = createApp({ classifier: s.classifier, logger: null, maxBatch: 8, maxWaitMs: 20, maxQueue: 3, retryAfterSeconds: 2 });
  s.close();
  const pass = s.nextPass();
  const admitted = images.slice(0, 3).map((image) => app.request('/predict', post(image)));
  assert.equal(await pass, 3);
  const started = performance.now();
  const refused = await app.request('/predict', post(images[3]!));
  assert.ok(performance.now() - started < 500, 'refused without waiting');
  assert.equal(refused.status, 503);
  assert.equal(refused.headers.get('retry-after'), '2');
  assert.equal((await refused.json()).error.code, 'ERR_QUEUE_FULL');
  s.open();
  assert.deepEqual((await Promise.all(admitted)).map((r) => r.status), [200, 200, 200]);
  assert.equal((await app.request('/predict', post(images[3]!))).status, 200);
  assert.match(await (await app.request('/metrics')).text(), /status="503"\} 1/);
});

test('a request that waits past its timeout gets a JSON 503 and leaves the queue', async () => {
  const s = spy(classifier);
  const app = createApp({ classifier: s.classifier, logger: null, maxBatch: 1, maxWaitMs: 0, requestTimeoutMs: 400 });
  s.close();
  const pass = s.nextPass();
  const first = app.request('/predict', post(images[0]!));
  await pass;
  const second = await app.request('/predict', post(images[1]!));
  assert.equal(second.status, 503);
  assert.ok(second.headers.get('retry-after'));
  const body = await second.json();
  assert.equal(body.error.code, 'ERR_TIMEOUT');
  assert.match(body.error.message, /400 ms/);
  s.open();
  // The first was already in its pass: it is answered; the second never ran.
  assert.equal((await first).status, 200);
  await sleep(50);
  assert.deepEqual(s.batches, [1]);
});

test('a body that does not arrive in time is a 408', async () => {
  const app = createApp({ classifier, logger: null, requestTimeoutMs: 200 });
  const stalled = new ReadableStream<Uint8Array>({
    start(controller) {
      controller.enqueue(images[0]!.subarray(0, 100));
    },
  });
  const res = await app.request('/predict', { method: 'POST', body: stalled, duplex: 'half' } as RequestInit);
  assert.equal(res.status, 408);
  assert.equal((await res.json()).error.code, 'ERR_BODY_TIMEOUT');
});

test('shutdown drains: admitted requests are answered, new ones refused, the log flushed', async () => {
  const s = spy(classifier);
  const file = join(await tempDir(), 'predictions.jsonl');
  const app = createApp({
    classifier: s.classifier, logger: null, maxWaitMs: 20, predictionLog: file, predictionLogFlushMs: 3_600_000,
  });
  s.close();
  const pass = s.nextPass();
  const inflight = images.slice(0, 3).map((image) => app.request('/predict', post(form('data', image))));
  await pass;
  let done = false;
  const stopping = app.shutdown({ timeoutMs: 10_000 }).then((r) => ((done = true), r));
  await sleep(100);
  assert.equal(done, false, 'shutdown waits for the requests in progress');
  const late = await app.request('/predict', post(images[4]!));
  assert.equal(late.status, 503);
  assert.equal((await late.json()).error.code, 'ERR_SHUTTING_DOWN');
  assert.equal(late.headers.get('connection'), 'close');
  assert.equal((await app.request('/ready')).status, 503);
  assert.equal((await app.request('/health')).status, 200);
  s.open();
  const statuses = (await Promise.all(inflight)).map((r) => r.status);
  assert.deepEqual(statuses, [200, 200, 200]);
  assert.deepEqual(await stopping, { drained: true });
  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  assert.equal(lines.length, 3);
});

test('shutdown gives up waiting after its timeout', async () => {
  const s = spy(classifier);
  const app = createApp({ classifier: s.classifier, logger: null, maxWaitMs: 0 });
  s.close();
  const pass = s.nextPass();
  const stuck = app.request('/predict', post(images[0]!));
  await pass;
  assert.deepEqual(await app.shutdown({ timeoutMs: 100 }), { drained: false });
  s.open();
  assert.equal((await stuck).status, 200);
});

test('a slow or failing prediction-log sink never slows or fails a request', async () => {
  let writes = 0;
  const hanging: PredictionSink = { description: 'hanging', write: () => (writes++, new Promise(() => {})) };
  const failing: PredictionSink = { description: 'failing', write: async () => { writes++; throw new Error('disk full'); } };
  for (const sink of [hanging, failing]) {
    const app = createApp({ classifier, logger: null, predictionLog: sink, predictionLogFlushMs: 5 });
    for (let i = 0; i < 5; i++) {
      const started = performance.now();
      assert.equal((await app.request('/predict', post(images[i]!))).status, 200);
      assert.ok(performance.now() - started < 2000);
      await sleep(10);
    }
    const metrics = await (await app.request('/metrics')).text();
    if (sink === failing) assert.match(metrics, /torchdog_prediction_log_write_errors_total [1-9]/);
    await app.shutdown({ timeoutMs: 200 });
  }
  assert.ok(writes >= 2);
});

test('Batcher: an input aborted while queued leaves without running; the others still run', async () => {
  const runs: number[][] = [];
  const batcher = new Batcher<number, number>({ maxBatch: 8, maxWaitMs: 30, run: async (xs) => (runs.push(xs), xs.map((x) => x * 2)) });
  const abort = new AbortController();
  const a = batcher.submit(1);
  const b = batcher.submit(2, abort.signal);
  const c = batcher.submit(3);
  abort.abort(new Error('gone'));
  await assert.rejects(b, /gone/);
  assert.deepEqual([(await a).output, (await c).output], [2, 6]);
  assert.deepEqual(runs, [[1, 3]]);
  assert.equal((await a).batchSize, 2);
  assert.throws(() => new Batcher({ maxBatch: 0, maxWaitMs: 1, run: async () => [] }), /maxBatch/);
});
