// torchdog checkpoints: one safetensors file with torchvision's ResNet18
// tensor names and DESIGN.md's metadata, so weights move both ways with PyTorch.
import type { Model } from './model.js';
import { readSafetensors, SafetensorsError, writeSafetensors, type Tensor } from './safetensors.js';

export const CHECKPOINT_FORMAT = 'torchdog/1';

export interface CheckpointInfo {
  arch: 'resnet18';
  /** Class names; index i is the model's output i. */
  classes: string[];
  imageSize: number;
  mean: [number, number, number];
  std: [number, number, number];
  /** Any further metadata (metrics, config hash...), as strings. */
  extra?: Record<string, string>;
}

export interface Checkpoint {
  info: CheckpointInfo;
  tensors: Tensor[];
}

export class CheckpointError extends Error {
  readonly code = 'ERR_TORCHDOG_CHECKPOINT';
}

const RESERVED = new Set(['format', 'arch', 'classes', 'image_size', 'mean', 'std']);

export function checkpointMetadata(info: CheckpointInfo): Record<string, string> {
  const extra = Object.fromEntries(Object.entries(info.extra ?? {}).filter(([k]) => !RESERVED.has(k)));
  return {
    ...extra,
    format: CHECKPOINT_FORMAT,
    arch: info.arch,
    classes: JSON.stringify(info.classes),
    image_size: String(info.imageSize),
    mean: JSON.stringify(info.mean),
    std: JSON.stringify(info.std),
  };
}

function parseJson(source: string, key: string, text: string | undefined): unknown {
  if (text === undefined) throw new CheckpointError(`${source}: metadata has no '${key}'`);
  try {
    return JSON.parse(text);
  } catch {
    throw new CheckpointError(`${source}: metadata '${key}' is not JSON: ${text.slice(0, 80)}`);
  }
}

function parseTriple(source: string, key: string, text: string | undefined, positive: boolean): [number, number, number] {
  const value = parseJson(source, key, text);
  if (
    !Array.isArray(value) || value.length !== 3 ||
    !value.every((v) => typeof v === 'number' && Number.isFinite(v) && (!positive || v > 0))
  ) {
    throw new CheckpointError(`${source}: metadata '${key}' must be a JSON array of 3 ${positive ? 'positive ' : ''}numbers, got ${text}`);
  }
  return value as [number, number, number];
}

/** Validates DESIGN.md's metadata; `source` names the file in errors. */
export function parseCheckpointMetadata(metadata: Record<string, string>, source: string): CheckpointInfo {
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${source}: metadata 'format' is ${JSON.stringify(metadata.format ?? null)}, expected "${CHECKPOINT_FORMAT}" ` +
        '(plain torchvision weights can be used as model.pretrained for training)',
    );
  }
  if (metadata.arch !== 'resnet18') {
    throw new CheckpointError(`${source}: metadata 'arch' is ${JSON.stringify(metadata.arch ?? null)}, expected "resnet18"`);
  }
  const classes = parseJson(source, 'classes', metadata.classes);
  if (
    !Array.isArray(classes) || classes.length < 1 ||
    !classes.every((c) => typeof c === 'string' && c.length > 0) || new Set(classes).size !== classes.length
  ) {
    throw new CheckpointError(`${source}: metadata 'classes' must be a JSON array of distinct non-empty names`);
  }
  const imageSize = Number(metadata.image_size);
  if (!Number.isInteger(imageSize) || imageSize < 16 || imageSize > 4096) {
    throw new CheckpointError(`${source}: metadata 'image_size' must be an integer between 16 and 4096, got ${JSON.stringify(metadata.image_size ?? null)}`);
  }
  const extra = Object.fromEntries(Object.entries(metadata).filter(([k]) => !RESERVED.has(k)));
  return {
    arch: 'resnet18',
    classes: classes as string[],
    imageSize,
    mean: parseTriple(source, 'mean', metadata.mean, false),
    std: parseTriple(source, 'std', metadata.std, true),
    extra,
  };
}

export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = await readSafetensors(path);
  const info = parseCheckpointMetadata(metadata, path);
  const fc = tensors.get('fc.weight');
  if (!fc || fc.shape.length !== 2 || fc.shape[0] !== info.classes.length) {
    throw new CheckpointError(
      `${path}: fc.weight ${fc ? JSON.stringify(fc.shape) : 'is missing'}; expected [${info.classes.length}, 512] for ${info.classes.length} classes`,
    );
  }
  return { info, tensors: [...tensors.values()] };
}

/** Loads every tensor of `checkpoint` into `model`; the checkpoint must cover the model exactly. */
export async function loadWeights(model: Model, tensors: readonly Tensor[], source: string): Promise<void> {
  const expected = await model.getTensors();
  const given = new Set(tensors.map((t) => t.name));
  const missing = expected.filter((t) => !given.has(t.name)).map((t) => t.name);
  if (missing.length > 0) {
    throw new CheckpointError(`${source}: missing ${missing.length} tensor(s): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  const known = new Set(expected.map((t) => t.name));
  const unexpected = tensors.filter((t) => !known.has(t.name)).map((t) => t.name);
  if (unexpected.length > 0) {
    throw new CheckpointError(`${source}: unexpected tensor(s) for resnet18: ${unexpected.slice(0, 5).join(', ')}`);
  }
  try {
    await model.setTensors([...tensors]);
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
}

export async function saveCheckpoint(path: string, model: Model, info: CheckpointInfo): Promise<void> {
  const tensors = await model.getTensors();
  await writeSafetensors(path, tensors, checkpointMetadata(info));
}

export { SafetensorsError };
