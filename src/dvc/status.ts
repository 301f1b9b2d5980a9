// `torchdog data status`: how the workspace, the cache and (with `cloud`) the
// remote compare with what the .dvc files say.
import { stat } from 'node:fs/promises';
import type { GcsClientOptions } from '../cloud/index.js';
import { mapLimit } from '../util/index.js';
import type { DvcFile, DvcOut } from './dvcfile.js';
import { DvcError } from './errors.js';
import { readListing } from './fetch.js';
import type { DirEntry } from './hash.js';
import { objectKey } from './objects.js';
import { RemoteSet, type Remote } from './remote.js';
import { entryName, openTargets, resolveOut, type DvcRepo, type ResolvedOut } from './repo.js';
import { DEFAULT_JOBS, progressOf, type ProgressListener } from './transfer.js';
import { hashOutput, type OutputHash } from './workspace.js';

export interface StatusOptions {
  cwd?: string;
  targets?: readonly string[];
  remote?: string;
  /** Also ask the remote which objects it has (like `dvc status --cloud`); fetches missing .dir listings. */
  cloud?: boolean;
  jobs?: number;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  gcs?: GcsClientOptions;
}

export interface Changes {
  /** In the workspace, not in the .dvc file: 'torchdog data push' versions them. */
  added: string[];
  /** Different content: push versions them, 'pull --force' restores the .dvc file's. */
  modified: string[];
  /** In the .dvc file, not in the workspace: 'torchdog data pull' restores them. */
  deleted: string[];
}

export interface OutStatus {
  dvcFile: string;
  path: string;
  /** What the .dvc file says. */
  expected: { md5: string | null; size: number | null; nfiles: number | null };
  workspace: 'unchanged' | 'modified' | 'missing' | 'new';
  /** The workspace's hash now (null when missing). */
  current: { md5: string; size: number; nfiles: number | null } | null;
  /** File by file; null when the .dvc file's listing is in neither the cache nor (with cloud) fetched. */
  changes: Changes | null;
  /** Files of the .dvc version whose content is in the cache; null when the listing is unknown. */
  cache: { present: number; total: number } | null;
  /** With `cloud`: files of the .dvc version the remote has. */
  remote: { name: string; url: string; present: number; total: number } | null;
}

export interface StatusResult {
  outs: OutStatus[];
  /** True when every workspace matches its .dvc file. */
  clean: boolean;
}

/**
 * The .dvc version's files when they are at hand: a file output's always, a
 * folder's when its listing is cached or the remote is asked (`--cloud`).
 */
async function knownListing(repo: DvcRepo, o: ResolvedOut, remote: Remote | undefined, signal?: AbortSignal): Promise<DirEntry[] | null> {
  if (!o.out.md5) return null;
  if (o.isDir && !remote && !(await repo.cache.has(o.out.md5, o.legacy))) return null;
  const fetchFrom = (): Remote => {
    if (remote) return remote;
    // readListing drops a cached listing that fails its md5 check; without --cloud it cannot fetch it again.
    throw new DvcError(
      'ERR_DVC_MISSING_OBJECT',
      `${o.dvcName} (${o.target}): the cached directory listing ${o.out.md5} failed its md5 check and was removed; 'torchdog data status --cloud' fetches it again`,
    );
  };
  return readListing(repo, o, fetchFrom, signal);
}

/** The output as it is in the workspace, hashed as its .dvc version was; null when it is not there. */
async function workspaceHash(repo: DvcRepo, o: ResolvedOut, options: StatusOptions): Promise<OutputHash | null> {
  const info = await stat(o.root).catch(() => undefined);
  if (!info) return null;
  return hashOutput(repo, o, info, { legacy: o.legacy, signal: options.signal, onProgress: options.onProgress });
}

function workspaceState(o: ResolvedOut, now: OutputHash | null): OutStatus['workspace'] {
  if (!o.out.md5) return 'new';
  // A folder holding nothing DVC sees (say, only the ignored demo set) has not been pulled.
  const empty = o.isDir && now?.nfiles === 0 && o.out.nfiles !== 0;
  if (!now || empty) return 'missing';
  return now.md5 === o.out.md5 ? 'unchanged' : 'modified';
}

/** File by file, the workspace against the .dvc version: everything is added before the first version. */
function compareFiles(o: ResolvedOut, entries: readonly DirEntry[] | null, files: readonly DirEntry[]): Changes | null {
  if (!entries) return o.out.md5 ? null : { added: files.map((f) => entryName(o.target, f.relpath)), modified: [], deleted: [] };
  const want = new Map(entries.map((e) => [e.relpath, e.md5]));
  const have = new Map(files.map((f) => [f.relpath, f.md5]));
  const changes: Changes = { added: [], modified: [], deleted: [] };
  for (const [relpath, md5] of have) {
    const expected = want.get(relpath);
    if (expected === undefined) changes.added.push(entryName(o.target, relpath));
    else if (expected !== md5) changes.modified.push(entryName(o.target, relpath));
  }
  for (const relpath of want.keys()) if (!have.has(relpath)) changes.deleted.push(entryName(o.target, relpath));
  return changes;
}

/** The objects of `entries`, each once. */
function objectsOf(entries: readonly DirEntry[]): string[] {
  return [...new Set(entries.map((e) => e.md5))];
}

/** The `objects` for which `has` holds, asked `jobs` at a time. */
async function objectsWhere(objects: readonly string[], jobs: number, has: (md5: string) => Promise<boolean>): Promise<Set<string>> {
  const found = new Set<string>();
  await mapLimit(objects, jobs, async (md5) => {
    if (await has(md5)) found.add(md5);
  });
  return found;
}

async function cachePresence(repo: DvcRepo, o: ResolvedOut, entries: readonly DirEntry[]): Promise<NonNullable<OutStatus['cache']>> {
  const found = await objectsWhere(objectsOf(entries), 32, (md5) => repo.cache.has(md5, o.legacy));
  return { present: entries.filter((e) => found.has(e.md5)).length, total: entries.length };
}

async function remotePresence(remote: Remote, o: ResolvedOut, entries: readonly DirEntry[], options: StatusOptions): Promise<NonNullable<OutStatus['remote']>> {
  const report = progressOf(options.onProgress, o.target);
  const objects = objectsOf(entries);
  let done = 0;
  const found = await objectsWhere(objects, options.jobs ?? DEFAULT_JOBS, async (md5) => {
    const key = objectKey(md5, o.legacy);
    const present = await remote.exists(key).catch((error: unknown) => Promise.reject(remote.toError(error, key)));
    report('checking', ++done, objects.length, 0);
    return present;
  });
  return { name: remote.name, url: remote.url, present: entries.filter((e) => found.has(e.md5)).length, total: entries.length };
}

async function outStatus(repo: DvcRepo, dvc: DvcFile, out: DvcOut, options: StatusOptions, remotes: RemoteSet): Promise<OutStatus> {
  const o = await resolveOut(repo, dvc, out);
  // Opening checks the name, so a mistyped --remote fails even without --cloud.
  const configured = out.push && (options.cloud || options.remote !== undefined) ? remotes.for(out) : undefined;
  const remote = options.cloud ? configured : undefined;
  const entries = await knownListing(repo, o, remote, options.signal);
  const now = await workspaceHash(repo, o, options);
  const changes = compareFiles(o, entries, now?.files ?? []);
  const cache = entries ? await cachePresence(repo, o, entries) : null;
  const onRemote = entries && remote ? await remotePresence(remote, o, entries, options) : null;
  return {
    dvcFile: o.dvcName,
    path: o.target,
    expected: { md5: out.md5 ?? null, size: out.size ?? null, nfiles: out.nfiles ?? null },
    workspace: workspaceState(o, now),
    current: now && { md5: now.md5, size: now.size, nfiles: now.nfiles },
    changes,
    cache,
    remote: onRemote,
  };
}

export async function status(options: StatusOptions = {}): Promise<StatusResult> {
  const { repo, files } = await openTargets(options);
  const remotes = new RemoteSet(repo.config, options);
  const outs: OutStatus[] = [];
  for (const dvc of files) {
    for (const out of dvc.outs) if (out.cache) outs.push(await outStatus(repo, dvc, out, options, remotes));
  }
  return { outs, clean: outs.every((o) => o.workspace === 'unchanged') };
}
