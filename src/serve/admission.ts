// Admission control: at most `limit` predictions are in flight (decoding,
// queued or running; the service admits a request once its body is in hand); the next one is refused at once with a 503
// and Retry-After instead of waiting without bound. Shutdown closes the gate
// and waits for the admitted ones to be answered.
import { createMiddleware } from 'hono/factory';
import { unavailable } from './errors.js';

/** One admitted prediction, from admission to answer. */
export interface Ticket {
  /** It has reached the batcher's queue: no longer company for a batch to wait for. */
  arrive(): void;
}

export interface AdmissionOptions {
  /** Most predictions in flight at once. */
  limit: number;
  /** Called with the new in-flight count each time it changes. */
  onChange?: (inflight: number) => void;
}

export class Admission {
  readonly limit: number;
  private inflightCount = 0;
  private arrivingCount = 0;
  private isClosed = false;
  private idleWaiters: (() => void)[] = [];
  private readonly onChange: AdmissionOptions['onChange'];

  constructor(options: AdmissionOptions) {
    this.limit = options.limit;
    this.onChange = options.onChange;
  }

  /** Predictions admitted and not yet answered. */
  get inflight(): number {
    return this.inflightCount;
  }

  /** Admitted predictions not yet in the batcher's queue (decoding): company worth waiting for. */
  get arriving(): number {
    return this.arrivingCount;
  }

  /** True once close() was called: the service is shutting down. */
  get closed(): boolean {
    return this.isClosed;
  }

  /** Takes no more predictions; those admitted carry on. */
  close(): void {
    this.isClosed = true;
  }

  /**
   * Admits one prediction, or answers null when `limit` are in flight. The
   * caller must call `release` once it is answered, failed or not.
   */
  tryAdmit(): { ticket: Ticket; release: () => boolean } | null {
    if (this.inflightCount >= this.limit) return null;
    this.inflightCount++;
    this.arrivingCount++;
    this.onChange?.(this.inflightCount);
    let arrived = false;
    const arrive = () => {
      if (arrived) return;
      arrived = true;
      this.arrivingCount--;
    };
    const release = () => {
      const neverArrived = !arrived;
      arrive();
      this.inflightCount--;
      this.onChange?.(this.inflightCount);
      if (this.inflightCount === 0) this.wakeIdle();
      return neverArrived;
    };
    return { ticket: { arrive }, release };
  }

  /** Resolves once no prediction is in flight. */
  idle(): Promise<void> {
    return this.inflightCount === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private wakeIdle(): void {
    for (const wake of this.idleWaiters) wake();
    this.idleWaiters = [];
  }
}

export interface AdmissionMiddlewareOptions {
  /** The gate whose count this route shares. */
  gate: Admission;
  /** Retry-After seconds on the 503. */
  retryAfterSeconds: number;
  /**
   * Called when a prediction is answered without having reached the
   * batcher's queue (refused, failed, aborted): a batch waiting for it need not.
   */
  onLeftEarly?: () => void;
}

/**
 * Middleware: admits the request into the gate's bounded in-flight count, or
 * answers 503 ERR_QUEUE_FULL with Retry-After; the count drops when the
 * request is answered. Sets `c.var.ticket`.
 */
export function admission(options: AdmissionMiddlewareOptions) {
  const { gate, retryAfterSeconds: retry, onLeftEarly } = options;
  return createMiddleware<{ Variables: { ticket: Ticket } }>(async (c, next) => {
    // The body may have been read while shutdown began: the drain does not wait for it.
    if (gate.closed) throw unavailable('ERR_SHUTTING_DOWN', 'the service is shutting down', retry);
    const admitted = gate.tryAdmit();
    if (!admitted) {
      throw unavailable('ERR_QUEUE_FULL', `too many predictions in progress (${gate.limit}); retry after ${retry} s`, retry);
    }
    c.set('ticket', admitted.ticket);
    try {
      await next();
    } finally {
      if (admitted.release()) onLeftEarly?.();
    }
  });
}
