// The safetensors format: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets}, __metadata__: {str: str}},
// then the tensor bytes. Reading executes nothing and checks every size
// and offset against the file; writing is atomic.
import { constants, type Stats } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { writeFileAtomic } from '../util/index.js';

export const DTYPE_SIZES = {
  F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1,
} as const;
export type Dtype = keyof typeof DTYPE_SIZES;

export interface Tensor {
  name: string;
  dtype: string;
  shape: number[];
  /** Row-major little-endian bytes. */
  data: Uint8Array;
}

export interface SafetensorsContent {
  tensors: Map<string, Tensor>;
  metadata: Record<string, string>;
}

export class SafetensorsError extends Error {
  readonly code = 'ERR_SAFETENSORS';
}

// The reference implementation refuses larger headers too.
const MAX_HEADER_BYTES = 100_000_000;

function isDtype(value: unknown): value is Dtype {
  return typeof value === 'string' && Object.hasOwn(DTYPE_SIZES, value);
}

function elementCount(shape: readonly number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

/** Parses safetensors bytes; `source` names the file in error messages. Tensor data are views into `bytes`. */
export function parseSafetensors(bytes: Uint8Array, source = 'safetensors data'): SafetensorsContent {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${source}: not a valid safetensors file: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes is too short for the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.byteLength - 8)) {
    fail(`header length ${headerLength} exceeds the ${bytes.byteLength - 8} bytes after it (truncated file?)`);
  }
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} exceeds ${MAX_HEADER_BYTES}`);
  const headerEnd = 8 + Number(headerLength);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, headerEnd)));
  } catch (error) {
    fail(`header is not UTF-8 JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const data = bytes.subarray(headerEnd);
  const tensors = new Map<string, Tensor>();
  let metadata: Record<string, string> = {};
  const spans: Array<[number, number, string]> = [];
  for (const [name, entry] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('__metadata__ is not an object');
      for (const [key, value] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof value !== 'string') fail(`__metadata__.${key} is not a string`);
      }
      metadata = { ...(entry as Record<string, string>) };
      continue;
    }
    if (typeof entry !== 'object' || entry === null) fail(`tensor '${name}' has no description`);
    const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) fail(`tensor '${name}' has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      fail(`tensor '${name}' has an invalid shape ${JSON.stringify(shape)}`);
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]
    ) {
      fail(`tensor '${name}' has invalid data_offsets ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > data.byteLength) {
      fail(`tensor '${name}' ends at byte ${end} but the data section has ${data.byteLength} bytes (truncated file?)`);
    }
    const expected = elementCount(shape as number[]) * DTYPE_SIZES[dtype as Dtype];
    if (end - begin !== expected) {
      fail(`tensor '${name}' spans ${end - begin} bytes but ${dtype} ${JSON.stringify(shape)} needs ${expected}`);
    }
    spans.push([begin, end, name]);
    tensors.set(name, { name, dtype: dtype as Dtype, shape: shape as number[], data: data.subarray(begin, end) });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    const [prev, cur] = [spans[i - 1]!, spans[i]!];
    if (cur[0] < prev[1]) fail(`tensors '${prev[2]}' and '${cur[2]}' overlap`);
  }
  return { tensors, metadata };
}

/** Serialises tensors (sorted by name) and string metadata into safetensors chunks. */
export function serializeSafetensors(tensors: readonly Tensor[], metadata: Record<string, string> = {}): Uint8Array[] {
  const sorted = [...tensors].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const t of sorted) {
    if (!isDtype(t.dtype)) throw new SafetensorsError(`tensor '${t.name}': unsupported dtype '${t.dtype}'`);
    const expected = elementCount(t.shape) * DTYPE_SIZES[t.dtype];
    if (t.data.byteLength !== expected) {
      throw new SafetensorsError(`tensor '${t.name}': ${t.data.byteLength} bytes do not match ${t.dtype} ${JSON.stringify(t.shape)} (${expected})`);
    }
    if (Object.hasOwn(header, t.name)) throw new SafetensorsError(`tensor '${t.name}' appears twice`);
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + expected] };
    offset += expected;
  }
  let json = JSON.stringify(header);
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(headerBytes.byteLength));
  return [prefix, headerBytes, ...sorted.map((t) => t.data)];
}

export async function writeSafetensors(path: string, tensors: readonly Tensor[], metadata: Record<string, string> = {}): Promise<void> {
  await writeFileAtomic(path, serializeSafetensors(tensors, metadata));
}

/**
 * The largest file readSafetensors reads: far above any ResNet18 checkpoint
 * (45 MB) or its Adam state (90 MB), far below what a device or a lie would
 * make it allocate.
 */
export const MAX_SAFETENSORS_BYTES = 1024 * 1024 * 1024;

export interface ReadSafetensorsOptions {
  /** Refuse files larger than this many bytes; default {@link MAX_SAFETENSORS_BYTES}. */
  maxBytes?: number;
}

function kindOf(info: Stats): string {
  if (info.isDirectory()) return 'a folder';
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads a safetensors file: it must be a regular file (links followed) of at
 * most `maxBytes`, checked before anything is read, so a device, a FIFO or a
 * folder is refused at once rather than read without end or waited on.
 */
export async function readSafetensors(path: string, options: ReadSafetensorsOptions = {}): Promise<SafetensorsContent> {
  const maxBytes = options.maxBytes ?? MAX_SAFETENSORS_BYTES;
  const refuse = (why: string): never => {
    throw new SafetensorsError(`${path}: ${why}`);
  };
  const cannot = (error: unknown): never => {
    const e = error as NodeJS.ErrnoException;
    return refuse(e.code === 'ENOENT' ? 'no such checkpoint file' : `cannot read checkpoint (${e.message})`);
  };
  const checkKind = (info: Stats): void => {
    if (!info.isFile()) refuse(`is ${kindOf(info)}, not a checkpoint file`);
    if (info.size > maxBytes) refuse(`is ${info.size} bytes, more than the ${maxBytes} a checkpoint may have`);
  };
  checkKind(await stat(path).catch(cannot));
  // O_NONBLOCK: should a FIFO have replaced the file since stat, open returns instead of waiting for a writer.
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK).catch(cannot);
  try {
    const info = await handle.stat();
    checkKind(info);
    const bytes = Buffer.allocUnsafe(info.size);
    let offset = 0;
    while (offset < bytes.byteLength) {
      const { bytesRead } = await handle.read(bytes, offset, bytes.byteLength - offset, offset).catch(cannot);
      if (bytesRead === 0) refuse(`shrank to ${offset} bytes while being read (another process is writing it?)`);
      offset += bytesRead;
    }
    return parseSafetensors(bytes, path);
  } finally {
    await handle.close();
  }
}
