import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { Classifier } from '../src/index.ts';
import { createApp } from '../src/serve/index.ts';
import { encodeImage } from './helpers/images.ts';
import { form, post, testClassifier } from './helpers/serve.ts';

let classifier: Classifier;
before(async () => {
  classifier = await testClassifier();
  await classifier.predictPixels([await classifier.decode(await encodeImage('png', 64, 64))]); // build the graph
});
after(async () => {
  await classifier.dispose();
});

async function timeLone(eagerBatching: boolean): Promise<number> {
  const app = createApp({ classifier, logger: null, maxWaitMs: 600, eagerBatching });
  const image = await encodeImage('png', 64, 64, 3);
  const started = performance.now();
  const response = await app.request('/predict', post(form('data', image)));
  assert.equal(response.status, 200);
  return performance.now() - started;
}

test('a lone request does not wait for company that is not coming (eager batching)', async () => {
  const eager = await timeLone(true);
  const fixed = await timeLone(false);
  assert.ok(fixed >= 600, `with a fixed wait the request waits maxWaitMs (${fixed.toFixed(0)} ms)`);
  assert.ok(eager < 400, `eager batching answered a lone request in ${eager.toFixed(0)} ms`);
});
