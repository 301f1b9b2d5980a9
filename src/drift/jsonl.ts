// Feature files: JSON Lines of per-image drift features, as `torchdog train`
// writes RUN_DIR/reference.jsonl and the service writes its prediction log.
// A bad line stops the read with its file and line number, because a report
// computed on silently dropped lines would be a wrong report.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { FEATURE_COLUMNS, type FeatureRecord } from './detect.js';
import { describe, expectInteger } from '../util/index.js';

/** A malformed line in a feature file; `message` starts with `FILE:LINE:`. */
export class FeatureFileError extends Error {
  readonly code = 'ERR_TORCHDOG_FEATURE_FILE';
  constructor(
    message: string,
    readonly source: string,
    readonly line: number,
  ) {
    super(`${source}:${line}: ${message}`);
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

/**
 * Reads a feature file (see {@link parseFeatureLines}). A directory stands for
 * the run directory it is: DIR/reference.jsonl is read.
 */
export async function readFeatureFile(path: string, options: ParseOptions = {}): Promise<FeatureRecord[]> {
  const file = (await stat(path)).isDirectory() ? join(path, 'reference.jsonl') : path;
  return parseFeatureLines(await readFile(file, 'utf8'), file, options);
}
