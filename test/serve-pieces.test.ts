// The pieces createApp is made of, each alone: the middleware factories
// (serving, admission, deadline, imageBody) on a fresh Hono app through
// app.request(), the drift window, the defaults and the help text they feed.
import { describe, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { Hono, type MiddlewareHandler } from 'hono';
import { serveUsage } from '../src/cli/usage.ts';
import {
  Admission, admission, ByteBudget, ClientClosed, createApp, deadline, DeadlineExceeded, DriftWindow, imageBody, PredictionLog, SERVE_DEFAULTS, ServeError,
  type PredictionSink, type Ticket,
} from '../src/serve/index.ts';
import { explain } from '../src/serve/deadline.ts';
import { serving, ServedModel } from '../src/serve/served-model.ts';
import type { ServeClassifier } from '../src/serve/in-service.ts';
import { createMetrics } from '../src/serve/metrics.ts';
import { TEST_INFO } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { form, json, post } from './helpers/serve.ts';

/** A fresh app whose errors answer as the service's do. */
function appWith(...handlers: MiddlewareHandler[]) {
  const app = new Hono();
  app.post('/', ...(handlers as [MiddlewareHandler]), (c) => c.json({ ok: true }));
  app.onError((error, c) => {
    if (error instanceof ServeError) return c.json(error.body(), error.status, error.headers);
    return c.json({ error: { code: 'ERR_INTERNAL', message: error.message } }, 500);
  });
  return app;
}

/** A promise and its resolver, to hold a handler until the test lets it go. */
function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('admission()', () => {
  test('admits up to the limit, refuses the next at once with 503, Retry-After and ERR_QUEUE_FULL, then admits again', async () => {
    const gate = new Admission({ limit: 2 });
    const hold = latch();
    const app = appWith(admission({ gate, retryAfterSeconds: 7 }), async (_c, next) => {
      await hold.opened;
      await next();
    });
    const admitted = [app.request('/', post('a')), app.request('/', post('b'))];
    await sleep(10);
    assert.equal(gate.inflight, 2);
    const started = performance.now();
    const refused = await app.request('/', post('c'));
    assert.ok(performance.now() - started < 500, 'refused without waiting');
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '7');
    const body = await json(refused);
    assert.equal(body.error.code, 'ERR_QUEUE_FULL');
    assert.match(body.error.message, /too many predictions in progress \(2\); retry after 7 s/);
    hold.open();
    assert.deepEqual((await Promise.all(admitted)).map((r) => r.status), [200, 200]);
    assert.equal(gate.inflight, 0);
    assert.equal((await app.request('/', post('d'))).status, 200);
  });

  test('a request that fails still leaves the count; onLeftEarly only for one that never arrived', async () => {
    const changes: number[] = [];
    const gate = new Admission({ limit: 1, onChange: (n) => changes.push(n) });
    let leftEarly = 0;
    const arriveIf = (arrive: boolean): MiddlewareHandler<{ Variables: { ticket: Ticket } }> => async (c, next) => {
      assert.equal(gate.arriving, 1, 'admitted and not yet arrived');
      if (arrive) c.var.ticket.arrive();
      assert.equal(gate.arriving, arrive ? 0 : 1);
      await next();
    };
    const mw = admission({ gate, retryAfterSeconds: 1, onLeftEarly: () => leftEarly++ });
    const failing = appWith(mw, async () => {
      throw new Error('boom');
    });
    assert.equal((await failing.request('/', post('x'))).status, 500);
    assert.equal(gate.inflight, 0);
    assert.equal(leftEarly, 1);
    assert.equal((await appWith(mw, arriveIf(true) as MiddlewareHandler).request('/', post('x'))).status, 200);
    assert.equal(leftEarly, 1, 'it arrived: no batch was waiting for it');
    assert.equal((await appWith(mw, arriveIf(false) as MiddlewareHandler).request('/', post('x'))).status, 200);
    assert.equal(leftEarly, 2);
    assert.equal(gate.arriving, 0);
    assert.deepEqual(changes, [1, 0, 1, 0, 1, 0]);
  });

  test('Admission: close() stops nothing admitted; idle() resolves when the last one is answered', async () => {
    const gate = new Admission({ limit: 4 });
    const a = gate.tryAdmit()!;
    const b = gate.tryAdmit()!;
    gate.close();
    assert.equal(gate.closed, true);
    let idle = false;
    const waiting = gate.idle().then(() => (idle = true));
    a.ticket.arrive();
    assert.equal(a.release(), false, 'it had arrived');
    await sleep(5);
    assert.equal(idle, false);
    assert.equal(b.release(), true, 'it never arrived');
    await waiting;
    assert.equal(gate.inflight, 0);
    await gate.idle();
  });
});

describe('deadline()', () => {
  /** Waits on the request's signal and rethrows its reason, as the body reader and the batcher do. */
  const waitForAbort: MiddlewareHandler<{ Variables: { signal: AbortSignal } }> = async (c) => {
    const signal = c.var.signal;
    await new Promise((_, reject) => signal.addEventListener('abort', () => reject(signal.reason), { once: true }));
  };

  test('past its budget the signal aborts with DeadlineExceeded: a 503 with Retry-After', async () => {
    const app = appWith(deadline({ timeoutMs: 50, retryAfterSeconds: 3 }), waitForAbort as MiddlewareHandler);
    const started = performance.now();
    const res = await app.request('/', post('x'));
    assert.ok(performance.now() - started >= 45);
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '3');
    const body = await json(res);
    assert.equal(body.error.code, 'ERR_TIMEOUT');
    assert.match(body.error.message, /did not finish within 50 ms/);
  });

  test('a client that goes away aborts it with ClientClosed (499)', async () => {
    const app = appWith(deadline({ timeoutMs: 60_000, retryAfterSeconds: 1 }), waitForAbort as MiddlewareHandler);
    const client = new AbortController();
    const answer = app.request(new Request('http://localhost/', { method: 'POST', body: 'x', signal: client.signal }));
    await sleep(10);
    client.abort();
    const res = await answer;
    assert.equal(res.status, 499);
    assert.equal((await json(res)).error.code, 'ERR_CLIENT_CLOSED');
  });

  test('a quick answer leaves no timer behind, and explain() puts the abort reason before a failure it caused', async () => {
    let seen: AbortSignal | undefined;
    const app = appWith(deadline({ timeoutMs: 30, retryAfterSeconds: 1 }), async (c, next) => {
      seen = c.get('signal' as never);
      await next();
    });
    assert.equal((await app.request('/', post('x'))).status, 200);
    await sleep(60);
    assert.equal(seen!.aborted, false, 'the timer was cleared');

    const aborted = new AbortController();
    const reason = new DeadlineExceeded(10, 1);
    aborted.abort(reason);
    const refusal = new ServeError(413, 'ERR_BODY_TOO_LARGE', 'too large');
    assert.equal(explain(new Error('stream cancelled'), aborted.signal), reason);
    assert.equal(explain(refusal, aborted.signal), refusal, "a refusal of the request's own stands");
    const error = new Error('forward pass failed');
    assert.equal(explain(error, new AbortController().signal), error);
    assert.equal(new ClientClosed().status, 499);
  });
});

describe('imageBody()', () => {
  const echo = (app: Hono) => {
    app.post('/echo', imageBody({ maxBytes: 4096 }), (c) => c.json({ format: c.var.image.format, bytes: c.var.image.bytes.byteLength }));
    return app;
  };

  test('takes the raw body or multipart field data/file, and says what format the bytes are', async () => {
    const app = echo(appWith());
    const png = await encodeImage('png', 8, 8);
    const webp = await encodeImage('webp', 8, 8);
    assert.deepEqual(await (await app.request('/echo', post(png, { 'content-type': 'text/plain' }))).json(), { format: 'png', bytes: png.length });
    assert.deepEqual(await (await app.request('/echo', post(form('file', webp, 'x.bin')))).json(), { format: 'webp', bytes: webp.length });
  });

  test('413 over maxBytes (declared or streamed), 400 empty, 415 not an image by its bytes', async () => {
    const app = echo(appWith());
    const declared = await app.request('/echo', post(new Uint8Array(5000), { 'content-length': '5000' }));
    assert.equal(declared.status, 413);
    assert.equal(declared.headers.get('connection'), null, 'the rest is for settleBodies to drop, not a reason to close');
    const stream = new ReadableStream<Uint8Array>({ pull: (c) => c.enqueue(new Uint8Array(1024).fill(0xff)) });
    const streamed = await app.request('/echo', { method: 'POST', body: stream, duplex: 'half' } as RequestInit);
    assert.equal(streamed.status, 413);
    assert.equal((await json(streamed)).error.code, 'ERR_BODY_TOO_LARGE');
    assert.equal((await json(await app.request('/echo', post(new Uint8Array(0))))).error.code, 'ERR_EMPTY_BODY');
    const text = await app.request('/echo', post('GIF88a, not quite', { 'content-type': 'image/gif' }));
    assert.equal(text.status, 415);
    assert.match((await json(text)).error.message, /\(JPEG, PNG, WebP, GIF, TIFF, AVIF\)/);
  });

  test('uploads share a byte budget from their first byte to their answer: past it 503 with Retry-After, and the bytes come back', async () => {
    const budget = new ByteBudget(3000);
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    const app = appWith(imageBody({ maxBytes: 4096, budget, retryAfterSeconds: 7 }), async (c) => {
      if (c.req.header('x-hold')) await held;
      return c.json({ bytes: c.var.image.bytes.byteLength });
    });
    const png = await encodeImage('png', 8, 8);
    const padded = Buffer.concat([png, Buffer.alloc(2000 - png.length)]);
    const holding = app.request('/', post(padded, { 'x-hold': '1' }));
    await sleep(20);
    const refused = await app.request('/', post(padded));
    assert.equal(refused.status, 503);
    assert.equal(refused.headers.get('retry-after'), '7');
    assert.equal((await json(refused)).error.code, 'ERR_QUEUE_FULL');
    release();
    assert.equal((await holding).status, 200);
    assert.equal((await app.request('/', post(padded))).status, 200, 'the bytes of answered uploads are given back');
  });

  test("after deadline(): a body that does not arrive within the budget is a 408, not the service's 503", async () => {
    const app = appWith(deadline({ timeoutMs: 80, retryAfterSeconds: 1 }), imageBody({ maxBytes: 4096 }));
    const stalled = new ReadableStream<Uint8Array>({ start: (c) => c.enqueue(new Uint8Array([0xff, 0xd8, 0xff])) });
    const res = await app.request('/', { method: 'POST', body: stalled, duplex: 'half' } as RequestInit);
    assert.equal(res.status, 408);
    const body = await json(res);
    assert.equal(body.error.code, 'ERR_BODY_TIMEOUT');
    assert.match(body.error.message, /within 80 ms/);
  });
});

describe('serving()', () => {
  const stub: ServeClassifier = {
    info: TEST_INFO,
    device: 'cpu',
    decode: async () => new Uint8Array(0),
    predictPixels: async (images) => images.map(() => ({ category: 'hotdog', probability: 1, probabilities: { hotdog: 1, nothotdog: 0 } })),
  };

  test('503 while the model loads or after it failed; 503 ERR_SHUTTING_DOWN first once closing; else c.var.served', async () => {
    let load!: (c: ServeClassifier) => void;
    let closing = false;
    const model = new ServedModel({
      classifier: new Promise<ServeClassifier>((resolve) => (load = resolve)), identity: { source: 'm.safetensors' }, name: 'm',
      maxBatch: 4, maxWaitMs: 0, metrics: createMetrics(), log: () => {}, retryAfterSeconds: 1,
    });
    const app = new Hono().onError((e, c) => c.json((e as ServeError).body(), (e as ServeError).status, (e as ServeError).headers));
    app.post('/', serving({ model, closing: () => closing, retryAfterSeconds: 2 }), (c) => c.json(c.var.served.description));
    const loading = await app.request('/', post('x'));
    assert.equal(loading.status, 503);
    assert.equal(loading.headers.get('retry-after'), '2');
    assert.deepEqual((await json(loading)).error, { code: 'ERR_NOT_READY', message: 'the model is still loading' });
    load(stub);
    await model.loaded;
    const ok = await app.request('/', post('x'));
    assert.equal(ok.status, 200);
    assert.deepEqual(await ok.json(), { name: 'm', version: '1', arch: 'resnet18', classes: ['hotdog', 'nothotdog'], image_size: 64, device: 'cpu', precision: 'fp32', source: 'm.safetensors' });
    closing = true;
    assert.equal((await json(await app.request('/', post('x')))).error.code, 'ERR_SHUTTING_DOWN');

    const failed = new ServedModel({
      classifier: Promise.reject(new Error('corrupt')), name: 'm', maxBatch: 1, maxWaitMs: 0, metrics: createMetrics(), log: () => {}, retryAfterSeconds: 1,
    });
    await assert.rejects(failed.loaded, /corrupt/);
    const app2 = new Hono().onError((e, c) => c.json((e as ServeError).body(), (e as ServeError).status));
    app2.post('/', serving({ model: failed, closing: () => false, retryAfterSeconds: 1 }), (c) => c.text('no'));
    // The client is told that, not why (that is /ready's to say).
    assert.deepEqual((await json(await app2.request('/', post('x')))).error, { code: 'ERR_NOT_READY', message: 'the model failed to load' });
  });
});

describe('DriftWindow', () => {
  const record = (i: number) => ({ avg_brightness: i / 100, contrast: 0.2, sharpness: 0.1, label: i % 2 ? 'hotdog' : 'nothotdog' });

  test('keeps the most recent `size` records; no verdict until there are some', async () => {
    const window = new DriftWindow({ reference: Array.from({ length: 50 }, (_, i) => record(i)), size: 5, log: () => {} });
    const empty = await window.verdict();
    assert.deepEqual(empty, { verdict: { dataset_drift: null, reason: 'no predictions yet', current_size: 0, reference_size: 50 } });
    for (let i = 0; i < 12; i++) window.add(record(i));
    const state = await window.verdict();
    assert.ok('verdict' in state);
    assert.equal((state.verdict as { current_size: number }).current_size, 5);
  });

  test('a reference still loading, or one that failed (logged once)', async () => {
    let resolve!: (records: ReturnType<typeof record>[]) => void;
    const loading = new DriftWindow({ reference: new Promise((r) => (resolve = r)), size: 5, log: () => {} });
    assert.deepEqual(await loading.verdict(), { loading: true });
    resolve([record(1)]);
    await sleep(0);
    assert.ok('verdict' in (await loading.verdict()));
    const logged: string[] = [];
    const failed = new DriftWindow({ reference: Promise.reject(new Error('no such file')), size: 5, log: (e) => logged.push(e.message) });
    await sleep(0);
    const state = await failed.verdict();
    assert.ok('error' in state && /no such file/.test(state.error.message));
    assert.deepEqual(logged, ['drift reference unavailable: no such file']);
  });
});

describe('prediction recorder', () => {
  test("a caller's PredictionLog is flushed on shutdown, not closed; the app's own would be", async () => {
    const written: string[] = [];
    const sink: PredictionSink = { description: 'memory', write: async (lines) => void written.push(lines) };
    const log = new PredictionLog(sink, { flushIntervalMs: 3_600_000 });
    const stub: ServeClassifier = {
      info: { ...TEST_INFO, imageSize: 128 },
      device: 'cpu',
      decode: async () => new Uint8Array(128 * 128 * 3).fill(100),
      predictPixels: async (images) => images.map(() => ({ category: 'nothotdog', probability: 0.75, probabilities: { hotdog: 0.25, nothotdog: 0.75 } })),
    };
    const app = createApp({ classifier: stub, logger: null, predictionLog: log });
    assert.equal((await app.request('/predict', post(await encodeImage('png', 8, 8)))).status, 200);
    assert.deepEqual(await app.shutdown({ timeoutMs: 1000 }), { drained: true });
    const [line] = written.join('').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual({ ...line, time: undefined }, {
      time: undefined, category: 'nothotdog', probability: 0.75, avg_brightness: 100 / 255, contrast: 0, sharpness: 0,
    });
    log.append(line);
    assert.equal(log.stats.buffered, 1, 'still open: the caller closes it');
    await log.close();
  });
});

describe('defaults', () => {
  test('SERVE_DEFAULTS is frozen, and serve --help prints its values', () => {
    assert.ok(Object.isFrozen(SERVE_DEFAULTS));
    const help = serveUsage(SERVE_DEFAULTS);
    for (const [flag, value] of [
      ['--max-batch N', SERVE_DEFAULTS.maxBatch], ['--max-queue N', SERVE_DEFAULTS.maxQueue], ['--timeout-ms N', SERVE_DEFAULTS.requestTimeoutMs],
      ['--max-pixels N', SERVE_DEFAULTS.maxPixels], ['--shutdown-timeout-ms N', SERVE_DEFAULTS.shutdownTimeoutMs],
      ['--max-body-mb N', SERVE_DEFAULTS.maxBodyBytes / 2 ** 20],
    ] as const) {
      assert.match(help, new RegExp(`${flag} .*\\[default: ${value}\\]`), flag);
    }
    assert.match(help, new RegExp(`else ${SERVE_DEFAULTS.model.replace(/\./g, '\\.')}\\]`));
  });

  test("createApp takes its defaults from SERVE_DEFAULTS (the body limit, as one example)", async () => {
    const stub: ServeClassifier = { info: TEST_INFO, device: 'cpu', decode: async () => new Uint8Array(0), predictPixels: async () => [] };
    const app = createApp({ classifier: stub, logger: null });
    const over = await app.request('/predict', post(new Uint8Array(0), { 'content-length': String(SERVE_DEFAULTS.maxBodyBytes + 1) }));
    assert.equal(over.status, 413);
    assert.match((await json(over)).error.message, new RegExp(`limit of ${SERVE_DEFAULTS.maxBodyBytes} bytes`));
    await app.shutdown({ timeoutMs: 100 });
  });
});
