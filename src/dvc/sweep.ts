// Temporary files a killed torchdog left behind. Every file lands through
// src/util/atomic-write.ts: written as `.<name>.torchdog-<8 hex>.tmp` beside
// its destination, renamed into place when complete, removed on any error; a
// kill -9 (or the OOM killer, or a power cut) is the only way one stays.
// Pull and push remove those in the cache, beside the .dvc files and in the
// outputs when they start; push also in a local remote's folder, the first
// time it writes there (remote.ts).
//
// "Not being written right now" is told by age: the name carries no process
// id, and a live writer keeps its file fresh. A download writes at least every
// IDLE_TIMEOUT (60 s) or is abandoned, local copies write continuously, and
// what follows the last write (a DVC 2 re-hash, fdatasync, the rename) takes
// seconds; so a temporary file nothing has written to for STALE_TEMP (10 min)
// belongs to no live transfer. Should a writer be stopped longer than that
// (SIGSTOP, a suspended laptop) and swept, its rename fails (ENOENT): that
// one transfer reports an error and the next run repeats it; no file is ever
// half-written in place, since only the temporary name is removed.
import { lstat, readdir, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { STALE_TEMP_MS, TEMP_FILE } from '../util/index.js';
import { reservedName } from './paths.js';
import { repoRelative, type DvcRepo } from './repo.js';

/** How long a temporary file must have been left unwritten before it counts as a dead process's. */
export const STALE_TEMP = { ms: STALE_TEMP_MS };

/**
 * Removes `path` when it is a regular file (never a link) not modified for
 * STALE_TEMP; says whether it did. Housekeeping: a file that cannot be
 * removed (a read-only folder) is left, and the command goes on.
 */
async function removeIfStale(path: string, now: number): Promise<boolean> {
  const info = await lstat(path).catch(() => undefined);
  if (!info?.isFile() || now - info.mtimeMs < STALE_TEMP.ms) return false;
  return rm(path, { force: true }).then(
    () => true,
    () => false,
  );
}

/** Stale temporary files named after `path` (`.<name>.torchdog-XXXXXXXX.tmp` beside it): a .dvc file's, a file output's. */
export async function sweepBeside(path: string, now = Date.now()): Promise<string[]> {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.torchdog-`;
  const names = await readdir(dir).catch(() => [] as string[]);
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix) || !TEMP_FILE.test(name) || name.length !== prefix.length + 12) continue;
    if (await removeIfStale(join(dir, name), now)) removed.push(join(dir, name));
  }
  return removed;
}

export interface SweepTreeOptions {
  /** Folders below `dir` to descend into (the cache's files/md5/<2>/ is 3). */
  depth: number;
  /** In the workspace: .dvcignore'd folders and nested repositories are not ours. */
  repo?: DvcRepo;
  now?: number;
}

/**
 * Stale temporary files under the folder `dir`, down to `depth` folders;
 * symbolic links are not followed, and .git, .dvc and .hg are not entered.
 * Returns the paths removed.
 */
export async function sweepTree(dir: string, options: SweepTreeOptions): Promise<string[]> {
  const now = options.now ?? Date.now();
  const removed: string[] = [];
  const visit = async (abs: string, depth: number): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(abs, entry.name);
      if (entry.isFile()) {
        if (TEMP_FILE.test(entry.name) && (await removeIfStale(path, now))) removed.push(path);
      } else if (entry.isDirectory() && depth > 0 && !reservedName(entry.name)) {
        if (options.repo && (await options.repo.ignore.ignoredIn(repoRelative(options.repo, abs), entry.name, true))) continue;
        await visit(path, depth - 1);
      }
    }
  };
  await visit(dir, options.depth);
  return removed;
}

/**
 * The cache's leftovers: objects are written as `files/md5/<2>/<30>` (DVC 3)
 * or `<2>/<30>` (DVC 2) under the cache directory.
 */
export function sweepCache(repo: DvcRepo, now = Date.now()): Promise<string[]> {
  return sweepTree(repo.cache.dir, { depth: 3, now });
}

/** An output's leftovers: anywhere in a tracked folder (not its ignored parts), or beside a tracked file. */
export async function sweepOutput(repo: DvcRepo, root: string, isDir: boolean): Promise<string[]> {
  return isDir ? sweepTree(root, { depth: Infinity, repo }) : sweepBeside(root);
}
