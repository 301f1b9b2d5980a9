import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { isGsUri } from '../cloud/index.js';
import { readFeatureFile, type FeatureRecord } from '../drift/index.js';
import type { Classifier, ClassifierOptions } from '../model/index.js';
import { checkModelSource, createApp, jsonLineLogger, loadModel, ModelSourceError, SERVE_DEFAULTS as D, startServer } from '../serve/index.js';
import { UsageError } from './errors.js';
import { parseIntegerFlag } from './flags.js';
import { serveUsage } from './usage.js';

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

/** What the command line asks for; a flag left out is the default of the part that takes it. */
function parseServeFlags(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      port: { type: 'string' },
      host: { type: 'string' },
      device: { type: 'string' },
      threads: { type: 'string' },
      'max-batch': { type: 'string' },
      'max-wait-ms': { type: 'string' },
      'fixed-wait': { type: 'boolean' },
      'max-queue': { type: 'string' },
      'timeout-ms': { type: 'string' },
      'max-body-mb': { type: 'string' },
      'max-pixels': { type: 'string' },
      predictions: { type: 'string' },
      reference: { type: 'string' },
      'drift-window': { type: 'string' },
      'flush-ms': { type: 'string' },
      'shutdown-timeout-ms': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return { help: true as const };
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\n\n${serveUsage(D)}`);
  const int = (flag: keyof typeof values, min: number, max: number) => {
    const text = values[flag];
    return text === undefined ? undefined : parseIntegerFlag(String(text), `--${flag}`, min, max);
  };
  const source = values.model ?? process.env.TORCHDOG_MODEL ?? D.model;
  const predictions = values.predictions ?? process.env.TORCHDOG_PREDICTIONS ?? D.predictions;
  const maxBodyMiB = int('max-body-mb', 1, 2047);
  return {
    source,
    port: parseIntegerFlag(values.port ?? process.env.PORT ?? String(D.port), values.port ? '--port' : 'PORT', 0, 65535),
    host: values.host ?? process.env.HOST ?? D.host,
    classifier: { device: values.device, threads: int('threads', 0, 1024), maxPixels: int('max-pixels', 1, 2 ** 40) },
    app: {
      modelSource: source,
      maxBatch: int('max-batch', 1, 4096),
      maxWaitMs: int('max-wait-ms', 0, 60_000),
      eagerBatching: values['fixed-wait'] ? false : undefined,
      maxQueue: int('max-queue', 1, 1_000_000),
      requestTimeoutMs: int('timeout-ms', 1, 3_600_000),
      maxBodyBytes: maxBodyMiB === undefined ? undefined : maxBodyMiB * 2 ** 20,
      predictionLog: predictions === 'none' ? null : predictions,
      predictionLogFlushMs: int('flush-ms', 1, 3_600_000) ?? (isGsUri(predictions) ? D.gcsPredictionLogFlushMs : D.predictionLogFlushMs),
      driftReference: driftReferenceFor(values.reference, source),
      driftWindow: int('drift-window', 1, 1_000_000),
    },
    shutdownTimeoutMs: int('shutdown-timeout-ms', 0, 3_600_000),
  };
}

/**
 * Loads the model and runs its first forward pass, which builds the
 * optimised graph (hundreds of ms): paid before /ready says yes, not in the
 * first user's request.
 */
async function loadWarm(source: string, options: ClassifierOptions): Promise<{ classifier: Classifier; warmupMs: number }> {
  const { classifier: c } = await loadModel(source, options);
  const started = performance.now();
  try {
    await c.predictPixels([new Uint8Array(c.imageSize * c.imageSize * 3)]);
  } catch (error) {
    await c.dispose();
    throw error;
  }
  return { classifier: c, warmupMs: Math.round(performance.now() - started) };
}

export async function serveCommand(argv: string[]): Promise<number> {
  const flags = parseServeFlags(argv);
  if ('help' in flags) {
    process.stdout.write(serveUsage(D));
    return 0;
  }
  const { source, port, host } = flags;
  // A missing local checkpoint is the common mistake: say so before listening.
  try {
    await checkModelSource(source);
  } catch (error) {
    throw new UsageError((error as Error).message, 1);
  }

  const logger = jsonLineLogger();
  // Listen while the model loads (a gs:// download can take a while):
  // /health answers at once, /ready turns 200 when the model is in.
  const loading = loadWarm(source, flags.classifier);
  const app = createApp({ ...flags.app, classifier: loading.then((l) => l.classifier), logger, processMetrics: true });
  let server;
  try {
    server = await startServer(app, { port, host, shutdownTimeoutMs: flags.shutdownTimeoutMs, handleSignals: true, logger });
  } catch (error) {
    // Port taken, say: do not leave the model loading behind.
    await loading.then((l) => l.classifier.dispose(), () => {});
    throw new UsageError(`cannot listen on ${host}:${port}: ${(error as Error).message}`, 1);
  }
  try {
    await app.loaded;
  } catch (error) {
    await server.close();
    const message = (error as Error).message;
    throw new UsageError(error instanceof ModelSourceError ? message : `cannot load the model ${source}: ${message}`, 1);
  }
  const { classifier: c, warmupMs } = await loading;
  try {
    logger({
      severity: 'INFO',
      message: `model ${source} loaded: ${c.info.classes.length} classes, ${c.info.imageSize}px, ${c.device}, warm-up ${warmupMs} ms`,
      predictions: flags.app.predictionLog ?? 'off',
    });
    await server.closed;
  } finally {
    await c.dispose();
  }
  return 0;
}
