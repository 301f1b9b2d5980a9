import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { Classifier } from '../src/index.ts';
import { createApp, DriftWindow, startServer } from '../src/serve/index.ts';
import { TEST_INFO } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { form, json, post, testClassifier } from './helpers/serve.ts';

let classifier: Classifier;
before(async () => {
  classifier = await testClassifier({ ...TEST_INFO, imageSize: 128 });
});
after(async () => {
  await classifier.dispose();
});

/** A reference set shaped like a run's reference.jsonl: features of mid-grey-ish images. */
function reference(n: number, brightness: number) {
  return Array.from({ length: n }, (_, i) => ({
    avg_brightness: brightness + ((i * 37) % 100) / 2000,
    contrast: 0.2 + ((i * 53) % 100) / 4000,
    sharpness: 0.05 + ((i * 71) % 100) / 8000,
    label: i % 2 ? 'hotdog' : 'nothotdog',
  }));
}

test('GET /drift is 404 JSON without a reference', async () => {
  const app = createApp({ classifier, logger: null });
  const response = await app.request('/drift');
  assert.equal(response.status, 404);
  assert.equal((await json(response)).error.code, 'ERR_NO_REFERENCE');
});

test('GET /drift compares the recent predictions with the reference', async () => {
  const app = createApp({ classifier, logger: null, driftReference: reference(200, 0.05), driftWindow: 20 });
  let response = await app.request('/drift');
  assert.equal(response.status, 200);
  assert.equal((await json(response)).dataset_drift, null, 'no predictions yet');
  for (let i = 0; i < 25; i++) {
    const r = await app.request('/predict', post(form('data', await encodeImage('png', 96, 96, i))));
    assert.equal(r.status, 200);
  }
  response = await app.request('/drift');
  assert.equal(response.status, 200);
  const verdict = await json(response);
  assert.equal(verdict.current_size, 20, 'the window keeps the 20 most recent');
  assert.equal(verdict.reference_size, 200);
  // The test images are far brighter than this reference (~0.05): brightness drifts.
  const brightness = verdict.columns.avg_brightness;
  assert.equal(brightness.drift, true);
  assert.equal(brightness.test, 'ks');
});

test('a reference that cannot be read makes /drift 503, not the service', async () => {
  const app = createApp({ classifier, logger: null, driftReference: Promise.reject(new Error('no such file')) });
  await new Promise((r) => setTimeout(r, 10));
  const response = await app.request('/drift');
  assert.equal(response.status, 503);
  assert.match((await json(response)).error.message, /no such file/);
  const ok = await app.request('/predict', post(form('data', await encodeImage('png', 32, 32))));
  assert.equal(ok.status, 200);
});

test('the drift verdict is computed at most once per driftRefreshMs, and only after new predictions; concurrent callers share one computation', async () => {
  const window = new DriftWindow({ reference: reference(500, 0.05), size: 50, refreshMs: 150, log: () => {} });
  for (let i = 0; i < 10; i++) window.add(reference(1, 0.5)[0]!);
  const first = await Promise.all(Array.from({ length: 16 }, () => window.verdict()));
  assert.equal(window.computed, 1, '16 callers at once: one computation');
  assert.ok(first.every((v) => v === first[0] || JSON.stringify(v) === JSON.stringify(first[0])));
  window.add(reference(1, 0.5)[0]!);
  await window.verdict();
  assert.equal(window.computed, 1, 'a new prediction within the refresh interval: the cached verdict');
  await new Promise((r) => setTimeout(r, 200));
  const fresh = await window.verdict();
  assert.equal(window.computed, 2, 'after the interval, with a new prediction: computed again');
  assert.equal(('verdict' in fresh && (fresh.verdict as { current_size: number }).current_size), 11);
  await new Promise((r) => setTimeout(r, 200));
  await window.verdict();
  assert.equal(window.computed, 2, 'no new prediction: nothing to recompute, however old');
});

test('/health stays fast while 16 clients poll /drift over a large reference', async () => {
  // 50k distinct reference records: one verdict costs tens of ms on the event loop.
  const spread = (i: number, k: number) => (Math.sin(i * k) + 1) / 2;
  const big = Array.from({ length: 50_000 }, (_, i) => ({ avg_brightness: spread(i, 1.1), contrast: spread(i, 2.3), sharpness: spread(i, 3.7), label: i % 2 ? 'hotdog' : 'nothotdog' }));
  const app = createApp({ classifier, logger: null, driftReference: big, driftWindow: 1000 });
  const server = await startServer(app, { port: 0, host: '127.0.0.1', logger: () => {} });
  try {
    for (let i = 0; i < 4; i++) {
      const r = await fetch(`${server.url}/predict`, post(form('data', await encodeImage('png', 64, 64, i))));
      assert.equal(r.status, 200);
    }
    // The records reach the window after the answers; then one verdict, computed once.
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal((await (await fetch(`${server.url}/drift`)).json()).current_size, 4);
    let polling = true;
    let answered = 0;
    const pollers = Array.from({ length: 16 }, async () => {
      while (polling) {
        const r = await fetch(`${server.url}/drift`);
        assert.equal(r.status, 200);
        await r.arrayBuffer();
        answered++;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    const latencies: number[] = [];
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      const r = await fetch(`${server.url}/health`);
      assert.equal(r.status, 200);
      await r.arrayBuffer();
      latencies.push(performance.now() - started);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    polling = false;
    await Promise.all(pollers);
    latencies.sort((a, b) => a - b);
    assert.ok(answered > 16, `${answered} /drift answers`);
    // Before the cache every poll computed the verdict, and /health waited
    // behind up to 16 of them: a median over 2 s here, and a liveness probe
    // with a 1 s timeout failing. The bounds leave room for a busy machine.
    const said = `/health took up to ${latencies.at(-1)!.toFixed(0)} ms (median ${latencies[10]!.toFixed(0)})`;
    assert.ok(latencies.at(-1)! < 1000 && latencies[10]! < 250, said);
  } finally {
    await server.close();
  }
});
