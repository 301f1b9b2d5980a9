// Dynamic batching: images submitted close together share one forward pass.
// A batch leaves when it is full (maxBatch), when its oldest image has
// waited maxWaitMs, or, given `expected`, as soon as no other input is on its
// way (waiting longer would only add latency); one pass runs at a time (the
// native model handle is serial anyway), and whatever arrives meanwhile forms
// the next batch.
import { expectInteger, expectNumber } from '../util/index.js';

export interface BatcherOptions<In, Out> {
  /** Runs one forward pass; must answer one output per input, in order. */
  run: (inputs: In[]) => Promise<Out[]>;
  /** Most inputs per pass. */
  maxBatch: number;
  /** Longest an input waits for company before its batch leaves anyway. */
  maxWaitMs: number;
  /** Called after each pass with its size and duration, failed or not. */
  onBatch?: (size: number, seconds: number) => void;
  /**
   * How many more inputs are on their way (for the service: admitted
   * requests still reading or decoding). When given, a batch does not wait
   * for company that is not coming: it leaves once this is 0. Call
   * {@link Batcher.poke} when it drops without a submit.
   */
  expected?: () => number;
}

export interface BatchResult<Out> {
  output: Out;
  /** Seconds between submit() and the start of the pass. */
  queueSeconds: number;
  /** Seconds the pass took. */
  forwardSeconds: number;
  batchSize: number;
}

interface Pending<In, Out> {
  input: In;
  enqueuedAt: number;
  resolve: (result: BatchResult<Out>) => void;
  reject: (error: unknown) => void;
  detach: () => void;
}

export class Batcher<In, Out> {
  private readonly waiting: Pending<In, Out>[] = [];
  private running = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly run: BatcherOptions<In, Out>['run'];
  private readonly maxBatch: number;
  private readonly maxWaitMs: number;
  private readonly onBatch: BatcherOptions<In, Out>['onBatch'];
  private readonly expected: BatcherOptions<In, Out>['expected'];

  constructor(options: BatcherOptions<In, Out>) {
    this.run = options.run;
    this.maxBatch = expectInteger(options.maxBatch, 'maxBatch', 1, 4096);
    this.maxWaitMs = expectNumber(options.maxWaitMs, 'maxWaitMs', 0, 60_000);
    this.onBatch = options.onBatch;
    this.expected = options.expected;
  }

  /** Inputs waiting for a pass (not counting the one running). */
  get queued(): number {
    return this.waiting.length;
  }

  /**
   * Queues one input. If `signal` aborts before its pass starts, the input
   * leaves the queue and the promise rejects with the signal's reason; once
   * the pass has started, the result is delivered regardless.
   */
  submit(input: In, signal?: AbortSignal): Promise<BatchResult<Out>> {
    signal?.throwIfAborted();
    return new Promise<BatchResult<Out>>((resolve, reject) => {
      const pending: Pending<In, Out> = { input, enqueuedAt: performance.now(), resolve, reject, detach: () => {} };
      if (signal) {
        const onAbort = () => {
          const index = this.waiting.indexOf(pending);
          if (index >= 0) this.waiting.splice(index, 1);
          reject(signal.reason);
        };
        signal.addEventListener('abort', onAbort, { once: true });
        pending.detach = () => signal.removeEventListener('abort', onAbort);
      }
      this.waiting.push(pending);
      this.schedule();
    });
  }

  /** Re-evaluates the waiting batch, e.g. after `expected` dropped without a submit. */
  poke(): void {
    this.schedule();
  }

  private schedule(): void {
    if (this.running || this.waiting.length === 0) return;
    const waited = performance.now() - this.waiting[0]!.enqueuedAt;
    const full = this.waiting.length >= this.maxBatch;
    if (full || waited >= this.maxWaitMs || (this.expected !== undefined && this.expected() <= 0)) {
      this.clearTimer();
      void this.dispatch();
    } else if (!this.timer) {
      // If the oldest input leaves early (aborted), this fires early and re-arms.
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.schedule();
      }, Math.max(1, Math.ceil(this.maxWaitMs - waited)));
    }
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async dispatch(): Promise<void> {
    const batch = this.waiting.splice(0, this.maxBatch);
    this.running = true;
    const started = performance.now();
    for (const p of batch) p.detach();
    try {
      const outputs = await this.run(batch.map((p) => p.input));
      if (outputs.length !== batch.length) {
        throw new Error(`batch runner returned ${outputs.length} outputs for ${batch.length} inputs`);
      }
      const forwardSeconds = (performance.now() - started) / 1000;
      batch.forEach((p, i) =>
        p.resolve({
          output: outputs[i]!,
          queueSeconds: (started - p.enqueuedAt) / 1000,
          forwardSeconds,
          batchSize: batch.length,
        }),
      );
    } catch (error) {
      for (const p of batch) p.reject(error);
    } finally {
      this.onBatch?.(batch.length, (performance.now() - started) / 1000);
      this.running = false;
      this.schedule();
    }
  }
}
