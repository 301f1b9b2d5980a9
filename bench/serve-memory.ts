// Does the service's memory stay put under sustained load? Starts `torchdog
// serve` (random-weight checkpoint, prediction log on), warms it up, then
// posts the same photo --first (1,000) and then up to --requests (10,000)
// times at --connections (8), reading the process's resident set size
// (VmRSS of /proc/PID/status) after the warm-up, after every --step requests
// and at the end. Target: growth from after the warm-up to the end < 50 MB.
//
//   node --import tsx bench/serve-memory.ts [--requests 10000] [--first 1000] [--step 1000]
//        [--warmup 300] [--connections 8] [--threads 0] [--size 128] [--image photo.jpg]
//
// Progress on stderr; a table and, last, one JSON line on stdout.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { load } from './lib/load.ts';
import { multipart, syntheticPhoto } from './lib/photo.ts';
import { randomCheckpoint, rssMiB, startTorchdog, type Service } from './lib/services.ts';
import { integer, load1, table } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '10000' },
    first: { type: 'string', default: '1000' },
    step: { type: 'string', default: '1000' },
    warmup: { type: 'string', default: '300' },
    connections: { type: 'string', default: '8' },
    threads: { type: 'string', default: '0' },
    size: { type: 'string', default: '128' },
    image: { type: 'string' },
    'target-mb': { type: 'string', default: '50' },
  },
});
const total = integer('requests', values.requests!, 1);
const first = Math.min(integer('first', values.first!, 1), total);
const step = integer('step', values.step!, 1);
const warmup = integer('warmup', values.warmup!, 0);
const connections = integer('connections', values.connections!, 1);
const targetMb = Number(values['target-mb']);
const log = (line: string) => process.stderr.write(`serve-memory: ${line}\n`);

/** V8 heap in use and Node's external (Buffer) memory, from the service's /metrics, in MiB. */
async function jsMemory(base: string): Promise<{ heap: number; external: number }> {
  const text = await fetch(`${base}/metrics`).then((r) => r.text(), () => '');
  const value = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20;
  return { heap: value('nodejs_heap_size_used_bytes'), external: value('nodejs_external_memory_bytes') };
}

/** VmHWM (peak resident set) of a process in MiB. */
async function peakMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+)\s+kB$/m.exec(status)?.[1] ?? NaN) / 1024;
}

const dir = await mkdtemp(join(tmpdir(), 'torchdog-bench-memory-'));
let service: Service | undefined;
try {
  const image = values.image ? await readFile(values.image) : await syntheticPhoto();
  const upload = multipart(image);
  const model = await randomCheckpoint(dir, integer('size', values.size!, 8));
  service = await startTorchdog({ model, dir, threads: integer('threads', values.threads!, 0) });
  const url = `${service.url}/predict`;
  const pid = service.pid;
  log(`torchdog ${service.url} (pid ${pid}), ${connections} connections, image ${image.length} bytes, ${cpus().length} CPUs, load ${load1()}`);

  interface Point { requests: number; rss_mib: number; peak_mib: number; heap_mib: number; external_mib: number; rps: number; errors: number }
  const point = async (requests: number, rps: number, errors: number): Promise<Point> => {
    const js = await jsMemory(service!.url);
    return { requests, rss_mib: await rssMiB(pid), peak_mib: await peakMiB(pid), heap_mib: js.heap, external_mib: js.external, rps, errors };
  };
  const points: Point[] = [];
  const startedRss = await rssMiB(pid);
  log(`after start (model loaded, one warm-up pass): RSS ${startedRss.toFixed(1)} MiB`);
  if (warmup > 0) {
    const r = await load(url, upload, { connections, amount: warmup });
    log(`warm-up: ${warmup} requests, ${r.errors + r.timeouts + r.non2xx} errors`);
  }
  await new Promise((r) => setTimeout(r, 1500)); // let the prediction log flush and the GC settle
  points.push(await point(0, NaN, 0));
  log(`after warm-up: RSS ${points[0]!.rss_mib.toFixed(1)} MiB`);

  const marks = new Set<number>([first, total]);
  for (let n = step; n < total; n += step) marks.add(n);
  let done = 0;
  for (const mark of [...marks].sort((a, b) => a - b)) {
    const started = performance.now();
    const r = await load(url, upload, { connections, amount: mark - done, timeout: 60 });
    const rps = r.requests.total / ((performance.now() - started) / 1000);
    done = mark;
    await new Promise((res) => setTimeout(res, 1500));
    const p = await point(done, rps, r.errors + r.timeouts + r.non2xx);
    points.push(p);
    log(`after ${done} requests: RSS ${p.rss_mib.toFixed(1)} MiB (peak ${p.peak_mib.toFixed(1)}, V8 heap ${p.heap_mib.toFixed(1)}, external ${p.external_mib.toFixed(1)}), ${p.rps.toFixed(1)} req/s, ${p.errors} errors, load ${load1()}`);
  }

  const base = points[0]!.rss_mib;
  const at = (n: number) => points.find((p) => p.requests === n)!;
  const growth = at(total).rss_mib - base;
  const growthAfterFirst = at(total).rss_mib - at(first).rss_mib;
  process.stdout.write(
    table(
      ['requests', 'RSS MiB', 'vs warm-up', 'peak MiB', 'V8 heap MiB', 'external MiB', 'req/s', 'errors'],
      points.map((p) => [
        p.requests, p.rss_mib.toFixed(1), (p.rss_mib - base >= 0 ? '+' : '') + (p.rss_mib - base).toFixed(1), p.peak_mib.toFixed(1),
        p.heap_mib.toFixed(1), p.external_mib.toFixed(1), Number.isFinite(p.rps) ? p.rps.toFixed(1) : '-', p.errors,
      ]),
    ),
  );
  const errors = points.reduce((a, p) => a + p.errors, 0);
  const met = growth * 1.048576 < targetMb; // MiB -> MB
  process.stdout.write(
    `growth after warm-up -> ${total}: ${growth.toFixed(1)} MiB (${(growth * 1.048576).toFixed(1)} MB); ${first} -> ${total}: ${growthAfterFirst.toFixed(1)} MiB; ` +
      `target < ${targetMb} MB: ${met ? 'MET' : 'NOT MET'}; ${errors} errors\n`,
  );
  process.stdout.write(
    JSON.stringify({
      bench: 'serve-memory', connections, requests: total, image_bytes: image.length, cpus: cpus().length,
      rss_mib: { started: +startedRss.toFixed(1), after_warmup: +base.toFixed(1), [`after_${first}`]: +at(first).rss_mib.toFixed(1), [`after_${total}`]: +at(total).rss_mib.toFixed(1) },
      growth_mib: +growth.toFixed(1), growth_mb: +(growth * 1.048576).toFixed(1), growth_after_first_mib: +growthAfterFirst.toFixed(1),
      target_mb: targetMb, met, errors,
      points: points.map((p) => ({
        ...p, rss_mib: +p.rss_mib.toFixed(1), peak_mib: +p.peak_mib.toFixed(1), heap_mib: +p.heap_mib.toFixed(1), external_mib: +p.external_mib.toFixed(1),
        rps: Number.isFinite(p.rps) ? +p.rps.toFixed(1) : null,
      })),
    }) + '\n',
  );
} finally {
  await service?.stop();
  await rm(dir, { recursive: true, force: true });
}
