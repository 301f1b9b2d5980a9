// A model reload under load: autocannon posts one image to /predict while,
// part-way through, the checkpoint file is replaced by an atomic rename and
// the service gets SIGHUP. Every answer is read (autocannon's verifyBody):
// which model version gave it, and when its request started, so the report
// can say which model answered the requests that started after the swap.
// The load runs `seconds`, and on until `tail` seconds after the reload has
// settled (its counter moved), however long the load of the new model takes.
import { rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import type { Upload } from './photo.ts';

interface Result {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number; max: number };
  errors: number;
  timeouts: number;
  non2xx: number;
  duration: number;
}

/** autocannon's run: a promise of its result, which can be stopped early. */
const autocannon = createRequire(import.meta.url)('autocannon') as (options: object) => PromiseLike<Result> & { stop(): void };

export interface SwapOptions {
  /** The service, e.g. http://127.0.0.1:PORT. */
  url: string;
  /** Its process, which gets SIGHUP. */
  pid: number;
  /** The checkpoint it serves (--model): replaced by an atomic rename. */
  modelPath: string;
  /** The bytes that replace it: another checkpoint, or a corrupt one. */
  replacement: Uint8Array;
  upload: Upload;
  connections: number;
  seconds: number;
  /** Seconds into the load when the file is replaced and SIGHUP sent. */
  swapAt: number;
  /** Seconds of load after the reload settled, at least. Default 1. */
  tail?: number;
}

export interface SwapReport {
  requests: number;
  /** Seconds the load ran. */
  seconds: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Connection errors + timeouts + non-2xx answers + unreadable answers. */
  failed: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  unreadable: number;
  /** Model versions on /ready before the swap and at the end. */
  ready_before: string;
  ready_after: string;
  /** /ready answers that were not 200 while the load ran. */
  ready_not_200: number;
  /** Milliseconds from SIGHUP until /ready named another version (null if it never did). */
  swap_seen_ms: number | null;
  /** How the reload ended (torchdog_model_reloads_total), and how many ms after SIGHUP it was seen to. */
  reload: 'loaded' | 'failed' | 'unsettled';
  reload_settled_ms: number | null;
  /** Answers by version and classes: of requests started before SIGHUP, and of those started after the new version was seen (or after SIGHUP when it never was). */
  answers_before: Record<string, number>;
  answers_after: Record<string, number>;
}

interface Answer {
  start: number;
  key: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Replaces `path` with `bytes` atomically: a temporary file in the same folder, renamed over it. */
export async function replaceFile(path: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(temp, bytes);
  await rename(temp, path);
}

/** torchdog_model_reloads_total by outcome. */
async function reloadCounts(url: string): Promise<{ loaded: number; failed: number }> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text(), () => '');
  const count = (outcome: string) => Number(new RegExp(`^torchdog_model_reloads_total\\{outcome="${outcome}"\\} (\\d+)`, 'm').exec(text)?.[1] ?? 0);
  return { loaded: count('loaded'), failed: count('failed') };
}

async function readyVersion(url: string): Promise<{ status: number; version: string }> {
  const res = await fetch(`${url}/ready`).catch(() => null);
  if (!res) return { status: 0, version: '' };
  const body = (await res.json().catch(() => ({}))) as { model?: { version?: string } };
  return { status: res.status, version: body.model?.version ?? '' };
}

export async function loadWithSwap(o: SwapOptions): Promise<SwapReport> {
  const answers: Answer[] = [];
  let unreadable = 0;
  let lastDuration = 0;
  const before = await readyVersion(o.url);
  const countsBefore = await reloadCounts(o.url);
  const tail = o.tail ?? 1;
  const started = Date.now();
  const running = autocannon({
    url: `${o.url}/predict`,
    method: 'POST',
    headers: { 'content-type': o.upload.contentType },
    body: o.upload.body,
    connections: o.connections,
    // Stopped once `seconds` are over and the reload has settled (at most 2 minutes more).
    duration: o.seconds + 120,
    timeout: 30,
    // 'response' (with the request's duration) is emitted just before verifyBody is called with its body.
    setupClient: (client: { on(event: 'response', fn: (status: number, bytes: number, ms: number) => void): void }) => {
      client.on('response', (_status, _bytes, ms) => (lastDuration = ms));
    },
    verifyBody: (body: string) => {
      const end = Date.now();
      try {
        const answer = JSON.parse(body) as { model?: { version?: string; classes?: string[] } };
        answers.push({ start: end - lastDuration, key: `${answer.model?.version} [${answer.model?.classes?.join(',')}]` });
      } catch {
        unreadable++;
      }
      return true;
    },
  });

  // /ready every 20 ms for the whole run: it must stay 200, and it says when the new version is in.
  let notReady = 0;
  let polling = true;
  let signalledAt = Infinity;
  let seenAt: number | null = null;
  const poll = (async () => {
    while (polling) {
      const r = await readyVersion(o.url);
      if (r.status !== 200) notReady++;
      else if (seenAt === null && Date.now() > signalledAt && r.version !== before.version) seenAt = Date.now();
      await sleep(20);
    }
  })();

  await sleep(o.swapAt * 1000);
  await replaceFile(o.modelPath, o.replacement);
  signalledAt = Date.now();
  process.kill(o.pid, 'SIGHUP');

  // The reload settles when its counter moves; the load goes on `tail` seconds more, and at least `seconds` in all.
  let reload: SwapReport['reload'] = 'unsettled';
  let settledAt: number | null = null;
  const deadline = started + (o.seconds + 120) * 1000;
  while (Date.now() < deadline) {
    if (settledAt === null) {
      const counts = await reloadCounts(o.url);
      if (counts.loaded > countsBefore.loaded) reload = 'loaded';
      else if (counts.failed > countsBefore.failed) reload = 'failed';
      if (reload !== 'unsettled') settledAt = Date.now();
    }
    if (settledAt !== null && Date.now() >= Math.max(started + o.seconds * 1000, settledAt + tail * 1000)) break;
    await sleep(50);
  }
  running.stop();
  const result = await running;
  polling = false;
  await poll;
  const after = await readyVersion(o.url);
  const cut = seenAt ?? signalledAt;
  const count = (list: Answer[]) => list.reduce<Record<string, number>>((acc, a) => ((acc[a.key] = (acc[a.key] ?? 0) + 1), acc), {});
  return {
    requests: result.requests.total,
    seconds: +((Date.now() - started) / 1000).toFixed(1),
    rps: +result.requests.average.toFixed(1),
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    max_ms: result.latency.max,
    failed: result.errors + result.timeouts + result.non2xx + unreadable,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    unreadable,
    ready_before: before.version,
    ready_after: after.version,
    ready_not_200: notReady,
    swap_seen_ms: seenAt === null ? null : seenAt - signalledAt,
    reload,
    reload_settled_ms: settledAt === null ? null : settledAt - signalledAt,
    answers_before: count(answers.filter((a) => a.start < signalledAt)),
    answers_after: count(answers.filter((a) => a.start > cut)),
  };
}
