// The service's routes and error answers, through app.request() (no sockets).
import { after, before, describe, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32 } from 'node:zlib';
import { Classifier, decodeImage } from '../src/index.ts';
import { driftFeatures } from '../src/drift/index.ts';
import { createApp, type LogEntry, type ServeClassifier } from '../src/serve/index.ts';
import { TEST_INFO, tempDir } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { form, json, post, testClassifier } from './helpers/serve.ts';

let classifier: Classifier;
let jpeg: Buffer;

before(async () => {
  classifier = await testClassifier();
  jpeg = await encodeImage('jpeg', 160, 120, 3);
});

after(async () => {
  await classifier.dispose();
});

function app(options: Partial<Parameters<typeof createApp>[0]> = {}) {
  return createApp({ classifier, logger: null, ...options });
}

/** A valid PNG header whose IHDR claims width x height, then a tiny IDAT and IEND. */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(data.length, 0);
    head.write(type, 4, 'ascii');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(crc32(Buffer.concat([Buffer.from(type, 'ascii'), data])), 0);
    return Buffer.concat([head, data, crc]);
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', Buffer.from([0x78, 0x9c, 0x63, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01])),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

function assertError(body: any, code: string): void {
  assert.deepEqual(Object.keys(body), ['error'], JSON.stringify(body));
  assert.equal(body.error.code, code, JSON.stringify(body));
  assert.equal(typeof body.error.message, 'string');
  assert.ok(body.error.message.length > 10);
}

describe('routes', () => {
  test('GET / is the page, with a content security policy', async () => {
    const res = await app().request('/');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/html/);
    assert.match(res.headers.get('content-security-policy')!, /script-src 'sha256-/);
    const html = await res.text();
    assert.match(html, /<input id="file" type="file"/);
    assert.match(html, /fetch\('predict'/);
  });

  test('GET /health and GET /ready', async () => {
    const a = app({ modelSource: 'runs/x/model.safetensors' });
    const health = await a.request('/health');
    assert.equal(health.status, 200);
    assert.deepEqual(await health.json(), { status: 'ok' });
    await a.loaded;
    const ready = await a.request('/ready');
    assert.equal(ready.status, 200);
    const body = await ready.json();
    assert.equal(body.status, 'ready');
    // Named after its run (the checkpoint's folder); without a sha256, version 1 (the first model loaded).
    assert.deepEqual(body.model, {
      name: 'x', version: '1', run: 'x', arch: 'resnet18', classes: ['hotdog', 'nothotdog'], image_size: 64, device: 'cpu', precision: 'fp32', source: 'runs/x/model.safetensors',
    });
  });

  test('/ready and /predict answer 503 until the model is loaded, 200 after', async () => {
    let resolve!: (c: ServeClassifier) => void;
    const a = app({ classifier: new Promise<ServeClassifier>((r) => (resolve = r)) });
    for (const res of [await a.request('/ready'), await a.request('/predict', post(jpeg))]) {
      assert.equal(res.status, 503);
      assert.equal(res.headers.get('retry-after'), '1');
      assertError(await res.json(), 'ERR_NOT_READY');
    }
    assert.equal((await a.request('/health')).status, 200);
    resolve(classifier);
    await a.loaded;
    assert.equal((await a.request('/ready')).status, 200);
    assert.equal((await a.request('/predict', post(jpeg))).status, 200);
  });

  test('a model that fails to load keeps /ready at 503 with the reason', async () => {
    const a = app({ classifier: Promise.reject(new Error('checkpoint is corrupt')) });
    await assert.rejects(a.loaded, /corrupt/);
    const res = await a.request('/ready');
    assert.equal(res.status, 503);
    const body = await res.json();
    assertError(body, 'ERR_NOT_READY');
    assert.match(body.error.message, /checkpoint is corrupt/);
  });

  test('unknown routes are JSON 404s; other methods on /predict are 405 with Allow', async () => {
    const missing = await app().request('/nope');
    assert.equal(missing.status, 404);
    assertError(await missing.json(), 'ERR_NOT_FOUND');
    const get = await app().request('/predict');
    assert.equal(get.status, 405);
    assert.equal(get.headers.get('allow'), 'POST');
    assertError(await get.json(), 'ERR_METHOD_NOT_ALLOWED');
  });
});

describe('POST /predict', () => {
  test('multipart field "data" answers the class, probabilities and model, as the classifier alone does', async () => {
    const res = await app().request('/predict', post(form('data', jpeg)));
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    const body = await res.json();
    assert.deepEqual(Object.keys(body).sort(), ['category', 'model', 'probabilities', 'probability']);
    const expected = await classifier.predict(jpeg);
    assert.equal(body.category, expected.category);
    assert.ok(Math.abs(body.probability - expected.probability) < 1e-6);
    assert.equal(body.probability, body.probabilities[body.category]);
    assert.deepEqual(Object.keys(body.probabilities), ['hotdog', 'nothotdog']);
    const sum = Object.values(body.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5);
    assert.equal(body.model.arch, 'resnet18');
    assert.deepEqual(body.model.classes, ['hotdog', 'nothotdog']);
  });

  test('multipart field "file", raw bodies with or without a type, and every accepted format', async () => {
    const a = app();
    const png = await encodeImage('png', 64, 48, 5);
    const webp = await encodeImage('webp', 80, 80, 6);
    const cases: [string, RequestInit, Buffer][] = [
      ['file field', post(form('file', png, 'x.png', 'image/png')), png],
      ['raw image/jpeg', post(jpeg, { 'content-type': 'image/jpeg' }), jpeg],
      ['raw octet-stream', post(webp, { 'content-type': 'application/octet-stream' }), webp],
      ['raw with no type', post(png), png],
      // The declared type and file name are not trusted either way.
      ['png declared as jpeg, named .txt', post(form('data', png, 'notes.txt', 'text/plain')), png],
    ];
    for (const [name, init, bytes] of cases) {
      const res = await a.request('/predict', init);
      assert.equal(res.status, 200, name);
      const body = await res.json();
      assert.equal(body.category, (await classifier.predict(bytes)).category, name);
    }
  });

  test('400: empty body, missing field, malformed multipart, undecodable image', async () => {
    const a = app();
    const cases: [string, RequestInit, string][] = [
      ['empty raw body', post(new Uint8Array(0), { 'content-type': 'image/jpeg' }), 'ERR_EMPTY_BODY'],
      ['no body at all', { method: 'POST' }, 'ERR_EMPTY_BODY'],
      ['missing field', post(form('image', jpeg)), 'ERR_MISSING_FIELD'],
      ['empty file field', post(form('data', new Uint8Array(0))), 'ERR_EMPTY_BODY'],
      ['bad multipart', post('--x\r\nnot really\r\n', { 'content-type': 'multipart/form-data; boundary=zzz' }), 'ERR_BAD_MULTIPART'],
      ['truncated jpeg', post(jpeg.subarray(0, 300), { 'content-type': 'image/jpeg' }), 'ERR_IMAGE_UNREADABLE'],
    ];
    for (const [name, init, code] of cases) {
      const res = await a.request('/predict', init);
      assert.equal(res.status, 400, name);
      assertError(await json(res), code);
    }
    const missing = await json(await a.request('/predict', post(form('image', jpeg))));
    assert.match(missing.error.message, /'data' or 'file'.*'image'/);
  });

  test('415: text, JSON, SVG and BMP are refused by their bytes, whatever they claim', async () => {
    const a = app();
    const bmp = Buffer.concat([Buffer.from('BM'), Buffer.alloc(60)]);
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>';
    const cases: [string, RequestInit][] = [
      ['text as jpeg', post(form('data', Buffer.from('hello, I am a hot dog'), 'dog.jpg', 'image/jpeg'))],
      ['json', post(JSON.stringify({ data: jpeg.toString('base64') }), { 'content-type': 'application/json' })],
      ['svg', post(svg, { 'content-type': 'image/svg+xml' })],
      ['bmp', post(bmp, { 'content-type': 'image/bmp' })],
    ];
    for (const [name, init] of cases) {
      const res = await a.request('/predict', init);
      assert.equal(res.status, 415, name);
      assertError(await json(res), 'ERR_UNSUPPORTED_MEDIA_TYPE');
    }
  });

  test('413: a declared body over the limit is refused before reading', async () => {
    const a = app({ maxBodyBytes: 1000 });
    const res = await a.request('/predict', post(jpeg, { 'content-type': 'image/jpeg', 'content-length': String(jpeg.length) }));
    assert.equal(res.status, 413);
    assert.equal(res.headers.get('connection'), null, 'the unread rest of the body is dropped after the answer: the connection may stay');
    assertError(await res.json(), 'ERR_BODY_TOO_LARGE');
    // Just under the limit passes the size check (and then is an image).
    const small = await encodeImage('png', 8, 8);
    assert.ok(small.length < 1000);
    assert.equal((await a.request('/predict', post(small))).status, 200);
  });

  test('413: an endless streamed body is refused once it passes the limit, and its rest dropped up to discardMaxBytes', async () => {
    const a = app({ maxBodyBytes: 256 * 1024, discardMaxBytes: 1024 * 1024 });
    let pulled = 0;
    const endless = new ReadableStream<Uint8Array>({
      pull(controller) {
        pulled += 64 * 1024;
        controller.enqueue(new Uint8Array(64 * 1024).fill(0xff));
      },
    });
    const res = await a.request('/predict', { method: 'POST', body: endless, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 413);
    assertError(await res.json(), 'ERR_BODY_TOO_LARGE');
    await sleep(200);
    const total = pulled;
    assert.ok(total > 1024 * 1024 && total <= 256 * 1024 + 1024 * 1024 + 3 * 64 * 1024, `read ${total} bytes`);
    await sleep(100);
    assert.equal(pulled, total, 'the stream was cancelled past the bound');
  });

  test('413: pixels over the limit, from the header alone (a PNG claiming 100000x100000)', async () => {
    const res = await app().request('/predict', post(pngClaiming(100_000, 100_000), { 'content-type': 'image/png' }));
    assert.equal(res.status, 413);
    assertError(await res.json(), 'ERR_IMAGE_TOO_LARGE');
    // A real image over a small limit set on the classifier.
    const small = await Classifier.load(await checkpointOf(classifier), { device: 'cpu', threads: 1, maxPixels: 100 * 100 });
    try {
      const big = await app({ classifier: small }).request('/predict', post(await encodeImage('png', 120, 100)));
      assert.equal(big.status, 413);
      assertError(await big.json(), 'ERR_IMAGE_TOO_LARGE');
      assert.equal((await app({ classifier: small }).request('/predict', post(await encodeImage('png', 100, 100)))).status, 200);
    } finally {
      await small.dispose();
    }
  });

  test('a failing forward pass is a JSON 500 without internals, logged', async () => {
    const entries: LogEntry[] = [];
    const broken: ServeClassifier = {
      info: classifier.info,
      device: 'cpu',
      decode: (b) => classifier.decode(b),
      predictPixels: () => Promise.reject(new Error('CUDA out of memory (secret detail)')),
    };
    const res = await app({ classifier: broken, logger: (e) => entries.push(e) }).request('/predict', post(jpeg));
    assert.equal(res.status, 500);
    const body = await res.json();
    assertError(body, 'ERR_INTERNAL');
    assert.doesNotMatch(JSON.stringify(body), /secret/);
    assert.ok(entries.some((e) => e.severity === 'ERROR' && /secret detail/.test(e.message)));
  });
});

// The checkpoint file of a classifier made by testClassifier(), to load it again with other options.
const paths = new WeakMap<Classifier, string>();
async function checkpointOf(c: Classifier): Promise<string> {
  let path = paths.get(c);
  if (!path) {
    path = join(await tempDir(), 'model.safetensors');
    const { writeRandomCheckpoint } = await import('./helpers/checkpoint.ts');
    await writeRandomCheckpoint(path, c.info);
    paths.set(c, path);
  }
  return path;
}

describe('metrics and logs', () => {
  test('GET /metrics: requests by route and status, latency, queue wait, batch size, model info; a registry per app', async () => {
    const a = app({ modelSource: 'runs/m/m.safetensors' });
    await a.request('/predict', post(jpeg));
    await a.request('/predict', post('nope'));
    await a.request('/health');
    const res = await a.request('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /torchdog_http_requests_total\{route="\/predict",method="POST",status="200"\} 1/);
    assert.match(text, /torchdog_http_requests_total\{route="\/predict",method="POST",status="415"\} 1/);
    assert.match(text, /torchdog_http_requests_total\{route="\/health",method="GET",status="200"\} 1/);
    assert.match(text, /torchdog_http_request_duration_seconds_bucket\{le="0\.005",route="\/predict"\}/);
    assert.match(text, /torchdog_queue_wait_seconds_count 1/);
    assert.match(text, /torchdog_batch_size_count 1/);
    assert.match(text, /torchdog_batch_size_sum 1/);
    assert.match(
      text,
      /torchdog_model_info\{name="m",version="1",run="m",sha256="",arch="resnet18",classes="hotdog,nothotdog",image_size="64",device="cpu",precision="fp32",source="runs\/m\/m.safetensors"\} 1/,
    );
    assert.match(text, /torchdog_ready 1/);
    assert.match(text, /torchdog_predictions_total\{category="(hot|nothot)dog"\} 1/);
    // A second app counts on its own.
    const other = await (await app().request('/metrics')).text();
    assert.doesNotMatch(other, /route="\/predict"/);
    // Unknown paths share one label, so scanners cannot blow up cardinality.
    await a.request('/wp-admin/x');
    assert.match(await (await a.request('/metrics')).text(), /route="other",method="GET",status="404"/);
  });

  test('one structured log entry per request, with status, latency and prediction details', async () => {
    const entries: LogEntry[] = [];
    const a = app({ logger: (e) => entries.push(e) });
    await a.request('/predict', post(form('data', jpeg), { 'user-agent': 'test-agent' }));
    await a.request('/predict', post('text'));
    assert.equal(entries.length, 2);
    const [ok, bad] = entries as [any, any];
    assert.equal(ok.severity, 'INFO');
    assert.equal(ok.httpRequest.status, 200);
    assert.equal(ok.httpRequest.requestMethod, 'POST');
    assert.equal(ok.httpRequest.userAgent, 'test-agent');
    assert.match(ok.httpRequest.latency, /^\d+\.\d{6}s$/);
    assert.equal(ok.batch_size, 1);
    assert.ok(['hotdog', 'nothotdog'].includes(ok.category));
    assert.equal(ok.image.type, 'jpeg');
    assert.equal(bad.severity, 'WARNING');
    assert.equal(bad.error, 'ERR_UNSUPPORTED_MEDIA_TYPE');
    JSON.stringify(entries); // serialisable as JSON lines
  });
});

describe('prediction log', () => {
  test('records drift features at 128x128, class, probability and time (64px model: decoded again at 128)', async () => {
    const file = join(await tempDir(), 'logs', 'predictions.jsonl');
    const a = app({ predictionLog: file, predictionLogFlushMs: 60_000 });
    const images = [jpeg, await encodeImage('png', 90, 70, 9)];
    const answers = [];
    for (const image of images) answers.push(await (await a.request('/predict', post(image))).json());
    assert.equal((await a.request('/predict', post('not an image'))).status, 415);
    assert.deepEqual(await a.shutdown(), { drained: true });
    const lines = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    for (const [i, line] of lines.entries()) {
      assert.deepEqual(Object.keys(line).sort(), ['avg_brightness', 'category', 'contrast', 'probability', 'sharpness', 'time']);
      assert.equal(line.category, answers[i].category);
      assert.equal(line.probability, answers[i].probability);
      assert.ok(Math.abs(Date.parse(line.time) - Date.now()) < 60_000);
      const expected = driftFeatures(await decodeImage(images[i]!, { size: 128 }), 128, 128);
      assert.equal(line.avg_brightness, expected.avg_brightness);
      assert.equal(line.contrast, expected.contrast);
      assert.equal(line.sharpness, expected.sharpness);
    }
  });

  test('a 128px model reuses its decoded pixels for the features', async () => {
    const c128 = await testClassifier({ ...TEST_INFO, imageSize: 128 });
    try {
      let decodes = 0;
      const counting: ServeClassifier = {
        info: c128.info,
        device: c128.device,
        decode: (b) => (decodes++, c128.decode(b)),
        predictPixels: (p) => c128.predictPixels(p),
      };
      const file = join(await tempDir(), 'p.jsonl');
      const a = app({ classifier: counting, predictionLog: file });
      assert.equal((await a.request('/predict', post(jpeg))).status, 200);
      await a.shutdown();
      const [line] = (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
      const expected = driftFeatures(await decodeImage(jpeg, { size: 128 }), 128, 128);
      assert.equal(line.sharpness, expected.sharpness);
      assert.equal(line.avg_brightness, expected.avg_brightness);
      assert.equal(decodes, 1);
    } finally {
      await c128.dispose();
    }
  });
});

describe('options', () => {
  test('are checked, naming the option', () => {
    assert.throws(() => createApp({} as never), /Expected a Classifier \(or a promise of one\) for options\.classifier but received undefined/);
    assert.throws(() => app({ maxBatch: 0 }), /Expected an integer between 1 and 4096 for options\.maxBatch but received number 0/);
    assert.throws(() => app({ maxBodyBytes: -1 }), /options\.maxBodyBytes/);
    assert.throws(() => app({ predictionLog: 42 as never }), /options\.predictionLog/);
    assert.throws(() => app({ maxbatch: 3 } as never), /Unknown option options\.maxbatch/);
  });
});
