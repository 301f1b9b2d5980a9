// What every request leaves behind: its request id (X-Request-Id: the
// caller's when sane, else a new one) on the answer, in its log line and in
// any error body; Prometheus counts and latency by route; and one structured
// log line with whatever the handlers put in `fields`.
import type { Context } from 'hono';
import { createMiddleware } from 'hono/factory';
import { routePath } from 'hono/route';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import type { ErrorBody, OipErrorBody } from './errors.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

/** The app's context: `fields` go into the request's log line; `requestId` is set by Hono's requestId(). */
export type AppEnv = { Variables: { fields: Record<string, unknown>; requestId: string } };

// Probes and scrapes would drown the rest of the log.
const UNLOGGED = new Set(['/health', '/metrics', '/v2/health/live', '/v2/health/ready']);

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
    const route = routeLabel(c);
    const status = c.res.status;
    metrics.requests.inc({ route, method: c.req.method, status: String(status) });
    metrics.latency.observe({ route }, seconds);
    if (UNLOGGED.has(route)) return;
    log({
      severity: status >= 500 ? 'ERROR' : status >= 400 ? 'WARNING' : 'INFO',
      message: `${c.req.method} ${c.req.path} ${status}`,
      request_id: c.get('requestId'),
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

/**
 * The route that answered, as registered ('/v2/models/:name/infer'): what a
 * client puts in a path never becomes a label, so scanners cannot blow up
 * label cardinality; anything no route took is "other".
 */
function routeLabel(c: Context): string {
  const path = routePath(c, -1);
  return path === '' || path === '*' || path === '/*' ? 'other' : path;
}

/** True for the Open Inference Protocol's paths, whose errors are {"error": "message"}. */
export function isOipPath(path: string): boolean {
  return path === '/v2' || path.startsWith('/v2/');
}

/** A JSON error answer with the request id, its code noted for the log line; the protocol's shape under /v2. */
export function errorJson(c: Context<AppEnv>, status: ContentfulStatusCode, body: ErrorBody, headers: Record<string, string> = {}) {
  const fields = c.get('fields') as AppEnv['Variables']['fields'] | undefined;
  if (fields) fields.error = body.error.code;
  const requestId = c.get('requestId') as string | undefined;
  const id = requestId ? { request_id: requestId } : {};
  if (isOipPath(c.req.path)) {
    const oip: OipErrorBody = { error: body.error.message, code: body.error.code, ...id };
    return c.json(oip, status, headers);
  }
  return c.json({ error: { ...body.error, ...id } }, status, headers);
}
