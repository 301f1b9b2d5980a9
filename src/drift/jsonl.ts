// Feature files: JSON Lines of per-image drift features, as `torchdog train`
// writes RUN_DIR/reference.jsonl and the service writes its prediction log.
// A bad line stops the read with its file and line number, because a report
// computed on silently dropped lines would be a wrong report. Files are read
// a chunk at a time, never whole (a prediction log can pass the longest
// string V8 makes, 512 MiB), and for the last N records only their tail.
import { open, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { FEATURE_COLUMNS, type FeatureRecord } from './detect.js';
import { describe, expectInteger } from '../util/index.js';

/** A malformed line in a feature file; `message` starts with `FILE:LINE:`. */
export class FeatureFileError extends Error {
  readonly code = 'ERR_TORCHDOG_FEATURE_FILE';
  constructor(
    /** What is wrong with the line, without the FILE:LINE: prefix. */
    readonly reason: string,
    readonly source: string,
    readonly line: number,
  ) {
    super(`${source}:${line}: ${reason}`);
    this.name = 'FeatureFileError';
  }
}

export interface ParseOptions {
  /** Parse only the last `last` non-blank lines (the most recent records); earlier lines are not read. */
  last?: number;
}

const kClassKeys = ['category', 'prediction', 'label'] as const;

/**
 * Parses JSON Lines text into feature records. Blank lines are skipped; every
 * other line must be a JSON object with finite numbers `avg_brightness`,
 * `contrast` and `sharpness`; `category`, `prediction` and `label`, when
 * present, must be non-empty strings; `time` is kept when it is a string.
 * Other fields are dropped. `source` names the text in errors (a path).
 * Throws a {@link FeatureFileError} for the first bad line.
 */
export function parseFeatureLines(text: string, source = '<input>', options: ParseOptions = {}): FeatureRecord[] {
  const last = options.last === undefined ? undefined : expectInteger(options.last, 'last', 1);
  const lines = text.split('\n');
  // Line numbers (0-based) of the lines to parse.
  const picked: number[] = [];
  for (let i = lines.length - 1; i >= 0; i--) {
    if (last !== undefined && picked.length === last) break;
    if (lines[i]!.trim() !== '') picked.push(i);
  }
  picked.reverse();
  return picked.map((i) => parseLine(lines[i]!, source, i + 1));
}

function parseLine(line: string, source: string, number: number): FeatureRecord {
  let value: unknown;
  try {
    value = JSON.parse(number === 1 ? line.replace(/^\uFEFF/, '') : line);
  } catch (error) {
    throw new FeatureFileError(`not valid JSON (${(error as Error).message})`, source, number);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FeatureFileError(`expected a JSON object but found ${describe(value)}`, source, number);
  }
  const object = value as Record<string, unknown>;
  const record = {} as FeatureRecord;
  for (const key of FEATURE_COLUMNS) {
    const v = object[key];
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new FeatureFileError(`expected a finite number for "${key}" but ${v === undefined ? 'it is missing' : `received ${describe(v)}`}`, source, number);
    }
    record[key] = v;
  }
  for (const key of kClassKeys) {
    const v = object[key];
    if (v === undefined || v === null) continue;
    if (typeof v !== 'string' || v.length === 0) {
      throw new FeatureFileError(`expected a non-empty string for "${key}" but received ${describe(v)}`, source, number);
    }
    record[key] = v;
  }
  if (typeof object['time'] === 'string') record.time = object['time'];
  return record;
}

/** Longest line a feature file may have: a record is a few hundred bytes; what is longer is not one. */
export const MAX_LINE_BYTES = 1024 * 1024;

function tooLong(file: string, line: number): FeatureFileError {
  return new FeatureFileError(`a line longer than ${MAX_LINE_BYTES} bytes is not a feature record`, file, line);
}

export interface ReadOptions extends ParseOptions {
  /** Bytes read at a time. Default 1 MiB. */
  chunkBytes?: number;
}

/**
 * Reads a feature file (see {@link parseFeatureLines}). A directory stands for
 * the run directory it is: DIR/reference.jsonl is read. The file is read a
 * chunk at a time; with `last`, backwards from its end until that many
 * records are found, so the size of the file does not matter.
 */
export async function readFeatureFile(path: string, options: ReadOptions = {}): Promise<FeatureRecord[]> {
  const file = (await stat(path)).isDirectory() ? join(path, 'reference.jsonl') : path;
  const last = options.last === undefined ? undefined : expectInteger(options.last, 'last', 1);
  const chunkBytes = expectInteger(options.chunkBytes ?? 1024 * 1024, 'chunkBytes', 1);
  const handle = await open(file, 'r');
  try {
    return last === undefined ? await readAll(handle, file, chunkBytes) : await readTail(handle, file, last, chunkBytes);
  } finally {
    await handle.close();
  }
}

async function readAll(handle: FileHandle, file: string, chunkBytes: number): Promise<FeatureRecord[]> {
  const records: FeatureRecord[] = [];
  const buffer = Buffer.alloc(chunkBytes);
  let carry = Buffer.alloc(0);
  let number = 0;
  const take = (line: string) => {
    number++;
    if (line.trim() !== '') records.push(parseLine(line, file, number));
  };
  for (let position = 0; ; ) {
    const { bytesRead } = await handle.read(buffer, 0, chunkBytes, position);
    if (bytesRead === 0) break;
    position += bytesRead;
    const data = carry.length > 0 ? Buffer.concat([carry, buffer.subarray(0, bytesRead)]) : buffer.subarray(0, bytesRead);
    let start = 0;
    for (let nl = data.indexOf(0x0a, start); nl >= 0; nl = data.indexOf(0x0a, start)) {
      if (nl - start > MAX_LINE_BYTES) throw tooLong(file, number + 1);
      take(data.toString('utf8', start, nl));
      start = nl + 1;
    }
    if (data.length - start > MAX_LINE_BYTES) throw tooLong(file, number + 1);
    // A copy: the buffer is read into again.
    carry = Buffer.from(data.subarray(start));
  }
  if (carry.length > 0) take(carry.toString('utf8'));
  return records;
}

async function readTail(handle: FileHandle, file: string, last: number, chunkBytes: number): Promise<FeatureRecord[]> {
  const picked: { offset: number; text: string }[] = [];
  let position = (await handle.stat()).size;
  // The start of a line whose beginning is not read yet.
  let carry = Buffer.alloc(0);
  const consider = (line: Buffer, offset: number) => {
    const text = line.toString('utf8');
    if (text.trim() !== '') picked.push({ offset, text });
  };
  while (picked.length < last && position > 0) {
    const start = Math.max(0, position - chunkBytes);
    const chunk = Buffer.alloc(position - start);
    await handle.read(chunk, 0, chunk.length, start);
    const data = Buffer.concat([chunk, carry]);
    let end = data.length;
    for (let nl = data.lastIndexOf(0x0a, end - 1); nl >= 0 && picked.length < last; nl = end > 0 ? data.lastIndexOf(0x0a, end - 1) : -1) {
      consider(data.subarray(nl + 1, end), start + nl + 1);
      end = nl;
    }
    carry = Buffer.from(data.subarray(0, end));
    position = start;
    if (carry.length > MAX_LINE_BYTES) throw tooLong(file, await lineNumberAt(handle, start, chunkBytes));
  }
  if (picked.length < last && position === 0 && carry.length > 0) consider(carry, 0);
  picked.reverse();
  const records: FeatureRecord[] = [];
  for (const { offset, text } of picked) {
    try {
      // Line numbers are counted only for an error; 0 until then (1 is the line whose BOM is dropped).
      records.push(parseLine(text, file, offset === 0 ? 1 : 0));
    } catch (error) {
      if (!(error instanceof FeatureFileError) || offset === 0) throw error;
      throw new FeatureFileError(error.reason, file, await lineNumberAt(handle, offset, chunkBytes));
    }
  }
  return records;
}

/** The 1-based number of the line that starts at byte `offset`. */
async function lineNumberAt(handle: FileHandle, offset: number, chunkBytes: number): Promise<number> {
  const buffer = Buffer.alloc(chunkBytes);
  let lines = 1;
  for (let position = 0; position < offset; ) {
    const { bytesRead } = await handle.read(buffer, 0, Math.min(chunkBytes, offset - position), position);
    if (bytesRead === 0) break;
    for (let nl = buffer.indexOf(0x0a, 0); nl >= 0 && nl < bytesRead; nl = buffer.indexOf(0x0a, nl + 1)) lines++;
    position += bytesRead;
  }
  return lines;
}
