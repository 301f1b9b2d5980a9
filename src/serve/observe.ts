// What every request leaves behind: Prometheus counts and latency by route,
// and one structured log line with whatever the handlers put in `fields`.
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorBody } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** The app's context: `fields` go into the request's log line. */
export type AppEnv = { Variables: { fields: Record<string, unknown> } };

// Any other path is counted as "other", so scanners cannot blow up label cardinality.
const ROUTES = new Set(['/', '/health', '/ready', '/predict', '/metrics', '/drift']);

// Probes and scrapes would drown the rest of the log.
const UNLOGGED = new Set(['/health', '/metrics']);

export interface ObserveOptions {
  metrics: Metrics;
  log: Logger;
  /** True once the service is shutting down: answers then close their connection. */
  closing: () => boolean;
}

/** Middleware: metrics and one structured log line per request; sets `c.var.fields`. */
export function observe(options: ObserveOptions) {
  const { metrics, log, closing } = options;
  return createMiddleware<AppEnv>(async (c, next) => {
    const started = performance.now();
    c.set('fields', {});
    await next();
    if (closing()) c.header('Connection', 'close');
    const seconds = (performance.now() - started) / 1000;
    const route = ROUTES.has(c.req.path) ? c.req.path : 'other';
    const status = c.res.status;
    metrics.requests.inc({ route, method: c.req.method, status: String(status) });
    metrics.latency.observe({ route }, seconds);
    if (UNLOGGED.has(route)) return;
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
  });
}

/** A JSON error answer, its code noted for the log line. */
export function errorJson(c: Context<AppEnv>, status: ContentfulStatusCode, body: ErrorBody, headers: Record<string, string> = {}) {
  const fields = c.get('fields') as AppEnv['Variables']['fields'] | undefined;
  if (fields) fields.error = body.error.code;
  return c.json(body, status, headers);
}
