// A prediction's budget from admission to answer. The request's signal aborts
// when the budget runs out or the client goes away, and its reason is the
// refusal that explains it, so whatever stops on the signal answers well.
import { createMiddleware } from 'hono/factory';
import type { ContentfulStatusCode } from 'hono/utils/http-status';
import { ServeError } from './errors.js';

/** The budget ran out: 503 with Retry-After (the service is busy). */
export class DeadlineExceeded extends ServeError {
  constructor(
    readonly timeoutMs: number,
    retryAfterSeconds: number,
  ) {
    super(503, 'ERR_TIMEOUT', `the prediction did not finish within ${timeoutMs} ms; the service is busy, retry later`, {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

/** The client closed the request; nobody reads this answer, the log does. */
export class ClientClosed extends ServeError {
  constructor() {
    super(499 as ContentfulStatusCode, 'ERR_CLIENT_CLOSED', 'the client closed the request');
  }
}

export interface DeadlineOptions {
  /** The budget of one request, in milliseconds. */
  timeoutMs: number;
  /** Retry-After seconds on the 503 when it runs out. */
  retryAfterSeconds: number;
}

/**
 * Middleware: gives the request `timeoutMs` and sets `c.var.signal`, which
 * aborts with a {@link DeadlineExceeded} when they are spent or a
 * {@link ClientClosed} when the client goes away.
 */
export function deadline(options: DeadlineOptions) {
  const { timeoutMs, retryAfterSeconds } = options;
  return createMiddleware<{ Variables: { signal: AbortSignal } }>(async (c, next) => {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DeadlineExceeded(timeoutMs, retryAfterSeconds)), timeoutMs);
    const client = c.req.raw.signal;
    const onClientAbort = () => controller.abort(new ClientClosed());
    if (client.aborted) onClientAbort();
    else client.addEventListener('abort', onClientAbort, { once: true });
    c.set('signal', controller.signal);
    try {
      await next();
    } finally {
      clearTimeout(timer);
      client.removeEventListener('abort', onClientAbort);
    }
  });
}

/**
 * What an error means for the answer: once the signal aborted, whatever
 * failed (a cancelled read, a dropped queue entry) failed because of that,
 * so the abort's reason answers; a refusal of the request's own still stands.
 */
export function explain(error: unknown, signal: AbortSignal): unknown {
  return signal.aborted && !(error instanceof ServeError) ? signal.reason : error;
}
