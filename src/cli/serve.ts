import { parseArgs } from 'node:util';
import { DEFAULT_MAX_PIXELS } from '../image/decode.js';
import type { Classifier } from '../model/classifier.js';
import { createApp } from '../serve/app.js';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { readFeatureFile } from '../drift/jsonl.js';
import type { FeatureRecord } from '../drift/detect.js';
import { isGsUri } from '../cloud/gcs.js';
import { jsonLineLogger } from '../serve/log.js';
import { checkModelSource, DEFAULT_MODEL, loadModel, ModelSourceError } from '../serve/model-source.js';
import { startServer } from '../serve/server.js';
import { UsageError } from './errors.js';
import { parseIntegerFlag } from './flags.js';
import { SERVE_USAGE } from './usage.js';

/**
 * GET /drift compares recent predictions with the training run's features:
 * --reference FILE|RUN_DIR, else reference.jsonl beside a local model, if any.
 */
function driftReferenceFor(reference: string | undefined, model: string): Promise<FeatureRecord[]> | null {
  if (reference === 'none') return null;
  if (reference !== undefined) return readFeatureFile(reference);
  if (isGsUri(model)) return null;
  const beside = join(dirname(model), 'reference.jsonl');
  return existsSync(beside) ? readFeatureFile(beside) : null;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      port: { type: 'string' },
      host: { type: 'string' },
      device: { type: 'string', default: 'auto' },
      threads: { type: 'string', default: '0' },
      'max-batch': { type: 'string', default: '32' },
      'max-wait-ms': { type: 'string', default: '20' },
      'fixed-wait': { type: 'boolean', default: false },
      'max-queue': { type: 'string', default: '64' },
      'timeout-ms': { type: 'string', default: '30000' },
      'max-body-mb': { type: 'string', default: '10' },
      'max-pixels': { type: 'string', default: String(DEFAULT_MAX_PIXELS) },
      predictions: { type: 'string' },
      reference: { type: 'string' },
      'drift-window': { type: 'string', default: '1000' },
      'flush-ms': { type: 'string' },
      'shutdown-timeout-ms': { type: 'string', default: '10000' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(SERVE_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\n\n${SERVE_USAGE}`);

  const port = parseIntegerFlag(values.port ?? process.env.PORT ?? '8080', values.port ? '--port' : 'PORT', 0, 65535);
  const host = values.host ?? process.env.HOST ?? '0.0.0.0';
  const source = values.model ?? process.env.TORCHDOG_MODEL ?? DEFAULT_MODEL;
  const predictions = values.predictions ?? process.env.TORCHDOG_PREDICTIONS ?? 'predictions.jsonl';
  const predictionLog = predictions === 'none' ? null : predictions;
  const flushMs = parseIntegerFlag(values['flush-ms'] ?? (isGsUri(predictions) ? '30000' : '1000'), '--flush-ms', 1, 3_600_000);
  const classifierOptions = {
    device: values.device,
    threads: parseIntegerFlag(values.threads, '--threads', 0, 1024),
    maxPixels: parseIntegerFlag(values['max-pixels'], '--max-pixels', 1, 2 ** 40),
  };
  const appOptions = {
    modelSource: source,
    maxBatch: parseIntegerFlag(values['max-batch'], '--max-batch', 1, 4096),
    maxWaitMs: parseIntegerFlag(values['max-wait-ms'], '--max-wait-ms', 0, 60_000),
    eagerBatching: !values['fixed-wait'],
    maxQueue: parseIntegerFlag(values['max-queue'], '--max-queue', 1, 1_000_000),
    requestTimeoutMs: parseIntegerFlag(values['timeout-ms'], '--timeout-ms', 1, 3_600_000),
    maxBodyBytes: parseIntegerFlag(values['max-body-mb'], '--max-body-mb', 1, 2047) * 1024 * 1024,
    predictionLog,
    predictionLogFlushMs: flushMs,
    driftReference: driftReferenceFor(values.reference, source),
    driftWindow: parseIntegerFlag(values['drift-window'], '--drift-window', 1, 1_000_000),
  };
  const shutdownTimeoutMs = parseIntegerFlag(values['shutdown-timeout-ms'], '--shutdown-timeout-ms', 0, 3_600_000);

  // A missing local checkpoint is the common mistake: say so before listening.
  try {
    await checkModelSource(source);
  } catch (error) {
    throw new UsageError((error as Error).message, 1);
  }

  const logger = jsonLineLogger();
  // Listen while the model loads (a gs:// download can take a while):
  // /health answers at once, /ready turns 200 when the model is in.
  let warmupMs = 0;
  const loading = loadModel(source, classifierOptions).then(async ({ classifier: c }) => {
    // The first forward pass builds the optimised graph (hundreds of ms):
    // pay for it before /ready says yes, not in the first user's request.
    const started = performance.now();
    try {
      await c.predictPixels([new Uint8Array(c.imageSize * c.imageSize * 3)]);
    } catch (error) {
      await c.dispose();
      throw error;
    }
    warmupMs = Math.round(performance.now() - started);
    return c;
  });
  let classifier: Classifier | undefined;
  loading.then((c) => (classifier = c), () => {});
  const app = createApp({ ...appOptions, classifier: loading, logger, processMetrics: true });
  let server;
  try {
    server = await startServer(app, { port, host, shutdownTimeoutMs, handleSignals: true, logger });
  } catch (error) {
    // Port taken, say: do not leave the model loading behind.
    await loading.then((c) => c.dispose(), () => {});
    throw new UsageError(`cannot listen on ${host}:${port}: ${(error as Error).message}`, 1);
  }
  try {
    try {
      await app.loaded;
    } catch (error) {
      await server.close();
      const message = (error as Error).message;
      throw new UsageError(error instanceof ModelSourceError ? message : `cannot load the model ${source}: ${message}`, 1);
    }
    logger({
      severity: 'INFO',
      message: `model ${source} loaded: ${classifier!.info.classes.length} classes, ${classifier!.info.imageSize}px, ${classifier!.device}, warm-up ${warmupMs} ms`,
      predictions: predictionLog ?? 'off',
    });
    await server.closed;
  } finally {
    await classifier?.dispose();
  }
  return 0;
}
