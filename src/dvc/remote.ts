// DVC remotes behind one interface: a local (or mounted) folder, or a gs://
// bucket and prefix. Both hold objects at the same keys (files/md5/<2>/<30>),
// so DVC and torchdog share them.
import { copyFile, mkdir, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  childLocation,
  createStorage,
  formatGsUri,
  gcsExists,
  gcsReadStream,
  gcsUploadFile,
  parseGsUri,
  toGcsError,
  type GcsClientOptions,
  type GsLocation,
} from '../cloud/index.js';
import { remoteConfig, resolveConfigPath, type DvcConfig } from './config.js';
import { DvcError } from './errors.js';
import { sweepTree } from './sweep.js';
import { isDirectory, isFile } from '../util/index.js';
import { replaceAtomically } from '../util/index.js';

export interface Remote {
  /** The name in .dvc/config. */
  readonly name: string;
  /** Where it is: a folder path or gs://bucket/prefix. */
  readonly url: string;
  /** The object's bytes. Errors arrive on the stream; turn them into DvcErrors with toError. */
  read(key: string): Promise<Readable>;
  /** Stores the complete local file `source` (`size` bytes, md5 `md5`) as `key`; never leaves a partial object. */
  write(key: string, source: string, size: number, md5: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** A DvcError for a failed transfer of `key`: missing object, no access, or other. */
  toError(error: unknown, key: string): DvcError;
  /** Fails early, with one clear error, when the remote cannot be read at all. */
  checkReadable(): Promise<void>;
  /** Removes what killed pushes left (sweep.ts's rule); returns the paths removed. */
  sweep(): Promise<string[]>;
}

export interface RemoteOptions {
  /** Options for gs:// remotes' client, e.g. an emulator's apiEndpoint. */
  gcs?: GcsClientOptions;
}

class LocalRemote implements Remote {
  constructor(
    readonly name: string,
    readonly url: string,
    private readonly root: string,
  ) {}

  private path(key: string): string {
    return join(this.root, ...key.split('/'));
  }

  async read(key: string): Promise<Readable> {
    // Opening first makes a missing object a rejection here, not a stream
    // error emitted before anyone listens.
    const handle = await open(this.path(key), 'r');
    return handle.createReadStream({ highWaterMark: 1 << 20 });
  }

  async write(key: string, source: string): Promise<void> {
    const destination = this.path(key);
    await mkdir(dirname(destination), { recursive: true });
    try {
      await replaceAtomically(destination, (temp) => copyFile(source, temp));
    } catch (error) {
      throw this.toError(error, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    return isFile(this.path(key));
  }

  /** write()'s temporary files, beside the objects (files/md5/<2>/, or <2>/ for DVC 2), that a kill left. */
  sweep(): Promise<string[]> {
    return sweepTree(this.root, { depth: 3 });
  }

  async checkReadable(): Promise<void> {
    const ok = await isDirectory(this.root);
    if (!ok) throw new DvcError('ERR_DVC_REMOTE_ACCESS', `remote '${this.name}': the folder ${this.root} does not exist`);
  }

  toError(error: unknown, key: string): DvcError {
    if (error instanceof DvcError) return error;
    const e = error as NodeJS.ErrnoException;
    const where = this.path(key);
    if (e.name === 'AbortError') return new DvcError('ERR_DVC_INTERRUPTED', `${where}: transfer interrupted`, { cause: error });
    if (e.code === 'ENOENT') return new DvcError('ERR_DVC_MISSING_OBJECT', `${key} is not in remote '${this.name}' (${where} does not exist)`, { cause: error });
    if (e.code === 'EACCES' || e.code === 'EPERM') return new DvcError('ERR_DVC_REMOTE_ACCESS', `remote '${this.name}': permission denied for ${where}`, { cause: error });
    return new DvcError('ERR_DVC_TRANSFER', `remote '${this.name}': ${where}: ${e.message}`, { cause: error });
  }
}

class GcsRemote implements Remote {
  private readonly base: GsLocation;

  constructor(
    readonly name: string,
    readonly url: string,
    private readonly client: GcsClientOptions,
  ) {
    try {
      this.base = parseGsUri(url.replace(/\/+$/, ''), `remote '${name}' url`);
    } catch (error) {
      throw new DvcError('ERR_DVC_CONFIG', (error as Error).message);
    }
  }

  private location(key: string): GsLocation {
    return childLocation(this.base, key);
  }

  async read(key: string): Promise<Readable> {
    return gcsReadStream(await createStorage(this.client), this.location(key));
  }

  async write(key: string, source: string, size: number, md5: string): Promise<void> {
    try {
      await gcsUploadFile(await createStorage(this.client), this.location(key), source, size, { md5 });
    } catch (error) {
      throw this.toError(error, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      return await gcsExists(await createStorage(this.client), this.location(key));
    } catch (error) {
      throw this.toError(error, key);
    }
  }

  /** Nothing: an upload that did not finish leaves no object in a bucket. */
  async sweep(): Promise<string[]> {
    return [];
  }

  async checkReadable(): Promise<void> {
    // Bucket metadata needs a permission that object readers often lack, so
    // access problems are reported by the first transfer instead.
  }

  toError(error: unknown, key: string): DvcError {
    if (error instanceof DvcError) return error;
    const uri = formatGsUri(this.location(key));
    const e = toGcsError(error, uri);
    switch (e.code) {
      case 'ERR_GCS_NOT_FOUND':
        return new DvcError('ERR_DVC_MISSING_OBJECT', `${key} is not in remote '${this.name}' (${uri} does not exist)`, { cause: error });
      case 'ERR_GCS_NO_BUCKET':
      case 'ERR_GCS_NO_CREDENTIALS':
      case 'ERR_GCS_PERMISSION':
        return new DvcError('ERR_DVC_REMOTE_ACCESS', `remote '${this.name}': ${e.message}`, { cause: error });
      case 'ERR_GCS_ABORTED':
        return new DvcError('ERR_DVC_INTERRUPTED', `${uri}: transfer interrupted`, { cause: error });
      case 'ERR_GCS':
        // No route to the service at all: every other transfer would fail the same way.
        if (/ENOTFOUND|EAI_AGAIN|ECONNREFUSED/.test(e.message)) return new DvcError('ERR_DVC_REMOTE_ACCESS', `remote '${this.name}' is unreachable: ${e.message}`, { cause: error });
        return new DvcError('ERR_DVC_TRANSFER', `remote '${this.name}': ${e.message}`, { cause: error });
      case 'ERR_GCS_MISMATCH':
        return new DvcError('ERR_DVC_MD5_MISMATCH', `remote '${this.name}': ${e.message}`, { cause: error });
      default:
        return new DvcError('ERR_DVC_TRANSFER', `remote '${this.name}': ${e.message}`, { cause: error });
    }
  }
}

/** Opens the remote `name` (default: core.remote) of `config`. Nothing is contacted yet. */
export function openRemote(config: DvcConfig, name: string | undefined, options: RemoteOptions = {}): Remote {
  const remote = remoteConfig(config, name);
  const url = remote.url;
  if (url.startsWith('gs://')) {
    const projectId = remote.options.get('projectname');
    const keyFilename = remote.options.get('credentialpath');
    return new GcsRemote(remote.name, url, {
      ...(projectId ? { projectId } : {}),
      ...(keyFilename ? { keyFilename } : {}),
      ...options.gcs,
    });
  }
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1];
  if (scheme && scheme.toLowerCase() !== 'file') {
    throw new DvcError(
      'ERR_DVC_UNSUPPORTED_REMOTE',
      `remote '${remote.name}' is ${url}: torchdog speaks local folders and gs:// buckets, not ${scheme}://; use DVC itself for this remote`,
    );
  }
  const path = scheme ? decodeURIComponent(new URL(url).pathname) : url;
  return new LocalRemote(remote.name, url, resolveConfigPath(config, path));
}

/** The remotes of one command, each opened once: `override` (--remote), else the output's `remote:`, else core.remote. */
export class RemoteSet {
  private readonly opened = new Map<string, Remote>();
  private readonly swept = new Set<Remote>();

  /** `choice.remote` is --remote; `choice.gcs` the client options for gs:// remotes. */
  constructor(
    private readonly config: DvcConfig,
    private readonly choice: { remote?: string; gcs?: GcsClientOptions } = {},
  ) {}

  for(out: { remote?: string }): Remote {
    const name = this.choice.remote ?? out.remote;
    let remote = this.opened.get(name ?? '');
    if (!remote) {
      remote = openRemote(this.config, name, this.choice.gcs ? { gcs: this.choice.gcs } : {});
      this.opened.set(name ?? '', remote);
    }
    return remote;
  }

  /**
   * The remote push writes `out`'s objects to, swept of killed pushes' leftovers
   * the first time. Only push sweeps: pull and status only read a remote, which
   * their user may not be allowed to change.
   */
  async forPush(out: { remote?: string }): Promise<Remote> {
    const remote = this.for(out);
    if (!this.swept.has(remote)) {
      this.swept.add(remote);
      await remote.sweep();
    }
    return remote;
  }
}
