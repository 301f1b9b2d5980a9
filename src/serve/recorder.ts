// What the service keeps of each prediction, off the request path: its drift
// features, class, probability, time and model, for the prediction log and
// the drift window. A model that does not take the drift size has the bytes
// decoded again at that size (or, for pixels sent as a tensor, the pixels
// resized), in the background, a bounded number at a time.
import { decodeImage, resizePixels } from '../image/index.js';
import { driftFeatures, DRIFT_IMAGE_SIZE } from '../drift/index.js';
import type { Prediction } from '../model/index.js';
import type { DriftWindow } from './drift-window.js';
import type { ModelDescription } from './in-service.js';
import type { Logger } from './log.js';
import type { Metrics } from './metrics.js';
import { PredictionLog, sinkFor, type PredictionRecord, type PredictionSink } from './prediction-log.js';

export interface RecorderOptions {
  /** Where records go: a path or gs:// URI or sink (a log of the recorder's own), a PredictionLog (the caller's), or none. */
  log: string | PredictionSink | PredictionLog | null | undefined;
  /** Flush interval of a log the recorder opens. */
  flushIntervalMs: number;
  /** Size bound of a log file the recorder opens (0: none). */
  maxBytes: number;
  /** The drift window that also gets each record, if any. */
  window: DriftWindow | null;
  /** Most drift-size decodes running at once; beyond, records are dropped and counted. */
  maxBackground: number;
  metrics: Metrics;
  logger: Logger;
}

export class PredictionRecorder {
  private readonly log: PredictionLog | null;
  private readonly ownsLog: boolean;
  private readonly window: DriftWindow | null;
  private readonly maxBackground: number;
  private readonly background = new Set<Promise<void>>();

  constructor(options: RecorderOptions) {
    this.window = options.window;
    this.maxBackground = options.maxBackground;
    const { log } = options;
    this.ownsLog = log != null && !(log instanceof PredictionLog);
    if (log instanceof PredictionLog) this.log = log;
    else this.log = log == null ? null : openLog(log, options);
  }

  /**
   * Records one answered prediction, made by `model` from `pixels` (decoded
   * from `bytes`, when the client sent an encoded image); never throws, never waits.
   */
  record(prediction: Prediction, model: ModelDescription, pixels: Uint8Array, bytes?: Uint8Array): void {
    if (!this.log && !this.window) return;
    const entry = {
      time: new Date().toISOString(),
      category: prediction.category,
      probability: prediction.probability,
      ...(model.run ? { model_run: model.run } : {}),
      ...(model.sha256 ? { model_sha256: model.sha256 } : {}),
    };
    const size = model.image_size;
    if (size === DRIFT_IMAGE_SIZE) {
      this.append({ ...entry, ...driftFeatures(pixels, DRIFT_IMAGE_SIZE, DRIFT_IMAGE_SIZE) });
      return;
    }
    // Another decode, at the drift size, after the answer is on its way. The
    // bytes already passed the classifier's own decode and pixel limit.
    if (this.background.size >= this.maxBackground) {
      this.log?.countDropped(1);
      return;
    }
    const small = bytes ? decodeImage(bytes, { size: DRIFT_IMAGE_SIZE, maxPixels: 0 }) : resizePixels(pixels, size, DRIFT_IMAGE_SIZE);
    const job = small
      .then((drift) => this.append({ ...entry, ...driftFeatures(drift, DRIFT_IMAGE_SIZE, DRIFT_IMAGE_SIZE) }))
      .catch(() => this.log?.countDropped(1))
      .finally(() => this.background.delete(job));
    this.background.add(job);
  }

  /** Resolves when the background decodes running now have settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.background]);
  }

  /**
   * Flushes the log within `timeoutMs`: a log of its own is closed, the
   * caller's PredictionLog only flushed (the caller closes it).
   */
  async closeLog(timeoutMs: number): Promise<void> {
    if (!this.log) return;
    if (this.ownsLog) await this.log.close(timeoutMs);
    else await Promise.race([this.log.flush(), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())]);
  }

  private append(record: PredictionRecord): void {
    this.window?.add({ ...record });
    this.log?.append(record);
  }
}

function openLog(target: string | PredictionSink, options: RecorderOptions): PredictionLog {
  const { metrics, logger } = options;
  const sink = typeof target === 'string' ? sinkFor(target, { maxBytes: options.maxBytes }) : target;
  return new PredictionLog(sink, {
    flushIntervalMs: options.flushIntervalMs,
    onWrite: (n) => metrics.logRecords.inc({ outcome: 'written' }, n),
    onDrop: (n) => metrics.logRecords.inc({ outcome: 'dropped' }, n),
    onError: (error) => {
      metrics.logWriteErrors.inc();
      logger({ severity: 'WARNING', message: `prediction log: write to ${sink.description} failed: ${error.message}` });
    },
  });
}
