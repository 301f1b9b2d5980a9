// A Cloud Storage emulator for tests: the JSON API calls @google-cloud/storage
// v7 makes for objects (metadata, media download with ranges, list, delete,
// multipart / media / resumable uploads, generation preconditions), in memory,
// on 127.0.0.1. Point a client at it with `apiEndpoint: emulator.endpoint`, or
// a child process with STORAGE_EMULATOR_HOST=emulator.endpoint; requests to a
// custom endpoint carry no credentials, so none are needed.
//
//   await using gcs = await GcsEmulator.start({ buckets: ['models'] });
//   gcs.put('models', 'runs/1/model.safetensors', bytes);
//   const storage = await gcs.storage();
//   gcs.fault({ match: (r) => r.op === 'object.media', status: 503, times: 1 });
//
// Objects carry md5Hash and crc32c like the real service, and uploads that
// declare an md5Hash or crc32c the bytes do not have are refused, so the
// client's integrity checks run for real.
import { createHash, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Storage } from '@google-cloud/storage';

export interface EmulatedObject {
  bucket: string;
  name: string;
  data: Buffer;
  contentType: string;
  /** Custom metadata (x-goog-meta-*). */
  metadata: Record<string, string>;
  generation: number;
  updated: Date;
}

export type EmulatorOp =
  | 'bucket.insert'
  | 'bucket.get'
  | 'object.list'
  | 'object.get'
  | 'object.media'
  | 'object.delete'
  | 'object.patch'
  | 'upload.multipart'
  | 'upload.media'
  | 'upload.resumable.start'
  | 'upload.resumable.put'
  | 'unknown';

export interface EmulatorRequest {
  method: string;
  op: EmulatorOp;
  bucket?: string;
  object?: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
}

export interface FaultRule {
  match: (request: EmulatorRequest) => boolean;
  /** How many matching requests the fault hits (default: all). */
  times?: number;
  /** Answer with this HTTP status and a JSON error. */
  status?: number;
  message?: string;
  /** For media downloads: send the headers and this many bytes, then cut the connection. */
  cutAfterBytes?: number;
  /** Close the connection without answering. */
  drop?: boolean;
  /** Wait this long before handling (or faulting) the request. */
  delayMs?: number;
}

export interface FaultHandle {
  readonly hits: number;
  remove(): void;
}

// CRC32C (Castagnoli), as Cloud Storage reports it: base64 of the big-endian value.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
    table[i] = c >>> 0;
  }
  return table;
})();

export function crc32c(data: Uint8Array): string {
  let c = 0xffffffff;
  for (const byte of data) c = CRC_TABLE[(c ^ byte) & 0xff]! ^ (c >>> 8);
  const out = Buffer.alloc(4);
  out.writeUInt32BE((c ^ 0xffffffff) >>> 0);
  return out.toString('base64');
}

function md5Base64(data: Uint8Array): string {
  return createHash('md5').update(data).digest('base64');
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason = 'invalid',
  ) {
    super(message);
  }
}

interface ResumableSession {
  bucket: string;
  name: string;
  contentType: string;
  metadata: Record<string, unknown>;
  ifGenerationMatch: string | null;
  data: Buffer;
  done?: EmulatedObject;
}

interface ActiveFault extends FaultRule {
  hits: number;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** The parts of a multipart/related body, each with its headers. */
function parseMultipart(body: Buffer, contentType: string): { headers: Record<string, string>; body: Buffer }[] {
  const match = /boundary=(?:"([^"]+)"|([^;]+))/i.exec(contentType);
  if (!match) throw new HttpError(400, 'multipart upload without a boundary');
  const boundary = Buffer.from(`--${match[1] ?? match[2]!.trim()}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let start = body.indexOf(boundary);
  while (start >= 0) {
    const afterBoundary = start + boundary.length;
    if (body.subarray(afterBoundary, afterBoundary + 2).toString() === '--') break;
    const next = body.indexOf(boundary, afterBoundary);
    if (next < 0) break;
    let part = body.subarray(afterBoundary, next);
    if (part.subarray(0, 2).toString() === '\r\n') part = part.subarray(2);
    if (part.subarray(-2).toString() === '\r\n') part = part.subarray(0, -2);
    const split = part.indexOf('\r\n\r\n');
    const head = split < 0 ? '' : part.subarray(0, split).toString('utf8');
    const headers: Record<string, string> = {};
    for (const line of head.split('\r\n')) {
      const colon = line.indexOf(':');
      if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    parts.push({ headers, body: split < 0 ? part : part.subarray(split + 4) });
    start = next;
  }
  return parts;
}

export class GcsEmulator {
  /** Every request, in arrival order. */
  readonly requests: EmulatorRequest[] = [];
  private readonly buckets = new Map<string, Map<string, EmulatedObject>>();
  private readonly sessions = new Map<string, ResumableSession>();
  private faults: ActiveFault[] = [];
  private generation = 1_700_000_000_000_000;

  private constructor(
    private readonly server: Server,
    /** `http://127.0.0.1:PORT`: the apiEndpoint, or the value for STORAGE_EMULATOR_HOST. */
    readonly endpoint: string,
  ) {}

  static async start(options: { buckets?: string[] } = {}): Promise<GcsEmulator> {
    let emulator: GcsEmulator | undefined;
    const server = createServer((req, res) => {
      void emulator!.handle(req, res);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const { port } = server.address() as AddressInfo;
    emulator = new GcsEmulator(server, `http://127.0.0.1:${port}`);
    for (const bucket of options.buckets ?? []) emulator.createBucket(bucket);
    return emulator;
  }

  /** A client for this emulator (no credentials). */
  async storage(): Promise<Storage> {
    const { Storage } = await import('@google-cloud/storage');
    return new Storage({ apiEndpoint: this.endpoint, projectId: 'emulator' });
  }

  createBucket(name: string): void {
    if (!this.buckets.has(name)) this.buckets.set(name, new Map());
  }

  put(bucket: string, name: string, data: string | Uint8Array, options: { contentType?: string; metadata?: Record<string, string> } = {}): EmulatedObject {
    const objects = this.buckets.get(bucket);
    if (!objects) throw new Error(`GcsEmulator: no bucket ${bucket}; createBucket() it first`);
    const object: EmulatedObject = {
      bucket,
      name,
      data: Buffer.from(typeof data === 'string' ? Buffer.from(data) : data),
      contentType: options.contentType ?? 'application/octet-stream',
      metadata: options.metadata ?? {},
      generation: ++this.generation,
      updated: new Date(),
    };
    objects.set(name, object);
    return object;
  }

  object(bucket: string, name: string): EmulatedObject | undefined {
    return this.buckets.get(bucket)?.get(name);
  }

  get(bucket: string, name: string): Buffer | undefined {
    return this.object(bucket, name)?.data;
  }

  /** Object names in `bucket` starting with `prefix`, sorted. */
  names(bucket: string, prefix = ''): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].filter((n) => n.startsWith(prefix)).sort();
  }

  delete(bucket: string, name: string): boolean {
    return this.buckets.get(bucket)?.delete(name) ?? false;
  }

  /** Makes matching requests fail (see FaultRule) until removed or `times` is used up. */
  fault(rule: FaultRule): FaultHandle {
    const active: ActiveFault = { ...rule, hits: 0 };
    this.faults.push(active);
    return {
      get hits() {
        return active.hits;
      },
      remove: () => {
        this.faults = this.faults.filter((f) => f !== active);
      },
    };
  }

  clearFaults(): void {
    this.faults = [];
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  private resource(object: EmulatedObject): Record<string, unknown> {
    return {
      kind: 'storage#object',
      id: `${object.bucket}/${object.name}/${object.generation}`,
      selfLink: `${this.endpoint}/storage/v1/b/${object.bucket}/o/${encodeURIComponent(object.name)}`,
      mediaLink: `${this.endpoint}/download/storage/v1/b/${object.bucket}/o/${encodeURIComponent(object.name)}?generation=${object.generation}&alt=media`,
      name: object.name,
      bucket: object.bucket,
      generation: String(object.generation),
      metageneration: '1',
      contentType: object.contentType,
      storageClass: 'STANDARD',
      size: String(object.data.length),
      md5Hash: md5Base64(object.data),
      crc32c: crc32c(object.data),
      etag: `C${object.generation}`,
      timeCreated: object.updated.toISOString(),
      updated: object.updated.toISOString(),
      ...(Object.keys(object.metadata).length ? { metadata: object.metadata } : {}),
    };
  }

  private route(req: IncomingMessage, url: URL): EmulatorRequest {
    const method = req.method ?? 'GET';
    const base = { method, query: url.searchParams, headers: req.headers };
    const upload = /^\/upload\/storage\/v1\/b\/([^/]+)\/o$/.exec(url.pathname);
    if (upload) {
      const bucket = decodeURIComponent(upload[1]!);
      const type = url.searchParams.get('uploadType');
      const name = url.searchParams.get('name') ?? undefined;
      const op: EmulatorOp =
        type === 'resumable' ? (method === 'POST' ? 'upload.resumable.start' : 'upload.resumable.put') : type === 'media' ? 'upload.media' : type === 'multipart' ? 'upload.multipart' : 'unknown';
      const session = this.sessions.get(url.searchParams.get('upload_id') ?? '');
      return { ...base, op, bucket, ...(name ?? session?.name ? { object: name ?? session!.name } : {}) };
    }
    // The JSON API, under /storage/v1 (apiEndpoint) or at the root (STORAGE_EMULATOR_HOST).
    const path = url.pathname.replace(/^\/download/, '').replace(/^\/storage\/v1/, '');
    const object = /^\/b\/([^/]+)\/o\/(.+)$/.exec(path);
    if (object) {
      const bucket = decodeURIComponent(object[1]!);
      const name = decodeURIComponent(object[2]!);
      const op: EmulatorOp =
        method === 'GET' ? (url.searchParams.get('alt') === 'media' ? 'object.media' : 'object.get') : method === 'DELETE' ? 'object.delete' : method === 'PATCH' ? 'object.patch' : 'unknown';
      return { ...base, op, bucket, object: name };
    }
    const list = /^\/b\/([^/]+)\/o\/?$/.exec(path);
    if (list && method === 'GET') return { ...base, op: 'object.list', bucket: decodeURIComponent(list[1]!) };
    const bucket = /^\/b\/([^/]+)\/?$/.exec(path);
    if (bucket && method === 'GET') return { ...base, op: 'bucket.get', bucket: decodeURIComponent(bucket[1]!) };
    if (/^\/b\/?$/.test(path) && method === 'POST') return { ...base, op: 'bucket.insert' };
    return { ...base, op: 'unknown' };
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.endpoint);
    const request = this.route(req, url);
    this.requests.push(request);
    try {
      const fault = this.faults.find((f) => (f.times === undefined || f.hits < f.times) && f.match(request));
      if (fault) {
        fault.hits++;
        if (fault.delayMs) await new Promise((resolve) => setTimeout(resolve, fault.delayMs));
        if (fault.drop) {
          req.socket.destroy();
          return;
        }
        if (fault.status) {
          await readBody(req);
          throw new HttpError(fault.status, fault.message ?? `injected fault (HTTP ${fault.status})`, 'injected');
        }
      }
      await this.serve(request, req, res, url, fault?.cutAfterBytes);
    } catch (error) {
      const e = error instanceof HttpError ? error : new HttpError(500, (error as Error).message, 'backendError');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(e.status, { 'content-type': 'application/json; charset=UTF-8' });
      res.end(JSON.stringify({ error: { code: e.status, message: e.message, errors: [{ message: e.message, domain: 'global', reason: e.reason }] } }));
    }
  }

  private bucketOf(name: string | undefined): Map<string, EmulatedObject> {
    const objects = name === undefined ? undefined : this.buckets.get(name);
    if (!objects) throw new HttpError(404, 'The specified bucket does not exist.', 'notFound');
    return objects;
  }

  private objectOf(request: EmulatorRequest): EmulatedObject {
    const object = this.bucketOf(request.bucket).get(request.object!);
    if (!object) throw new HttpError(404, `No such object: ${request.bucket}/${request.object}`, 'notFound');
    return object;
  }

  private json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
    res.end(JSON.stringify(body));
  }

  private store(bucket: string, name: string, data: Buffer, metadata: Record<string, unknown>, contentType: string | undefined, ifGenerationMatch: string | null): EmulatedObject {
    const objects = this.bucketOf(bucket);
    if (!name) throw new HttpError(400, 'Required parameter: name', 'required');
    if (ifGenerationMatch !== null) {
      const current = objects.get(name)?.generation ?? 0;
      if (String(current) !== ifGenerationMatch) throw new HttpError(412, 'At least one of the pre-conditions you specified did not hold.', 'conditionNotMet');
    }
    if (typeof metadata.md5Hash === 'string' && metadata.md5Hash !== md5Base64(data)) {
      throw new HttpError(400, `Provided MD5 hash "${metadata.md5Hash}" doesn't match calculated MD5 hash "${md5Base64(data)}".`);
    }
    if (typeof metadata.crc32c === 'string' && metadata.crc32c !== crc32c(data)) {
      throw new HttpError(400, `Provided CRC32C "${metadata.crc32c}" doesn't match calculated CRC32C "${crc32c(data)}".`);
    }
    const custom = (metadata.metadata ?? {}) as Record<string, string>;
    return this.put(bucket, name, data, { contentType: (metadata.contentType as string | undefined) ?? contentType ?? 'application/octet-stream', metadata: custom });
  }

  private async serve(request: EmulatorRequest, req: IncomingMessage, res: ServerResponse, url: URL, cutAfterBytes: number | undefined): Promise<void> {
    const q = url.searchParams;
    switch (request.op) {
      case 'bucket.insert': {
        const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { name?: string };
        if (!body.name) throw new HttpError(400, 'Required parameter: name', 'required');
        if (this.buckets.has(body.name)) throw new HttpError(409, 'Your previous request to create the named bucket succeeded and you already own it.', 'conflict');
        this.createBucket(body.name);
        return this.json(res, 200, { kind: 'storage#bucket', id: body.name, name: body.name });
      }
      case 'bucket.get':
        this.bucketOf(request.bucket);
        return this.json(res, 200, { kind: 'storage#bucket', id: request.bucket, name: request.bucket });
      case 'object.get':
        return this.json(res, 200, this.resource(this.objectOf(request)));
      case 'object.delete':
        this.objectOf(request);
        this.delete(request.bucket!, request.object!);
        res.writeHead(204).end();
        return;
      case 'object.patch': {
        const object = this.objectOf(request);
        const body = JSON.parse((await readBody(req)).toString('utf8') || '{}') as { contentType?: string; metadata?: Record<string, string> };
        if (body.contentType) object.contentType = body.contentType;
        if (body.metadata) object.metadata = { ...object.metadata, ...body.metadata };
        return this.json(res, 200, this.resource(object));
      }
      case 'object.media': {
        const object = this.objectOf(request);
        let data = object.data;
        let status = 200;
        const headers: Record<string, string> = {
          'content-type': object.contentType,
          'x-goog-generation': String(object.generation),
          'x-goog-stored-content-length': String(object.data.length),
          etag: `C${object.generation}`,
        };
        const range = /^bytes=(\d*)-(\d*)$/.exec(String(req.headers.range ?? ''));
        if (range && (range[1] || range[2])) {
          const size = object.data.length;
          const start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
          const end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
          if (start >= size) throw new HttpError(416, 'The requested range cannot be satisfied.', 'requestedRangeNotSatisfiable');
          data = object.data.subarray(start, end + 1);
          status = 206;
          headers['content-range'] = `bytes ${start}-${end}/${size}`;
        } else {
          // Whole objects carry their hashes; the client validates against them.
          headers['x-goog-hash'] = `crc32c=${crc32c(object.data)},md5=${md5Base64(object.data)}`;
          headers['x-goog-stored-content-encoding'] = 'identity';
        }
        headers['content-length'] = String(data.length);
        res.writeHead(status, headers);
        if (cutAfterBytes !== undefined) {
          res.write(data.subarray(0, cutAfterBytes), () => res.destroy());
          return;
        }
        res.end(data);
        return;
      }
      case 'object.list': {
        const objects = this.bucketOf(request.bucket);
        const prefix = q.get('prefix') ?? '';
        const delimiter = q.get('delimiter') ?? '';
        const max = Math.max(1, Math.min(1000, Number(q.get('maxResults') ?? 1000)));
        const after = q.get('pageToken') ? Buffer.from(q.get('pageToken')!, 'base64url').toString('utf8') : (q.get('startOffset') ?? '');
        const names = [...objects.keys()].filter((n) => n.startsWith(prefix) && (q.get('pageToken') ? n > after : n >= after)).sort();
        const items: EmulatedObject[] = [];
        const prefixes = new Set<string>();
        let last = '';
        for (const name of names) {
          if (items.length + prefixes.size >= max) break;
          last = name;
          const rest = name.slice(prefix.length);
          const cut = delimiter ? rest.indexOf(delimiter) : -1;
          if (cut >= 0) prefixes.add(prefix + rest.slice(0, cut + delimiter.length));
          else items.push(objects.get(name)!);
        }
        const more = names.length > 0 && last !== names.at(-1);
        return this.json(res, 200, {
          kind: 'storage#objects',
          ...(items.length ? { items: items.map((o) => this.resource(o)) } : {}),
          ...(prefixes.size ? { prefixes: [...prefixes] } : {}),
          ...(more ? { nextPageToken: Buffer.from(last).toString('base64url') } : {}),
        });
      }
      case 'upload.media': {
        const data = await readBody(req);
        const object = this.store(request.bucket!, request.object ?? '', data, {}, req.headers['content-type'], q.get('ifGenerationMatch'));
        return this.json(res, 200, this.resource(object));
      }
      case 'upload.multipart': {
        const parts = parseMultipart(await readBody(req), String(req.headers['content-type'] ?? ''));
        if (parts.length !== 2) throw new HttpError(400, `multipart upload with ${parts.length} parts (expected metadata and media)`);
        const metadata = JSON.parse(parts[0]!.body.toString('utf8') || '{}') as Record<string, unknown>;
        const name = request.object ?? (metadata.name as string | undefined) ?? '';
        const object = this.store(request.bucket!, name, parts[1]!.body, metadata, parts[1]!.headers['content-type'], q.get('ifGenerationMatch'));
        return this.json(res, 200, this.resource(object));
      }
      case 'upload.resumable.start': {
        this.bucketOf(request.bucket);
        const body = (await readBody(req)).toString('utf8');
        const metadata = (body ? JSON.parse(body) : {}) as Record<string, unknown>;
        const name = request.object ?? (metadata.name as string | undefined);
        if (!name) throw new HttpError(400, 'Required parameter: name', 'required');
        const id = randomUUID();
        this.sessions.set(id, {
          bucket: request.bucket!,
          name,
          contentType: String(req.headers['x-upload-content-type'] ?? metadata.contentType ?? 'application/octet-stream'),
          metadata,
          ifGenerationMatch: q.get('ifGenerationMatch'),
          data: Buffer.alloc(0),
        });
        const location = `${this.endpoint}/upload/storage/v1/b/${encodeURIComponent(request.bucket!)}/o?uploadType=resumable&name=${encodeURIComponent(name)}&upload_id=${id}`;
        res.writeHead(200, { location, 'content-length': '0' }).end();
        return;
      }
      case 'upload.resumable.put': {
        const session = this.sessions.get(q.get('upload_id') ?? '');
        if (!session) throw new HttpError(404, 'No such upload session', 'notFound');
        const body = await readBody(req);
        if (session.done) return this.json(res, 200, this.resource(session.done));
        // Content-Range: "bytes A-B/TOTAL", "bytes A-*/TOTAL" (the rest, in this request) or "bytes */TOTAL" (a query).
        const range = /^bytes (?:(\d+)-(\d+|\*)|\*)\/(\d+|\*)$/.exec(String(req.headers['content-range'] ?? `bytes 0-*/${body.length}`));
        if (!range) throw new HttpError(400, `bad Content-Range ${JSON.stringify(req.headers['content-range'])}`);
        const total = range[3] === '*' ? undefined : Number(range[3]);
        if (range[1] !== undefined) {
          const start = Number(range[1]);
          if (start > session.data.length) throw new HttpError(400, `upload chunk starts at ${start} but ${session.data.length} bytes were received`);
          session.data = Buffer.concat([session.data.subarray(0, start), body]);
        }
        const complete = total !== undefined ? session.data.length >= total : range[2] === '*' && range[1] !== undefined;
        if (!complete) {
          res.writeHead(308, session.data.length > 0 ? { range: `bytes=0-${session.data.length - 1}`, 'content-length': '0' } : { 'content-length': '0' }).end();
          return;
        }
        const object = this.store(session.bucket, session.name, session.data, session.metadata, session.contentType, session.ifGenerationMatch);
        session.done = object;
        return this.json(res, 200, this.resource(object));
      }
      default:
        throw new HttpError(400, `GcsEmulator does not implement ${request.method} ${url.pathname}${url.search}`, 'notImplemented');
    }
  }
}
