// `torchdog data pull` = `dvc pull`: fetch what the .dvc files name from the
// remote into the cache, verifying every md5, then put it in the workspace.
import { rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { GcsClientOptions } from '../cloud/index.js';
import { isDirectory, mapLimit } from '../util/index.js';
import type { DvcFile, DvcOut } from './dvcfile.js';
import { DvcError } from './errors.js';
import { fetchObject, mismatchError, readListing } from './fetch.js';
import { legacyMd5File, md5File, type DirEntry } from './hash.js';
import { copyVerified } from './objects.js';
import { describeProblem, FolderCheck, folderProblem, type FolderProblem } from './paths.js';
import { RemoteSet, type Remote } from './remote.js';
import { entryName, openTargets, repoRelative, resolveOut, type DvcRepo, type ResolvedOut } from './repo.js';
import { sweepCache, sweepOutput } from './sweep.js';
import { DEFAULT_JOBS, failuresError, progressOf, runTransfers, type ProgressListener } from './transfer.js';
import { HASH_JOBS, listFiles } from './workspace.js';

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

interface Context {
  repo: DvcRepo;
  options: PullOptions;
  remotes: RemoteSet;
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

/** Where an output's objects come from: its remote, or (`need`) an error saying why it has none. */
function sourceOf(ctx: Context, o: ResolvedOut): { remote: Remote | undefined; need: () => Remote } {
  // An unknown remote is an error even when nothing needs downloading.
  const remote = o.out.push ? ctx.remotes.for(o.out) : undefined;
  const need = (): Remote => {
    if (!remote) throw new DvcError('ERR_DVC_MISSING_OBJECT', `${o.target}: not in the cache, and ${o.dvcName} says 'push: false', so no remote has it`);
    return remote;
  };
  return { remote, need };
}

/** A folder output can be written: no file stands where the folder goes, and no listed file lands through a symlinked folder. */
async function checkFolderTarget(repo: DvcRepo, o: ResolvedOut, entries: readonly DirEntry[]): Promise<void> {
  const rootInfo = await stat(o.root).catch(() => undefined);
  if (rootInfo && !rootInfo.isDirectory()) throw new DvcError('ERR_DVC_WORKSPACE_MODIFIED', `${o.target} is a file, but ${o.dvcName} tracks a folder there; move it away and pull again`);
  // No listed file may land through a symbolic link to a folder (one Git checked out, say).
  const folders = new FolderCheck(repo.root);
  for (const entry of entries) {
    const problem = await folders.problem(entryFolders(o.target, entry));
    if (problem?.found === 'symlink') {
      throw new DvcError('ERR_DVC_PATH', `${o.dvcName} (${o.target}): refusing entry ${JSON.stringify(entry.relpath)}: ${describeProblem(problem)}`);
    }
  }
}

/** The listed files that the workspace lacks or holds another version of; without --force, refuses to overwrite content that is nowhere else. */
async function entriesToWrite(ctx: Context, o: ResolvedOut, entries: readonly DirEntry[]): Promise<DirEntry[]> {
  const plans = await mapLimit(entries, HASH_JOBS, (entry) => planEntry(ctx.repo, entryPath(o.root, entry), entry, o.legacy));
  const conflicts = entries.filter((_, i) => plans[i] === 'conflict');
  if (conflicts.length > 0 && !ctx.options.force) throw conflictError(o, conflicts);
  return entries.filter((_, i) => plans[i] !== 'unchanged');
}

function conflictError(o: ResolvedOut, conflicts: readonly DirEntry[]): DvcError {
  const shown = conflicts.slice(0, 10).map((e) => `  ${entryName(o.target, e.relpath)}`);
  if (conflicts.length > shown.length) shown.push(`  … and ${conflicts.length - shown.length} more`);
  return new DvcError(
    'ERR_DVC_WORKSPACE_MODIFIED',
    `${conflicts.length} workspace file(s) differ from ${o.dvcName} and their content is not in the cache, so pulling would lose it:\n${shown.join('\n')}\n` +
      `Version them with 'torchdog data push', or pull with --force to overwrite them.`,
  );
}

interface PullCounts {
  downloaded: number;
  downloadedBytes: number;
  fromCache: number;
}

/** Fetches what the cache lacks and writes the `needed` files, one object (shared by files of the same content) at a time per job. */
async function writeEntries(ctx: Context, o: ResolvedOut, needed: readonly DirEntry[], need: () => Remote): Promise<PullCounts> {
  const counts: PullCounts = { downloaded: 0, downloadedBytes: 0, fromCache: 0 };
  const report = progressOf(ctx.options.onProgress, o.target);
  let done = 0;
  const onBytes = (n: number) => {
    counts.downloadedBytes += n;
    report('downloading', done, needed.length, counts.downloadedBytes);
  };
  const fetch = async (md5: string, what: string, signal: AbortSignal): Promise<boolean> => {
    const fetched = await fetchObject(ctx.repo, need(), md5, o.legacy, what, signal, onBytes);
    if (fetched) counts.downloaded++;
    return fetched;
  };
  const describe = (group: readonly DirEntry[]) => entryName(o.target, group[0]!.relpath);
  report('downloading', 0, needed.length, 0);
  const failures = await runTransfers(
    groupByObject(needed),
    async (group, signal) => {
      let fetched = await fetch(group[0]!.md5, describe(group), signal);
      for (const entry of group) {
        fetched = await writeEntry(ctx, o, entry, fetched, () => fetch(entry.md5, describe(group), signal), signal);
        if (!fetched) counts.fromCache++;
        report('downloading', ++done, needed.length, counts.downloadedBytes);
      }
    },
    { jobs: ctx.options.jobs ?? DEFAULT_JOBS, signal: ctx.options.signal, describe, noun: 'files', rerun: 'torchdog data pull' },
  );
  if (failures.length > 0) throw failuresError(failures, needed.length, 'pulled', 'torchdog data pull');
  return counts;
}

/** Entries grouped by content, in listing order: each object is fetched once for all its files. */
function groupByObject(entries: readonly DirEntry[]): DirEntry[][] {
  const groups = new Map<string, DirEntry[]>();
  for (const entry of entries) groups.set(entry.md5, [...(groups.get(entry.md5) ?? []), entry]);
  return [...groups.values()];
}

/**
 * Writes one listed file from its cached object. A cached copy that fails its
 * md5 (a corrupt cache) is dropped and fetched again, once. Returns whether
 * the object has been downloaded (`fetched`, or by the refetch).
 */
async function writeEntry(ctx: Context, o: ResolvedOut, entry: DirEntry, fetched: boolean, refetch: () => Promise<boolean>, signal: AbortSignal): Promise<boolean> {
  const path = entryPath(o.root, entry);
  const cached = ctx.repo.cache.path(entry.md5, o.legacy);
  const beforeCommit = await makeEntryFolders(ctx.repo, o, entry);
  // --force over a folder where a file belongs.
  if (ctx.options.force && (await isDirectory(path))) await rm(path, { recursive: true, force: true });
  for (let attempt = 0; ; attempt++) {
    try {
      await copyVerified(cached, path, {
        md5: entry.md5,
        legacy: o.legacy,
        mode: 0o644,
        signal,
        mismatch: mismatchError(entryName(o.target, entry.relpath), entry.md5, `the cached copy ${cached}`),
        beforeCommit,
      });
      return fetched;
    } catch (error) {
      if (fetched || attempt > 0 || !(error instanceof DvcError && error.code === 'ERR_DVC_MD5_MISMATCH')) throw error;
      // The cache held a corrupt copy: drop it and fetch the object again.
      await rm(cached, { force: true });
      fetched = await refetch();
    }
  }
}

/**
 * Creates the folders an entry is written into, one at a time, refusing a
 * file or a symbolic link on the way. Returns the same check, to run again
 * just before the file lands: a folder swapped for a link since is refused.
 */
async function makeEntryFolders(repo: DvcRepo, o: ResolvedOut, entry: DirEntry): Promise<() => Promise<void>> {
  const folders = entryFolders(o.target, entry);
  const refuse = (problem: FolderProblem) =>
    problem.found === 'file'
      ? new DvcError('ERR_DVC_WORKSPACE_MODIFIED', `${problem.path} is a file, but ${o.dvcName} needs a folder there; move it away and pull again`)
      : new DvcError('ERR_DVC_PATH', `refusing to write it: ${describeProblem(problem)}`);
  const problem = await folderProblem(repo.root, folders, true);
  if (problem) throw refuse(problem);
  return async () => {
    const late = await folderProblem(repo.root, folders);
    if (late) throw refuse(late);
  };
}

/** Workspace files under a folder output that its listing does not name (pull leaves them alone). */
async function extraFiles(repo: DvcRepo, o: ResolvedOut, entries: readonly DirEntry[]): Promise<string[]> {
  const listed = new Set(entries.map((e) => e.relpath));
  return (await listFiles(repo, o.root)).filter((file) => !listed.has(file.relpath)).map((file) => `${o.target}/${file.relpath}`);
}

async function pullOut(ctx: Context, dvc: DvcFile, out: DvcOut): Promise<PulledOut | null> {
  if (!out.cache) return null;
  if (!out.md5) {
    throw new DvcError('ERR_DVC_FILE', `${repoRelative(ctx.repo, dvc.file)}: outs[${out.index}] (${out.path}) has no md5 yet; run 'torchdog data push' where the data is`);
  }
  const o = await resolveOut(ctx.repo, dvc, out);
  const source = sourceOf(ctx, o);
  const entries = await readListing(ctx.repo, o, source.need, ctx.options.signal);
  if (o.isDir) await checkFolderTarget(ctx.repo, o, entries);
  await sweepOutput(ctx.repo, o.root, o.isDir);
  const needed = await entriesToWrite(ctx, o, entries);
  const counts = await writeEntries(ctx, o, needed, source.need);
  return {
    dvcFile: o.dvcName,
    path: o.target,
    md5: out.md5,
    remote: source.remote?.name ?? null,
    files: entries.length,
    unchanged: entries.length - needed.length,
    ...counts,
    extra: o.isDir ? await extraFiles(ctx.repo, o, entries) : [],
  };
}

/** Pulls every output of the selected .dvc files. */
export async function pull(options: PullOptions = {}): Promise<PullResult> {
  const started = performance.now();
  const { repo, files } = await openTargets(options);
  await sweepCache(repo);
  const ctx: Context = { repo, options, remotes: new RemoteSet(repo.config, options) };
  const outs: PulledOut[] = [];
  for (const dvc of files) {
    for (const out of dvc.outs) {
      const pulled = await pullOut(ctx, dvc, out);
      if (pulled) outs.push(pulled);
    }
  }
  return { outs, seconds: (performance.now() - started) / 1000 };
}
