// Many transfers, a bounded number at a time. A failed item does not stop the
// others (what succeeded stays, so a rerun only does the rest); an error no
// further transfer could survive (no credentials, Ctrl-C) stops them all.
import { setMaxListeners } from 'node:events';
import { DvcError, isFatal } from './errors.js';

export type Phase = 'hashing' | 'downloading' | 'checking' | 'uploading';

export interface ProgressEvent {
  phase: Phase;
  /** The output worked on, relative to the repository root (e.g. 'data'). */
  target: string;
  /** Items done and to do in this phase. */
  done: number;
  total: number;
  /** Bytes moved in this phase so far. */
  bytes: number;
}

export type ProgressListener = (event: ProgressEvent) => void;

/** One output's progress: `report(phase, done, total, bytes)` to the listener, if any. */
export function progressOf(onProgress: ProgressListener | undefined, target: string) {
  return (phase: Phase, done: number, total: number, bytes: number): void => onProgress?.({ phase, target, done, total, bytes });
}

/** Transfers at a time unless the caller says (`--jobs`). */
export const DEFAULT_JOBS = 16;

export interface Failure {
  /** What failed, for the message (a workspace path or an object key). */
  what: string;
  error: DvcError;
}

export function asDvcError(error: unknown): DvcError {
  if (error instanceof DvcError) return error;
  const e = error as Error;
  if (e?.name === 'AbortError') return new DvcError('ERR_DVC_INTERRUPTED', 'interrupted', { cause: error });
  return new DvcError('ERR_DVC_TRANSFER', e?.message ?? String(error), { cause: error });
}

export interface RunOptions<T> {
  jobs: number;
  signal?: AbortSignal;
  describe: (item: T) => string;
  /** For the interruption message: "… after 12 of 40 <noun>". */
  noun: string;
  /** The command that continues the work, for messages. */
  rerun: string;
}

/**
 * Runs `fn` over `items`, `jobs` at a time. Returns the items that failed;
 * throws the first fatal error, or ERR_DVC_INTERRUPTED once `signal` aborts
 * (after the transfers in flight have stopped and cleaned up).
 */
export async function runTransfers<T>(items: readonly T[], fn: (item: T, signal: AbortSignal) => Promise<void>, options: RunOptions<T>): Promise<Failure[]> {
  const stop = new AbortController();
  // Every transfer in flight listens to it.
  setMaxListeners(0, stop.signal);
  const onAbort = () => stop.abort(options.signal?.reason);
  if (options.signal?.aborted) onAbort();
  else options.signal?.addEventListener('abort', onAbort, { once: true });
  const failures: Failure[] = [];
  let fatal: DvcError | undefined;
  let next = 0;
  let done = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length && !stop.signal.aborted) {
      const item = items[next++]!;
      try {
        await fn(item, stop.signal);
        done++;
      } catch (error) {
        const e = stop.signal.aborted && options.signal?.aborted ? new DvcError('ERR_DVC_INTERRUPTED', 'interrupted') : asDvcError(error);
        if (isFatal(e)) {
          fatal ??= e;
          stop.abort(e);
        } else {
          failures.push({ what: options.describe(item), error: e });
        }
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.max(1, Math.min(options.jobs, items.length)) }, worker));
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
  }
  if (options.signal?.aborted) {
    throw new DvcError(
      'ERR_DVC_INTERRUPTED',
      `interrupted after ${done} of ${items.length} ${options.noun}; what was transferred is complete and in place. Run '${options.rerun}' again to continue`,
    );
  }
  if (fatal) throw fatal;
  return failures;
}

/** One error for a run's failures, with the common code when they share one. */
export function failuresError(failures: readonly Failure[], total: number, verb: string, rerun: string): DvcError {
  const codes = new Set(failures.map((f) => f.error.code));
  const code = codes.size === 1 ? failures[0]!.error.code : 'ERR_DVC_TRANSFER';
  const shown = failures.slice(0, 10).map((f) => `  ${f.error.message.startsWith(f.what) ? '' : `${f.what}: `}${f.error.message}`);
  if (failures.length > shown.length) shown.push(`  … and ${failures.length - shown.length} more`);
  return new DvcError(
    code,
    `${failures.length} of ${total} files could not be ${verb}:\n${shown.join('\n')}\n` +
      `Everything else is in place; fix the cause and run '${rerun}' again to continue.`,
  );
}

/** Delays between attempts of a transfer that failed for a reason that may pass (network). */
export const RETRY_DELAYS_MS = [250, 1000];

/** How long a download may receive nothing before it counts as a failed (retried) transfer. */
export const IDLE_TIMEOUT = { ms: 60_000 };

/** Runs `fn`, again after a pause when it fails with ERR_DVC_TRANSFER (never for missing or corrupt objects). */
export async function withRetries<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (error) {
      const delay = RETRY_DELAYS_MS[attempt];
      if (delay === undefined || !(error instanceof DvcError) || error.code !== 'ERR_DVC_TRANSFER' || signal?.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}
