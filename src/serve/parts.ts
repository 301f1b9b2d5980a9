// The pieces one app is made of, each with one job, wired to the app's
// metrics and log: the model in service, admission, the drift window and the
// prediction recorder.
import { Admission } from './admission.js';
import { ByteBudget, type BodyPace } from './body.js';
import { DriftWindow } from './drift-window.js';
import { jsonLineLogger, silentLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './metrics.js';
import { runName } from './model-source.js';
import { MODEL_NAME, type CheckedAppOptions } from './options.js';
import { PredictionRecorder } from './recorder.js';
import { ServedModel } from './served-model.js';

export interface AppParts {
  options: CheckedAppOptions;
  log: Logger;
  metrics: Metrics;
  retry: number;
  gate: Admission;
  /** Bytes uploads may hold together, from their first byte to their answer: what admission bounded before bodies were read ahead of it. */
  uploads: ByteBudget;
  pace: BodyPace;
  model: ServedModel;
  drift: DriftWindow | null;
  recorder: PredictionRecorder;
}

/** Builds the pieces for checked options. */
export function assemble(o: CheckedAppOptions): AppParts {
  const log = o.logger === null ? silentLogger : (o.logger ?? jsonLineLogger());
  const metrics = createMetrics({ processMetrics: o.processMetrics });
  const gate = new Admission({ limit: o.maxQueue, onChange: (n) => metrics.inflight.set(n) });
  const run = o.modelRun ?? (o.modelSource !== undefined ? runName(o.modelSource) : undefined);
  const model = new ServedModel({
    ...(o.classifier !== undefined ? { classifier: o.classifier } : {}),
    identity: { source: o.modelSource, run, sha256: o.modelSha256 },
    ...(o.load ? { load: o.load } : {}),
    name: o.modelName ?? servedName(run),
    maxBatch: o.maxBatch,
    maxWaitMs: o.maxWaitMs,
    ...(o.eagerBatching ? { expected: () => gate.arriving } : {}),
    metrics,
    log,
    retryAfterSeconds: o.retryAfterSeconds,
    onLoad: () => {
      if (!gate.closed) metrics.ready.set(1);
    },
  });
  const drift = o.driftReference ? new DriftWindow({ reference: o.driftReference, size: o.driftWindow, refreshMs: o.driftRefreshMs, log }) : null;
  const recorder = new PredictionRecorder({
    log: o.predictionLog, flushIntervalMs: o.predictionLogFlushMs, maxBytes: o.predictionLogMaxBytes, window: drift, maxBackground: o.maxQueue, metrics, logger: log,
  });
  const uploads = new ByteBudget(o.maxQueue * o.maxBodyBytes);
  const pace = { graceMs: o.bodyGraceMs, minBytesPerSecond: o.minBodyBytesPerSecond };
  return { options: o, log, metrics, retry: o.retryAfterSeconds, gate, uploads, pace, model, drift, recorder };
}

/** A run's name as a model name: characters a path segment cannot carry become '-'. */
export function servedName(run: string | undefined): string {
  const name = (run ?? '').replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[._-]+/, '').slice(0, 128);
  return MODEL_NAME.test(name) ? name : 'model';
}
