// Getting the image out of a /predict request (or the JSON out of an
// inference request): the body is counted while it streams in and refused the
// moment it passes the limit (its rest is read and dropped after the answer),
// so an oversized or endless upload never sits in memory; one that trickles
// in is refused for its pace; then a multipart field or the raw body, which
// must be an image by its own bytes (or JSON).
import { createMiddleware } from 'hono/factory';
import { ACCEPTED_FORMAT_NAMES, sniffImageFormat, type ImageFormat } from '../image/index.js';
import { ClientClosed, DeadlineExceeded, explain } from './deadline.js';
import { ServeError, unavailable } from './errors.js';
import { parseMultipart } from './multipart.js';

/** Multipart field names, in order of preference: the seed's clients send `data`. */
export const IMAGE_FIELDS = ['data', 'file'] as const;

function tooLarge(limit: number): ServeError {
  // No Connection: close: the rest of the body is read and dropped after the
  // answer (see settleBodies), so a client that writes the whole body before
  // reading gets this answer rather than a broken pipe.
  return new ServeError(413, 'ERR_BODY_TOO_LARGE', `request body is larger than the limit of ${limit} bytes`);
}

/**
 * How a body must keep coming: after `graceMs`, at least `minBytesPerSecond`
 * on average since the first byte was awaited (Apache's mod_reqtimeout
 * MinRate), so a client trickling a byte at a time is cut off instead of
 * holding its socket and buffer for the whole request budget.
 */
export interface BodyPace {
  graceMs: number;
  minBytesPerSecond: number;
}

/** The bytes that uploads being read (and those in hand, until answered) may hold together. */
export class ByteBudget {
  private held = 0;
  constructor(readonly limit: number) {}

  /** Takes `n` bytes, or answers false when they would pass the limit. */
  tryTake(n: number): boolean {
    if (this.held + n > this.limit) return false;
    this.held += n;
    return true;
  }

  give(n: number): void {
    this.held -= n;
  }
}

export interface ReadLimits {
  /** Called with each chunk's size before it is kept; false refuses the upload (503: too many bytes in hand). */
  take?: (bytes: number) => boolean;
  pace?: BodyPace;
  /** Retry-After seconds on that 503. Default 1. */
  retryAfterSeconds?: number;
}

/**
 * What became of a request's body: read to its end, or given up on in a way
 * that ends the connection (a client too slow to wait for). A body in
 * neither state is discarded after the answer by settleBodies().
 */
const bodyOutcome = new WeakMap<Request, 'read' | 'close'>();

/** The body is given up on before its end: answer, then close the connection rather than wait for the rest. */
function giveUp(request: Request, error: ServeError): ServeError {
  bodyOutcome.set(request, 'close');
  return error;
}

/**
 * Reads the whole body, at most `limit` bytes. A declared Content-Length over
 * the limit is refused before reading; a body that grows past it while
 * streaming is refused at that point (its rest is discarded after the
 * answer). When `signal` aborts, reading stops and its reason is thrown; a
 * body that breaks off (the client went away) is a ClientClosed (499); one
 * slower than `pace` is a 408.
 */
export async function readBodyLimited(request: Request, limit: number, signal: AbortSignal, limits: ReadLimits = {}): Promise<Uint8Array> {
  const declared = request.headers.get('content-length');
  if (declared !== null && Number(declared) > limit) throw tooLarge(limit);
  if (!request.body) {
    bodyOutcome.set(request, 'read');
    return new Uint8Array(0);
  }
  const reader = request.body.getReader();
  // The signal or the pace stops a stalled read by releasing the reader
  // (which rejects the read) rather than cancelling the stream, which would
  // cut the socket before the answer is written; the connection is closed
  // after the answer instead. (Not Promise.race against a long-lived
  // promise: each race would keep its chunk alive until that one settles.)
  let stopReason: unknown;
  let released = false;
  const stop = (error: unknown) => {
    if (released) return;
    stopReason = error;
    released = true;
    reader.releaseLock();
  };
  const onAbort = () => stop(signal.reason);
  signal.addEventListener('abort', onAbort, { once: true });
  const { pace, take } = limits;
  const started = performance.now();
  let paceTimer: NodeJS.Timeout | undefined;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const repace = () => {
    if (!pace) return;
    clearTimeout(paceTimer);
    const due = started + pace.graceMs + (size / pace.minBytesPerSecond) * 1000 - performance.now();
    paceTimer = setTimeout(() => stop(giveUp(request, slowBody(pace))), Math.max(0, due));
  };
  try {
    repace();
    for (;;) {
      signal.throwIfAborted();
      let step: ReadableStreamReadResult<Uint8Array>;
      try {
        step = await reader.read();
      } catch (error) {
        if (stopReason !== undefined) throw stopReason;
        if (signal.aborted) throw signal.reason;
        // The stream itself failed: the connection broke off mid-body.
        throw new ClientClosed();
      }
      if (step.done) break;
      const { value } = step;
      size += value.byteLength;
      if (size > limit) throw tooLarge(limit);
      if (take && !take(value.byteLength)) {
        throw unavailable('ERR_QUEUE_FULL', 'too many uploads in progress; retry later', limits.retryAfterSeconds ?? 1);
      }
      chunks.push(value);
      repace();
    }
    bodyOutcome.set(request, 'read');
  } catch (error) {
    // Out of time (or the client gone) mid-body: the rest is not worth waiting for.
    if (signal.aborted && !bodyOutcome.has(request)) bodyOutcome.set(request, 'close');
    throw error;
  } finally {
    clearTimeout(paceTimer);
    signal.removeEventListener('abort', onAbort);
    if (!released) reader.releaseLock();
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

function slowBody(pace: BodyPace): ServeError {
  return new ServeError(
    408,
    'ERR_BODY_TIMEOUT',
    `the request body arrived slower than ${pace.minBytesPerSecond} bytes/s (after the first ${pace.graceMs} ms)`,
  );
}

export interface DiscardBounds {
  /** Most bytes read and dropped after the answer before the connection is cut. */
  maxBytes: number;
  /** Longest the rest of a body is read after the answer before the connection is cut. */
  maxMs: number;
}

/**
 * Middleware (the app's outermost): a request answered before its body was
 * read to the end (413, 503, 404...) has the rest read and dropped after the
 * answer, within `bounds`, then the stream is cancelled (which cuts the
 * connection): a lingering close, as nginx does, so a client that writes its
 * whole body before reading (Python's http.client, urllib) reads the answer
 * instead of a broken pipe. An answer that keeps the connection goes out at
 * once and the rest is dropped behind it; one that closes the connection
 * (Connection: close, as while shutting down) waits for the rest to be
 * dropped, since Node resets a socket closed with unread bytes. A body given
 * up on for slowness closes the connection without waiting.
 */
export function settleBodies(bounds: DiscardBounds) {
  return createMiddleware(async (c, next) => {
    await next();
    const request = c.req.raw;
    if (!mayHaveBody(request)) return;
    const outcome = bodyOutcome.get(request);
    if (outcome === 'read') return;
    if (outcome === 'close') {
      c.header('Connection', 'close');
      return;
    }
    const body = request.body;
    if (!body || body.locked) return;
    if (c.res.headers.get('Connection')?.toLowerCase() === 'close') await discard(body, bounds);
    else void discard(body, bounds);
  });
}

function mayHaveBody(request: Request): boolean {
  const length = request.headers.get('content-length');
  return (length !== null && length !== '0') || request.headers.has('transfer-encoding') || (length === null && request.method !== 'GET' && request.method !== 'HEAD');
}

/** True while a request's body may still be arriving (neither read to its end nor given up on). */
export function bodyPending(request: Request): boolean {
  return mayHaveBody(request) && !bodyOutcome.has(request);
}

async function discard(body: ReadableStream<Uint8Array>, bounds: DiscardBounds): Promise<void> {
  const reader = body.getReader();
  // Cancelling ends a pending read (done) and, under Node, the connection.
  const cut = (why: string) => void reader.cancel(`lingering close: ${why}`).catch(() => {});
  const timer = setTimeout(() => cut('out of time'), bounds.maxMs).unref();
  let dropped = 0;
  try {
    for (;;) {
      const step = await reader.read();
      if (step.done) return;
      dropped += step.value.byteLength;
      if (dropped > bounds.maxBytes) return cut('too many bytes');
    }
  } catch {
    // The client went away: nothing left to drop.
  } finally {
    clearTimeout(timer);
  }
}

function mediaType(contentType: string | null): string {
  return (contentType ?? '').split(';', 1)[0]!.trim().toLowerCase();
}

export function isMultipart(contentType: string | null): boolean {
  return mediaType(contentType) === 'multipart/form-data';
}

/**
 * The image bytes of a multipart/form-data body: field `data`, else `file`
 * (see parseMultipart for the limits); more than one image part is a 400.
 */
export function imageFromMultipart(body: Uint8Array, contentType: string): Uint8Array {
  const parts = parseMultipart(body, contentType);
  const images = parts.filter((p) => (IMAGE_FIELDS as readonly string[]).includes(p.name));
  if (images.length > 1) {
    throw new ServeError(
      400,
      'ERR_BAD_MULTIPART',
      `multipart body has ${images.length} image parts (${images.map((p) => `'${p.name}'`).join(', ')}): send one image, in field 'data' or 'file'`,
    );
  }
  if (images.length === 1) return images[0]!.bytes;
  const fields = [...new Set(parts.map((p) => p.name))];
  throw new ServeError(
    400,
    'ERR_MISSING_FIELD',
    `multipart body has no field 'data' or 'file' (found: ${fields.length ? fields.map((f) => `'${f}'`).join(', ') : 'no fields'})`,
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
  /** How fast the body must keep coming (408 slower). Default: no pace. */
  pace?: BodyPace;
  /** Bytes all uploads together may hold, from the first byte to the answer (503 beyond). Default: no bound. */
  budget?: ByteBudget;
  /** Retry-After seconds on that 503. Default 1. */
  retryAfterSeconds?: number;
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
    await withBudget(options, async (limits) => {
      c.set('image', await whileArriving(readImage(c.req.raw, maxBytes, signal, limits), signal));
      await next();
    });
  });
}

/** Runs `work` with read limits that take from the budget, and gives back what it took once `work` is done. */
async function withBudget<T>(options: ImageBodyOptions, work: (limits: ReadLimits) => Promise<T>): Promise<T> {
  const { budget, pace, retryAfterSeconds } = options;
  let taken = 0;
  const take = budget ? (n: number) => budget.tryTake(n) && ((taken += n), true) : undefined;
  try {
    return await work({ pace, take, retryAfterSeconds });
  } finally {
    budget?.give(taken);
  }
}

/**
 * Middleware: reads the request body within `maxBytes` (413) and the
 * request's `c.var.signal` (408 when it runs out while the body still
 * arrives) and parses it as JSON (400 when it is not). Sets `c.var.json`.
 */
export function jsonBody(options: ImageBodyOptions) {
  const { maxBytes } = options;
  return createMiddleware<{ Variables: { json: unknown; signal?: AbortSignal } }>(async (c, next) => withBudget(options, async (limits) => {
    const signal = c.get('signal') ?? c.req.raw.signal;
    const body = await whileArriving(readBodyLimited(c.req.raw, maxBytes, signal, limits), signal);
    if (body.byteLength === 0) throw new ServeError(400, 'ERR_BAD_JSON', 'no request body: send the request as JSON');
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(body));
    } catch (error) {
      throw new ServeError(400, 'ERR_BAD_JSON', `the request body is not JSON (${(error as Error).message})`);
    }
    c.set('json', json);
    await next();
  }));
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

async function readImage(request: Request, maxBytes: number, signal: AbortSignal, limits: ReadLimits): Promise<ImageUpload> {
  const contentType = request.headers.get('content-type');
  const body = await readBodyLimited(request, maxBytes, signal, limits);
  const bytes = isMultipart(contentType) ? imageFromMultipart(body, contentType!) : body;
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
