// Every default of the service, written once (as sharp's lib/constructor.mjs
// keeps its options): createApp, startServer, `torchdog serve` and its --help
// read them here.
import { DEFAULT_MAX_PIXELS } from '../image/index.js';

const defaults = {
  // --- the model ------------------------------------------------------------
  /** What `torchdog train` points at after a run (`torchdog serve` without --model). */
  model: 'runs/latest/model.safetensors',
  /** Largest width*height of an uploaded image (the decoder's own limit). */
  maxPixels: DEFAULT_MAX_PIXELS,

  // --- createApp: batching, admission, limits --------------------------------
  maxBatch: 32,
  maxWaitMs: 20,
  eagerBatching: true,
  maxQueue: 64,
  requestTimeoutMs: 30_000,
  maxBodyBytes: 10 * 1024 * 1024,
  retryAfterSeconds: 1,
  /**
   * A body must arrive at this average rate once its first 10 s are spent
   * (408 slower): a trickling client cannot hold its socket and buffer for
   * the whole request budget.
   */
  bodyGraceMs: 10_000,
  minBodyBytesPerSecond: 1024,
  /**
   * What is left of a body answered before it was read (413, 503) is read and
   * dropped, up to this many bytes and milliseconds, before the connection is
   * cut: nginx's lingering close, so clients that write the whole body before
   * reading get the answer instead of a broken pipe.
   */
  discardMaxBytes: 1024 * 1024 * 1024,
  discardMaxMs: 30_000,
  processMetrics: false,

  // --- prediction log and drift ----------------------------------------------
  predictionLogFlushMs: 1000,
  /** Records a prediction log holds before it drops (and counts) new ones. */
  predictionLogMaxBuffer: 10_000,
  /** A prediction-log file past this size is renamed to FILE.1 (replacing the one before) and begun anew. */
  predictionLogMaxBytes: 256 * 1024 * 1024,
  driftWindow: 1000,
  /** GET /drift recomputes its verdict at most this often (and only after new predictions); callers meanwhile share it. */
  driftRefreshMs: 1000,
  /** `torchdog serve`'s prediction log (a library app keeps none unless given one). */
  predictions: 'predictions.jsonl',
  /** `torchdog serve`'s flush interval for a gs:// log: each flush is one object. */
  gcsPredictionLogFlushMs: 30_000,

  // --- startServer ------------------------------------------------------------
  port: 8080,
  /** What a container needs; 127.0.0.1 for local only. */
  host: '0.0.0.0',
  /**
   * Longest a stop waits for admitted predictions and the prediction log, for
   * app.shutdown() and startServer alike. Cloud Run and `docker stop` send
   * SIGKILL 10 s after SIGTERM: a drain allowed longer (a request's own budget
   * is 30 s) would be killed there before the log is flushed.
   */
  shutdownTimeoutMs: 10_000,
};

export type ServeDefaults = Readonly<typeof defaults>;

export const SERVE_DEFAULTS: ServeDefaults = Object.freeze(defaults);
