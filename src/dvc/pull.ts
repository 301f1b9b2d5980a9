// `torchdog data pull` = `dvc pull`: fetch what the .dvc files name from the
// remote into the cache, verifying every md5, then put it in the workspace.
import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GcsClientOptions } from '../cloud/index.js';
import { mapLimit } from '../util/index.js';
import type { DvcFile, DvcOut } from './dvcfile.js';
import { DvcError } from './errors.js';
import { legacyMd5File, md5Bytes, md5File, parseDirObject, type DirEntry } from './hash.js';
import { copyVerified, objectKey, oidMd5, saveVerified } from './objects.js';
import { describeProblem, FolderCheck, folderProblem, type FolderProblem } from './paths.js';
import { RemoteSet, type Remote } from './remote.js';
import { checkOutputFolders, openRepo, outPath, repoRelative, selectDvcFiles, type DvcRepo } from './repo.js';
import { sweepCache, sweepOutput } from './sweep.js';
import { failuresError, IDLE_TIMEOUT, runTransfers, withRetries, type ProgressListener } from './transfer.js';
import { HASH_JOBS, listFiles } from './workspace.js';
import { isDirectory, isFile } from '../util/index.js';

export interface PullOptions {
  /** Where to look for the repository (default: the working directory). */
  cwd?: string;
  /** .dvc files or tracked paths, relative to `cwd`; default: every .dvc file. */
  targets?: readonly string[];
  /** Remote name, over the outputs' `remote:` and core.remote. */
  remote?: string;
  /** Parallel transfers (default 16). */
  jobs?: number;
  /** Replace workspace files whose content is in neither the .dvc file nor the cache (lost otherwise). */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Client options for gs:// remotes (e.g. an emulator's apiEndpoint). */
  gcs?: GcsClientOptions;
}

export interface PulledOut {
  dvcFile: string;
  path: string;
  md5: string;
  remote: string | null;
  /** Files the .dvc file lists. */
  files: number;
  /** Already right in the workspace. */
  unchanged: number;
  /** Written into the workspace from the cache, without a download. */
  fromCache: number;
  /** Objects downloaded from the remote (a file may share its object with another). */
  downloaded: number;
  downloadedBytes: number;
  /** Workspace files under the output that the .dvc file does not list (left alone). */
  extra: string[];
}

export interface PullResult {
  outs: PulledOut[];
  seconds: number;
}

export const DEFAULT_JOBS = 16;

interface Context {
  repo: DvcRepo;
  options: PullOptions;
  remotes: RemoteSet;
}

function mismatchError(what: string, expected: string, source: string) {
  return (actual: string) =>
    new DvcError('ERR_DVC_MD5_MISMATCH', `${what}: md5 mismatch: ${source} has md5 ${actual} but ${expected} was expected; nothing was written for it`);
}

/** Puts object `oid` in the cache, downloading it if absent; says whether it did. */
async function fetchObject(
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

type Plan = 'absent' | 'unchanged' | 'replace' | 'conflict';

async function planEntry(repo: DvcRepo, target: string, entry: DirEntry, legacy: boolean): Promise<Plan> {
  const info = await stat(target).catch(() => undefined);
  if (!info) return 'absent';
  if (!info.isFile()) return 'conflict';
  const md5 = await (legacy ? legacyMd5File : md5File)(target);
  if (md5 === entry.md5) return 'unchanged';
  // Content that is in the cache (an older version) can be replaced safely.
  return (await repo.cache.has(md5, false)) || (legacy && (await repo.cache.has(md5, true))) ? 'replace' : 'conflict';
}

function entryPath(root: string, entry: DirEntry): string {
  return entry.relpath === '' ? root : join(root, ...entry.relpath.split('/'));
}

/** The folders, from the repository root, that an entry of the output `target` is written into. */
function entryFolders(target: string, entry: DirEntry): string[] {
  const segments = target.split('/');
  if (entry.relpath !== '') segments.push(...entry.relpath.split('/'));
  return segments.slice(0, -1);
}

async function pullOut(ctx: Context, dvc: DvcFile, out: DvcOut): Promise<PulledOut | null> {
  const { repo, options } = ctx;
  const dvcName = repoRelative(repo, dvc.file);
  if (!out.cache) return null;
  if (!out.md5) throw new DvcError('ERR_DVC_FILE', `${dvcName}: outs[${out.index}] (${out.path}) has no md5 yet; run 'torchdog data push' where the data is`);
  const root = outPath(repo, dvc, out);
  const target = repoRelative(repo, root);
  const legacy = out.hash !== 'md5';
  const isDir = out.md5.endsWith('.dir');
  await checkOutputFolders(repo, dvc, out, root);
  // An unknown remote is an error even when nothing needs downloading.
  const remote = out.push ? ctx.remotes.for(out) : undefined;
  const needRemote = (): Remote => {
    if (!remote) throw new DvcError('ERR_DVC_MISSING_OBJECT', `${target}: not in the cache, and ${dvcName} says 'push: false', so no remote has it`);
    return remote;
  };
  const entries: DirEntry[] = isDir ? await readDirObject(repo, out, needRemote, `${dvcName} (${target})`, options.signal) : [{ relpath: '', md5: out.md5 }];

  if (isDir) {
    const rootInfo = await stat(root).catch(() => undefined);
    if (rootInfo && !rootInfo.isDirectory()) throw new DvcError('ERR_DVC_WORKSPACE_MODIFIED', `${target} is a file, but ${dvcName} tracks a folder there; move it away and pull again`);
    // No listed file may land through a symbolic link to a folder (one Git checked out, say).
    const folders = new FolderCheck(repo.root);
    for (const entry of entries) {
      const problem = await folders.problem(entryFolders(target, entry));
      if (problem?.found === 'symlink') {
        throw new DvcError('ERR_DVC_PATH', `${dvcName} (${target}): refusing entry ${JSON.stringify(entry.relpath)}: ${describeProblem(problem)}`);
      }
    }
  }
  await sweepOutput(repo, root, isDir);
  const plans = await mapLimit(entries, HASH_JOBS, (entry) => planEntry(repo, entryPath(root, entry), entry, legacy));
  const conflicts = entries.filter((_, i) => plans[i] === 'conflict');
  if (conflicts.length > 0 && !options.force) {
    const shown = conflicts.slice(0, 10).map((e) => `  ${entryPath(target, e)}`);
    if (conflicts.length > shown.length) shown.push(`  … and ${conflicts.length - shown.length} more`);
    throw new DvcError(
      'ERR_DVC_WORKSPACE_MODIFIED',
      `${conflicts.length} workspace file(s) differ from ${dvcName} and their content is not in the cache, so pulling would lose it:\n${shown.join('\n')}\n` +
        `Version them with 'torchdog data push', or pull with --force to overwrite them.`,
    );
  }
  const needed = entries.filter((_, i) => plans[i] !== 'unchanged');
  const byObject = new Map<string, DirEntry[]>();
  for (const entry of needed) byObject.set(entry.md5, [...(byObject.get(entry.md5) ?? []), entry]);

  let downloaded = 0;
  let downloadedBytes = 0;
  let fromCache = 0;
  let done = 0;
  const report = () => options.onProgress?.({ phase: 'downloading', target, done, total: needed.length, bytes: downloadedBytes });
  const onBytes = (n: number) => {
    downloadedBytes += n;
    report();
  };
  report();
  const failures = await runTransfers(
    [...byObject.entries()],
    async ([md5, group], signal) => {
      const what = entryPath(target, group[0]!);
      const cached = repo.cache.path(md5, legacy);
      let fetched = await fetchObject(repo, needRemote(), md5, legacy, what, signal, onBytes);
      if (fetched) downloaded++;
      for (const entry of group) {
        const path = entryPath(root, entry);
        // Checked again as each file is written, creating missing folders one
        // at a time: a folder swapped for a link since the check is refused.
        const folders = entryFolders(target, entry);
        const refuse = (problem: FolderProblem) =>
          problem.found === 'file'
            ? new DvcError('ERR_DVC_WORKSPACE_MODIFIED', `${problem.path} is a file, but ${dvcName} needs a folder there; move it away and pull again`)
            : new DvcError('ERR_DVC_PATH', `refusing to write it: ${describeProblem(problem)}`);
        const problem = await folderProblem(repo.root, folders, true);
        if (problem) throw refuse(problem);
        const beforeCommit = async () => {
          const late = await folderProblem(repo.root, folders);
          if (late) throw refuse(late);
        };
        // --force over a folder where a file belongs.
        if (options.force && (await isDirectory(path))) await rm(path, { recursive: true, force: true });
        for (let attempt = 0; ; attempt++) {
          try {
            await copyVerified(cached, path, {
              md5,
              legacy,
              mode: 0o644,
              signal,
              mismatch: mismatchError(entryPath(target, entry), md5, `the cached copy ${cached}`),
              beforeCommit,
            });
            break;
          } catch (error) {
            if (fetched || attempt > 0 || !(error instanceof DvcError && error.code === 'ERR_DVC_MD5_MISMATCH')) throw error;
            // The cache held a corrupt copy: drop it and fetch the object again.
            await rm(cached, { force: true });
            fetched = await fetchObject(repo, needRemote(), md5, legacy, what, signal, onBytes);
            if (fetched) downloaded++;
          }
        }
        if (!fetched) fromCache++;
        done++;
        report();
      }
    },
    {
      jobs: options.jobs ?? DEFAULT_JOBS,
      signal: options.signal,
      describe: ([, group]) => entryPath(target, group[0]!),
      noun: 'files',
      rerun: 'torchdog data pull',
    },
  );
  if (failures.length > 0) throw failuresError(failures, needed.length, 'pulled', 'torchdog data pull');

  const extra: string[] = [];
  if (isDir) {
    const listed = new Set(entries.map((e) => e.relpath));
    for (const file of await listFiles(repo, root)) if (!listed.has(file.relpath)) extra.push(`${target}/${file.relpath}`);
  }
  return {
    dvcFile: dvcName,
    path: target,
    md5: out.md5,
    remote: remote?.name ?? null,
    files: entries.length,
    unchanged: entries.length - needed.length,
    fromCache,
    downloaded,
    downloadedBytes,
    extra,
  };
}

/** Pulls every output of the selected .dvc files. */
export async function pull(options: PullOptions = {}): Promise<PullResult> {
  const started = performance.now();
  const cwd = options.cwd ?? process.cwd();
  const repo = await openRepo(cwd);
  const files = await selectDvcFiles(repo, options.targets, cwd);
  await sweepCache(repo);
  const ctx: Context = { repo, options, remotes: new RemoteSet(repo.config, options.remote, options.gcs ? { gcs: options.gcs } : {}) };
  const outs: PulledOut[] = [];
  for (const dvc of files) {
    for (const out of dvc.outs) {
      const pulled = await pullOut(ctx, dvc, out);
      if (pulled) outs.push(pulled);
    }
  }
  return { outs, seconds: (performance.now() - started) / 1000 };
}
