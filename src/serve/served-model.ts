// The model in service, and its replacement without downtime. Until a model
// is in, predictions are refused with a 503. A reload loads and warms the
// next model beside the one in service, then swaps them in one step (a
// request runs on the model it started with, start to answer); the old one is
// disposed once the requests using it are answered. A reload that fails
// leaves the old one serving, and says why.
import { createMiddleware } from 'hono/factory';
import { ServeError, unavailable } from './errors.js';
import { describeModel, InService, type ModelDescription, type ModelLoad, type ServeClassifier } from './in-service.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';

export interface ServedModelOptions {
  /** The model, or a promise of it; without one, `load` gives the first model too. */
  classifier?: ServeClassifier | Promise<ServeClassifier>;
  /** What names `classifier`: its source, run and sha256. */
  identity?: Omit<ModelLoad, 'classifier'>;
  /** Loads the model afresh (from --model): the first one when there is no `classifier`, and each reload. */
  load?: () => Promise<ModelLoad>;
  /** The name the model is served under. */
  name: string;
  maxBatch: number;
  maxWaitMs: number;
  /** With eager batching: how many admitted predictions are on their way to the batcher. */
  expected?: () => number;
  metrics: Metrics;
  log: Logger;
  retryAfterSeconds: number;
  /** Called each time a model goes into service. */
  onLoad?: () => void;
}

/** What a reload did. */
export interface Reloaded {
  model: ModelDescription;
  /** The model it replaced, now draining. */
  previous: ModelDescription | undefined;
  load_ms: number;
  warmup_ms: number;
}

export class ServedModel {
  /** The model taking new requests, once one is loaded. */
  current: InService | undefined;
  /** Why the first model failed to load, if it did (and no reload has put one in since). */
  loadError: Error | undefined;
  /** Resolves once the first model is loaded; rejects if it failed to. */
  readonly loaded: Promise<void>;
  readonly name: string;
  private reloading: Promise<Reloaded> | undefined;
  private readonly draining = new Set<Promise<void>>();
  private loads = 0;
  private closed = false;

  constructor(private readonly options: ServedModelOptions) {
    this.name = options.name;
    const { classifier, identity } = options;
    if (classifier === undefined) {
      this.loaded = this.loadNext().then(
        ({ next, loadMs, warmupMs }) => {
          this.install(next);
          const { precision, precisionReason } = next.classifier;
          const how = precisionReason ? `; precision ${next.description.precision} (${precisionReason})` : '';
          options.log({ severity: 'INFO', message: `model loaded: ${describeShort(next.description)}${how}`, model: next.description, load_ms: loadMs, warmup_ms: warmupMs, ...(precision ? { precision, precision_reason: precisionReason } : {}) });
        },
        (error: Error) => this.failed(error),
      );
    } else if (classifier instanceof Promise) {
      this.loaded = classifier.then((c) => void this.install(this.inService({ ...identity, classifier: c }, false)), (error: Error) => this.failed(error));
    } else {
      // A ready classifier is usable from the first request on, not a tick later.
      this.install(this.inService({ ...identity, classifier }, false));
      this.loaded = Promise.resolve();
    }
    // The caller learns of a failed load through `loaded` (or /ready); never as an unhandled rejection.
    this.loaded.catch(() => {});
  }

  /**
   * Loads the model afresh and swaps it in; rejects with a ServeError that
   * says why when it cannot (then the model in service, if any, stays).
   * Calls while one runs share it. `trigger` and `requestId` go into its log lines.
   */
  reload(trigger: string, requestId?: string): Promise<Reloaded> {
    const { load, retryAfterSeconds } = this.options;
    if (this.closed) return Promise.reject(unavailable('ERR_SHUTTING_DOWN', 'the service is shutting down', retryAfterSeconds));
    if (!load) {
      return Promise.reject(new ServeError(400, 'ERR_RELOAD_UNAVAILABLE', 'this service was given a classifier, not a model source to reload it from'));
    }
    if (!this.current && !this.loadError) {
      return Promise.reject(unavailable('ERR_NOT_READY', 'the first model is still loading; reload once it is in', retryAfterSeconds));
    }
    this.reloading ??= this.replace(trigger, requestId).finally(() => (this.reloading = undefined));
    return this.reloading;
  }

  /**
   * Takes no more reloads; waits for one in progress and for replaced models
   * to drain, then disposes the model in service if the app loaded it.
   */
  async close(): Promise<void> {
    this.closed = true;
    await Promise.allSettled([this.loaded, this.reloading]);
    await Promise.allSettled([...this.draining]);
    const current = this.current;
    if (current?.owned) {
      await current.idle();
      await current.classifier.dispose?.();
    }
  }

  private async replace(trigger: string, requestId: string | undefined): Promise<Reloaded> {
    const { metrics, log } = this.options;
    const previous = this.current?.description;
    const ids = requestId ? { request_id: requestId } : {};
    const still = previous ? `still serving ${describeShort(previous)}` : 'no model in service';
    let loaded: Awaited<ReturnType<ServedModel['loadNext']>>;
    try {
      loaded = await this.loadNext();
    } catch (error) {
      const why = (error as Error).message;
      metrics.reloads.inc({ outcome: 'failed' });
      log({ severity: 'ERROR', message: `${trigger}: model reload failed, ${still}: ${why}`, ...ids });
      throw new ServeError(400, 'ERR_RELOAD_FAILED', `the model could not be reloaded (${why}); ${still}`);
    }
    if (this.closed) {
      await loaded.next.classifier.dispose?.();
      throw unavailable('ERR_SHUTTING_DOWN', 'the service is shutting down', this.options.retryAfterSeconds);
    }
    this.install(loaded.next);
    metrics.reloads.inc({ outcome: 'loaded' });
    const model = loaded.next.description;
    log({
      severity: 'INFO',
      message: `${trigger}: model reloaded, now serving ${describeShort(model)}${previous ? ` instead of version ${previous.version}` : ''}`,
      ...ids,
      model,
      load_ms: loaded.loadMs,
      warmup_ms: loaded.warmupMs,
    });
    return { model, previous, load_ms: loaded.loadMs, warmup_ms: loaded.warmupMs };
  }

  /** Loads and warms the next model, not yet in service. */
  private async loadNext(): Promise<{ next: InService; loadMs: number; warmupMs: number }> {
    const started = performance.now();
    const loaded = await this.options.load!();
    if (typeof loaded?.classifier?.predictPixels !== 'function') {
      throw new TypeError('options.load must resolve to { classifier, source?, run?, sha256? }');
    }
    const loadMs = Math.round(performance.now() - started);
    const warmupMs = await warmUp(loaded.classifier);
    return { next: this.inService(loaded, true), loadMs, warmupMs };
  }

  private inService(model: ModelLoad, owned: boolean): InService {
    const { metrics, maxBatch, maxWaitMs, expected } = this.options;
    return new InService(model.classifier, describeModel(this.name, ++this.loads, model), owned, {
      maxBatch,
      maxWaitMs,
      ...(expected ? { expected } : {}),
      onBatch: (size, seconds) => {
        metrics.batchSize.observe(size);
        metrics.forward.observe(seconds);
      },
    });
  }

  /** Puts `next` into service in one step; the one it replaces drains, then is disposed if the app loaded it. */
  private install(next: InService): void {
    const previous = this.current;
    this.current = next;
    this.loadError = undefined;
    const { name, version, run, sha256, arch, classes, image_size, device, precision, source } = next.description;
    const { metrics } = this.options;
    metrics.modelInfo.reset();
    metrics.modelInfo.set(
      { name, version, run: run ?? '', sha256: sha256 ?? '', arch, classes: classes.join(','), image_size: String(image_size), device, precision, source: source ?? '' },
      1,
    );
    this.options.onLoad?.();
    if (previous) this.retire(previous);
  }

  private retire(old: InService): void {
    const { log } = this.options;
    const drained = old.idle()
      .then(async () => {
        if (old.owned) await old.classifier.dispose?.();
        log({ severity: 'INFO', message: `model version ${old.description.version} drained${old.owned ? ' and disposed' : ''}` });
      })
      .catch((error: Error) => log({ severity: 'WARNING', message: `model version ${old.description.version}: dispose failed: ${error.message}` }))
      .finally(() => this.draining.delete(drained));
    this.draining.add(drained);
  }

  private failed(error: Error): never {
    this.loadError = error;
    throw error;
  }
}

/**
 * The first forward pass builds the optimised graph (hundreds of ms): paid
 * before the model takes requests, not in the first user's request.
 */
async function warmUp(classifier: ServeClassifier): Promise<number> {
  const started = performance.now();
  const size = classifier.info.imageSize;
  try {
    await classifier.predictPixels([new Uint8Array(size * size * 3)]);
  } catch (error) {
    await classifier.dispose?.().catch(() => {});
    throw error;
  }
  return Math.round(performance.now() - started);
}

function describeShort(d: ModelDescription): string {
  const from = [d.run && `run ${d.run}`, d.source].filter(Boolean).join(', ');
  return `'${d.name}' version ${d.version}${from ? ` (${from})` : ''}: ${d.classes.length} classes, ${d.image_size}px, ${d.device}`;
}

/**
 * Why the service cannot take a prediction now, as a 503 with Retry-After:
 * shutting down, or the model not in (with `why`, the load error's message,
 * for /ready; a client of /predict is told that, not why). Undefined when it can.
 */
export function notServing(model: ServedModel, closing: boolean, retryAfterSeconds: number, why = false): ServeError | undefined {
  if (closing) return unavailable('ERR_SHUTTING_DOWN', 'the service is shutting down', retryAfterSeconds);
  if (model.loadError) {
    return unavailable('ERR_NOT_READY', `the model failed to load${why ? `: ${model.loadError.message}` : ''}`, retryAfterSeconds);
  }
  if (!model.current) return unavailable('ERR_NOT_READY', 'the model is still loading', retryAfterSeconds);
  return undefined;
}

export interface ServingOptions {
  model: ServedModel;
  /** True once the service is shutting down. */
  closing: () => boolean;
  /** Retry-After seconds on the 503s. */
  retryAfterSeconds: number;
}

/**
 * Middleware: lets a prediction through while the service takes them (not
 * shutting down, model loaded), else 503 with Retry-After. Sets
 * `c.var.served`, the model the request runs on until it is answered (a
 * reload meanwhile does not take it away).
 */
export function serving(options: ServingOptions) {
  const { model, closing, retryAfterSeconds } = options;
  return createMiddleware<{ Variables: { served: InService } }>(async (c, next) => {
    const refusal = notServing(model, closing(), retryAfterSeconds);
    if (refusal) throw refusal;
    const served = model.current!;
    const done = served.use();
    c.set('served', served);
    try {
      await next();
    } finally {
      done();
    }
  });
}
