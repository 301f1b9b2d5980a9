import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { Classifier } from '../src/index.ts';
import { createApp } from '../src/serve/index.ts';
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
