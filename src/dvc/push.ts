// `torchdog data push` = `dvc add` + `dvc push`: hash the tracked folder as
// DVC 3 does, store its objects in the cache, upload those the remote lacks
// (the .dir listing last, so a remote that has it has every file), and only
// then rewrite the .dvc file.
import { stat, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { GcsClientOptions } from '../cloud/index.js';
import { isFile, writeFileAtomic } from '../util/index.js';
import { setOutHash, writeDvcFile, type DvcFile, type DvcOut } from './dvcfile.js';
import { DvcError } from './errors.js';
import { copyVerified, objectKey } from './objects.js';
import { RemoteSet, type Remote } from './remote.js';
import { entryName, openTargets, resolveOut, type DvcRepo, type ResolvedOut } from './repo.js';
import { sweepBeside, sweepCache, sweepOutput } from './sweep.js';
import { DEFAULT_JOBS, failuresError, progressOf, runTransfers, withRetries, type ProgressListener } from './transfer.js';
import { hashOutput, type OutputHash } from './workspace.js';

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

/** An output's objects in the cache: its files' contents, and a folder's .dir listing. */
interface CachedObjects {
  contents: Obj[];
  listing?: Obj;
}

interface Uploads {
  uploaded: number;
  uploadedBytes: number;
  present: number;
}

/** Writes bytes into the cache (read-only, as DVC) unless already there. */
async function cacheBytes(repo: DvcRepo, oid: string, bytes: Buffer): Promise<string> {
  const path = repo.cache.path(oid, false);
  if (await isFile(path)) return path;
  await mkdir(dirname(path), { recursive: true });
  await writeFileAtomic(path, bytes, { mode: 0o444 });
  return path;
}

/** Copies the output's objects into the cache (a file that changes meanwhile fails its md5 check), then writes a folder's listing there. */
async function cacheObjects(repo: DvcRepo, o: ResolvedOut, hashed: OutputHash, options: PushOptions): Promise<CachedObjects> {
  const objects = new Map<string, Obj>();
  for (const f of hashed.files) {
    if (objects.has(f.md5)) continue;
    objects.set(f.md5, { oid: f.md5, path: repo.cache.path(f.md5, false), size: f.size, what: entryName(o.target, f.relpath), source: f.path });
  }
  const contents = [...objects.values()];
  const failures = await runTransfers(
    contents,
    async (obj, signal) => {
      if (await isFile(obj.path)) return;
      await copyVerified(obj.source, obj.path, {
        md5: obj.oid,
        mode: 0o444,
        signal,
        mismatch: (actual) => new DvcError('ERR_DVC_MD5_MISMATCH', `${obj.what} changed while it was being pushed (md5 ${obj.oid}, then ${actual}); push again once it is stable`),
      });
    },
    { jobs: 8, signal: options.signal, describe: (obj) => obj.what, noun: 'files cached', rerun: 'torchdog data push' },
  );
  if (failures.length > 0) throw failuresError(failures, objects.size, 'stored in the cache', 'torchdog data push');
  if (!hashed.listing) return { contents };
  const path = await cacheBytes(repo, hashed.md5, hashed.listing);
  return { contents, listing: { oid: hashed.md5, path, size: hashed.listing.length, what: `${o.target} (directory listing)`, source: path } };
}

/** The objects `remote` does not have yet, asked `jobs` at a time. */
async function missingOn(remote: Remote, o: ResolvedOut, all: readonly Obj[], options: PushOptions): Promise<Obj[]> {
  const report = progressOf(options.onProgress, o.target);
  const missing: Obj[] = [];
  let checked = 0;
  report('checking', 0, all.length, 0);
  const failures = await runTransfers(
    all,
    async (obj) => {
      if (!(await remote.exists(objectKey(obj.oid, false)))) missing.push(obj);
      report('checking', ++checked, all.length, 0);
    },
    { jobs: options.jobs ?? DEFAULT_JOBS, signal: options.signal, describe: (obj) => obj.what, noun: 'objects checked', rerun: 'torchdog data push' },
  );
  if (failures.length > 0) throw failuresError(failures, all.length, 'checked on the remote', 'torchdog data push');
  return missing;
}

/** Uploads what the remote lacks, the listing last: a remote that has a listing has every file it names. */
async function uploadMissing(remote: Remote, o: ResolvedOut, objects: CachedObjects, options: PushOptions): Promise<Uploads> {
  const all = objects.listing ? [...objects.contents, objects.listing] : objects.contents;
  const missing = await missingOn(remote, o, all, options);
  const sent: Uploads = { uploaded: 0, uploadedBytes: 0, present: all.length - missing.length };
  const report = progressOf(options.onProgress, o.target);
  const upload = async (obj: Obj) => {
    await withRetries(() => remote.write(objectKey(obj.oid, false), obj.path, obj.size, obj.oid.replace(/\.dir$/, '')), options.signal);
    sent.uploaded++;
    sent.uploadedBytes += obj.size;
    report('uploading', sent.uploaded, missing.length, sent.uploadedBytes);
  };
  report('uploading', 0, missing.length, 0);
  const contents = missing.filter((obj) => obj !== objects.listing);
  const failures = await runTransfers(contents, upload, {
    jobs: options.jobs ?? DEFAULT_JOBS,
    signal: options.signal,
    describe: (obj) => obj.what,
    noun: 'files',
    rerun: 'torchdog data push',
  });
  if (failures.length > 0) throw failuresError(failures, contents.length, 'pushed', 'torchdog data push');
  const listing = objects.listing;
  if (listing && missing.includes(listing)) await upload(listing).catch((error: unknown) => Promise.reject(remote.toError(error, objectKey(listing.oid, false))));
  return sent;
}

async function pushOut(repo: DvcRepo, dvc: DvcFile, out: DvcOut, options: PushOptions, remotes: RemoteSet): Promise<PushedOut | null> {
  if (!out.cache) return null;
  const o = await resolveOut(repo, dvc, out);
  const remote: Remote | undefined = out.push ? await remotes.forPush(out) : undefined;
  const info = await stat(o.root).catch(() => undefined);
  if (!info) throw new DvcError('ERR_DVC_PATH', `${o.target}: no such file or folder, nothing to push (${o.dvcName} tracks it)`);
  await sweepOutput(repo, o.root, info.isDirectory());
  const hashed = await hashOutput(repo, o, info, { signal: options.signal, onProgress: options.onProgress });
  const objects = await cacheObjects(repo, o, hashed, options);
  const sent = remote ? await uploadMissing(remote, o, objects, options) : { uploaded: 0, uploadedBytes: 0, present: 0 };
  // The new version, now safely on the remote.
  const { md5, size, nfiles } = hashed;
  const changed = setOutHash(dvc, out.index, { md5, size, ...(nfiles !== null ? { nfiles } : {}) });
  return { dvcFile: o.dvcName, path: o.target, md5, size, nfiles, remote: remote?.name ?? null, ...sent, changed };
}

/** Pushes the outputs of one .dvc file, then writes it if a version changed or it is new. */
async function pushDvcFile(repo: DvcRepo, dvc: DvcFile, options: PushOptions, remotes: RemoteSet): Promise<PushedOut[]> {
  const pushed: PushedOut[] = [];
  for (const out of dvc.outs) {
    const one = await pushOut(repo, dvc, out, options, remotes);
    if (one) pushed.push(one);
  }
  if (pushed.some((one) => one.changed) || !(await isFile(dvc.file))) await writeDvcFile(dvc);
  return pushed;
}

/** Versions and pushes every output of the selected .dvc files. */
export async function push(options: PushOptions = {}): Promise<PushResult> {
  const started = performance.now();
  const { repo, files } = await openTargets(options, true);
  await sweepCache(repo);
  for (const dvc of files) await sweepBeside(dvc.file);
  const remotes = new RemoteSet(repo.config, options);
  const outs: PushedOut[] = [];
  for (const dvc of files) outs.push(...(await pushDvcFile(repo, dvc, options, remotes)));
  return { outs, seconds: (performance.now() - started) / 1000 };
}
