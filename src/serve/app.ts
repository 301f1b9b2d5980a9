// The HTTP service as a Hono app: routes of DESIGN.md, dynamic batching of
// predictions, admission control, limits, metrics, prediction log and drain.
// No sockets here: tests call app.request(); src/serve/server.ts listens.
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { CheckpointInfo } from '../model/checkpoint.js';
import type { Prediction } from '../model/classifier.js';
import { ACCEPTED_FORMAT_NAMES, decodeImage, ImageDecodeError, sniffImageFormat } from '../image/index.js';
import { driftFeatures, DRIFT_IMAGE_SIZE } from '../drift/features.js';
import { detectDrift, type FeatureRecord } from '../drift/detect.js';
import { expectInteger, expectKnownKeys, expectNumber, expectBoolean, invalid, withoutUndefined } from '../util/validate.js';
import { Batcher } from './batcher.js';
import { imageFromMultipart, isMultipart, readBodyLimited } from './body.js';
import { ServeError, unavailable, type ErrorBody } from './errors.js';
import { jsonLineLogger, silentLogger, type Logger } from './log.js';
import { createMetrics } from './metrics.js';
import { PAGE_HEADERS, PAGE_HTML } from './page.js';
import { PredictionLog, sinkFor, type PredictionRecord, type PredictionSink } from './prediction-log.js';

/** What the service needs of a model; a {@link Classifier} is one. */
export interface ServeClassifier {
  readonly info: CheckpointInfo;
  readonly device: string;
  /** Encoded bytes → HWC RGB uint8 at info.imageSize; throws ImageDecodeError. */
  decode(input: Uint8Array): Promise<Uint8Array>;
  /** One forward pass over decoded images. */
  predictPixels(images: readonly Uint8Array[]): Promise<Prediction[]>;
}

export interface AppOptions {
  /** The model, or a promise of it: /ready and /predict answer 503 until it settles. */
  classifier: ServeClassifier | Promise<ServeClassifier>;
  /** Where the model came from (path or gs:// URI), for /ready, answers and metrics. */
  modelSource?: string;
  /** Most images per forward pass. Default 32. */
  maxBatch?: number;
  /**
   * Longest a decoded image waits for others to share its pass. Default 20 ms.
   * With `eagerBatching` it waits only while other admitted requests are
   * still reading or decoding: then long enough for a burst of concurrent
   * requests to finish decoding (8 photos on 2 cores: about 13 ms) and share
   * one pass.
   */
  maxWaitMs?: number;
  /**
   * A batch leaves as soon as no other admitted request is on its way to the
   * queue, instead of waiting out maxWaitMs for company that is not coming
   * (a lone request pays no batching delay). Default true.
   */
  eagerBatching?: boolean;
  /** Most predictions admitted at once (reading, decoding, queued, running); more get 503. Default 64. */
  maxQueue?: number;
  /** Budget of one prediction from admission to answer; past it 503 (or 408 while the body still arrives). Default 30000 ms. */
  requestTimeoutMs?: number;
  /** Largest request body. Default 10 MiB. */
  maxBodyBytes?: number;
  /** Retry-After seconds on 503 answers. Default 1. */
  retryAfterSeconds?: number;
  /**
   * Prediction log for drift monitoring: a JSONL path, a gs://bucket/prefix,
   * a sink, or a PredictionLog (then the caller closes it). Default none.
   */
  predictionLog?: string | PredictionSink | PredictionLog | null;
  /** Milliseconds between prediction-log flushes (when the app creates the log). Default 1000. */
  predictionLogFlushMs?: number;
  /** Structured log lines; default JSON lines on stderr; null for none. */
  logger?: Logger | null;
  /** Also export Node process metrics (CPU, memory, event loop) on /metrics. Default false. */
  processMetrics?: boolean;
  /**
   * The training set's drift features (a run's reference.jsonl records), or a
   * promise of them; enables GET /drift. Default none (GET /drift answers 404).
   */
  driftReference?: readonly FeatureRecord[] | Promise<readonly FeatureRecord[]> | null;
  /** GET /drift compares the reference with this many most recent predictions. Default 1000. */
  driftWindow?: number;
}

export interface ShutdownResult {
  /** True when every admitted prediction was answered within the timeout. */
  drained: boolean;
}

export type TorchdogApp = Hono<AppEnv> & {
  /** The app's own Prometheus registry (what /metrics serves). */
  readonly registry: ReturnType<typeof createMetrics>['registry'];
  /** Resolves once the model is loaded; rejects if it failed to. */
  readonly loaded: Promise<void>;
  /**
   * Stops taking predictions (503, /ready 503), waits for admitted ones to be
   * answered (at most `timeoutMs`), then flushes the prediction log. Idempotent.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<ShutdownResult>;
};

type AppEnv = { Variables: { fields: Record<string, unknown> } };

const DEFAULTS = {
  modelSource: undefined as string | undefined,
  maxBatch: 32,
  maxWaitMs: 20,
  eagerBatching: true,
  maxQueue: 64,
  requestTimeoutMs: 30_000,
  maxBodyBytes: 10 * 1024 * 1024,
  retryAfterSeconds: 1,
  predictionLog: null as AppOptions['predictionLog'],
  predictionLogFlushMs: 1000,
  processMetrics: false,
  driftReference: null as AppOptions['driftReference'],
  driftWindow: 1000,
};

const OPTION_KEYS = ['classifier', 'logger', ...Object.keys(DEFAULTS)];

const ROUTES = new Set(['/', '/health', '/ready', '/predict', '/metrics', '/drift']);

/** Why a prediction's own deadline fired, told apart from a client going away. */
class DeadlineExceeded extends Error {}

function checkOptions(options: AppOptions) {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object with a classifier', options);
  expectKnownKeys(options, 'options', OPTION_KEYS);
  const o = { ...DEFAULTS, ...withoutUndefined(options), classifier: options.classifier };
  const c = options.classifier as Partial<ServeClassifier> | Promise<ServeClassifier> | undefined;
  if (!(c instanceof Promise) && (typeof c?.predictPixels !== 'function' || typeof c.decode !== 'function' || !c.info)) {
    throw invalid('options.classifier', 'a Classifier (or a promise of one)', c);
  }
  if (o.modelSource !== undefined && typeof o.modelSource !== 'string') throw invalid('options.modelSource', 'a string', o.modelSource);
  expectInteger(o.maxBatch, 'options.maxBatch', 1, 4096);
  expectNumber(o.maxWaitMs, 'options.maxWaitMs', 0, 60_000);
  expectInteger(o.maxQueue, 'options.maxQueue', 1, 1_000_000);
  expectInteger(o.requestTimeoutMs, 'options.requestTimeoutMs', 1, 3_600_000);
  expectInteger(o.maxBodyBytes, 'options.maxBodyBytes', 1, 2 ** 31);
  expectInteger(o.retryAfterSeconds, 'options.retryAfterSeconds', 0, 86_400);
  expectInteger(o.predictionLogFlushMs, 'options.predictionLogFlushMs', 1, 3_600_000);
  expectBoolean(o.processMetrics, 'options.processMetrics');
  expectBoolean(o.eagerBatching, 'options.eagerBatching');
  expectInteger(o.driftWindow, 'options.driftWindow', 1, 1_000_000);
  const ref = o.driftReference;
  if (ref !== null && ref !== undefined && !(ref instanceof Promise) && !Array.isArray(ref)) {
    throw invalid('options.driftReference', 'an array of feature records (or a promise of one)', ref);
  }
  if (options.logger !== undefined && options.logger !== null && typeof options.logger !== 'function') {
    throw invalid('options.logger', 'a function, or null', options.logger);
  }
  const log = o.predictionLog;
  if (log !== null && typeof log !== 'string' && !(log instanceof PredictionLog) && typeof (log as PredictionSink).write !== 'function') {
    throw invalid('options.predictionLog', 'a path, a gs:// URI, a PredictionSink or a PredictionLog', log);
  }
  return o;
}

function modelInfo(classifier: ServeClassifier, source: string | undefined) {
  const { info } = classifier;
  return {
    arch: info.arch,
    classes: [...info.classes],
    image_size: info.imageSize,
    device: classifier.device,
    ...(source !== undefined ? { source } : {}),
    ...(info.extra && Object.keys(info.extra).length ? { metadata: { ...info.extra } } : {}),
  };
}

function errorJson(c: Context<AppEnv>, status: ContentfulStatusCode, body: ErrorBody, headers: Record<string, string> = {}) {
  c.get('fields').error = body.error.code;
  return c.json(body, status, headers);
}

function decodeFailure(error: ImageDecodeError): ServeError {
  // libpng refuses widths over its own limit (10^6) before sharp's pixel check.
  const code = /exceeds user limit/i.test(error.message) ? 'ERR_IMAGE_TOO_LARGE' : error.code;
  switch (code) {
    case 'ERR_IMAGE_TOO_LARGE':
      return new ServeError(413, 'ERR_IMAGE_TOO_LARGE', 'image dimensions exceed the pixel limit');
    case 'ERR_IMAGE_UNSUPPORTED':
      return new ServeError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `not an image format this service takes (${ACCEPTED_FORMAT_NAMES})`);
    default:
      return new ServeError(400, 'ERR_IMAGE_UNREADABLE', error.message.replace(/^image of \d+ bytes: /, ''));
  }
}

/** Builds the service around a loaded (or loading) classifier. */
export function createApp(options: AppOptions): TorchdogApp {
  const o = checkOptions(options);
  const log = options.logger === null ? silentLogger : (options.logger ?? jsonLineLogger());
  const metrics = createMetrics({ processMetrics: o.processMetrics });
  const retry = o.retryAfterSeconds;

  let predictionLog: PredictionLog | null = null;
  let ownsLog = false;
  if (o.predictionLog instanceof PredictionLog) {
    predictionLog = o.predictionLog;
  } else if (o.predictionLog !== null && o.predictionLog !== undefined) {
    const sink = typeof o.predictionLog === 'string' ? sinkFor(o.predictionLog) : o.predictionLog;
    ownsLog = true;
    predictionLog = new PredictionLog(sink, {
      flushIntervalMs: o.predictionLogFlushMs,
      onWrite: (n) => metrics.logRecords.inc({ outcome: 'written' }, n),
      onDrop: (n) => metrics.logRecords.inc({ outcome: 'dropped' }, n),
      onError: (error) => {
        metrics.logWriteErrors.inc();
        log({ severity: 'WARNING', message: `prediction log: write to ${sink.description} failed: ${error.message}` });
      },
    });
  }

  // --- model state -------------------------------------------------------
  let classifier: ServeClassifier | undefined;
  let batcher: Batcher<Uint8Array, Prediction> | undefined;
  let model: ReturnType<typeof modelInfo> | undefined;
  let loadError: Error | undefined;
  let draining = false;

  function useModel(c: ServeClassifier): void {
    classifier = c;
    model = modelInfo(c, o.modelSource);
    batcher = new Batcher<Uint8Array, Prediction>({
      run: (pixels) => c.predictPixels(pixels),
      maxBatch: o.maxBatch,
      maxWaitMs: o.maxWaitMs,
      ...(o.eagerBatching ? { expected: () => arriving } : {}),
      onBatch: (size, seconds) => {
        metrics.batchSize.observe(size);
        metrics.forward.observe(seconds);
      },
    });
    metrics.modelInfo.set(
      { arch: model.arch, classes: model.classes.join(','), image_size: String(model.image_size), device: model.device, source: o.modelSource ?? '' },
      1,
    );
    if (!draining) metrics.ready.set(1);
  }

  // A ready classifier is usable from the first request on, not a tick later.
  if (!(o.classifier instanceof Promise)) useModel(o.classifier);
  const loaded = o.classifier instanceof Promise
    ? o.classifier.then(useModel, (error: Error) => {
      loadError = error;
      throw error;
    })
    : Promise.resolve();
  // The caller learns of a failed load through `loaded` (or /ready); never as an unhandled rejection.
  loaded.catch(() => {});

  // --- admission and drain ----------------------------------------------
  let inflight = 0;
  /** Admitted predictions not yet in the batcher's queue (reading, decoding): company worth waiting for. */
  let arriving = 0;
  let idleWaiters: (() => void)[] = [];
  const background = new Set<Promise<void>>();

  function admit(): void {
    inflight++;
    metrics.inflight.set(inflight);
  }

  function release(): void {
    inflight--;
    metrics.inflight.set(inflight);
    if (inflight === 0) {
      for (const wake of idleWaiters) wake();
      idleWaiters = [];
    }
  }

  function idle(): Promise<void> {
    return inflight === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve));
  }

  // --- drift -----------------------------------------------------------
  // The most recent predictions' features, kept in memory for GET /drift
  // whatever happens to the prediction log.
  let driftReference: readonly FeatureRecord[] | null = null;
  let driftReferenceError: Error | undefined;
  const recent: FeatureRecord[] = [];
  if (Array.isArray(o.driftReference)) {
    driftReference = o.driftReference;
  } else if (o.driftReference) {
    void Promise.resolve(o.driftReference).then(
      (records) => (driftReference = records),
      (error: Error) => {
        driftReferenceError = error;
        log({ severity: 'WARNING', message: `drift reference unavailable: ${error.message}` });
      },
    );
  }
  function remember(features: FeatureRecord): void {
    if (!o.driftReference) return;
    recent.push(features);
    if (recent.length > o.driftWindow) recent.splice(0, recent.length - o.driftWindow);
  }

  // --- prediction log ----------------------------------------------------
  function record(bytes: Uint8Array, pixels: Uint8Array, imageSize: number, prediction: Prediction): void {
    if (!predictionLog && !o.driftReference) return;
    const target = {
      append(entry: PredictionRecord) {
        remember({ ...entry });
        predictionLog?.append(entry);
      },
      countDropped(n: number) {
        predictionLog?.countDropped(n);
      },
    };
    const entry = { time: new Date().toISOString(), category: prediction.category, probability: prediction.probability };
    if (imageSize === DRIFT_IMAGE_SIZE) {
      target.append({ ...entry, ...driftFeatures(pixels, DRIFT_IMAGE_SIZE, DRIFT_IMAGE_SIZE) });
      return;
    }
    // Another decode, at the drift size, after the answer is on its way. The
    // bytes already passed the classifier's own decode and pixel limit.
    if (background.size >= o.maxQueue) {
      target.countDropped(1);
      return;
    }
    const job = decodeImage(bytes, { size: DRIFT_IMAGE_SIZE, maxPixels: 0 })
      .then((small) => target.append({ ...entry, ...driftFeatures(small, DRIFT_IMAGE_SIZE, DRIFT_IMAGE_SIZE) }))
      .catch(() => target.countDropped(1))
      .finally(() => background.delete(job));
    background.add(job);
  }

  // --- the app -----------------------------------------------------------
  const app = new Hono<AppEnv>();

  app.use('*', observe());

  app.get('/', (c) => c.html(PAGE_HTML, 200, PAGE_HEADERS));

  app.get('/health', (c) => c.json({ status: 'ok' }));

  app.get('/ready', (c) => {
    if (draining) throw unavailable('ERR_SHUTTING_DOWN', 'the service is shutting down', retry);
    if (loadError) throw unavailable('ERR_NOT_READY', `the model failed to load: ${loadError.message}`, retry);
    if (!model) throw unavailable('ERR_NOT_READY', 'the model is still loading', retry);
    return c.json({ status: 'ready', model });
  });

  app.get('/drift', (c) => {
    if (!o.driftReference) {
      return errorJson(c, 404, { error: { code: 'ERR_NO_REFERENCE', message: "no drift reference: start the service with the run's reference.jsonl (serve --reference)" } });
    }
    if (driftReferenceError) {
      throw unavailable('ERR_NO_REFERENCE', `the drift reference could not be read: ${driftReferenceError.message}`, retry);
    }
    if (!driftReference) throw unavailable('ERR_NOT_READY', 'the drift reference is still loading', retry);
    if (recent.length === 0) {
      return c.json({ dataset_drift: null, reason: 'no predictions yet', current_size: 0, reference_size: driftReference.length });
    }
    return c.json(detectDrift(driftReference, recent));
  });

  app.get('/metrics', async (c) => {
    return c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType });
  });

  app.post('/predict', async (c) => {
    if (draining) throw unavailable('ERR_SHUTTING_DOWN', 'the service is shutting down', retry);
    if (!classifier || !batcher) {
      throw unavailable('ERR_NOT_READY', loadError ? 'the model failed to load' : 'the model is still loading', retry);
    }
    if (inflight >= o.maxQueue) {
      throw unavailable('ERR_QUEUE_FULL', `too many predictions in progress (${o.maxQueue}); retry after ${retry} s`, retry);
    }
    const active = classifier;
    const queue = batcher;
    const fields = c.get('fields');
    admit();
    arriving++;
    let arrived = false;
    const arrive = () => {
      if (arrived) return;
      arrived = true;
      arriving--;
    };
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(new DeadlineExceeded()), o.requestTimeoutMs);
    const signal = AbortSignal.any([deadline.signal, c.req.raw.signal]);
    let stage: 'body' | 'decode' | 'queue' = 'body';
    try {
      const request = c.req.raw;
      const contentType = request.headers.get('content-type');
      const body = await readBodyLimited(request, o.maxBodyBytes, signal);
      const bytes = isMultipart(contentType) ? await imageFromMultipart(body, contentType!) : body;
      if (bytes.byteLength === 0) {
        throw new ServeError(400, 'ERR_EMPTY_BODY', "no image: send it as the raw request body or as multipart field 'data' or 'file'");
      }
      const type = sniffImageFormat(bytes);
      if (!type) {
        throw new ServeError(
          415,
          'ERR_UNSUPPORTED_MEDIA_TYPE',
          `the upload is not an image this service takes (${ACCEPTED_FORMAT_NAMES}); send the image file's bytes as the raw body or as multipart field 'data' or 'file'`,
        );
      }
      fields.image = { type, bytes: bytes.byteLength };
      stage = 'decode';
      const started = performance.now();
      let pixels: Uint8Array;
      try {
        // Not raced against the deadline: the decode runs to its end in
        // libvips anyway, and the admission slot should cover it.
        pixels = await active.decode(bytes);
      } catch (error) {
        throw error instanceof ImageDecodeError ? decodeFailure(error) : error;
      }
      fields.decode_ms = round(performance.now() - started);
      signal.throwIfAborted();
      stage = 'queue';
      arrive();
      const result = await queue.submit(pixels, signal);
      metrics.queueWait.observe(result.queueSeconds);
      const prediction = result.output;
      metrics.predictions.inc({ category: prediction.category });
      Object.assign(fields, {
        queue_ms: round(result.queueSeconds * 1000),
        forward_ms: round(result.forwardSeconds * 1000),
        batch_size: result.batchSize,
        category: prediction.category,
        probability: prediction.probability,
      });
      record(bytes, pixels, active.info.imageSize, prediction);
      return c.json({ ...prediction, model });
    } catch (error) {
      if (!signal.aborted || error instanceof ServeError) throw error;
      if (!(signal.reason instanceof DeadlineExceeded)) {
        // The client went away; nobody reads this answer, the log does.
        return errorJson(c, 499 as ContentfulStatusCode, { error: { code: 'ERR_CLIENT_CLOSED', message: 'the client closed the request' } });
      }
      if (stage === 'body') {
        throw new ServeError(408, 'ERR_BODY_TIMEOUT', `the request body did not arrive within ${o.requestTimeoutMs} ms`);
      }
      throw unavailable('ERR_TIMEOUT', `the prediction did not finish within ${o.requestTimeoutMs} ms; the service is busy, retry later`, retry);
    } finally {
      clearTimeout(timer);
      if (!arrived) {
        // It will not join a batch (refused, failed, aborted): a batch waiting for it need not.
        arrive();
        queue.poke();
      }
      release();
    }
  });

  app.all('/predict', (c) => {
    throw new ServeError(405, 'ERR_METHOD_NOT_ALLOWED', `${c.req.method} is not allowed on /predict; use POST with an image`, { Allow: 'POST' });
  });

  app.notFound((c) => errorJson(c, 404, { error: { code: 'ERR_NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }));

  app.onError((error, c) => {
    if (error instanceof ServeError) return errorJson(c, error.status, error.body(), error.headers);
    log({ severity: 'ERROR', message: `unhandled error on ${c.req.method} ${c.req.path}: ${error.message}`, stack: error.stack });
    return errorJson(c, 500, { error: { code: 'ERR_INTERNAL', message: 'internal error' } });
  });

  /** Metrics and one structured log line per request. */
  function observe(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      const started = performance.now();
      c.set('fields', {});
      await next();
      if (draining) c.header('Connection', 'close');
      const seconds = (performance.now() - started) / 1000;
      const route = ROUTES.has(c.req.path) ? c.req.path : 'other';
      const status = c.res.status;
      metrics.requests.inc({ route, method: c.req.method, status: String(status) });
      metrics.latency.observe({ route }, seconds);
      if (route === '/health' || route === '/metrics') return; // probes and scrapes would drown the rest
      log({
        severity: status >= 500 ? 'ERROR' : status >= 400 ? 'WARNING' : 'INFO',
        message: `${c.req.method} ${c.req.path} ${status}`,
        httpRequest: {
          requestMethod: c.req.method,
          requestUrl: c.req.path,
          status,
          latency: `${seconds.toFixed(6)}s`,
          userAgent: c.req.header('user-agent'),
          requestSize: c.req.header('content-length'),
        },
        ...c.get('fields'),
      });
    };
  }

  let shuttingDown: Promise<ShutdownResult> | undefined;
  async function shutdown({ timeoutMs = 30_000 }: { timeoutMs?: number } = {}): Promise<ShutdownResult> {
    draining = true;
    metrics.ready.set(0);
    const deadline = performance.now() + timeoutMs;
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<false>((resolve) => {
      timeout = setTimeout(() => resolve(false), timeoutMs);
    });
    try {
      const drained = await Promise.race([idle().then(() => true), expired]);
      await Promise.race([Promise.allSettled([...background]), expired]);
      // The log gets what is left of the budget, and at least a moment.
      const left = Math.max(250, Math.round(deadline - performance.now()));
      if (predictionLog && ownsLog) await predictionLog.close(left);
      else if (predictionLog) await Promise.race([predictionLog.flush(), new Promise((r) => setTimeout(r, left).unref())]);
      log({ severity: 'INFO', message: drained ? 'drained' : `shutdown: ${inflight} prediction(s) still running after ${timeoutMs} ms` });
      return { drained };
    } finally {
      clearTimeout(timeout);
    }
  }

  return Object.assign(app, {
    registry: metrics.registry,
    loaded,
    shutdown(options?: { timeoutMs?: number }) {
      shuttingDown ??= shutdown(options);
      return shuttingDown;
    },
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
