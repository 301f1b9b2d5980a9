// Where the served model comes from: a local checkpoint or a gs:// object
// fetched at start-up and at each reload, and what names it: the run it came
// from (its folder) and the sha256 of the file's bytes.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, realpath, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
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
  /** The training run it came from: the name of the checkpoint's folder (runs/latest resolved to the run it points at). */
  run: string;
  /** Hex sha256 of the checkpoint file's bytes, as loaded. */
  sha256: string;
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
      : `no model at ${source}${info ? ` (${info.isDirectory() ? 'it is a folder' : 'it is a device, FIFO or socket'}, not a checkpoint file)` : ''}: pass a .safetensors checkpoint written by 'torchdog train', or a gs://BUCKET/PATH URI`;
    throw new ModelSourceError(hint);
  }
}

/**
 * Loads a checkpoint from a path or gs:// URI (downloaded to a temporary
 * file, removed once loaded), with the run it came from and its sha256.
 */
export async function loadModel(source: string, options: ClassifierOptions = {}): Promise<LoadedModel> {
  await checkModelSource(source);
  if (!isGsUri(source)) {
    // Hashed first: the read also warms the page cache for the load.
    const [run, sha256] = [await modelRunName(source), await fileSha256(source)];
    return { classifier: await Classifier.load(source, options), source, run, sha256 };
  }
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
    const sha256 = await fileSha256(file);
    return { classifier: await Classifier.load(file, options), source, run: runName(source), sha256 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The run a checkpoint path or URI names: its folder's name
 * (runs/e8/model.safetensors: e8; gs://b/runs/e8/model.safetensors: e8).
 * A checkpoint at the top of a bucket or of `/` is just "model".
 */
export function runName(source: string): string {
  const path = isGsUri(source) ? parseGsUri(source, 'model').path : resolve(source);
  const folder = basename(dirname(path.replace(/\/+$/, '')));
  return folder === '' || folder === '.' ? 'model' : folder;
}

/** runName, a local checkpoint's folder links resolved first (runs/latest → the run it points at). */
export async function modelRunName(source: string): Promise<string> {
  if (isGsUri(source)) return runName(source);
  const folder = await realpath(dirname(resolve(source))).catch(() => dirname(resolve(source)));
  return runName(join(folder, basename(source)));
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
