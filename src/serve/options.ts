// createApp's options: what each means, and the one check of them all
// (errors name the option, as sharp's do). Defaults come from SERVE_DEFAULTS.
import type { FeatureRecord } from '../drift/index.js';
import { expectBoolean, expectInteger, expectKnownKeys, expectNumber, invalid, withoutUndefined } from '../util/index.js';
import { SERVE_DEFAULTS } from './defaults.js';
import type { Logger } from './log.js';
import { PredictionLog, type PredictionSink } from './prediction-log.js';
import type { ModelLoad, ServeClassifier } from './in-service.js';

const D = SERVE_DEFAULTS;

export interface AppOptions {
  /**
   * The model, or a promise of it: /ready and /predict answer 503 until it
   * settles. It stays the caller's (the app never disposes it). Without it,
   * `load` gives the first model.
   */
  classifier?: ServeClassifier | Promise<ServeClassifier>;
  /**
   * Loads the model afresh, e.g. `() => loadModel(path)`: for the first model
   * when there is no `classifier`, and for each reload (app.reload(), SIGHUP
   * with startServer's signals, POST /v2/repository/models/NAME/load). The
   * app owns what it loads: it warms each model up before it takes requests,
   * disposes a replaced one once drained, and the last one at shutdown.
   * Default none (a reload answers 400).
   */
  load?: () => Promise<ModelLoad>;
  /** Where the model came from (path or gs:// URI), for /ready, answers and metrics. */
  modelSource?: string;
  /** The training run `classifier` came from. Default: the name of modelSource's folder. */
  modelRun?: string;
  /** Hex sha256 of `classifier`'s checkpoint file. Default none (the version is then a count of loads). */
  modelSha256?: string;
  /**
   * The name the model is served under: /v2/models/NAME, /ready and answers.
   * Letters, digits, '.', '_' and '-'. Default: the run's name (the first
   * model's, kept across reloads), else "model".
   */
  modelName?: string;
  /**
   * Origins whose pages may call the service (CORS): one, a list, or "*" for
   * any. Default none (no CORS headers; OPTIONS answers 405 or 404).
   */
  cors?: string | readonly string[] | null;
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
  /** After this many ms, a body slower than minBodyBytesPerSecond on average is refused (408). Default in {@link SERVE_DEFAULTS}. */
  bodyGraceMs?: number;
  /** See bodyGraceMs. Default in {@link SERVE_DEFAULTS}. */
  minBodyBytesPerSecond?: number;
  /** Most bytes of a refused body read and dropped after the answer before the connection is cut. Default in {@link SERVE_DEFAULTS}. */
  discardMaxBytes?: number;
  /** Longest the rest of a refused body is read after the answer before the connection is cut. Default in {@link SERVE_DEFAULTS}. */
  discardMaxMs?: number;
  /** Retry-After seconds on 503 answers. Default in {@link SERVE_DEFAULTS}. */
  retryAfterSeconds?: number;
  /**
   * Prediction log for drift monitoring: a JSONL path, a gs://bucket/prefix,
   * a sink, or a PredictionLog (then the caller closes it). Default none.
   */
  predictionLog?: string | PredictionSink | PredictionLog | null;
  /** Milliseconds between prediction-log flushes (when the app creates the log). Default in {@link SERVE_DEFAULTS}. */
  predictionLogFlushMs?: number;
  /** A prediction-log file (a path given as predictionLog) is rotated to FILE.1 past this size; 0 never. Default in {@link SERVE_DEFAULTS}. */
  predictionLogMaxBytes?: number;
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
  /** GET /drift recomputes its verdict at most this often, and only after new predictions. Default in {@link SERVE_DEFAULTS}. */
  driftRefreshMs?: number;
}

const APP_DEFAULTS = {
  modelSource: undefined as string | undefined,
  modelRun: undefined as string | undefined,
  modelSha256: undefined as string | undefined,
  modelName: undefined as string | undefined,
  cors: null as AppOptions['cors'],
  maxBatch: D.maxBatch,
  maxWaitMs: D.maxWaitMs,
  eagerBatching: D.eagerBatching,
  maxQueue: D.maxQueue,
  requestTimeoutMs: D.requestTimeoutMs,
  maxBodyBytes: D.maxBodyBytes,
  bodyGraceMs: D.bodyGraceMs,
  minBodyBytesPerSecond: D.minBodyBytesPerSecond,
  discardMaxBytes: D.discardMaxBytes,
  discardMaxMs: D.discardMaxMs,
  retryAfterSeconds: D.retryAfterSeconds,
  predictionLog: null as AppOptions['predictionLog'],
  predictionLogFlushMs: D.predictionLogFlushMs,
  predictionLogMaxBytes: D.predictionLogMaxBytes,
  processMetrics: D.processMetrics,
  driftReference: null as AppOptions['driftReference'],
  driftWindow: D.driftWindow,
  driftRefreshMs: D.driftRefreshMs,
};

const OPTION_KEYS = ['classifier', 'load', 'logger', ...Object.keys(APP_DEFAULTS)];

/** What a model name may be: a URL path segment, as KServe and Triton names are. */
export const MODEL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** True for a name the model may be served under. */
export function isModelName(name: unknown): name is string {
  return typeof name === 'string' && MODEL_NAME.test(name);
}

export type CheckedAppOptions = typeof APP_DEFAULTS & Pick<AppOptions, 'classifier' | 'load' | 'logger'>;

/** Checks every option, naming the one at fault, and fills the defaults. */
export function checkAppOptions(options: AppOptions): CheckedAppOptions {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object with a classifier', options);
  expectKnownKeys(options, 'options', OPTION_KEYS);
  const o = { ...APP_DEFAULTS, ...withoutUndefined(options), classifier: options.classifier, load: options.load };
  if (o.load !== undefined && typeof o.load !== 'function') throw invalid('options.load', 'a function that loads the model', o.load);
  const c = options.classifier as Partial<ServeClassifier> | Promise<ServeClassifier> | undefined;
  if (!(c === undefined && o.load) && !(c instanceof Promise) && (typeof c?.predictPixels !== 'function' || typeof c.decode !== 'function' || !c.info)) {
    throw invalid('options.classifier', 'a Classifier (or a promise of one)', c);
  }
  for (const key of ['modelSource', 'modelRun', 'modelSha256'] as const) {
    if (o[key] !== undefined && typeof o[key] !== 'string') throw invalid(`options.${key}`, 'a string', o[key]);
  }
  if (o.modelSha256 !== undefined && !/^[0-9a-f]{64}$/.test(o.modelSha256)) throw invalid('options.modelSha256', '64 lowercase hex digits', o.modelSha256);
  if (o.modelName !== undefined && !isModelName(o.modelName)) {
    throw invalid('options.modelName', "a name of letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit)", o.modelName);
  }
  const origins = typeof o.cors === 'string' ? [o.cors] : o.cors;
  if (origins !== null && (!Array.isArray(origins) || origins.length === 0 || !origins.every(isOrigin))) {
    throw invalid('options.cors', '"*", an origin such as "https://example.com", or a list of origins', o.cors);
  }
  expectInteger(o.maxBatch, 'options.maxBatch', 1, 4096);
  expectNumber(o.maxWaitMs, 'options.maxWaitMs', 0, 60_000);
  expectInteger(o.maxQueue, 'options.maxQueue', 1, 1_000_000);
  expectInteger(o.requestTimeoutMs, 'options.requestTimeoutMs', 1, 3_600_000);
  expectInteger(o.maxBodyBytes, 'options.maxBodyBytes', 1, 2 ** 31);
  expectInteger(o.bodyGraceMs, 'options.bodyGraceMs', 0, 3_600_000);
  expectInteger(o.minBodyBytesPerSecond, 'options.minBodyBytesPerSecond', 1, 2 ** 40);
  expectInteger(o.discardMaxBytes, 'options.discardMaxBytes', 0, 2 ** 40);
  expectInteger(o.discardMaxMs, 'options.discardMaxMs', 0, 3_600_000);
  expectInteger(o.retryAfterSeconds, 'options.retryAfterSeconds', 0, 86_400);
  expectInteger(o.predictionLogFlushMs, 'options.predictionLogFlushMs', 1, 3_600_000);
  expectInteger(o.predictionLogMaxBytes, 'options.predictionLogMaxBytes', 0, 2 ** 50);
  expectBoolean(o.processMetrics, 'options.processMetrics');
  expectBoolean(o.eagerBatching, 'options.eagerBatching');
  expectInteger(o.driftWindow, 'options.driftWindow', 1, 1_000_000);
  expectInteger(o.driftRefreshMs, 'options.driftRefreshMs', 0, 3_600_000);
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

/** "*", or scheme://host[:port] with nothing after: what a browser sends as Origin. */
export function isOrigin(value: unknown): boolean {
  if (value === '*') return true;
  if (typeof value !== 'string') return false;
  try {
    return new URL(value).origin === value;
  } catch {
    return false;
  }
}
