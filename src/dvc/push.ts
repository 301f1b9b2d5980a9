// `torchdog data push` = `dvc add` + `dvc push`: hash the tracked folder as
// DVC 3 does, store its objects in the cache, upload those the remote lacks
// (the .dir listing last, so a remote that has it has every file), and only
// then rewrite the .dvc file.
import { stat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { GcsClientOptions } from '../cloud/index.js';
import { setOutHash, writeDvcFile, type DvcFile, type DvcOut } from './dvcfile.js';
import { DvcError } from './errors.js';
import { md5File } from './hash.js';
import { copyVerified, objectKey } from './objects.js';
import { RemoteSet, type Remote } from './remote.js';
import { checkOutputFolders, openRepo, outPath, repoRelative, selectDvcFiles, type DvcRepo } from './repo.js';
import { sweepBeside, sweepCache, sweepOutput } from './sweep.js';
import { failuresError, runTransfers, withRetries, type ProgressListener } from './transfer.js';
import { directoryHash, hashFiles, listFiles, type HashedFile } from './workspace.js';
import { isFile } from '../util/index.js';
import { writeFileAtomic } from '../util/index.js';

export interface PushOptions {
  /** Where to look for the repository (default: the working directory). */
  cwd?: string;
  /** .dvc files or tracked paths, relative to `cwd`; default: every .dvc file. A path without a .dvc file starts being tracked. */
  targets?: readonly string[];
  /** Remote name, over the outputs' `remote:` and core.remote. */
  remote?: string;
  /** Parallel transfers (default 16). */
  jobs?: number;
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  /** Client options for gs:// remotes (e.g. an emulator's apiEndpoint). */
  gcs?: GcsClientOptions;
}

export interface PushedOut {
  dvcFile: string;
  path: string;
  /** The new hash (`<md5>.dir` for a folder). */
  md5: string;
  size: number;
  nfiles: number | null;
  remote: string | null;
  /** Objects uploaded, the .dir listing included. */
  uploaded: number;
  uploadedBytes: number;
  /** Objects the remote already had. */
  present: number;
  /** Whether the .dvc file changed (new data version). */
  changed: boolean;
}

export interface PushResult {
  outs: PushedOut[];
  seconds: number;
}

export const DEFAULT_JOBS = 16;

interface Obj {
  oid: string;
  /** The cached copy to upload. */
  path: string;
  size: number;
  /** A workspace path it came from, for messages. */
  what: string;
  /** That file, absolute. */
  source: string;
}

/** Writes bytes into the cache (read-only, as DVC) unless already there. */
async function cacheBytes(repo: DvcRepo, oid: string, bytes: Buffer): Promise<string> {
  const path = repo.cache.path(oid, false);
  if (await isFile(path)) return path;
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, bytes, { mode: 0o444 });
  return path;
}

async function pushOut(repo: DvcRepo, dvc: DvcFile, out: DvcOut, options: PushOptions, remotes: RemoteSet): Promise<PushedOut | null> {
  if (!out.cache) return null;
  const dvcName = repoRelative(repo, dvc.file);
  const root = outPath(repo, dvc, out);
  const target = repoRelative(repo, root);
  await checkOutputFolders(repo, dvc, out, root);
  const remote: Remote | undefined = out.push ? remotes.for(out) : undefined;
  const info = await stat(root).catch(() => undefined);
  if (!info) throw new DvcError('ERR_DVC_PATH', `${target}: no such file or folder, nothing to push (${dvcName} tracks it)`);
  await sweepOutput(repo, root, info.isDirectory());

  // 1. Hash, as DVC 3 does.
  let files: HashedFile[];
  let dirObject: { oid: string; bytes: Buffer } | undefined;
  const report = (phase: 'hashing' | 'checking' | 'uploading', done: number, total: number, bytes: number) =>
    options.onProgress?.({ phase, target, done, total, bytes });
  if (info.isDirectory()) {
    const listed = await listFiles(repo, root);
    let hashed = 0;
    let hashedBytes = 0;
    report('hashing', 0, listed.length, 0);
    files = await hashFiles(listed, {
      signal: options.signal,
      onFile: (f) => {
        hashed++;
        hashedBytes += f.size;
        report('hashing', hashed, listed.length, hashedBytes);
      },
    });
    const tree = directoryHash(files);
    dirObject = { oid: tree.oid, bytes: tree.object };
  } else {
    files = [{ relpath: '', path: root, size: info.size, md5: await md5File(root) }];
  }

  // 2. Into the cache (a file that changes meanwhile fails its md5 check).
  const objects = new Map<string, Obj>();
  for (const f of files) {
    if (!objects.has(f.md5)) {
      objects.set(f.md5, { oid: f.md5, path: repo.cache.path(f.md5, false), size: f.size, what: f.relpath ? `${target}/${f.relpath}` : target, source: f.path });
    }
  }
  const copyFailures = await runTransfers(
    [...objects.values()],
    async (o, signal) => {
      if (await isFile(o.path)) return;
      await copyVerified(o.source, o.path, {
        md5: o.oid,
        mode: 0o444,
        signal,
        mismatch: (actual) => new DvcError('ERR_DVC_MD5_MISMATCH', `${o.what} changed while it was being pushed (md5 ${o.oid}, then ${actual}); push again once it is stable`),
      });
    },
    { jobs: 8, signal: options.signal, describe: (o) => o.what, noun: 'files cached', rerun: 'torchdog data push' },
  );
  if (copyFailures.length > 0) throw failuresError(copyFailures, objects.size, 'stored in the cache', 'torchdog data push');
  const all = [...objects.values()];
  if (dirObject) {
    const path = await cacheBytes(repo, dirObject.oid, dirObject.bytes);
    all.push({ oid: dirObject.oid, path, size: dirObject.bytes.length, what: `${target} (directory listing)`, source: path });
  }

  // 3. Upload what the remote lacks, the listing last.
  let uploaded = 0;
  let uploadedBytes = 0;
  let present = 0;
  if (remote) {
    const r = remote;
    const missing: Obj[] = [];
    let checked = 0;
    report('checking', 0, all.length, 0);
    const checkFailures = await runTransfers(
      all,
      async (o) => {
        if (await r.exists(objectKey(o.oid, false))) present++;
        else missing.push(o);
        report('checking', ++checked, all.length, 0);
      },
      { jobs: options.jobs ?? DEFAULT_JOBS, signal: options.signal, describe: (o) => o.what, noun: 'objects checked', rerun: 'torchdog data push' },
    );
    if (checkFailures.length > 0) throw failuresError(checkFailures, all.length, 'checked on the remote', 'torchdog data push');
    const listing = dirObject ? missing.filter((o) => o.oid === dirObject.oid) : [];
    const contents = missing.filter((o) => !listing.includes(o));
    const upload = async (o: Obj) => {
      await withRetries(() => r.write(objectKey(o.oid, false), o.path, o.size, o.oid.replace(/\.dir$/, '')), options.signal);
      uploaded++;
      uploadedBytes += o.size;
      report('uploading', uploaded, missing.length, uploadedBytes);
    };
    report('uploading', 0, missing.length, 0);
    const failures = await runTransfers(contents, upload, {
      jobs: options.jobs ?? DEFAULT_JOBS,
      signal: options.signal,
      describe: (o) => o.what,
      noun: 'files',
      rerun: 'torchdog data push',
    });
    if (failures.length > 0) throw failuresError(failures, contents.length, 'pushed', 'torchdog data push');
    for (const o of listing) await upload(o).catch((error: unknown) => Promise.reject(r.toError(error, objectKey(o.oid, false))));
  }

  // 4. The new version, now safely on the remote.
  const md5 = dirObject ? dirObject.oid : files[0]!.md5;
  const size = files.reduce((sum, f) => sum + f.size, 0);
  const nfiles = dirObject ? files.length : undefined;
  const changed = setOutHash(dvc, out.index, { md5, size, ...(nfiles !== undefined ? { nfiles } : {}) });
  return { dvcFile: dvcName, path: target, md5, size, nfiles: nfiles ?? null, remote: remote?.name ?? null, uploaded, uploadedBytes, present, changed };
}

/** Versions and pushes every output of the selected .dvc files. */
export async function push(options: PushOptions = {}): Promise<PushResult> {
  const started = performance.now();
  const cwd = options.cwd ?? process.cwd();
  const repo = await openRepo(cwd);
  const files = await selectDvcFiles(repo, options.targets, cwd, true);
  await sweepCache(repo);
  for (const dvc of files) await sweepBeside(dvc.file);
  const remotes = new RemoteSet(repo.config, options.remote, options.gcs ? { gcs: options.gcs } : {});
  const outs: PushedOut[] = [];
  for (const dvc of files) {
    let changed = false;
    for (const out of dvc.outs) {
      const pushed = await pushOut(repo, dvc, out, options, remotes);
      if (pushed) {
        outs.push(pushed);
        changed ||= pushed.changed;
      }
    }
    if (changed || !(await isFile(dvc.file))) await writeDvcFile(dvc);
  }
  return { outs, seconds: (performance.now() - started) / 1000 };
}
