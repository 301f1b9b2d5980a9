// What operators expect of the service: CORS when asked for, a request id on
// every answer, error body and log line, an OpenAPI description of every
// route, prom-client's standard metric names, and the model named by its run
// and the sha256 of its checkpoint wherever it shows.
import { after, before, describe, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Classifier } from '../src/index.ts';
import { createApp, loadModel, type LogEntry } from '../src/serve/index.ts';
import { tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { json, post, testClassifier } from './helpers/serve.ts';

let classifier: Classifier;
let jpeg: Buffer;

before(async () => {
  classifier = await testClassifier();
  jpeg = await encodeImage('jpeg', 100, 80, 2);
});

after(async () => {
  await classifier.dispose();
});

describe('CORS', () => {
  test('off unless asked for: OPTIONS /predict is 405 and no answer has CORS headers', async () => {
    const app = createApp({ classifier, logger: null });
    const preflight = await app.request('/predict', { method: 'OPTIONS', headers: { origin: 'https://a.example', 'access-control-request-method': 'POST' } });
    assert.equal(preflight.status, 405);
    const answer = await app.request('/predict', post(jpeg, { origin: 'https://a.example' }));
    assert.equal(answer.headers.get('access-control-allow-origin'), null);
  });

  test('--cors ORIGIN: the preflight of /predict and /v2 infer is 204 for that origin; answers carry the headers; other origins get none', async () => {
    const app = createApp({ classifier, logger: null, cors: ['https://a.example', 'https://b.example'] });
    for (const path of ['/predict', '/v2/models/model/infer']) {
      const preflight = await app.request(path, {
        method: 'OPTIONS',
        headers: { origin: 'https://b.example', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.equal(preflight.status, 204, path);
      assert.equal(preflight.headers.get('access-control-allow-origin'), 'https://b.example', path);
      assert.match(preflight.headers.get('access-control-allow-methods')!, /POST/);
      assert.match(preflight.headers.get('access-control-allow-headers')!, /Content-Type/);
      assert.equal(preflight.headers.get('access-control-max-age'), '600');
    }
    const answer = await app.request('/predict', post(jpeg, { origin: 'https://a.example' }));
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('access-control-allow-origin'), 'https://a.example');
    assert.match(answer.headers.get('access-control-expose-headers')!, /X-Request-Id/);
    const stranger = await app.request('/predict', post(jpeg, { origin: 'https://evil.example' }));
    assert.equal(stranger.headers.get('access-control-allow-origin'), null);
    const any = await createApp({ classifier, logger: null, cors: '*' }).request('/health', { headers: { origin: 'https://x.example' } });
    assert.equal(any.headers.get('access-control-allow-origin'), '*');
  });

  test('origins are checked, naming the option', () => {
    assert.throws(() => createApp({ classifier, logger: null, cors: 'example.com' }), /options\.cors/);
    assert.throws(() => createApp({ classifier, logger: null, cors: 'https://example.com/page' }), /options\.cors/);
    assert.throws(() => createApp({ classifier, logger: null, cors: [] }), /options\.cors/);
  });
});

describe('request id', () => {
  test('honoured when sane, made when not: on the answer, in the error body, in the log line', async () => {
    const logs: LogEntry[] = [];
    const app = createApp({ classifier, logger: (e) => logs.push(e) });
    const given = await app.request('/predict', post(jpeg, { 'x-request-id': 'lb-7f3a_9=' }));
    assert.equal(given.headers.get('x-request-id'), 'lb-7f3a_9=');
    const refused = await app.request('/predict', post('not an image', { 'x-request-id': 'abc-1' }));
    assert.equal(refused.status, 415);
    assert.equal((await refused.json()).error.request_id, 'abc-1');
    const v2 = await app.request('/v2/models/nope');
    const made = v2.headers.get('x-request-id')!;
    assert.match(made, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    assert.equal((await v2.json()).request_id, made);
    for (const insane of ['has space', 'x'.repeat(256), 'semi;colon', '<script>']) {
      const res = await app.request('/health', { headers: { 'x-request-id': insane } });
      assert.notEqual(res.headers.get('x-request-id'), insane);
      assert.match(res.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
    }
    assert.deepEqual(logs.filter((e) => e.httpRequest).map((e) => e.request_id), ['lb-7f3a_9=', 'abc-1', made]);
  });

  test('an unhandled error is logged with the request id it answered', async () => {
    const logs: LogEntry[] = [];
    const broken = { ...classifier, info: classifier.info, device: 'cpu', decode: (b: Uint8Array) => classifier.decode(b), predictPixels: () => Promise.reject(new Error('boom')) };
    const res = await createApp({ classifier: broken, logger: (e) => logs.push(e) }).request('/predict', post(jpeg, { 'x-request-id': 'r-500' }));
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), { error: { code: 'ERR_INTERNAL', message: 'internal error', request_id: 'r-500' } });
    assert.ok(logs.some((e) => e.severity === 'ERROR' && /boom/.test(e.message) && e.request_id === 'r-500'));
  });
});

describe('GET /openapi.json', () => {
  test('describes every route of the app, /predict and the v2 routes with their errors', async () => {
    const app = createApp({ classifier, logger: null, modelName: 'hotdog' });
    const res = await app.request('/openapi.json');
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.equal(doc.openapi, '3.1.0');
    const described = new Set<string>();
    for (const [path, operations] of Object.entries(doc.paths as Record<string, Record<string, unknown>>)) {
      for (const method of Object.keys(operations)) described.add(`${method.toUpperCase()} ${path}`);
    }
    // Every method and path the app routes (the /v2/ alias of /v2 aside), in OpenAPI's {param} spelling.
    const routed = new Set(
      app.routes
        .filter((r) => r.method !== 'ALL' && r.path !== '/v2/')
        .map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    assert.deepEqual([...routed].filter((r) => !described.has(r)), [], 'routes the document leaves out');
    assert.deepEqual([...described].filter((r) => !routed.has(r)), [], 'operations the app does not have');
    const predict = doc.paths['/predict'].post;
    assert.deepEqual(Object.keys(predict.responses).sort(), ['200', '400', '405', '408', '413', '415', '503']);
    assert.deepEqual(Object.keys(predict.requestBody.content).sort(), ['application/octet-stream', 'image/*', 'multipart/form-data']);
    const infer = doc.paths['/v2/models/{model_name}/infer'].post;
    assert.deepEqual(Object.keys(infer.responses).sort(), ['200', '400', '404', '405', '408', '413', '503']);
    assert.equal(infer.parameters[0].example, 'hotdog');
    assert.match(doc.components.schemas.InferRequest.properties.inputs.description, /UINT8 \[-1, 64, 64, 3\]/);
    assert.deepEqual(doc.components.schemas.Error.properties.error.required, ['code', 'message']);
    // Every $ref resolves.
    const refs = [...JSON.stringify(doc).matchAll(/"\$ref":"#\/components\/schemas\/(\w+)"/g)].map((m) => m[1]!);
    assert.ok(refs.length > 10);
    assert.deepEqual(refs.filter((r) => !(r in doc.components.schemas)), []);
  });
});

describe('metrics', () => {
  test("prom-client's default names (process_*, nodejs_*) beside torchdog_*", async () => {
    const text = await (await createApp({ classifier, logger: null, processMetrics: true }).request('/metrics')).text();
    assert.match(text, /^process_cpu_user_seconds_total \d/m);
    assert.match(text, /^process_resident_memory_bytes \d/m);
    assert.match(text, /^nodejs_heap_size_used_bytes \d/m);
    assert.match(text, /^torchdog_ready 1$/m);
    assert.doesNotMatch(text, /^torchdog_(process|nodejs)_/m);
  });
});

describe('the model named by its run and the sha256 of its checkpoint', () => {
  test('in /ready, torchdog_model_info, /predict answers and the prediction log', async () => {
    const dir = await tempDir();
    const path = join(dir, '2026-12-01T10-00-00-000', 'model.safetensors');
    await mkdir(join(path, '..'));
    await writeRandomCheckpoint(path);
    const sha256 = createHash('sha256').update(await readFile(path)).digest('hex');
    const log = join(dir, 'predictions.jsonl');
    const app = createApp({ load: () => loadModel(path, { device: 'cpu', threads: 1 }), logger: null, predictionLog: log, modelSource: path });
    await app.loaded;
    // The name defaults to the run's (the checkpoint's folder).
    assert.equal(app.modelName, '2026-12-01T10-00-00-000');
    const ready = (await json(await app.request('/ready'))).model;
    assert.equal(ready.run, '2026-12-01T10-00-00-000');
    assert.equal(ready.sha256, sha256);
    assert.equal(ready.version, sha256.slice(0, 12));
    const answer = await json(await app.request('/predict', post(jpeg)));
    assert.deepEqual(answer.model, ready);
    const metrics = await (await app.request('/metrics')).text();
    assert.match(metrics, new RegExp(`^torchdog_model_info\\{name="2026-12-01T10-00-00-000",version="${sha256.slice(0, 12)}",run="2026-12-01T10-00-00-000",sha256="${sha256}",`, 'm'));
    await app.shutdown();
    const [record] = (await readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(record.model_run, '2026-12-01T10-00-00-000');
    assert.equal(record.model_sha256, sha256);
    assert.equal(record.category, answer.category);
  });

  test('runs/latest names the run it points at; a gs:// URI its folder; a name that a path cannot carry is made one', async () => {
    const { modelRunName, runName } = await import('../src/serve/index.ts');
    const { symlink } = await import('node:fs/promises');
    const dir = await tempDir();
    await mkdir(join(dir, 'runs', 'e8'), { recursive: true });
    await symlink('e8', join(dir, 'runs', 'latest'));
    assert.equal(await modelRunName(join(dir, 'runs', 'latest', 'model.safetensors')), 'e8');
    assert.equal(runName('gs://bucket/runs/e9/model.safetensors'), 'e9');
    assert.equal(runName('gs://bucket/model.safetensors'), 'model');
    const spaced = createApp({ classifier, logger: null, modelRun: 'my run #3' });
    assert.equal(spaced.modelName, 'my-run-3');
    assert.throws(() => createApp({ classifier, logger: null, modelName: 'a/b' }), /options\.modelName/);
  });
});
