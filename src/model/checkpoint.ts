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

// The bounds Model checks normalization against, so a checkpoint is refused
// when it is read, naming the file, rather than at its first forward pass.
const MAX_NORMALIZATION = 1e6;

function parseTriple(source: string, key: 'mean' | 'std', text: string | undefined): [number, number, number] {
  const value = parseJson(source, key, text);
  const inRange = (v: unknown) =>
    typeof v === 'number' && (key === 'std' ? v > 0 && v <= MAX_NORMALIZATION : Math.abs(v) <= MAX_NORMALIZATION);
  if (!Array.isArray(value) || value.length !== 3 || !value.every(inRange)) {
    const range = key === 'std' ? `numbers > 0 and <= ${MAX_NORMALIZATION}` : `numbers between -${MAX_NORMALIZATION} and ${MAX_NORMALIZATION}`;
    throw new CheckpointError(`${source}: metadata '${key}' must be a JSON array of 3 ${range}, got ${text}`);
  }
  return value as [number, number, number];
}

/** The largest `image_size` a checkpoint may claim: what training accepts (data.image_size). */
export const MAX_IMAGE_SIZE = 1024;
const MIN_IMAGE_SIZE = 16;

/** `image_size` as training writes it: a plain decimal integer ("128"), nothing Number() would also take ("1e2", "0x80", " 128 "). */
function parseImageSize(source: string, text: string | undefined): number {
  const size = text !== undefined && /^[1-9][0-9]{0,5}$/.test(text) ? Number(text) : NaN;
  if (!(size >= MIN_IMAGE_SIZE && size <= MAX_IMAGE_SIZE)) {
    throw new CheckpointError(
      `${source}: metadata 'image_size' must be a decimal integer between ${MIN_IMAGE_SIZE} and ${MAX_IMAGE_SIZE}, got ${JSON.stringify(text ?? null)}`,
    );
  }
  return size;
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
  const imageSize = parseImageSize(source, metadata.image_size);
  const extra = Object.fromEntries(Object.entries(metadata).filter(([k]) => !RESERVED.has(k)));
  return {
    arch: 'resnet18',
    classes: classes as string[],
    imageSize,
    mean: parseTriple(source, 'mean', metadata.mean),
    std: parseTriple(source, 'std', metadata.std),
    extra,
  };
}

/**
 * Reads and checks a torchdog checkpoint: its metadata, its head against its
 * classes, and every weight a number (see {@link checkTensorValues}).
 */
export async function readCheckpoint(path: string): Promise<Checkpoint> {
  const { tensors, metadata } = await readSafetensors(path);
  const info = parseCheckpointMetadata(metadata, path);
  const fc = tensors.get('fc.weight');
  if (!fc || fc.shape.length !== 2 || fc.shape[0] !== info.classes.length) {
    throw new CheckpointError(
      `${path}: fc.weight ${fc ? JSON.stringify(fc.shape) : 'is missing'}; expected [${info.classes.length}, 512] for ${info.classes.length} classes`,
    );
  }
  checkTensorValues([...tensors.values()], path);
  return { info, tensors: [...tensors.values()] };
}

/** The first element of a floating-point tensor that is NaN or ±Inf, or -1; `data` may sit at any byte offset. */
function firstNonFinite(t: Tensor): number {
  const { data } = t;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  switch (t.dtype) {
    case 'F32': {
      // An exponent of all ones is Inf or NaN.
      const aligned = data.byteOffset % 4 === 0 ? new Uint32Array(data.buffer, data.byteOffset, data.byteLength / 4) : null;
      const n = data.byteLength / 4;
      for (let i = 0; i < n; i++) {
        const bits = aligned ? aligned[i]! : view.getUint32(i * 4, true);
        if ((bits & 0x7f800000) === 0x7f800000) return i;
      }
      return -1;
    }
    case 'F64':
      for (let i = 0; i < data.byteLength / 8; i++) if (!Number.isFinite(view.getFloat64(i * 8, true))) return i;
      return -1;
    case 'F16':
    case 'BF16': {
      const exponent = t.dtype === 'F16' ? 0x7c00 : 0x7f80;
      for (let i = 0; i < data.byteLength / 2; i++) if ((view.getUint16(i * 2, true) & exponent) === exponent) return i;
      return -1;
    }
    default:
      return -1;
  }
}

function floatAt(t: Tensor, i: number): number {
  const view = new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return t.dtype === 'F64' ? view.getFloat64(i * 8, true) : t.dtype === 'F32' ? view.getFloat32(i * 4, true) : NaN;
}

/**
 * Weights that are not numbers are refused, naming the tensor: a NaN or
 * infinite value in any floating-point tensor, or a negative BatchNorm
 * variance (its square root is taken). Either makes every answer NaN, or,
 * through the frozen inference graph, one constant confident answer.
 */
export function checkTensorValues(tensors: readonly Tensor[], source: string): void {
  for (const t of tensors) {
    const bad = firstNonFinite(t);
    if (bad >= 0) {
      throw new CheckpointError(`${source}: tensor '${t.name}' holds a value that is not a finite number (${floatAt(t, bad)} at element ${bad})`);
    }
    if (t.name.endsWith('running_var') && (t.dtype === 'F32' || t.dtype === 'F64')) {
      const n = t.data.byteLength / (t.dtype === 'F32' ? 4 : 8);
      for (let i = 0; i < n; i++) {
        const v = floatAt(t, i);
        if (v < 0) throw new CheckpointError(`${source}: tensor '${t.name}' holds a negative variance (${v} at element ${i})`);
      }
    }
  }
}

/**
 * Loads `tensors` into `model`; they must be the model's tensors exactly:
 * every name, each with the model's dtype and shape. `source` (the file)
 * names the tensor at fault in every error.
 */
export async function loadWeights(model: Model, tensors: readonly Tensor[], source: string): Promise<void> {
  const expected = await model.getTensors();
  const given = new Set(tensors.map((t) => t.name));
  const missing = expected.filter((t) => !given.has(t.name)).map((t) => t.name);
  if (missing.length > 0) {
    throw new CheckpointError(`${source}: missing ${missing.length} of resnet18's ${expected.length} tensors: ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', …' : ''}`);
  }
  const known = new Map(expected.map((t) => [t.name, t]));
  const unexpected = tensors.filter((t) => !known.has(t.name)).map((t) => t.name);
  if (unexpected.length > 0) {
    throw new CheckpointError(`${source}: unexpected tensor(s) for resnet18: ${unexpected.slice(0, 5).join(', ')}`);
  }
  for (const t of tensors) {
    const mine = known.get(t.name)!;
    if (t.dtype !== mine.dtype || JSON.stringify(t.shape) !== JSON.stringify(mine.shape)) {
      throw new CheckpointError(`${source}: tensor '${t.name}' is ${t.dtype} ${JSON.stringify(t.shape)}, expected ${mine.dtype} ${JSON.stringify(mine.shape)}`);
    }
  }
  try {
    await model.setTensors([...tensors]);
  } catch (error) {
    throw new CheckpointError(`${source}: ${(error as Error).message}`);
  }
}

/**
 * Bytes one image of side `imageSize` takes through ResNet18's forward pass
 * at its peak, per pixel: the input as float, then the stem's 64-channel
 * maps at a quarter of the pixels, several alive at once. Measured on CPU at
 * 4096 px: 2.3 GB for one image (137 bytes per pixel); rounded up.
 */
const FORWARD_BYTES_PER_PIXEL = 160;

/** What one batch's forward pass may take by default: a batch of 32 at 128 px is ~80 MB, at 1024 px ~5 GB. */
export const BATCH_MEMORY_BYTES = 1024 * 1024 * 1024;

/**
 * The most images of side `imageSize` one forward pass may take within
 * `memoryBytes`: at least 1, so any checkpoint can answer, one image at a time.
 */
export function maxBatchForMemory(imageSize: number, memoryBytes = BATCH_MEMORY_BYTES): number {
  return Math.max(1, Math.floor(memoryBytes / (imageSize * imageSize * FORWARD_BYTES_PER_PIXEL)));
}

export async function saveCheckpoint(path: string, model: Model, info: CheckpointInfo): Promise<void> {
  const tensors = await model.getTensors();
  await writeSafetensors(path, tensors, checkpointMetadata(info));
}

export { SafetensorsError };
