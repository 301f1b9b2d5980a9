import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { isGsUri } from '../cloud/index.js';
import type { FeatureRecord } from '../drift/index.js';
import {
  checkModelSource, createApp, isModelName, isOrigin, jsonLineLogger, loadModel, modelRunName, ModelSourceError, SERVE_DEFAULTS as D, startServer,
} from '../serve/index.js';
import { UsageError } from './errors.js';
import { readFeatureRecords } from './feature-file.js';
import { parseIntegerFlag, parsePrecisionFlag } from './flags.js';
import { serveUsage } from './usage.js';

/**
 * GET /drift compares recent predictions with the training run's features:
 * --reference FILE|RUN_DIR, else reference.jsonl beside a local model, if any.
 */
function driftReferenceFor(reference: string | undefined, model: string): string | null {
  if (reference === 'none') return null;
  if (reference !== undefined) return reference;
  if (isGsUri(model)) return null;
  const beside = join(dirname(model), 'reference.jsonl');
  return existsSync(beside) ? beside : null;
}

/** What the command line asks for; a flag left out is the default of the part that takes it. */
function parseServeFlags(argv: string[]) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      name: { type: 'string' },
      cors: { type: 'string', multiple: true },
      port: { type: 'string' },
      host: { type: 'string' },
      device: { type: 'string' },
      threads: { type: 'string' },
      precision: { type: 'string' },
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
      'predictions-max-mb': { type: 'string' },
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
  const maxLogMiB = int('predictions-max-mb', 0, 2 ** 30);
  if (values.name !== undefined && !isModelName(values.name)) {
    throw new UsageError(`--name: expected letters, digits, '.', '_' and '-' (at most 128, starting with a letter or digit), got '${values.name}'`);
  }
  const cors = values.cors?.flatMap((o) => o.split(',')).map((o) => o.trim());
  const badOrigin = cors?.find((o) => !isOrigin(o));
  if (badOrigin !== undefined) throw new UsageError(`--cors: expected '*' or an origin such as https://example.com (no path), got '${badOrigin}'`);
  return {
    source,
    name: values.name,
    port: parseIntegerFlag(values.port ?? process.env.PORT ?? String(D.port), values.port ? '--port' : 'PORT', 0, 65535),
    host: values.host ?? process.env.HOST ?? D.host,
    classifier: {
      device: values.device, threads: int('threads', 0, 1024), maxPixels: int('max-pixels', 1, 2 ** 40),
      precision: parsePrecisionFlag(values.precision, 'auto'),
    },
    app: {
      modelSource: source,
      cors: cors ?? null,
      maxBatch: int('max-batch', 1, 4096),
      maxWaitMs: int('max-wait-ms', 0, 60_000),
      eagerBatching: values['fixed-wait'] ? false : undefined,
      maxQueue: int('max-queue', 1, 1_000_000),
      requestTimeoutMs: int('timeout-ms', 1, 3_600_000),
      maxBodyBytes: maxBodyMiB === undefined ? undefined : maxBodyMiB * 2 ** 20,
      predictionLog: predictions === 'none' ? null : predictions,
      predictionLogFlushMs: int('flush-ms', 1, 3_600_000) ?? (isGsUri(predictions) ? D.gcsPredictionLogFlushMs : D.predictionLogFlushMs),
      predictionLogMaxBytes: maxLogMiB === undefined ? undefined : maxLogMiB * 2 ** 20,
      driftReference: null as readonly FeatureRecord[] | null,
      driftWindow: int('drift-window', 1, 1_000_000),
    },
    shutdownTimeoutMs: int('shutdown-timeout-ms', 0, 3_600_000),
    reference: driftReferenceFor(values.reference, source),
  };
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
  // So is a --reference that is missing or malformed: one line, before listening.
  if (flags.reference) flags.app.driftReference = await readFeatureRecords(flags.reference, '--reference');

  const logger = jsonLineLogger();
  // Listen while the model loads (a gs:// download can take a while):
  // /health answers at once, /ready turns 200 when the model is in (loaded
  // and warmed up by the app, which owns it and each reload's, SIGHUP's).
  const app = createApp({
    ...flags.app,
    load: () => loadModel(source, flags.classifier),
    modelRun: await modelRunName(source),
    modelName: flags.name,
    logger,
    processMetrics: true,
  });
  let server;
  try {
    server = await startServer(app, { port, host, shutdownTimeoutMs: flags.shutdownTimeoutMs, handleSignals: true, logger });
  } catch (error) {
    // Port taken, say: do not leave the model loading behind.
    await app.loaded.catch(() => {});
    await app.shutdown();
    throw new UsageError(`cannot listen on ${host}:${port}: ${(error as Error).message}`, 1);
  }
  try {
    await app.loaded;
  } catch (error) {
    await server.close();
    const message = (error as Error).message;
    throw new UsageError(error instanceof ModelSourceError ? message : `cannot load the model ${source}: ${message}`, 1);
  }
  logger({ severity: 'INFO', message: `serving '${app.modelName}'; prediction log: ${flags.app.predictionLog ?? 'off'}`, predictions: flags.app.predictionLog ?? 'off' });
  await server.closed;
  // The stop gave up on a log write that hangs (a dead network mount): so
  // must the process, which that write would keep alive for good. Not
  // process.exit(): it waits for libuv's threads, one of them stuck in the write.
  setTimeout(() => {
    logger({ severity: 'WARNING', message: 'still held 1 s after the stop (a prediction-log write that hangs?): exiting without it' });
    process.kill(process.pid, 'SIGKILL');
  }, 1000).unref();
  return 0;
}
