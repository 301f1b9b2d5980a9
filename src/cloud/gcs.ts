// Google Cloud Storage, the little of it torchdog needs: gs:// URIs, a client
// that honours an emulator (STORAGE_EMULATOR_HOST or an apiEndpoint option),
// and transfers that fail with errors a user can act on. The client library
// is imported on first use, so commands that never touch gs:// never load it.
import { createWriteStream } from 'node:fs';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Storage } from '@google-cloud/storage';
import { replaceAtomically } from '../util/index.js';

export interface GsLocation {
  bucket: string;
  /** Object name or prefix, without a leading slash; may be empty (the bucket itself). */
  path: string;
}

// Bucket names: 3-222 characters of lower-case letters, digits, dots, dashes
// and underscores, starting and ending with a letter or digit.
const GS_URI = /^gs:\/\/([a-z0-9][a-z0-9._-]{1,220}[a-z0-9])(?:\/(.*))?$/;

export function isGsUri(value: string): boolean {
  return value.startsWith('gs://');
}

/** Splits `gs://bucket/path`; throws naming `what` when the URI is malformed. */
export function parseGsUri(uri: string, what = 'URI'): GsLocation {
  const match = GS_URI.exec(uri);
  if (!match) throw new GcsError('ERR_GCS_URI', `${what}: expected gs://BUCKET[/PATH] but received ${JSON.stringify(uri)}`);
  return { bucket: match[1]!, path: match[2] ?? '' };
}

export function formatGsUri(location: GsLocation): string {
  return `gs://${location.bucket}${location.path ? `/${location.path}` : ''}`;
}

/** `gs://b/prefix` + `a/b` → `gs://b/prefix/a/b`, with exactly one slash between parts. */
export function childLocation(location: GsLocation, ...parts: string[]): GsLocation {
  const path = [location.path, ...parts]
    .map((p) => p.replace(/^\/+|\/+$/g, ''))
    .filter((p) => p.length > 0)
    .join('/');
  return { bucket: location.bucket, path };
}

export interface GcsClientOptions {
  /**
   * Where the JSON API lives, e.g. `http://127.0.0.1:9023` for an emulator.
   * Default: `$STORAGE_EMULATOR_HOST` when set (which the client library reads
   * itself), else Google's endpoint. Requests to a custom endpoint carry no
   * credentials.
   */
  apiEndpoint?: string;
  /** Project for billing-scoped calls; objects in an existing bucket do not need one. */
  projectId?: string;
  /** A service-account JSON key; default: Application Default Credentials. */
  keyFilename?: string;
}

export type GcsErrorCode =
  | 'ERR_GCS_URI'
  | 'ERR_GCS_NOT_FOUND'
  | 'ERR_GCS_NO_BUCKET'
  | 'ERR_GCS_NO_CREDENTIALS'
  | 'ERR_GCS_PERMISSION'
  | 'ERR_GCS_MISMATCH'
  | 'ERR_GCS_ABORTED'
  | 'ERR_GCS';

export class GcsError extends Error {
  constructor(
    readonly code: GcsErrorCode,
    message: string,
    readonly status?: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'GcsError';
  }
}

const clients = new Map<string, Promise<Storage>>();

/**
 * A Storage client for `options`, one per distinct options per process (the
 * client keeps connections and credentials warm).
 */
export function createStorage(options: GcsClientOptions = {}): Promise<Storage> {
  const key = JSON.stringify([options.apiEndpoint ?? null, options.projectId ?? null, options.keyFilename ?? null, process.env.STORAGE_EMULATOR_HOST ?? null]);
  let client = clients.get(key);
  if (!client) {
    client = import('@google-cloud/storage').then(
      ({ Storage }) =>
        new Storage({
          ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
          ...(options.projectId ? { projectId: options.projectId } : {}),
          ...(options.keyFilename ? { keyFilename: options.keyFilename } : {}),
        }),
    );
    clients.set(key, client);
  }
  return client;
}

/**
 * Turns what the client library throws into a GcsError whose message says
 * what to do: a missing object or bucket, missing credentials, no permission.
 */
export function toGcsError(error: unknown, uri: string): GcsError {
  if (error instanceof GcsError) return error;
  const e = error as Error & { code?: unknown; name?: string };
  const status = typeof e.code === 'number' ? e.code : undefined;
  const text = String(e?.message ?? error);
  const reason = summariseBody(text);
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') return new GcsError('ERR_GCS_ABORTED', `${uri}: transfer aborted`, undefined, { cause: error });
  if (status === 404) {
    if (/bucket does not exist/i.test(text)) return new GcsError('ERR_GCS_NO_BUCKET', `${uri}: the bucket does not exist`, 404, { cause: error });
    return new GcsError('ERR_GCS_NOT_FOUND', `${uri}: no such object`, 404, { cause: error });
  }
  if (/default credentials|could not refresh access token|invalid_grant|no key or keyFile set/i.test(text) || status === 401) {
    return new GcsError(
      'ERR_GCS_NO_CREDENTIALS',
      `${uri}: no usable Google Cloud credentials (${reason}). Run 'gcloud auth application-default login' or set GOOGLE_APPLICATION_CREDENTIALS to a service-account key file`,
      status,
      { cause: error },
    );
  }
  if (status === 403) {
    return new GcsError('ERR_GCS_PERMISSION', `${uri}: permission denied (${reason}); the credentials in use need access to this bucket`, 403, { cause: error });
  }
  if (e?.code === 'FILE_NO_UPLOAD' || e?.code === 'CONTENT_DOWNLOAD_MISMATCH') {
    return new GcsError('ERR_GCS_MISMATCH', `${uri}: the bytes stored differ from the bytes sent (${reason})`, status, { cause: error });
  }
  return new GcsError('ERR_GCS', `${uri}: ${reason}${status ? ` (HTTP ${status})` : ''}`, status, { cause: error });
}

// Error messages from the library are often a whole JSON error body.
function summariseBody(text: string): string {
  try {
    const body = JSON.parse(text) as { error?: { message?: string } };
    if (body?.error?.message) return body.error.message;
  } catch {
    // not JSON
  }
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 300 ? `${oneLine.slice(0, 300)}…` : oneLine;
}

/**
 * The object's bytes as a stream. Errors, a missing object included, arrive
 * on the stream as the library raises them: pass them through toGcsError.
 * The library checks the bytes against the CRC32C the server reports.
 */
export function gcsReadStream(storage: Storage, location: GsLocation): Readable {
  return storage.bucket(location.bucket).file(location.path).createReadStream();
}

/**
 * Downloads an object to `destination` through a temporary file in the same
 * folder, renamed into place once complete: a failed or aborted download
 * never leaves a partial file. The client library does not notice a
 * connection cut mid-body, so a download that receives nothing for
 * `idleTimeoutMs` (default 60 s) fails instead of waiting forever.
 */
export async function gcsDownload(
  storage: Storage,
  location: GsLocation,
  destination: string,
  options: { signal?: AbortSignal; idleTimeoutMs?: number } = {},
): Promise<void> {
  const uri = formatGsUri(location);
  const idleMs = options.idleTimeoutMs ?? 60_000;
  let timer: NodeJS.Timeout | undefined;
  const watch = new PassThrough();
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => watch.destroy(new GcsError('ERR_GCS', `${uri}: no data received for ${idleMs / 1000} s; the connection stalled`)), idleMs);
  };
  watch.on('data', arm);
  arm();
  try {
    await replaceAtomically(destination, (temp) =>
      pipeline(gcsReadStream(storage, location), watch, createWriteStream(temp, { flags: 'wx' }), { signal: options.signal }),
    );
  } catch (error) {
    throw toGcsError(error, uri);
  } finally {
    clearTimeout(timer);
  }
}

/** The whole object in memory (for small objects: manifests, .dir listings). */
export async function gcsReadBytes(storage: Storage, location: GsLocation): Promise<Buffer> {
  try {
    const [data] = await storage.bucket(location.bucket).file(location.path).download();
    return data;
  } catch (error) {
    throw toGcsError(error, formatGsUri(location));
  }
}

export interface GcsUploadOptions {
  contentType?: string;
  /** The data's md5 (hex); sent as the object's md5Hash so the server refuses bytes that differ. */
  md5?: string;
  /**
   * Resumable uploads survive dropped connections for large files but cost an
   * extra round trip; default: resumable above 8 MiB.
   */
  resumable?: boolean;
  /** Only create the object, never replace one (ifGenerationMatch: 0). */
  ifAbsent?: boolean;
}

const RESUMABLE_THRESHOLD = 8 * 1024 * 1024;

function uploadMetadata(options: GcsUploadOptions): { contentType?: string; md5Hash?: string } {
  return {
    ...(options.contentType ? { contentType: options.contentType } : {}),
    ...(options.md5 ? { md5Hash: Buffer.from(options.md5, 'hex').toString('base64') } : {}),
  };
}

/** Uploads the file at `source` (of `size` bytes) as one object. */
export async function gcsUploadFile(storage: Storage, location: GsLocation, source: string, size: number, options: GcsUploadOptions = {}): Promise<void> {
  try {
    await storage.bucket(location.bucket).upload(source, {
      destination: location.path,
      resumable: options.resumable ?? size > RESUMABLE_THRESHOLD,
      metadata: uploadMetadata(options),
      ...(options.ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
    });
  } catch (error) {
    throw toGcsError(error, formatGsUri(location));
  }
}

/** Uploads bytes or text as one object, in a single request. */
export async function gcsUploadBytes(storage: Storage, location: GsLocation, data: string | Uint8Array, options: GcsUploadOptions = {}): Promise<void> {
  try {
    await storage
      .bucket(location.bucket)
      .file(location.path)
      .save(typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength), {
        resumable: options.resumable ?? false,
        metadata: uploadMetadata(options),
        ...(options.ifAbsent ? { preconditionOpts: { ifGenerationMatch: 0 } } : {}),
      });
  } catch (error) {
    throw toGcsError(error, formatGsUri(location));
  }
}

export async function gcsExists(storage: Storage, location: GsLocation): Promise<boolean> {
  try {
    const [exists] = await storage.bucket(location.bucket).file(location.path).exists();
    return exists;
  } catch (error) {
    throw toGcsError(error, formatGsUri(location));
  }
}

export interface GcsObjectInfo {
  name: string;
  size: number;
}

/** Every object whose name starts with `location.path`, all pages. */
export async function gcsList(storage: Storage, location: GsLocation): Promise<GcsObjectInfo[]> {
  try {
    const [files] = await storage.bucket(location.bucket).getFiles({ prefix: location.path, autoPaginate: true });
    return files.map((f) => ({ name: f.name, size: Number(f.metadata.size ?? 0) }));
  } catch (error) {
    throw toGcsError(error, formatGsUri(location));
  }
}
