// What an output holds in the workspace, as DVC sees it: the files under a
// tracked folder minus what .dvcignore hides, with their md5s.
import type { Stats } from 'node:fs';
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { cpus } from 'node:os';
import { mapLimit } from '../util/index.js';
import { DvcError } from './errors.js';
import { compareCodePoints, dirObjectBytes, legacyMd5File, md5Bytes, md5File, type DirEntry } from './hash.js';
import { DVCIGNORE } from './ignore.js';
import { TEMP_FILE } from '../util/index.js';
import { linkBounds, linkedFileProblem } from './paths.js';
import { entryName, repoRelative, type DvcRepo, type ResolvedOut } from './repo.js';
import { progressOf, type ProgressListener } from './transfer.js';

export interface WorkspaceFile {
  /** Inside the output, '/'-separated. */
  relpath: string;
  /** Absolute. */
  path: string;
  size: number;
  /** Reached through a symbolic link. */
  linked?: boolean;
}

export interface HashedFile extends WorkspaceFile {
  md5: string;
}

/**
 * The files under folder `dir`, sorted by relpath (code points, as DVC).
 * Follows symbolic links to files; skips links to folders (as DVC's walk),
 * .git, .dvc and .hg by any spelling (ignore.ts) and temporary files.
 */
export async function listFiles(repo: DvcRepo, dir: string): Promise<WorkspaceFile[]> {
  const files: WorkspaceFile[] = [];
  const visit = async (abs: string, rel: string): Promise<void> => {
    const entries = await readdir(abs, { withFileTypes: true });
    for (const entry of entries) {
      const path = join(abs, entry.name);
      const relpath = rel ? `${rel}/${entry.name}` : entry.name;
      let isDir = entry.isDirectory();
      let isFile = entry.isFile();
      if (entry.isSymbolicLink()) {
        const target = await stat(path).catch(() => undefined);
        isFile = target?.isFile() ?? false;
        isDir = false;
      }
      if (!isDir && !isFile) continue;
      if (isFile && entry.name === DVCIGNORE) {
        throw new DvcError(
          'ERR_DVC_PATH',
          `${path}: DVC does not allow a .dvcignore inside a tracked folder; move its patterns to a .dvcignore above ${repoRelative(repo, dir)}`,
        );
      }
      // A transfer's temporary file (sweep.ts removes stale ones) is never data.
      if (isFile && TEMP_FILE.test(entry.name)) continue;
      if (await repo.ignore.ignoredIn(repoRelative(repo, abs), entry.name, isDir)) continue;
      if (isDir) await visit(path, relpath);
      else files.push({ relpath, path, size: (await stat(path)).size, ...(entry.isSymbolicLink() ? { linked: true } : {}) });
    }
  };
  await visit(dir, '');
  return files.sort((a, b) => compareCodePoints(a.relpath, b.relpath));
}

export const HASH_JOBS = Math.max(2, Math.min(8, cpus().length));

/** md5 of each file (DVC 2's CRLF-normalised hash when `legacy`), `jobs` at a time. */
export async function hashFiles(
  files: readonly WorkspaceFile[],
  options: { legacy?: boolean; jobs?: number; signal?: AbortSignal; onFile?: (file: WorkspaceFile) => void } = {},
): Promise<HashedFile[]> {
  const hash = options.legacy ? legacyMd5File : md5File;
  return mapLimit(files, options.jobs ?? HASH_JOBS, async (file) => {
    if (options.signal?.aborted) throw new DvcError('ERR_DVC_INTERRUPTED', 'interrupted while hashing; nothing was changed');
    const md5 = await hash(file.path);
    options.onFile?.(file);
    return { ...file, md5 };
  });
}

export interface DirectoryHash {
  /** `<md5>.dir` */
  oid: string;
  /** The .dir object's bytes. */
  object: Buffer;
  entries: DirEntry[];
  files: HashedFile[];
  /** Sum of the files' sizes, as in the .dvc file. */
  size: number;
}

export function directoryHash(files: readonly HashedFile[]): DirectoryHash {
  const entries = files.map((f) => ({ relpath: f.relpath, md5: f.md5 }));
  const object = dirObjectBytes(entries);
  return { oid: `${md5Bytes(object)}.dir`, object, entries, files: [...files], size: files.reduce((sum, f) => sum + f.size, 0) };
}

/** Refuses, before any file is read, one reached through a symbolic link that leads out of the repository or into .git, .dvc or .hg (paths.ts). */
async function refuseForeignLinks(repo: DvcRepo, o: ResolvedOut, files: readonly WorkspaceFile[]): Promise<void> {
  const linked = files.filter((file) => file.linked);
  if (linked.length === 0) return;
  const bounds = await linkBounds(repo.root, repo.cache.dir);
  for (const file of linked) {
    const problem = await linkedFileProblem(file.path, entryName(o.target, file.relpath), bounds);
    if (!problem) continue;
    const what = file.relpath ? `${o.dvcName} (${o.target}): refusing ${JSON.stringify(file.relpath)}` : `${o.dvcName}: refusing outs[${o.out.index}].path ${JSON.stringify(o.out.path)}`;
    throw new DvcError('ERR_DVC_PATH', `${what}: ${problem}`);
  }
}

/** An output as it is in the workspace, hashed. */
export interface OutputHash {
  /** `<md5>.dir` for a folder, the file's md5 for a file. */
  md5: string;
  /** Sum of the files' sizes, as in the .dvc file. */
  size: number;
  /** A folder's number of files; null for a file. */
  nfiles: number | null;
  /** A file output is one file with relpath ''. */
  files: HashedFile[];
  /** A folder's .dir object, whose md5 `md5` is. */
  listing?: Buffer;
}

/**
 * Hashes the output `o`, found in the workspace (`info` is its stat), as
 * DVC 3 does, or as DVC 2 did when `legacy`; a folder reports its 'hashing'
 * progress.
 */
export async function hashOutput(
  repo: DvcRepo,
  o: ResolvedOut,
  info: Stats,
  options: { legacy?: boolean; signal?: AbortSignal; onProgress?: ProgressListener },
): Promise<OutputHash> {
  if (!info.isDirectory()) {
    await refuseForeignLinks(repo, o, [{ relpath: '', path: o.root, size: info.size, linked: (await lstat(o.root)).isSymbolicLink() }]);
    const md5 = await (options.legacy ? legacyMd5File : md5File)(o.root);
    return { md5, size: info.size, nfiles: null, files: [{ relpath: '', path: o.root, size: info.size, md5 }] };
  }
  const listed = await listFiles(repo, o.root);
  await refuseForeignLinks(repo, o, listed);
  const report = progressOf(options.onProgress, o.target);
  let done = 0;
  let bytes = 0;
  report('hashing', 0, listed.length, 0);
  const files = await hashFiles(listed, {
    legacy: options.legacy,
    signal: options.signal,
    onFile: (f) => {
      bytes += f.size;
      report('hashing', ++done, listed.length, bytes);
    },
  });
  const tree = directoryHash(files);
  return { md5: tree.oid, size: tree.size, nfiles: files.length, files, listing: tree.object };
}
