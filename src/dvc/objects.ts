// Content-addressed objects: where they live in the cache and on remotes, and
// the one way bytes land on disk here: streamed to a temporary file beside the
// destination while hashed, renamed into place only when the md5 is right.
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DvcError, writeError } from './errors.js';
import { legacyMd5File } from './hash.js';
import { isFile, pathExists, replaceAtomically } from '../util/index.js';

/**
 * The object's path under a cache or remote root: DVC 3 keeps md5 objects in
 * `files/md5/<2>/<30>`, DVC 2 objects (`legacy`) in `<2>/<30>`.
 */
export function objectKey(oid: string, legacy: boolean): string {
  const tail = `${oid.slice(0, 2)}/${oid.slice(2)}`;
  return legacy ? tail : `files/md5/${tail}`;
}

/** The plain md5 an oid stands for (`<md5>.dir` → `<md5>`). */
export function oidMd5(oid: string): string {
  return oid.endsWith('.dir') ? oid.slice(0, -4) : oid;
}


/** The local cache (.dvc/cache by default), laid out like DVC's. */
export class ObjectCache {
  constructor(readonly dir: string) {}

  path(oid: string, legacy: boolean): string {
    return join(this.dir, ...objectKey(oid, legacy).split('/'));
  }

  has(oid: string, legacy: boolean): Promise<boolean> {
    return isFile(this.path(oid, legacy));
  }
}

export interface SaveOptions {
  /** The md5 (hex) the bytes must have. */
  md5: string;
  /** Also accept DVC 2's CRLF-normalised md5 for text files. */
  legacy?: boolean;
  /** Mode of the new file: 0o444 in the cache (as DVC), 0o644 in the workspace. */
  mode: number;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
  /** The error for bytes with another md5. */
  mismatch: (actual: string) => DvcError;
  /**
   * Give up when no byte arrives for this long: a connection cut mid-body can
   * leave a download waiting forever. The error is `stalled()`.
   */
  idle?: { ms: number; stalled: () => Error };
  /**
   * Runs once the bytes are verified, just before the rename into place; a
   * rejection leaves `destination` as it was (pull checks there that no
   * folder on the way was turned into a symbolic link meanwhile).
   */
  beforeCommit?: () => Promise<void>;
}

/**
 * The pass-through a download flows through: it hashes and counts the bytes,
 * and fails the stream with `idle.stalled()` once none has come for `idle.ms`.
 */
class Meter {
  readonly tap: Transform;
  bytes = 0;
  private readonly hash = createHash('md5');
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: Pick<SaveOptions, 'onBytes' | 'idle'>) {
    this.tap = new Transform({
      transform: (chunk: Buffer, _encoding, callback) => {
        this.arm();
        this.hash.update(chunk);
        this.bytes += chunk.length;
        this.options.onBytes?.(chunk.length);
        callback(null, chunk);
      },
    });
    this.arm();
  }

  digest(): string {
    return this.hash.digest('hex');
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private arm(): void {
    const idle = this.options.idle;
    if (!idle) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.tap.destroy(idle.stalled()), idle.ms);
  }
}

/**
 * `mkdir -p` that reports the real reason: Node's recursive mkdir says ENOENT
 * on a read-only file system. On ENOENT the missing folders are made one at a
 * time, so the one that cannot be made fails with its own error.
 */
async function makeFolders(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
    return;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const missing: string[] = [];
  for (let d = dir; dirname(d) !== d && !(await pathExists(d)); d = dirname(d)) missing.unshift(d);
  for (const d of missing) {
    await mkdir(d).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'EEXIST') throw error;
    });
  }
}

/**
 * Streams `source` into `destination`, creating folders as needed. A failure,
 * an abort or a wrong md5 leaves `destination` as it was and no temporary file.
 * A destination that cannot be written is ERR_DVC_WRITE naming it (not the
 * temporary file); the source's errors are passed on as they are.
 * Returns the number of bytes written.
 */
export async function saveVerified(source: Readable, destination: string, options: SaveOptions): Promise<number> {
  // An error the source emits while we are still awaiting below must not go
  // unhandled (a crash); the pipeline reports the stream's stored error.
  source.on('error', () => {});
  await makeFolders(dirname(destination)).catch((error: NodeJS.ErrnoException) => {
    source.destroy();
    throw writeError(error, error.path ?? dirname(destination), 'create the folder');
  });
  const meter = new Meter(options);
  let renaming = false;
  try {
    return await replaceAtomically(destination, async (temp) => {
      const sink = createWriteStream(temp, { mode: options.mode });
      let sinkError: unknown;
      sink.on('error', (error) => (sinkError = error));
      await pipeline(source, meter.tap, sink, { signal: options.signal }).catch((error: unknown) => {
        throw error === sinkError ? writeError(error, destination) : error;
      });
      meter.stop();
      let actual = meter.digest();
      if (actual !== options.md5 && options.legacy) {
        const normalised = await legacyMd5File(temp);
        if (normalised === options.md5) actual = normalised;
      }
      if (actual !== options.md5) throw options.mismatch(actual);
      await options.beforeCommit?.();
      renaming = true;
      return meter.bytes;
    });
  } catch (error) {
    meter.stop();
    source.destroy();
    throw renaming ? writeError(error, destination) : error;
  }
}

/** Copies a local file through saveVerified. */
export function copyVerified(source: string, destination: string, options: SaveOptions): Promise<number> {
  return saveVerified(createReadStream(source, { highWaterMark: 1 << 20 }), destination, options);
}
