// `torchdog data status`: how the workspace, the cache and (with `cloud`) the
// remote compare with what the .dvc files say.
import { stat } from 'node:fs/promises';
import type { GcsClientOptions } from '../cloud/index.js';
import { mapLimit } from '../util/index.js';
import type { DvcFile, DvcOut } from './dvcfile.js';
import { legacyMd5File, md5File, type DirEntry } from './hash.js';
import { objectKey } from './objects.js';
import { DEFAULT_JOBS, readDirObject } from './pull.js';
import { RemoteSet } from './remote.js';
import { checkOutputFolders, openRepo, outPath, repoRelative, selectDvcFiles, type DvcRepo } from './repo.js';
import type { ProgressListener } from './transfer.js';
import { directoryHash, hashFiles, listFiles } from './workspace.js';

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

function entryName(target: string, relpath: string): string {
  return relpath ? `${target}/${relpath}` : target;
}

async function outStatus(repo: DvcRepo, dvc: DvcFile, out: DvcOut, options: StatusOptions, remotes: RemoteSet): Promise<OutStatus> {
  const dvcName = repoRelative(repo, dvc.file);
  const root = outPath(repo, dvc, out);
  const target = repoRelative(repo, root);
  await checkOutputFolders(repo, dvc, out, root);
  const legacy = out.hash !== 'md5' && out.md5 !== undefined;
  const isDir = out.md5?.endsWith('.dir') ?? false;
  // Opening checks the name, so a mistyped --remote fails even without --cloud.
  const configured = out.push && (options.cloud || options.remote !== undefined) ? remotes.for(out) : undefined;
  const remote = options.cloud ? configured : undefined;

  // The .dvc version, file by file, when the listing is at hand.
  let entries: DirEntry[] | null = null;
  if (out.md5 && !isDir) entries = [{ relpath: '', md5: out.md5 }];
  else if (out.md5 && isDir) {
    const cached = await repo.cache.has(out.md5, legacy);
    if (cached || remote) {
      entries = await readDirObject(repo, out, () => remote!, `${dvcName} (${target})`, options.signal);
    }
  }

  // The workspace now.
  const info = await stat(root).catch(() => undefined);
  let current: OutStatus['current'] = null;
  let files: { relpath: string; md5: string }[] = [];
  if (info?.isDirectory()) {
    const listed = await listFiles(repo, root);
    let done = 0;
    let bytes = 0;
    const hashed = await hashFiles(listed, {
      legacy,
      signal: options.signal,
      onFile: (f) => {
        bytes += f.size;
        options.onProgress?.({ phase: 'hashing', target, done: ++done, total: listed.length, bytes });
      },
    });
    const tree = directoryHash(hashed);
    files = tree.entries;
    current = { md5: tree.oid, size: tree.size, nfiles: hashed.length };
  } else if (info) {
    const md5 = await (legacy ? legacyMd5File : md5File)(root);
    files = [{ relpath: '', md5 }];
    current = { md5, size: info.size, nfiles: null };
  }
  // A folder holding nothing DVC sees (say, only the ignored demo set) has not been pulled.
  const empty = isDir && current?.nfiles === 0 && out.nfiles !== 0;
  const workspace: OutStatus['workspace'] = !out.md5 ? 'new' : !current || empty ? 'missing' : current.md5 === out.md5 ? 'unchanged' : 'modified';

  let changes: Changes | null = null;
  if (entries) {
    const want = new Map(entries.map((e) => [e.relpath, e.md5]));
    const have = new Map(files.map((f) => [f.relpath, f.md5]));
    changes = { added: [], modified: [], deleted: [] };
    for (const [relpath, md5] of have) {
      const expected = want.get(relpath);
      if (expected === undefined) changes.added.push(entryName(target, relpath));
      else if (expected !== md5) changes.modified.push(entryName(target, relpath));
    }
    for (const relpath of want.keys()) if (!have.has(relpath)) changes.deleted.push(entryName(target, relpath));
  } else if (!out.md5) {
    changes = { added: files.map((f) => entryName(target, f.relpath)), modified: [], deleted: [] };
  }

  let cache: OutStatus['cache'] = null;
  let remoteStatus: OutStatus['remote'] = null;
  if (entries) {
    const objects = [...new Set(entries.map((e) => e.md5))];
    const inCache = new Set<string>();
    await mapLimit(objects, 32, async (md5) => {
      if (await repo.cache.has(md5, legacy)) inCache.add(md5);
    });
    cache = { present: entries.filter((e) => inCache.has(e.md5)).length, total: entries.length };
    if (remote) {
      const onRemote = new Set<string>();
      let done = 0;
      await mapLimit(objects, options.jobs ?? DEFAULT_JOBS, async (md5) => {
        const key = objectKey(md5, legacy);
        try {
          if (await remote.exists(key)) onRemote.add(md5);
        } catch (error) {
          throw remote.toError(error, key);
        }
        options.onProgress?.({ phase: 'checking', target, done: ++done, total: objects.length, bytes: 0 });
      });
      remoteStatus = { name: remote.name, url: remote.url, present: entries.filter((e) => onRemote.has(e.md5)).length, total: entries.length };
    }
  }
  return {
    dvcFile: dvcName,
    path: target,
    expected: { md5: out.md5 ?? null, size: out.size ?? null, nfiles: out.nfiles ?? null },
    workspace,
    current,
    changes,
    cache,
    remote: remoteStatus,
  };
}

export async function status(options: StatusOptions = {}): Promise<StatusResult> {
  const cwd = options.cwd ?? process.cwd();
  const repo = await openRepo(cwd);
  const files = await selectDvcFiles(repo, options.targets, cwd);
  const remotes = new RemoteSet(repo.config, options.remote, options.gcs ? { gcs: options.gcs } : {});
  const outs: OutStatus[] = [];
  for (const dvc of files) {
    for (const out of dvc.outs) if (out.cache) outs.push(await outStatus(repo, dvc, out, options, remotes));
  }
  return { outs, clean: outs.every((o) => o.workspace === 'unchanged') };
}
