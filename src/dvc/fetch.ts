// Objects from a remote into the cache, each verified against the md5 it is
// stored under; and the files an output's .dvc version lists, which pull
// writes and status compares.
import { readFile, rm } from 'node:fs/promises';
import type { DvcOut } from './dvcfile.js';
import { DvcError } from './errors.js';
import { md5Bytes, parseDirObject, type DirEntry } from './hash.js';
import { objectKey, oidMd5, saveVerified } from './objects.js';
import type { Remote } from './remote.js';
import type { DvcRepo, ResolvedOut } from './repo.js';
import { IDLE_TIMEOUT, withRetries } from './transfer.js';
import { isFile } from '../util/index.js';

/** The error for bytes from `source` whose md5 is not `expected`; `what` names the file. */
export function mismatchError(what: string, expected: string, source: string) {
  return (actual: string) =>
    new DvcError('ERR_DVC_MD5_MISMATCH', `${what}: md5 mismatch: ${source} has md5 ${actual} but ${expected} was expected; nothing was written for it`);
}

/** Puts object `oid` in the cache, downloading it if absent; says whether it did. */
export async function fetchObject(
  repo: DvcRepo,
  remote: Remote,
  oid: string,
  legacy: boolean,
  what: string,
  signal: AbortSignal | undefined,
  onBytes?: (n: number) => void,
): Promise<boolean> {
  const destination = repo.cache.path(oid, legacy);
  if (await isFile(destination)) return false;
  const key = objectKey(oid, legacy);
  await withRetries(async () => {
    let received = 0;
    try {
      await saveVerified(await remote.read(key), destination, {
        md5: oidMd5(oid),
        legacy,
        mode: 0o444,
        signal,
        onBytes: (n) => {
          received += n;
          onBytes?.(n);
        },
        mismatch: mismatchError(what, oidMd5(oid), `the object ${key} in remote '${remote.name}' (${remote.url})`),
        idle: {
          ms: IDLE_TIMEOUT.ms,
          stalled: () => new DvcError('ERR_DVC_TRANSFER', `${what}: remote '${remote.name}' sent nothing for ${IDLE_TIMEOUT.ms / 1000} s (${key}); the connection stalled`),
        },
      });
    } catch (error) {
      onBytes?.(-received); // progress counts only what stayed
      throw remote.toError(error, key);
    }
  }, signal);
  return true;
}

/** The entries of a directory output, from its .dir object (fetched if needed, always verified). */
export async function readDirObject(repo: DvcRepo, out: DvcOut, remote: () => Remote, what: string, signal?: AbortSignal): Promise<DirEntry[]> {
  const oid = out.md5!;
  const legacy = out.hash !== 'md5';
  const path = repo.cache.path(oid, legacy);
  for (let attempt = 0; attempt < 2; attempt++) {
    if (await isFile(path)) {
      const bytes = await readFile(path);
      // A corrupt cached listing is dropped and fetched again.
      if (md5Bytes(bytes) === oidMd5(oid)) return parseDirObject(bytes, `${what} (${oid})`);
      await rm(path, { force: true });
    }
    try {
      await fetchObject(repo, remote(), oid, legacy, `${what} (directory listing ${oid})`, signal);
    } catch (error) {
      if (!(error instanceof DvcError) || error.message.startsWith(what)) throw error;
      throw new DvcError(error.code, `${what}: the directory listing: ${error.message}`, { cause: error });
    }
  }
  throw new DvcError('ERR_DVC_MD5_MISMATCH', `${what}: the directory listing ${oid} keeps failing its md5 check`);
}

/**
 * The files of an output's .dvc version (it must have an md5): a file
 * output's one entry (relpath ''), or a folder's listing, fetched from
 * `remote()` when the cache lacks it.
 */
export async function readListing(repo: DvcRepo, o: ResolvedOut, remote: () => Remote, signal?: AbortSignal): Promise<DirEntry[]> {
  if (!o.isDir) return [{ relpath: '', md5: o.out.md5! }];
  return readDirObject(repo, o.out, remote, `${o.dvcName} (${o.target})`, signal);
}
