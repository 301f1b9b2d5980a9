// The HTTP service as a Hono app: the routes of DESIGN.md over the pieces that
// do the work (the model in service, admission, the prediction recorder and
// drift window, per-request observation). No sockets here: tests call
// app.request(); src/serve/server.ts listens.
import { Hono } from 'hono';
import { cors } from 'hono/cors';
import { requestId } from 'hono/request-id';
import { settleBodies } from './body.js';
import { SERVE_DEFAULTS } from './defaults.js';
import { ServeError, unavailable } from './errors.js';
import type { ServeClassifier } from './in-service.js';
import type { Metrics } from './metrics.js';
import { errorJson, observe, type AppEnv } from './observe.js';
import { oipRoute, serverMetadata } from './oip.js';
import { openApiDocument } from './openapi.js';
import { checkAppOptions, type AppOptions } from './options.js';
import { PAGE_HEADERS, PAGE_HTML } from './page.js';
import { assemble, type AppParts } from './parts.js';
import { predictRoute } from './predict.js';
import { notServing, type Reloaded } from './served-model.js';

export interface ShutdownResult {
  /** True when every admitted prediction was answered within the timeout. */
  drained: boolean;
}

export type TorchdogApp = Hono<AppEnv> & {
  /** The app's own Prometheus registry (what /metrics serves). */
  readonly registry: Metrics['registry'];
  /** Resolves once the first model is loaded; rejects if it failed to. */
  readonly loaded: Promise<void>;
  /** The name the model is served under (/v2/models/NAME). */
  readonly modelName: string;
  /** The model taking new requests, once one is loaded. */
  readonly model: ServeClassifier | undefined;
  /**
   * Loads the model afresh with the `load` option and swaps it in without
   * downtime; rejects with a ServeError saying why when it cannot (the model
   * in service then stays). Calls while one runs share it. `trigger` names
   * the cause in the log (default "reload").
   */
  reload(trigger?: string): Promise<Reloaded>;
  /**
   * Stops taking predictions (503, /ready 503), waits for admitted ones to be
   * answered (at most `timeoutMs`, default SERVE_DEFAULTS.shutdownTimeoutMs),
   * then flushes the prediction log and disposes the models the app loaded
   * itself. Idempotent.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<ShutdownResult>;
};

/** Builds the service around a loaded (or loading) classifier. */
export function createApp(options: AppOptions): TorchdogApp {
  const parts = assemble(checkAppOptions(options));
  const { gate, model, drift, metrics, log, retry, options: o } = parts;

  const app = new Hono<AppEnv>()
    .use(settleBodies({ maxBytes: o.discardMaxBytes, maxMs: o.discardMaxMs }))
    .use(requestId())
    .use(observe({ metrics, log, closing: () => gate.closed }));
  if (o.cors) app.use(corsFor(o.cors));
  app
    .get('/', (c) => c.html(PAGE_HTML, 200, PAGE_HEADERS))
    .get('/health', (c) => c.json({ status: 'ok' }))
    .get('/ready', (c) => {
      const refusal = notServing(model, gate.closed, retry, true);
      if (refusal) throw refusal;
      return c.json({ status: 'ready', model: model.current!.description });
    })
    .get('/drift', async (c) => {
      if (!drift) throw new ServeError(404, 'ERR_NO_REFERENCE', "no drift reference: start the service with the run's reference.jsonl (serve --reference)");
      const state = await drift.verdict();
      if ('error' in state) throw unavailable('ERR_NO_REFERENCE', `the drift reference could not be read: ${state.error.message}`, retry);
      if ('loading' in state) throw unavailable('ERR_NOT_READY', 'the drift reference is still loading', retry);
      return c.json(state.verdict);
    })
    .get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }))
    .get('/openapi.json', (c) => c.json(openApiDocument(model.name, model.current?.description)))
    .route('/predict', predictRoute(parts))
    .route('/v2', oipRoute(parts))
    .get('/v2/', (c) => c.json(serverMetadata()));
  app.notFound((c) => errorJson(c, 404, { error: { code: 'ERR_NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }));
  app.onError((error, c) => {
    if (error instanceof ServeError) return errorJson(c, error.status, error.body(), error.headers);
    log({ severity: 'ERROR', message: `unhandled error on ${c.req.method} ${c.req.path}: ${error.message}`, request_id: c.get('requestId'), stack: error.stack });
    return errorJson(c, 500, { error: { code: 'ERR_INTERNAL', message: 'internal error' } });
  });

  let shuttingDown: Promise<ShutdownResult> | undefined;
  const served = Object.assign(app, {
    registry: metrics.registry,
    loaded: model.loaded,
    modelName: model.name,
    reload: (trigger = 'reload') => model.reload(trigger),
    shutdown: (s?: { timeoutMs?: number }) => (shuttingDown ??= shutdown(parts, s?.timeoutMs ?? SERVE_DEFAULTS.shutdownTimeoutMs)),
  });
  return Object.defineProperty(served, 'model', { get: () => model.current?.classifier, enumerable: true }) as TorchdogApp;
}

/** CORS for the pages of `origins` ("*" for any): the methods and headers the routes take, the headers worth reading. */
function corsFor(origins: string | readonly string[]) {
  return cors({
    origin: typeof origins === 'string' ? origins : [...origins],
    allowMethods: ['GET', 'HEAD', 'POST', 'OPTIONS'],
    allowHeaders: ['Content-Type', 'X-Request-Id'],
    exposeHeaders: ['X-Request-Id', 'Retry-After'],
    maxAge: 600,
  });
}

/**
 * Stops taking predictions (503, /ready 503), waits for the admitted ones to
 * be answered and their records to reach the log, all within `timeoutMs`.
 */
async function shutdown(parts: AppParts, timeoutMs: number): Promise<ShutdownResult> {
  const { gate, recorder, metrics, log } = parts;
  gate.close();
  metrics.ready.set(0);
  const deadline = performance.now() + timeoutMs;
  let timeout: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => {
    timeout = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    const drained = await Promise.race([gate.idle().then(() => true), expired]);
    await Promise.race([recorder.settled(), expired]);
    // The log gets what is left of the budget, and at least a moment.
    await recorder.closeLog(Math.max(250, Math.round(deadline - performance.now())));
    // A reload in progress settles, replaced models drain, and those the app loaded are disposed.
    await Promise.race([parts.model.close(), expired]);
    log({ severity: 'INFO', message: drained ? 'drained' : `shutdown: ${gate.inflight} prediction(s) still running after ${timeoutMs} ms` });
    return { drained };
  } finally {
    clearTimeout(timeout);
  }
}
