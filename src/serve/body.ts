// Getting the image out of a /predict request (or the JSON out of an
// inference request): the body is counted while it streams in and refused the
// moment it passes the limit, so an oversized or endless upload never sits in
// memory; then a multipart field or the raw body, which must be an image by
// its own bytes (or JSON).
import { createMiddleware } from 'hono/factory';
import { ACCEPTED_FORMAT_NAMES, sniffImageFormat, type ImageFormat } from '../image/index.js';
import { DeadlineExceeded, explain } from './deadline.js';
import { ServeError } from './errors.js';

/** Multipart field names, in order of preference: the seed's clients send `data`. */
export const IMAGE_FIELDS = ['data', 'file'] as const;

function tooLarge(limit: number): ServeError {
  // The rest of the body is never read, so the connection cannot carry
  // another request: close it rather than leave the upload hanging.
  return new ServeError(413, 'ERR_BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`, { Connection: 'close' });
}

/**
 * Reads the whole body, at most `limit` bytes. A declared Content-Length over
 * the limit is refused before reading; a body that grows past it while
 * streaming is cancelled at that point. When `signal` aborts, reading stops
 * and its reason is thrown.
 */
export async function readBodyLimited(request: Request, limit: number, signal: AbortSignal): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!request.body) return new Uint8Array(0);
  const reader = request.body.getReader();
  const onAbort = () => void reader.cancel(signal.reason).catch(() => {});
  signal.addEventListener('abort', onAbort, { once: true });
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    for (;;) {
      signal.throwIfAborted();
      const { done, value } = await reader.read();
      signal.throwIfAborted();
      if (done) break;
      size += value.byteLength;
      if (size > limit) {
        void reader.cancel('body too large').catch(() => {});
        throw tooLarge(limit);
      }
      chunks.push(value);
    }
  } finally {
    signal.removeEventListener('abort', onAbort);
    reader.releaseLock();
  }
  if (chunks.length === 1) return chunks[0]!;
  const body = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

export function isMultipart(contentType: string | null): boolean {
  return mediaType(contentType) === 'multipart/form-data';
}

/** The image bytes of a multipart/form-data body: field `data`, else `file`. */
export async function imageFromMultipart(body: Uint8Array, contentType: string): Promise<Uint8Array> {
  let form: FormData;
  try {
    form = await new Response(body as Uint8Array<ArrayBuffer>, { headers: { 'content-type': contentType } }).formData();
  } catch (error) {
    throw new ServeError(400, 'ERR_BAD_MULTIPART', `malformed multipart/form-data body (${(error as Error).message})`);
  }
  for (const name of IMAGE_FIELDS) {
    const value = form.get(name);
    if (value === null) continue;
    // A part without a filename arrives as text; its UTF-8 bytes then go to
    // the sniffer like any other upload (and are refused unless an image).
    return typeof value === 'string' ? new TextEncoder().encode(value) : new Uint8Array(await value.arrayBuffer());
  }
  const fields = new Set<string>();
  form.forEach((_, key) => fields.add(key));
  throw new ServeError(
    400,
    'ERR_MISSING_FIELD',
    `multipart body has no field 'data' or 'file' (found: ${fields.size ? [...fields].map((f) => `'${f}'`).join(', ') : 'no fields'})`,
  );
}

/** An upload that passed the limits: its bytes and the format they announce. */
export interface ImageUpload {
  bytes: Uint8Array;
  format: ImageFormat;
}

export interface ImageBodyOptions {
  /** Largest request body in bytes (413 beyond). */
  maxBytes: number;
}

/**
 * Middleware: reads the request body within `maxBytes` (413) and the
 * request's `c.var.signal` (see deadline(); 408 when it runs out while the
 * body still arrives), takes the image from multipart field `data` or `file`
 * or the raw body, refuses an empty one (400) and anything that is not an
 * image by its bytes (415). Sets `c.var.image`.
 */
export function imageBody(options: ImageBodyOptions) {
  const { maxBytes } = options;
  return createMiddleware<{ Variables: { image: ImageUpload; signal?: AbortSignal } }>(async (c, next) => {
    const signal = c.get('signal') ?? c.req.raw.signal;
    c.set('image', await whileArriving(readImage(c.req.raw, maxBytes, signal), signal));
    await next();
  });
}

/**
 * Middleware: reads the request body within `maxBytes` (413) and the
 * request's `c.var.signal` (408 when it runs out while the body still
 * arrives) and parses it as JSON (400 when it is not). Sets `c.var.json`.
 */
export function jsonBody(options: { maxBytes: number }) {
  const { maxBytes } = options;
  return createMiddleware<{ Variables: { json: unknown; signal?: AbortSignal } }>(async (c, next) => {
    const signal = c.get('signal') ?? c.req.raw.signal;
    const body = await whileArriving(readBodyLimited(c.req.raw, maxBytes, signal), signal);
    if (body.byteLength === 0) throw new ServeError(400, 'ERR_BAD_JSON', 'no request body: send the request as JSON');
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(body));
    } catch (error) {
      throw new ServeError(400, 'ERR_BAD_JSON', `the request body is not JSON (${(error as Error).message})`);
    }
    c.set('json', json);
    await next();
  });
}

/** A body read's failure as its answer; out of time while the body still arrives, the client is slow, not the service (408). */
async function whileArriving<T>(reading: Promise<T>, signal: AbortSignal): Promise<T> {
  try {
    return await reading;
  } catch (error) {
    const why = explain(error, signal);
    if (why instanceof DeadlineExceeded) {
      throw new ServeError(408, 'ERR_BODY_TIMEOUT', `the request body did not arrive within ${why.timeoutMs} ms`);
    }
    throw why;
  }
}

async function readImage(request: Request, maxBytes: number, signal: AbortSignal): Promise<ImageUpload> {
  const contentType = request.headers.get('content-type');
  const body = await readBodyLimited(request, maxBytes, signal);
  const bytes = isMultipart(contentType) ? await imageFromMultipart(body, contentType!) : body;
  if (bytes.byteLength === 0) {
    throw new ServeError(400, 'ERR_EMPTY_BODY', "no image: send it as the raw request body or as multipart field 'data' or 'file'");
  }
  const format = sniffImageFormat(bytes);
  if (!format) {
    throw new ServeError(
      415,
      'ERR_UNSUPPORTED_MEDIA_TYPE',
      `the upload is not an image this service takes (${ACCEPTED_FORMAT_NAMES}); send the image file's bytes as the raw body or as multipart field 'data' or 'file'`,
    );
  }
  return { bytes, format };
}
