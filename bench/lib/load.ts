// autocannon (which ships no types) posting one body to a URL, and the part
// of its result the benchmarks read.
import { createRequire } from 'node:module';
import type { Upload } from './photo.ts';

export interface LoadResult {
  requests: { average: number; total: number };
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}

interface AutocannonOptions {
  url: string;
  method: string;
  headers: Record<string, string>;
  body: Buffer;
  connections: number;
  duration?: number;
  amount?: number;
  timeout: number;
}

const autocannon = createRequire(import.meta.url)('autocannon') as (options: AutocannonOptions) => Promise<LoadResult>;

export interface LoadOptions {
  /** Open connections, each with one request in flight. */
  connections: number;
  /** Seconds of load (ignored when `amount` is set). */
  seconds?: number;
  /** Stop after this many requests instead. */
  amount?: number;
  /** Seconds before autocannon gives up on one request (counted as a timeout). Default 60. */
  timeout?: number;
}

/** POSTs `upload` to `url` (the full /predict URL) under autocannon. */
export function load(url: string, upload: Upload, options: LoadOptions): Promise<LoadResult> {
  return autocannon({
    url,
    method: 'POST',
    headers: { 'content-type': upload.contentType },
    body: upload.body,
    connections: options.connections,
    ...(options.amount !== undefined ? { amount: options.amount } : { duration: options.seconds ?? 10 }),
    timeout: options.timeout ?? 60,
  });
}

/** Only services on this machine are loaded. */
export function checkLocal(url: string, flag = '--url'): string {
  const { hostname } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) {
    throw new Error(`${flag}: this bench only loads services on this machine (127.0.0.1), not ${hostname}`);
  }
  return url.replace(/\/+$/, '');
}
