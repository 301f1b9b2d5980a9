// createApp's options: what each means, and the one check of them all
// (errors name the option, as sharp's do). Defaults come from SERVE_DEFAULTS.
import type { FeatureRecord } from '../drift/index.js';
import { expectBoolean, expectInteger, expectKnownKeys, expectNumber, invalid, withoutUndefined } from '../util/index.js';
import { SERVE_DEFAULTS } from './defaults.js';
import type { Logger } from './log.js';
import { PredictionLog, type PredictionSink } from './prediction-log.js';
import type { ServeClassifier } from './served-model.js';

const D = SERVE_DEFAULTS;

export interface AppOptions {
  /** The model, or a promise of it: /ready and /predict answer 503 until it settles. */
  classifier: ServeClassifier | Promise<ServeClassifier>;
  /** Where the model came from (path or gs:// URI), for /ready, answers and metrics. */
  modelSource?: string;
  /** Most images per forward pass. Default in {@link SERVE_DEFAULTS}. */
  maxBatch?: number;
  /**
   * Longest a decoded image waits for others to share its pass. Default in {@link SERVE_DEFAULTS}.
   * With `eagerBatching` it waits only while other admitted requests are
   * still reading or decoding: then long enough for a burst of concurrent
   * requests to finish decoding (8 photos on 2 cores: about 13 ms) and share
   * one pass.
   */
  maxWaitMs?: number;
  /**
   * A batch leaves as soon as no other admitted request is on its way to the
   * queue, instead of waiting out maxWaitMs for company that is not coming
   * (a lone request pays no batching delay). Default in {@link SERVE_DEFAULTS}.
   */
  eagerBatching?: boolean;
  /** Most predictions admitted at once (reading, decoding, queued, running); more get 503. Default in {@link SERVE_DEFAULTS}. */
  maxQueue?: number;
  /** Budget of one prediction from admission to answer; past it 503 (or 408 while the body still arrives). Default in {@link SERVE_DEFAULTS}. */
  requestTimeoutMs?: number;
  /** Largest request body. Default in {@link SERVE_DEFAULTS}. */
  maxBodyBytes?: number;
  /** Retry-After seconds on 503 answers. Default in {@link SERVE_DEFAULTS}. */
  retryAfterSeconds?: number;
  /**
   * Prediction log for drift monitoring: a JSONL path, a gs://bucket/prefix,
   * a sink, or a PredictionLog (then the caller closes it). Default none.
   */
  predictionLog?: string | PredictionSink | PredictionLog | null;
  /** Milliseconds between prediction-log flushes (when the app creates the log). Default in {@link SERVE_DEFAULTS}. */
  predictionLogFlushMs?: number;
  /** Structured log lines; default JSON lines on stderr; null for none. */
  logger?: Logger | null;
  /** Also export Node process metrics (CPU, memory, event loop) on /metrics. Default in {@link SERVE_DEFAULTS}. */
  processMetrics?: boolean;
  /**
   * The training set's drift features (a run's reference.jsonl records), or a
   * promise of them; enables GET /drift. Default none (GET /drift answers 404).
   */
  driftReference?: readonly FeatureRecord[] | Promise<readonly FeatureRecord[]> | null;
  /** GET /drift compares the reference with this many most recent predictions. Default in {@link SERVE_DEFAULTS}. */
  driftWindow?: number;
}

const APP_DEFAULTS = {
  modelSource: undefined as string | undefined,
  maxBatch: D.maxBatch,
  maxWaitMs: D.maxWaitMs,
  eagerBatching: D.eagerBatching,
  maxQueue: D.maxQueue,
  requestTimeoutMs: D.requestTimeoutMs,
  maxBodyBytes: D.maxBodyBytes,
  retryAfterSeconds: D.retryAfterSeconds,
  predictionLog: null as AppOptions['predictionLog'],
  predictionLogFlushMs: D.predictionLogFlushMs,
  processMetrics: D.processMetrics,
  driftReference: null as AppOptions['driftReference'],
  driftWindow: D.driftWindow,
};

const OPTION_KEYS = ['classifier', 'logger', ...Object.keys(APP_DEFAULTS)];

export type CheckedAppOptions = typeof APP_DEFAULTS & Pick<AppOptions, 'classifier' | 'logger'>;

/** Checks every option, naming the one at fault, and fills the defaults. */
export function checkAppOptions(options: AppOptions): CheckedAppOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object with a classifier', options);
  expectKnownKeys(options, 'options', OPTION_KEYS);
  const o = { ...APP_DEFAULTS, ...withoutUndefined(options), classifier: options.classifier };
  const c = options.classifier as Partial<ServeClassifier> | Promise<ServeClassifier> | undefined;
  if (!(c instanceof Promise) && (typeof c?.predictPixels !== 'function' || typeof c.decode !== 'function' || !c.info)) {
    throw invalid('options.classifier', 'a Classifier (or a promise of one)', c);
  }
  if (o.modelSource !== undefined && typeof o.modelSource !== 'string') throw invalid('options.modelSource', 'a string', o.modelSource);
  expectInteger(o.maxBatch, 'options.maxBatch', 1, 4096);
  expectNumber(o.maxWaitMs, 'options.maxWaitMs', 0, 60_000);
  expectInteger(o.maxQueue, 'options.maxQueue', 1, 1_000_000);
  expectInteger(o.requestTimeoutMs, 'options.requestTimeoutMs', 1, 3_600_000);
  expectInteger(o.maxBodyBytes, 'options.maxBodyBytes', 1, 2 ** 31);
  expectInteger(o.retryAfterSeconds, 'options.retryAfterSeconds', 0, 86_400);
  expectInteger(o.predictionLogFlushMs, 'options.predictionLogFlushMs', 1, 3_600_000);
  expectBoolean(o.processMetrics, 'options.processMetrics');
  expectBoolean(o.eagerBatching, 'options.eagerBatching');
  expectInteger(o.driftWindow, 'options.driftWindow', 1, 1_000_000);
  const ref = o.driftReference;
  if (ref !== null && ref !== undefined && !(ref instanceof Promise) && !Array.isArray(ref)) {
    throw invalid('options.driftReference', 'an array of feature records (or a promise of one)', ref);
  }
  if (options.logger !== undefined && options.logger !== null && typeof options.logger !== 'function') {
    throw invalid('options.logger', 'a function, or null', options.logger);
  }
  const log = o.predictionLog;
  if (log !== null && typeof log !== 'string' && !(log instanceof PredictionLog) && typeof (log as PredictionSink).write !== 'function') {
    throw invalid('options.predictionLog', 'a path, a gs:// URI, a PredictionSink or a PredictionLog', log);
  }
  return o;
}
