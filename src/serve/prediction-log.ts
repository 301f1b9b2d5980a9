// The prediction log that drift monitoring reads: one JSON line per
// prediction, kept off the request path. append() only pushes onto a bounded
// buffer (dropping and counting when it is full); a timer hands the buffer to
// the sink, one write at a time, so a slow or failing sink costs requests
// nothing. close() stops the timer and flushes what is left.
import { appendFile, mkdir, rename, stat, truncate } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { expectInteger, invalid } from '../util/index.js';
import { createStorage, gcsUploadBytes, isGsUri, parseGsUri } from '../cloud/index.js';
import { SERVE_DEFAULTS } from './defaults.js';

export interface PredictionRecord {
  time: string;
  category: string;
  probability: number;
  /** The run the model came from, and the sha256 of its checkpoint, when known. */
  model_run?: string;
  model_sha256?: string;
  avg_brightness: number;
  contrast: number;
  sharpness: number;
}

/** Where flushed records go. write() gets complete JSON lines, newline-terminated. */
export interface PredictionSink {
  /** For logs and errors: a path or URI. */
  readonly description: string;
  write(lines: string, count: number): Promise<void>;
  close?(): Promise<void>;
}

/** The file operations a FileSink makes (node:fs/promises'; tests inject failing ones). */
export interface FileSinkFs {
  appendFile(path: string, data: string): Promise<void>;
  truncate(path: string, length: number): Promise<void>;
  stat(path: string): Promise<{ size: number; isFile(): boolean }>;
  mkdir(path: string, options: { recursive: true }): Promise<unknown>;
  rename(from: string, to: string): Promise<void>;
}

export interface FileSinkOptions {
  /**
   * Before a write would take the file past this many bytes, it is renamed
   * to PATH.1 (replacing the one before) and a new one begun. 0: never.
   * Default in {@link SERVE_DEFAULTS}.
   */
  maxBytes?: number;
  fs?: FileSinkFs;
}

const nodeFs: FileSinkFs = { appendFile, truncate, stat, mkdir, rename };

/**
 * Appends to a local JSONL file. Each write looks at the file first: a
 * missing file (or folder, removed meanwhile) is created again; something
 * that is not a regular file (a FIFO would block the write, and the
 * process, for good) is refused. A write that fails part way (a full disk)
 * is cut back to the length the file had, so the records, retried later,
 * are on disk once and no line is torn.
 */
export class FileSink implements PredictionSink {
  readonly description: string;
  private readonly maxBytes: number;
  private readonly fs: FileSinkFs;
  /** The length to cut the file back to before anything else, when a failed write could not be undone. */
  private torn: number | undefined;

  constructor(path: string, options: FileSinkOptions = {}) {
    this.description = resolve(path);
    this.maxBytes = expectInteger(options.maxBytes ?? SERVE_DEFAULTS.predictionLogMaxBytes, 'predictionLog.maxBytes', 0);
    this.fs = options.fs ?? nodeFs;
  }

  async write(lines: string): Promise<void> {
    const path = this.description;
    const { fs } = this;
    if (this.torn !== undefined) {
      await fs.truncate(path, this.torn);
      this.torn = undefined;
    }
    let size = await this.size();
    if (this.maxBytes > 0 && size > 0 && size + Buffer.byteLength(lines) > this.maxBytes) {
      await fs.rename(path, `${path}.1`);
      size = 0;
    }
    try {
      await fs.appendFile(path, lines);
    } catch (error) {
      // Nothing of this write may stay: the caller sends these records again.
      await fs.truncate(path, size).catch(() => (this.torn = size));
      throw error;
    }
  }

  /** The file's length now: 0 for a missing one, whose folder is then made (again). */
  private async size(): Promise<number> {
    try {
      const info = await this.fs.stat(this.description);
      if (!info.isFile()) throw new Error(`${this.description} is not a regular file (a FIFO, device or folder): not writing to it`);
      return info.size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      await this.fs.mkdir(dirname(this.description), { recursive: true });
      return 0;
    }
  }
}

/**
 * Writes each flush as its own object under gs://bucket/prefix/ (objects
 * cannot be appended to): PREFIX/YYYYMMDDTHHMMSS.sssZ-PID-SEQ.jsonl.
 */
export class GcsSink implements PredictionSink {
  readonly description: string;
  private readonly bucket: string;
  private readonly prefix: string;
  private sequence = 0;

  constructor(uri: string) {
    const { bucket, path } = parseGsUri(uri, 'predictions');
    this.bucket = bucket;
    this.prefix = path.replace(/\/+$/, '');
    this.description = uri;
  }

  async write(lines: string): Promise<void> {
    const stamp = new Date().toISOString().replace(/[-:]/g, '');
    const name = `${this.prefix ? `${this.prefix}/` : ''}${stamp}-${process.pid}-${String(this.sequence++).padStart(6, '0')}.jsonl`;
    await gcsUploadBytes(await createStorage(), { bucket: this.bucket, path: name }, lines, { contentType: 'application/x-ndjson', resumable: false });
  }
}

/** A sink for a path or gs:// URI; `maxBytes` bounds a file's size (see FileSinkOptions). */
export function sinkFor(target: string, options: { maxBytes?: number } = {}): PredictionSink {
  if (typeof target !== 'string' || target.length === 0) throw invalid('predictions', 'a file path or gs:// URI', target);
  return isGsUri(target) ? new GcsSink(target) : new FileSink(target, options);
}

export interface PredictionLogOptions {
  /** Milliseconds between flushes. Default in {@link SERVE_DEFAULTS}. */
  flushIntervalMs?: number;
  /** Records held at most; beyond, new ones are dropped and counted. Default in {@link SERVE_DEFAULTS}. */
  maxBuffer?: number;
  /** Called with the number of records each time some are dropped. */
  onDrop?: (count: number) => void;
  /** Called with the number of records each write delivered. */
  onWrite?: (count: number) => void;
  /** Called when a write fails (the records stay buffered for the next try while room lasts). */
  onError?: (error: Error) => void;
}

export interface PredictionLogStats {
  buffered: number;
  written: number;
  dropped: number;
  failedWrites: number;
}

export class PredictionLog {
  private buffer: string[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly maxBuffer: number;
  private readonly stats_ = { written: 0, dropped: 0, failedWrites: 0 };

  constructor(
    readonly sink: PredictionSink,
    private readonly options: PredictionLogOptions = {},
  ) {
    if (typeof sink?.write !== 'function') throw invalid('sink', 'a PredictionSink (an object with write(lines, count))', sink);
    this.maxBuffer = expectInteger(options.maxBuffer ?? SERVE_DEFAULTS.predictionLogMaxBuffer, 'predictionLog.maxBuffer', 1);
    const interval = expectInteger(options.flushIntervalMs ?? SERVE_DEFAULTS.predictionLogFlushMs, 'predictionLog.flushIntervalMs', 1);
    this.timer = setInterval(() => void this.flush(), interval);
    // The log must never be what keeps a finished process alive.
    this.timer.unref();
  }

  get stats(): PredictionLogStats {
    return { buffered: this.buffer.length, ...this.stats_ };
  }

  /** Buffers one record; never blocks, never throws for a full buffer or a closed log. */
  append(record: PredictionRecord): void {
    if (this.closed || this.buffer.length >= this.maxBuffer) {
      this.countDropped(1);
      return;
    }
    this.buffer.push(JSON.stringify(record));
  }

  /** Writes what is buffered now; resolves when that write (or the one already running) is done. */
  flush(): Promise<void> {
    this.flushing ??= this.writeBuffered().finally(() => {
      this.flushing = undefined;
    });
    return this.flushing;
  }

  private async writeBuffered(): Promise<void> {
    if (this.buffer.length === 0) return;
    const batch = this.buffer;
    this.buffer = [];
    try {
      await this.sink.write(batch.join('\n') + '\n', batch.length);
      this.stats_.written += batch.length;
      this.options.onWrite?.(batch.length);
    } catch (error) {
      this.stats_.failedWrites++;
      this.options.onError?.(error as Error);
      // Keep the oldest records for the next try, as many as fit beside the new ones.
      const room = Math.max(0, this.maxBuffer - this.buffer.length);
      const kept = batch.slice(0, room);
      this.countDropped(batch.length - kept.length);
      this.buffer = kept.concat(this.buffer);
    }
  }

  /** Counts records lost before they reached the buffer (for example, features that could not be computed). */
  countDropped(count: number): void {
    if (count <= 0) return;
    this.stats_.dropped += count;
    this.options.onDrop?.(count);
  }

  /**
   * Stops taking records and flushes the rest: waits for a running write,
   * then writes once more. Records still unwritten after `timeoutMs` (a sink
   * that hangs) or after a failed last write are counted as dropped.
   */
  async close(timeoutMs = SERVE_DEFAULTS.shutdownTimeoutMs): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    this.timer = undefined;
    let timeout: NodeJS.Timeout | undefined;
    const expired = new Promise<'timeout'>((resolve) => {
      timeout = setTimeout(() => resolve('timeout'), timeoutMs);
    });
    try {
      const done = (async () => {
        await this.flushing;
        await this.flush();
      })();
      if ((await Promise.race([done, expired])) === 'timeout') {
        this.options.onError?.(new Error(`prediction log: ${this.sink.description} did not finish writing within ${timeoutMs} ms`));
      }
      await Promise.race([this.sink.close?.(), expired]);
    } finally {
      clearTimeout(timeout);
      this.countDropped(this.buffer.length);
      this.buffer = [];
    }
  }
}
