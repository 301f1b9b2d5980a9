// Reading a feature file named on the command line (drift's --reference and
// --current, serve's --reference): what goes wrong is one line naming the
// flag and the file, exit status 1, never a stack.
import { stat } from 'node:fs/promises';
import { readFeatureFile, FeatureFileError, type FeatureRecord } from '../drift/index.js';
import { UsageError } from './errors.js';

/**
 * The records of `path` (a .jsonl file or a run directory), at most the
 * `last` ones. When a file holds fewer than `last`, the window continues
 * into PATH.1, where serve's prediction log rotates its older records to.
 */
export async function readFeatureRecords(path: string, flag: string, last?: number): Promise<FeatureRecord[]> {
  const records = await read(path, flag, last);
  const rotated = `${path}.1`;
  if (last !== undefined && records.length < last && (await isFile(path)) && (await isFile(rotated))) {
    records.unshift(...(await read(rotated, flag, last - records.length)));
  }
  if (records.length === 0) throw new UsageError(`${flag}: ${path} holds no records`, 1);
  return records;
}

async function isFile(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isFile() ?? false;
}

async function read(path: string, flag: string, last?: number): Promise<FeatureRecord[]> {
  try {
    return await readFeatureFile(path, { last });
  } catch (error) {
    if (error instanceof FeatureFileError) throw new UsageError(error.message, 1);
    const e = error as NodeJS.ErrnoException;
    if (e.code === 'ENOENT') throw new UsageError(`${flag}: ${e.path ?? path} does not exist`, 1);
    if (e.code === 'EISDIR' || e.code === 'EACCES') throw new UsageError(`${flag}: cannot read ${path} (${e.code})`, 1);
    throw error;
  }
}
