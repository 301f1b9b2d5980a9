// `exportModel`: a torchdog checkpoint as a file for another runtime, ONNX
// (onnxruntime, TensorRT, Triton...) or TorchScript (torch.jit.load in
// PyTorch and LibTorch). Both take uint8 RGB pixels NHWC [N, S, S, 3] and
// return (logits, probabilities), the normalisation inside, and carry the
// checkpoint's classes, image size, mean and std. The file appears whole or
// not at all (written under a temporary name, then renamed).
import { constants } from 'node:fs';
import { access, open, realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import {
  Model,
  checkpointMetadata,
  loadWeights,
  readCheckpoint,
  type Checkpoint,
  type CheckpointInfo,
  type ForwardResult,
  type ImageBatch,
} from '../model/index.js';
import {
  InvalidArgumentError,
  describe,
  expectInteger,
  expectKnownKeys,
  expectOneOf,
  expectString,
  invalid,
  packageVersion,
  replaceAtomically,
  writeFileAtomic,
} from '../util/index.js';
import { ONNX_OPSETS, onnxModel } from './onnx.js';
import { ExportError, checkResNet18Tensors } from './resnet18.js';

export const EXPORT_FORMATS = ['onnx', 'torchscript'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export const EXPORT_EXTENSIONS: Readonly<Record<ExportFormat, string>> = { onnx: '.onnx', torchscript: '.pt' };

/** The TorchScript file's extra file with the metadata (torch.jit.load's `_extra_files`). */
export const TORCHSCRIPT_METADATA_FILE = 'torchdog.json';

export interface ExportOptions {
  format: ExportFormat;
  /** Default: the checkpoint's path with the format's extension (model.onnx, model.pt). */
  out?: string;
  /** ONNX only: the opset, between ONNX_OPSETS.min and .max. Default 13. */
  opset?: number;
}

export interface ExportSummary {
  format: ExportFormat;
  out: string;
  bytes: number;
  /** Wall time of the whole export, reading the checkpoint included. */
  seconds: number;
  classes: string[];
  image_size: number;
  /** null for TorchScript. */
  opset: number | null;
  /**
   * TorchScript only: the file was loaded back with LibTorch and run on
   * probe images; the largest difference from the checkpoint's own forward.
   */
  check?: { images: number; max_abs_diff_logits: number; max_abs_diff_probabilities: number };
}

// The exported TorchScript module runs the same float32 operations as
// torchdog's forward (BatchNorm unfolded there, folded in the serving
// graph): measured differences are ~1e-6. Far past that is a broken export.
const CHECK_TOLERANCE = 1e-4;
const CHECK_IMAGES = 2;

/**
 * Exports a torchdog checkpoint (local .safetensors path). Throws
 * InvalidArgumentError for bad options, CheckpointError/SafetensorsError for
 * a file that is not a torchdog checkpoint, ExportError for one that is not
 * torchvision's ResNet18 or an output that cannot be written; nothing is
 * left at `out` then.
 */
export async function exportModel(checkpointPath: string, options: ExportOptions): Promise<ExportSummary> {
  const started = performance.now();
  const o = checkOptions(checkpointPath, options);
  await checkOutput(o.out, checkpointPath);
  const checkpoint = await readCheckpoint(checkpointPath);
  const metadata = exportMetadata(checkpoint.info, packageVersion());
  let check: ExportSummary['check'];
  if (o.format === 'onnx') {
    const bytes = onnxModel(checkpoint, { opset: o.opset, metadata, producerVersion: metadata.torchdog_version, source: checkpointPath });
    await writing(o.out, () => writeFileAtomic(o.out, bytes.chunks()));
  } else {
    check = await writeTorchScript(checkpoint, checkpointPath, o.out, metadata);
  }
  return {
    format: o.format,
    out: o.out,
    bytes: (await stat(o.out)).size,
    seconds: Math.round((performance.now() - started) / 10) / 100,
    classes: checkpoint.info.classes,
    image_size: checkpoint.info.imageSize,
    opset: o.format === 'onnx' ? o.opset : null,
    ...(check ? { check } : {}),
  };
}

/** The path `exportModel` writes by default: the checkpoint's, with the format's extension. */
export function defaultExportPath(checkpointPath: string, format: ExportFormat): string {
  const ext = extname(checkpointPath);
  return join(dirname(checkpointPath), `${basename(checkpointPath, ext)}${EXPORT_EXTENSIONS[format]}`);
}

function checkOptions(checkpointPath: string, options: ExportOptions): { format: ExportFormat; out: string; opset: number } {
  expectString(checkpointPath, 'checkpointPath');
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object {format, out, opset}', options);
  expectKnownKeys(options, 'options', ['format', 'out', 'opset']);
  const format = expectOneOf(options.format, 'options.format', EXPORT_FORMATS);
  if (options.opset !== undefined && format !== 'onnx') {
    throw new InvalidArgumentError(`options.opset applies to format 'onnx' only (received ${describe(options.opset)} with format '${format}')`);
  }
  return {
    format,
    out: options.out === undefined ? defaultExportPath(checkpointPath, format) : expectString(options.out, 'options.out'),
    opset: expectInteger(options.opset ?? ONNX_OPSETS.default, 'options.opset', ONNX_OPSETS.min, ONNX_OPSETS.max),
  };
}

/** Refuses, before any work, an output that cannot be written or would replace the checkpoint itself. */
async function checkOutput(out: string, checkpointPath: string): Promise<void> {
  const dir = dirname(resolve(out));
  const dirInfo = await stat(dir).catch(() => null);
  if (!dirInfo) throw new ExportError(`cannot write ${out}: the folder ${dir} does not exist`);
  if (!dirInfo.isDirectory()) throw new ExportError(`cannot write ${out}: ${dir} is not a folder`);
  const outInfo = await stat(out).catch(() => null);
  if (outInfo?.isDirectory()) throw new ExportError(`cannot write ${out}: it is a folder (give a file name, e.g. ${join(out, 'model.onnx')})`);
  const same = await Promise.all([realpath(out).catch(() => resolve(out)), realpath(checkpointPath).catch(() => resolve(checkpointPath))]);
  if (same[0] === same[1]) throw new ExportError(`cannot write ${out}: it is the checkpoint being exported`);
  // Root passes the permission check whatever the mode bits; a read-only
  // file system fails it for everyone, and the write itself is still checked.
  await access(dir, constants.W_OK).catch((error: NodeJS.ErrnoException) => {
    throw new ExportError(`cannot write ${out}: the folder ${dir} ${errnoReason(error)}`, { cause: error });
  });
}

function errnoReason(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'EACCES':
    case 'EPERM':
      return `is not writable: permission denied (${e.code})`;
    case 'EROFS':
      return 'is on a read-only file system (EROFS)';
    default:
      return `cannot be written: ${e.message}`;
  }
}

/** Runs a write, turning a file-system failure (errno code) into an ExportError that names the output. */
async function writing<T>(out: string, write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e instanceof ExportError || typeof e.code !== 'string' || !/^E[A-Z]+$/.test(e.code)) throw error;
    const reason = e.code === 'ENOSPC' ? 'no space left on the device (ENOSPC)' : e.code === 'EDQUOT' ? 'disk quota exceeded (EDQUOT)' : e.message;
    throw new ExportError(`cannot write ${out}: ${reason}`, { cause: error });
  }
}

/**
 * The checkpoint's own metadata keys, written as a checkpoint writes them (so
 * parseCheckpointMetadata reads them back), without its extras (metrics,
 * calibration), and what the file takes and which torchdog wrote it.
 */
function exportMetadata(info: CheckpointInfo, version: string): Record<string, string> {
  return {
    ...checkpointMetadata({ ...info, extra: {} }),
    input: `image: uint8 RGB [N, ${info.imageSize}, ${info.imageSize}, 3] (NHWC), normalisation inside`,
    outputs: 'logits, probabilities: float32 [N, classes]',
    torchdog_version: version,
  };
}

async function writeTorchScript(checkpoint: Checkpoint, source: string, out: string, metadata: Record<string, string>): Promise<ExportSummary['check']> {
  const { info, tensors } = checkpoint;
  // The same refusal, worded the same, as the ONNX export's.
  checkResNet18Tensors(tensors, info.classes.length, source);
  const model = await Model.create({ numClasses: info.classes.length, device: 'cpu' });
  try {
    await loadWeights(model, tensors, source);
    await model.setTraining(false);
    return await writing(out, () =>
      replaceAtomically(out, async (temp) => {
        // Made here first, so a file-system refusal is Node's error (an errno
        // code) and the temporary name is ours ('wx': nothing is written through).
        await (await open(temp, 'wx', 0o644)).close();
        await model.exportTorchScript(temp, { normalization: info, extraFiles: { [TORCHSCRIPT_METADATA_FILE]: JSON.stringify(metadata) } });
        await flushToDisk(temp);
        return checkTorchScript(model, temp, info, metadata);
      }),
    );
  } finally {
    await model.dispose();
  }
}

/** LibTorch writes without fsync; the atomic writer's promise (old file or new after a crash) needs it. */
async function flushToDisk(path: string): Promise<void> {
  const handle = await open(path, 'r+');
  try {
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Loads the written module back with LibTorch and compares it with the checkpoint's forward on probe images. */
async function checkTorchScript(model: Model, path: string, info: CheckpointInfo, metadata: Record<string, string>): Promise<ExportSummary['check']> {
  const images = probeImages(info.imageSize);
  const expected = await model.forward(images, info);
  const got = await model.runTorchScript(path, images, [TORCHSCRIPT_METADATA_FILE]);
  const check = { images: images.count, max_abs_diff_logits: maxAbsDiff(got.logits, expected), max_abs_diff_probabilities: maxAbsDiff(got.probabilities, expected, 'probabilities') };
  if (!(check.max_abs_diff_logits <= CHECK_TOLERANCE) || got.classes !== expected.classes) {
    throw new ExportError(`the TorchScript module disagrees with the checkpoint by ${check.max_abs_diff_logits} in its logits (tolerance ${CHECK_TOLERANCE}); nothing was written`);
  }
  if (got.extraFiles[TORCHSCRIPT_METADATA_FILE] !== JSON.stringify(metadata)) {
    throw new ExportError(`the TorchScript module's ${TORCHSCRIPT_METADATA_FILE} did not read back as written; nothing was written`);
  }
  return check;
}

function maxAbsDiff(actual: Float32Array, expected: ForwardResult, key: 'logits' | 'probabilities' = 'logits'): number {
  const want = expected[key];
  if (actual.length !== want.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(actual[i]! - want[i]!);
    if (!(d <= worst)) worst = Number.isNaN(d) ? Infinity : d;
  }
  return worst;
}

/** Deterministic images with structure at every scale (gradients and a checkerboard), so every weight plays a part. */
function probeImages(size: number): ImageBatch {
  const data = new Uint8Array(CHECK_IMAGES * size * size * 3);
  let k = 0;
  for (let n = 0; n < CHECK_IMAGES; n++) {
    for (let y = 0; y < size; y++) {
      for (let x = 0; x < size; x++) {
        for (let c = 0; c < 3; c++) data[k++] = (x * (3 + n) + y * (5 + c) + ((x >> 2) ^ (y >> 2)) * 37 * (c + 1) + 41 * n) % 256;
      }
    }
  }
  return { data, count: CHECK_IMAGES, height: size, width: size };
}

