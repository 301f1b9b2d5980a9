// The model in service: the classifier (loaded, or still loading), the
// batcher that shares its forward passes, and how answers and metrics
// describe it. Until it is in, predictions are refused with a 503.
import { createMiddleware } from 'hono/factory';
import type { CheckpointInfo, Prediction } from '../model/index.js';
import { Batcher } from './batcher.js';
import { unavailable, type ServeError } from './errors.js';
import type { Metrics } from './metrics.js';

/** What the service needs of a model; a {@link Classifier} is one. */
export interface ServeClassifier {
  readonly info: CheckpointInfo;
  readonly device: string;
  /** Encoded bytes → HWC RGB uint8 at info.imageSize; throws ImageDecodeError. */
  decode(input: Uint8Array): Promise<Uint8Array>;
  /** One forward pass over decoded images. */
  predictPixels(images: readonly Uint8Array[]): Promise<Prediction[]>;
}

/** The model as /ready and every answer describe it. */
export interface ModelDescription {
  arch: string;
  classes: string[];
  image_size: number;
  device: string;
  source?: string;
  metadata?: Record<string, string>;
}

/** A loaded model, ready to take predictions. */
export interface InService {
  classifier: ServeClassifier;
  batcher: Batcher<Uint8Array, Prediction>;
  description: ModelDescription;
}

export interface ServedModelOptions {
  /** The model, or a promise of it. */
  classifier: ServeClassifier | Promise<ServeClassifier>;
  /** Where it came from (path or gs:// URI), for answers and metrics. */
  source: string | undefined;
  maxBatch: number;
  maxWaitMs: number;
  /** With eager batching: how many admitted predictions are on their way to the batcher. */
  expected?: () => number;
  metrics: Metrics;
  /** Called once the model is in service. */
  onLoad?: () => void;
}

export class ServedModel {
  /** The model, once loaded. */
  current: InService | undefined;
  /** Why it failed to load, if it did. */
  loadError: Error | undefined;
  /** Resolves once the model is loaded; rejects if it failed to. */
  readonly loaded: Promise<void>;

  constructor(private readonly options: ServedModelOptions) {
    const { classifier } = options;
    // A ready classifier is usable from the first request on, not a tick later.
    if (!(classifier instanceof Promise)) this.use(classifier);
    this.loaded = classifier instanceof Promise
      ? classifier.then((c) => this.use(c), (error: Error) => {
        this.loadError = error;
        throw error;
      })
      : Promise.resolve();
    // The caller learns of a failed load through `loaded` (or /ready); never as an unhandled rejection.
    this.loaded.catch(() => {});
  }

  private use(classifier: ServeClassifier): void {
    const { source, metrics, maxBatch, maxWaitMs, expected } = this.options;
    const description = describeModel(classifier, source);
    const batcher = new Batcher<Uint8Array, Prediction>({
      run: (pixels) => classifier.predictPixels(pixels),
      maxBatch,
      maxWaitMs,
      ...(expected ? { expected } : {}),
      onBatch: (size, seconds) => {
        metrics.batchSize.observe(size);
        metrics.forward.observe(seconds);
      },
    });
    this.current = { classifier, batcher, description };
    const { arch, classes, image_size, device } = description;
    metrics.modelInfo.set({ arch, classes: classes.join(','), image_size: String(image_size), device, source: source ?? '' }, 1);
    this.options.onLoad?.();
  }
}

function describeModel(classifier: ServeClassifier, source: string | undefined): ModelDescription {
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
 * shutting down, model loaded), else 503 with Retry-After. Sets `c.var.served`.
 */
export function serving(options: ServingOptions) {
  const { model, closing, retryAfterSeconds } = options;
  return createMiddleware<{ Variables: { served: InService } }>(async (c, next) => {
    const refusal = notServing(model, closing(), retryAfterSeconds);
    if (refusal) throw refusal;
    c.set('served', model.current!);
    await next();
  });
}
