// Where the served model comes from: a local checkpoint or a gs:// object
// fetched once at start-up.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { Classifier, type ClassifierOptions } from '../model/index.js';
import { createStorage, gcsDownload, isGsUri, parseGsUri } from '../cloud/index.js';
import { SERVE_DEFAULTS } from './defaults.js';

const DEFAULT_MODEL = SERVE_DEFAULTS.model;

export class ModelSourceError extends Error {
  readonly code = 'ERR_MODEL_NOT_FOUND';
}

export interface LoadedModel {
  classifier: Classifier;
  /** The path or URI it was loaded from, as given. */
  source: string;
}

/** Fails fast, before any download or listening, when a local checkpoint is missing. */
export async function checkModelSource(source: string): Promise<void> {
  if (isGsUri(source)) {
    const { path } = parseGsUri(source, 'model');
    if (!path || path.endsWith('/')) throw new ModelSourceError(`model: ${source} names a folder, not a checkpoint object`);
    return;
  }
  const info = await stat(source).catch(() => null);
  if (!info?.isFile()) {
    const hint = source === DEFAULT_MODEL
      ? `no model at ${DEFAULT_MODEL} (the latest training run's): train one with 'torchdog train', or pass --model PATH or --model gs://BUCKET/PATH`
      : `no model at ${source}${info ? ' (it is a folder, not a checkpoint file)' : ''}: pass a .safetensors checkpoint written by 'torchdog train', or a gs://BUCKET/PATH URI`;
    throw new ModelSourceError(hint);
  }
}

/** Loads a checkpoint from a path or gs:// URI (downloaded to a temporary file, removed once loaded). */
export async function loadModel(source: string, options: ClassifierOptions = {}): Promise<LoadedModel> {
  await checkModelSource(source);
  if (!isGsUri(source)) return { classifier: await Classifier.load(source, options), source };
  const dir = await mkdtemp(join(tmpdir(), 'torchdog-model-'));
  try {
    const location = parseGsUri(source, 'model');
    const file = join(dir, basename(location.path));
    try {
      await gcsDownload(await createStorage(), location, file);
    } catch (error) {
      // GcsError messages start with the URI and say what to do (credentials, permission, ...).
      throw new ModelSourceError(`cannot download the model: ${(error as Error).message}`);
    }
    return { classifier: await Classifier.load(file, options), source };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
