// The HTTP service as a Hono app: the routes of DESIGN.md over the pieces that
// do the work (the model in service, admission, the prediction recorder and
// drift window, per-request observation). No sockets here: tests call
// app.request(); src/serve/server.ts listens.
import { Hono } from 'hono';
import { SERVE_DEFAULTS } from './defaults.js';
import { ServeError, unavailable } from './errors.js';
import type { Metrics } from './metrics.js';
import { errorJson, observe, type AppEnv } from './observe.js';
import { checkAppOptions, type AppOptions } from './options.js';
import { PAGE_HEADERS, PAGE_HTML } from './page.js';
import { assemble, type AppParts } from './parts.js';
import { predictRoute } from './predict.js';
import { notServing } from './served-model.js';

export interface ShutdownResult {
  /** True when every admitted prediction was answered within the timeout. */
  drained: boolean;
}

export type TorchdogApp = Hono<AppEnv> & {
  /** The app's own Prometheus registry (what /metrics serves). */
  readonly registry: Metrics['registry'];
  /** Resolves once the model is loaded; rejects if it failed to. */
  readonly loaded: Promise<void>;
  /**
   * Stops taking predictions (503, /ready 503), waits for admitted ones to be
   * answered (at most `timeoutMs`, default SERVE_DEFAULTS.shutdownTimeoutMs),
   * then flushes the prediction log. Idempotent.
   */
  shutdown(options?: { timeoutMs?: number }): Promise<ShutdownResult>;
};

/** Builds the service around a loaded (or loading) classifier. */
export function createApp(options: AppOptions): TorchdogApp {
  const parts = assemble(checkAppOptions(options));
  const { gate, model, drift, metrics, log, retry } = parts;

  const app = new Hono<AppEnv>()
    .use(observe({ metrics, log, closing: () => gate.closed }))
    .get('/', (c) => c.html(PAGE_HTML, 200, PAGE_HEADERS))
    .get('/health', (c) => c.json({ status: 'ok' }))
    .get('/ready', (c) => {
      const refusal = notServing(model, gate.closed, retry, true);
      if (refusal) throw refusal;
      return c.json({ status: 'ready', model: model.current!.description });
    })
    .get('/drift', (c) => {
      if (!drift) throw new ServeError(404, 'ERR_NO_REFERENCE', "no drift reference: start the service with the run's reference.jsonl (serve --reference)");
      const state = drift.verdict();
      if ('error' in state) throw unavailable('ERR_NO_REFERENCE', `the drift reference could not be read: ${state.error.message}`, retry);
      if ('loading' in state) throw unavailable('ERR_NOT_READY', 'the drift reference is still loading', retry);
      return c.json(state.verdict);
    })
    .get('/metrics', async (c) => c.body(await metrics.registry.metrics(), 200, { 'Content-Type': metrics.registry.contentType }))
    .route('/predict', predictRoute(parts));
  app.notFound((c) => errorJson(c, 404, { error: { code: 'ERR_NOT_FOUND', message: `no route ${c.req.method} ${c.req.path}` } }));
  app.onError((error, c) => {
    if (error instanceof ServeError) return errorJson(c, error.status, error.body(), error.headers);
    log({ severity: 'ERROR', message: `unhandled error on ${c.req.method} ${c.req.path}: ${error.message}`, stack: error.stack });
    return errorJson(c, 500, { error: { code: 'ERR_INTERNAL', message: 'internal error' } });
  });

  let shuttingDown: Promise<ShutdownResult> | undefined;
  return Object.assign(app, {
    registry: metrics.registry,
    loaded: model.loaded,
    shutdown: (o?: { timeoutMs?: number }) => (shuttingDown ??= shutdown(parts, o?.timeoutMs ?? SERVE_DEFAULTS.shutdownTimeoutMs)),
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
    log({ severity: 'INFO', message: drained ? 'drained' : `shutdown: ${gate.inflight} prediction(s) still running after ${timeoutMs} ms` });
    return { drained };
  } finally {
    clearTimeout(timeout);
  }
}
