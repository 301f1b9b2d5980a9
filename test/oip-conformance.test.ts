// The Open Inference Protocol (KServe v2) as its REST text requires it:
// every route of the required API (health, server metadata, model metadata,
// model ready, inference; each model route with and without a version), the
// JSON shapes it answers, its errors ({"error": "..."}, 400 for malformed
// tensors with the reason, 404 for an unknown model), and inference batched
// with /predict. Through app.request(), no sockets.
import { after, before, describe, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Classifier } from '../src/index.ts';
import { createApp, loadModel, type TorchdogApp } from '../src/serve/index.ts';
import { TEST_INFO, tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { encodeImage, randomPixels } from './helpers/images.ts';
import { json, post, spy, testClassifier } from './helpers/serve.ts';

const NAME = 'hotdog';
const SIZE = TEST_INFO.imageSize;
let app: TorchdogApp;
let checkpoint: string;
let sha256: string;
let version: string;
let classifier: Classifier;

before(async () => {
  checkpoint = join(await tempDir(), 'run-7', 'model.safetensors');
  const { mkdir } = await import('node:fs/promises');
  await mkdir(join(checkpoint, '..'), { recursive: true });
  await writeRandomCheckpoint(checkpoint);
  sha256 = createHash('sha256').update(await readFile(checkpoint)).digest('hex');
  version = sha256.slice(0, 12);
  app = createApp({ load: () => loadModel(checkpoint, { device: 'cpu', threads: 1 }), modelName: NAME, logger: null });
  await app.loaded;
  classifier = await testClassifier();
});

after(async () => {
  await app.shutdown();
  await classifier.dispose();
});

/** An inference request for `images` (each SIZE²×3 pixels), flat data. */
function inferBody(images: Uint8Array[], extra: Record<string, unknown> = {}): string {
  const data: number[] = [];
  for (const image of images) data.push(...image);
  return JSON.stringify({ inputs: [{ name: 'image', shape: [images.length, SIZE, SIZE, 3], datatype: 'UINT8', data }], ...extra });
}

const postJson = (body: string, headers: Record<string, string> = {}) => post(body, { 'content-type': 'application/json', ...headers });

function assertOipError(body: any, status: number, res: Response, pattern: RegExp): void {
  assert.equal(res.status, status, JSON.stringify(body));
  assert.equal(typeof body.error, 'string', JSON.stringify(body));
  assert.match(body.error, pattern);
  assert.equal(body.request_id, res.headers.get('x-request-id'));
}

function softmax(row: number[]): number[] {
  const top = Math.max(...row);
  const e = row.map((v) => Math.exp(v - top));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / sum);
}

describe('the required API', () => {
  test('every route answers as the protocol says, with and without a version', async () => {
    const pixels = randomPixels(2, SIZE, 3);
    const images = [pixels.subarray(0, SIZE * SIZE * 3), pixels.subarray(SIZE * SIZE * 3)];
    const metadata = (body: any) => {
      assert.deepEqual(body, {
        name: NAME,
        versions: [version],
        platform: 'pytorch_libtorch',
        inputs: [{ name: 'image', datatype: 'UINT8', shape: [-1, SIZE, SIZE, 3] }],
        outputs: [
          { name: 'probabilities', datatype: 'FP32', shape: [-1, 2], parameters: { classes: '["hotdog","nothotdog"]' } },
          { name: 'logits', datatype: 'FP32', shape: [-1, 2], parameters: { classes: '["hotdog","nothotdog"]' } },
        ],
        parameters: { classes: '["hotdog","nothotdog"]', run: 'run-7', sha256 },
      });
    };
    const inferred = (body: any) => {
      assert.deepEqual(Object.keys(body), ['model_name', 'model_version', 'id', 'outputs']);
      assert.equal(body.model_name, NAME);
      assert.equal(body.model_version, version);
      assert.equal(body.id, '42');
      assert.deepEqual(body.outputs.map((o: any) => [o.name, o.datatype, o.shape]), [['probabilities', 'FP32', [2, 2]], ['logits', 'FP32', [2, 2]]]);
    };
    // The protocol's HTTP/REST table: Inference, Model Metadata, Server Ready, Server Live, Server Metadata, Model Ready.
    const routes: [string, string, RequestInit | undefined, (body: any) => void][] = [
      ['Server Live', '/v2/health/live', undefined, (b) => assert.deepEqual(b, { live: true })],
      ['Server Ready', '/v2/health/ready', undefined, (b) => assert.deepEqual(b, { ready: true })],
      ['Server Metadata', '/v2', undefined, (b) => assert.deepEqual(b, { name: 'torchdog', version: '0.1.0', extensions: ['model_repository'] })],
      ['Server Metadata (trailing /)', '/v2/', undefined, (b) => assert.equal(b.name, 'torchdog')],
      ['Model Metadata', `/v2/models/${NAME}`, undefined, metadata],
      ['Model Metadata, versioned', `/v2/models/${NAME}/versions/${version}`, undefined, metadata],
      ['Model Ready', `/v2/models/${NAME}/ready`, undefined, (b) => assert.deepEqual(b, { name: NAME, ready: true })],
      ['Model Ready, versioned', `/v2/models/${NAME}/versions/${version}/ready`, undefined, (b) => assert.deepEqual(b, { name: NAME, ready: true })],
      ['Inference', `/v2/models/${NAME}/infer`, postJson(inferBody(images, { id: '42' })), inferred],
      ['Inference, versioned', `/v2/models/${NAME}/versions/${version}/infer`, postJson(inferBody(images, { id: '42' })), inferred],
    ];
    for (const [api, path, init, check] of routes) {
      const res = await app.request(path, init);
      assert.equal(res.status, 200, `${api}: ${path}`);
      assert.match(res.headers.get('content-type')!, /^application\/json/, api);
      assert.match(res.headers.get('x-request-id')!, /^[\w-]+$/, api);
      check(await json(res));
    }
  });

  test("inference answers the model's own outputs, row per image; logits softmax to the probabilities; id defaults to the request id", async () => {
    const pixels = randomPixels(3, SIZE, 11);
    const images = [0, 1, 2].map((i) => pixels.subarray(i * SIZE * SIZE * 3, (i + 1) * SIZE * SIZE * 3));
    const res = await app.request(`/v2/models/${NAME}/infer`, postJson(inferBody(images), { 'x-request-id': 'req-1' }));
    const body = await json(res);
    assert.equal(res.status, 200);
    assert.equal(body.id, 'req-1');
    const expected = await app.model!.scorePixels!(images);
    const [probabilities, logits] = body.outputs;
    // Float kernels need not round alike for another batch size (the service
    // may batch these differently than one call does): equal within 1e-5,
    // while the three images' outputs lie further apart than that.
    const close = (a: number[], b: number[], what: string) => a.forEach((v, c) => assert.ok(Math.abs(v - b[c]!) <= 1e-5, `${what}: ${a} vs ${b}`));
    for (let i = 1; i < 3; i++) assert.ok(Math.abs(expected[i]!.logits[0]! - expected[0]!.logits[0]!) > 1e-3, 'the images are told apart');
    for (let i = 0; i < 3; i++) {
      const p = probabilities.data.slice(i * 2, i * 2 + 2);
      const l = logits.data.slice(i * 2, i * 2 + 2);
      close(p, [...expected[i]!.probabilities], `image ${i} probabilities`);
      close(l, [...expected[i]!.logits], `image ${i} logits`);
      softmax(l).forEach((v, c) => assert.ok(Math.abs(v - p[c]!) < 1e-6, `softmax(logits) of image ${i}`));
    }
    // The rows differ, so a mix-up of images would show.
    assert.notDeepEqual(probabilities.data.slice(0, 2), probabilities.data.slice(2, 4));
  });

  test('the same image answers the same through /predict and through infer (its decoded pixels)', async () => {
    const jpeg = await encodeImage('jpeg', 150, 100, 5);
    const viaPredict = await json(await app.request('/predict', post(jpeg)));
    const pixels = await app.model!.decode(jpeg);
    const viaInfer = await json(await app.request(`/v2/models/${NAME}/infer`, postJson(inferBody([pixels]))));
    assert.deepEqual(viaInfer.outputs[0].data, TEST_INFO.classes.map((c) => viaPredict.probabilities[c]));
    assert.equal(viaPredict.model.name, NAME);
    assert.equal(viaPredict.model.sha256, sha256);
  });

  test('requested outputs are honoured, in the order asked; nested data is the same tensor as flat', async () => {
    const pixels = randomPixels(1, SIZE, 4);
    const flat = [...pixels];
    const nested = [Array.from({ length: SIZE }, (_, y) => Array.from({ length: SIZE }, (_, x) => flat.slice((y * SIZE + x) * 3, (y * SIZE + x) * 3 + 3)))];
    const ask = async (data: unknown, outputs?: { name: string }[]) => {
      const body = { inputs: [{ name: 'image', shape: [1, SIZE, SIZE, 3], datatype: 'UINT8', data }], ...(outputs ? { outputs } : {}) };
      const res = await app.request(`/v2/models/${NAME}/infer`, postJson(JSON.stringify(body)));
      assert.equal(res.status, 200);
      return (await res.json()).outputs as { name: string; data: number[] }[];
    };
    const both = await ask(flat);
    assert.deepEqual(both.map((o) => o.name), ['probabilities', 'logits']);
    const logitsOnly = await ask(flat, [{ name: 'logits' }]);
    assert.deepEqual(logitsOnly.map((o) => o.name), ['logits']);
    assert.deepEqual(logitsOnly[0]!.data, both[1]!.data);
    const reversed = await ask(nested, [{ name: 'logits' }, { name: 'probabilities' }]);
    assert.deepEqual(reversed.map((o) => o.name), ['logits', 'probabilities']);
    assert.deepEqual(reversed[1]!.data, both[0]!.data);
  });
});

describe('errors', () => {
  const image = () => [...randomPixels(1, SIZE, 1)];
  const input = (over: Record<string, unknown>) => JSON.stringify({ inputs: [{ name: 'image', shape: [1, SIZE, SIZE, 3], datatype: 'UINT8', data: image(), ...over }] });

  test('400 for malformed requests and tensors, each with its reason; no forward pass runs', async () => {
    const passes = async () => Number(/^torchdog_batch_size_count (\d+)/m.exec(await (await app.request('/metrics')).text())?.[1] ?? 0);
    const before = await passes();
    const data = image();
    const cases: [string, string, RegExp, string?][] = [
      ['not JSON', '{"inputs": [', /not JSON/, 'ERR_BAD_JSON'],
      ['empty body', '', /no request body/, 'ERR_BAD_JSON'],
      ['an array', '[1, 2]', /must be a JSON object with 'inputs', not \[1,2\]/],
      ['no inputs', '{}', /'inputs' must be a list with one tensor, 'image' \(UINT8 \[-1, 64, 64, 3\]\), not missing/],
      ['two inputs', JSON.stringify({ inputs: [{}, {}] }), /'inputs' has 2 tensors; this model takes one, 'image'/],
      ['another input name', input({ name: 'input-0' }), /inputs\[0\] is named "input-0"; this model's input is 'image'/],
      ['wrong datatype', input({ datatype: 'FP32' }), /input 'image' has datatype "FP32"; it takes UINT8/],
      ['shape of rank 3', input({ shape: [SIZE, SIZE, 3] }), /input 'image' has shape \[64,64,3\]; it takes UINT8 \[-1, 64, 64, 3\]/],
      ['other image size', input({ shape: [1, 32, 32, 3] }), /has shape \[1,32,32,3\]; this model takes UINT8 \[-1, 64, 64, 3\] \(64x64 RGB images\)/],
      ['negative dimension', input({ shape: [-1, SIZE, SIZE, 3] }), /has shape \[-1,64,64,3\]/],
      ['no images', input({ shape: [0, SIZE, SIZE, 3], data: [] }), /has no images/],
      ['data shorter than the shape', input({ data: data.slice(0, 10) }), /has 10 elements in 'data'; shape \[1,64,64,3\] has 12288/],
      ['data longer than the shape', input({ shape: [1, SIZE, SIZE, 3], data: [...data, 1] }), /has 12289 elements in 'data'; shape \[1,64,64,3\] has 12288/],
      ['nested data of another shape', input({ data: [[[1, 2, 3]]] }), /data\[0\] has 1 entries where shape \[1,64,64,3\] says 64/],
      ['no data', input({ data: undefined }), /needs 'data', a list of 12288 integers 0-255, not missing/],
      ['a value over 255', input({ data: data.map((v, i) => (i === 5 ? 256 : v)) }), /element 5 is 256; UINT8 elements are integers 0-255/],
      ['a negative value', input({ data: data.map((v, i) => (i === 7 ? -1 : v)) }), /element 7 is -1/],
      ['a fraction', input({ data: data.map((v, i) => (i === 0 ? 1.5 : v)) }), /element 0 is 1.5/],
      ['a string', input({ data: data.map((v, i) => (i === 1 ? '7' : v)) }), /element 1 is "7"/],
      ['too many elements for the body limit', input({ shape: [100_000, SIZE, SIZE, 3] }), /claims 100000 images \(1228800000 elements\); a request within the body limit holds at most 5242880 elements/],
      ['an unknown output', JSON.stringify({ ...JSON.parse(input({})), outputs: [{ name: 'scores' }] }), /outputs\[0\] names "scores"; this model's outputs are 'probabilities' and 'logits'/],
      ['an output twice', JSON.stringify({ ...JSON.parse(input({})), outputs: [{ name: 'logits' }, { name: 'logits' }] }), /outputs\[1\] asks for 'logits' again/],
      ['an id that is not a string', JSON.stringify({ ...JSON.parse(input({})), id: 42 }), /'id' must be a string, not 42/],
      ['binary data', input({ parameters: { binary_data_size: 12288 } }), /binary tensor data is not supported/, 'ERR_UNSUPPORTED_EXTENSION'],
    ];
    for (const [name, body, pattern, code = 'ERR_BAD_TENSOR'] of cases) {
      const res = await app.request(`/v2/models/${NAME}/infer`, postJson(body));
      const answer = await json(res);
      assertOipError(answer, 400, res, pattern);
      assert.equal(answer.code, code, name);
    }
    const binary = await app.request(`/v2/models/${NAME}/infer`, postJson(input({}), { 'inference-header-content-length': '100' }));
    assertOipError(await json(binary), 400, binary, /binary tensor data is not supported: send the tensors as JSON/);
    assert.equal(await passes(), before, 'a refused request runs no forward pass');
  });

  test('404 for an unknown model or version on every model route, naming the one served', async () => {
    const body = inferBody([randomPixels(1, SIZE, 2)]);
    const cases: [string, RequestInit | undefined, RegExp][] = [
      ['/v2/models/nope', undefined, /unknown model 'nope'; this server serves 'hotdog'/],
      ['/v2/models/nope/ready', undefined, /unknown model 'nope'/],
      ['/v2/models/nope/infer', postJson(body), /unknown model 'nope'/],
      ['/v2/models/nope/versions/1', undefined, /unknown model 'nope'/],
      ['/v2/models/nope/versions/1/infer', postJson(body), /unknown model 'nope'/],
      [`/v2/models/${NAME}/versions/0`, undefined, new RegExp(`model 'hotdog' has no version '0' in service; it serves version '${version}'`)],
      [`/v2/models/${NAME}/versions/0/ready`, undefined, /has no version '0'/],
      [`/v2/models/${NAME}/versions/0/infer`, postJson(body), /has no version '0'/],
      ['/v2/repository/models/nope/load', post(null), /unknown model 'nope'/],
    ];
    for (const [path, init, pattern] of cases) {
      const res = await app.request(path, init);
      const answer = await json(res);
      assertOipError(answer, 404, res, pattern);
      assert.equal(answer.code, 'ERR_UNKNOWN_MODEL', path);
    }
    const other = await app.request('/v2/nothing');
    assertOipError(await json(other), 404, other, /no route GET \/v2\/nothing/);
  });

  test('405 with Allow for another method; 413 over the body limit; 503 with Retry-After while the model loads', async () => {
    const get = await app.request(`/v2/models/${NAME}/infer`);
    assertOipError(await json(get), 405, get, /GET is not allowed on \/v2\/models\/hotdog\/infer; use POST/);
    assert.equal(get.headers.get('allow'), 'POST');
    const del = await app.request(`/v2/models/${NAME}`, { method: 'DELETE' });
    assert.equal(del.status, 405);
    assert.equal(del.headers.get('allow'), 'GET');

    const small = createApp({ classifier, logger: null, maxBodyBytes: 1000, modelName: NAME });
    const body = inferBody([randomPixels(1, SIZE, 2)]);
    const big = await small.request(`/v2/models/${NAME}/infer`, postJson(body, { 'content-length': String(body.length) }));
    assertOipError(await json(big), 413, big, /larger than the limit of 1000 bytes/);
    // The element bound follows the body limit.
    const claim = await small.request(`/v2/models/${NAME}/infer`, postJson(JSON.stringify({ inputs: [{ name: 'image', datatype: 'UINT8', shape: [1, SIZE, SIZE, 3], data: [] }] })));
    assertOipError(await json(claim), 400, claim, /at most 500 elements/);

    let resolve!: (c: Classifier) => void;
    const loading = createApp({ classifier: new Promise<Classifier>((r) => (resolve = r)), logger: null, modelName: NAME });
    for (const path of ['/v2/health/ready', `/v2/models/${NAME}/ready`, `/v2/models/${NAME}`]) {
      const res = await loading.request(path);
      assert.equal(res.status, 503, path);
      assert.equal(res.headers.get('retry-after'), '1', path);
      assert.match(JSON.stringify(await res.json()), /still loading/, path);
    }
    const infer = await loading.request(`/v2/models/${NAME}/infer`, postJson(body));
    assertOipError(await json(infer), 503, infer, /the model is still loading/);
    assert.equal((await loading.request('/v2/health/live')).status, 200);
    resolve(classifier);
    await loading.loaded;
    assert.equal((await loading.request('/v2/health/ready')).status, 200);
  });
});

describe('batching and the repository', () => {
  test('inference shares forward passes with /predict: the same batcher', async () => {
    const s = spy(classifier);
    const a = createApp({ classifier: s.classifier, logger: null, modelName: NAME, maxBatch: 8, maxWaitMs: 300, eagerBatching: false });
    const jpeg = await encodeImage('jpeg', 80, 60, 1);
    const pixels = randomPixels(3, SIZE, 9);
    const images = [0, 1, 2].map((i) => pixels.subarray(i * SIZE * SIZE * 3, (i + 1) * SIZE * SIZE * 3));
    const [predicted, inferred] = await Promise.all([
      a.request('/predict', post(jpeg)),
      a.request(`/v2/models/${NAME}/infer`, postJson(inferBody(images))),
    ]);
    assert.equal(predicted.status, 200);
    assert.equal(inferred.status, 200);
    assert.deepEqual(s.batches, [4], 'one pass: the /predict image and the three of the inference request');
    const log = await (await a.request('/metrics')).text();
    assert.match(log, /torchdog_predictions_total\{category="[a-z]+"\} \d/);
    assert.match(log, /torchdog_http_requests_total\{route="\/v2\/models\/:model_name\/infer",method="POST",status="200"\} 1/);
  });

  test('the repository index lists the model; unload is refused with the reason', async () => {
    const index = await app.request('/v2/repository/index', post(null));
    assert.deepEqual(await index.json(), [{ name: NAME, version, state: 'READY' }]);
    const unload = await app.request(`/v2/repository/models/${NAME}/unload`, post(null));
    assertOipError(await json(unload), 400, unload, /cannot be unloaded: this server serves exactly one model.*POST \/v2\/repository\/models\/hotdog\/load/);
    assert.equal((await app.request(`/v2/models/${NAME}/ready`)).status, 200, 'still serving');
  });
});
