// torchdog's HTTP service against the seed's serving stack (FastAPI +
// uvicorn + PyTorch, bench/serve_fastapi.py): same architecture (ResNet18,
// random weights, 2 classes), same input size and thread count, the same
// photo posted the same way (multipart field `data`), loaded by autocannon in
// the same run.
//
//   npm run bench:serve-compare
//   node --import tsx bench/serve-compare.ts [--connections 1,8,32] [--rounds 3]
//        [--duration 10] [--warmup 3] [--threads 2] [--size 128] [--image photo.jpg]
//        [--timeout 120] [--max-batch N] [--max-wait-ms N] [--env KEY=VALUE,...]
//        [--baseline-env KEY=VALUE,...] [--no-baseline] [--precision fp32|int8|bf16]
//
// For each connection count, --rounds rounds; in each round both services get
// a warm-up of --warmup s and then --duration s of load, one after the other,
// the first alternating round by round (and across connection counts) so that
// load from other processes falls on both alike. Reported: the median over
// rounds of req/s, p50, p99 and errors of each, and the median of the
// per-round ratios. Then the must-show targets, met or not. --env passes
// environment to torchdog's process only (e.g. UV_THREADPOOL_SIZE=2),
// --baseline-env to the baseline's only (e.g. OMP_WAIT_POLICY=PASSIVE).
// Progress and per-round numbers on stderr; tables and, last, one JSON line
// on stdout. Without the baseline's Python packages, it says so and measures
// torchdog alone. --precision int8 calibrates the random checkpoint on the
// posted photo first (torchdog quantize's code) and serves it in int8.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { load, type LoadResult } from './lib/load.ts';
import { multipart, syntheticPhoto } from './lib/photo.ts';
import { calibrateOn, fastapiMissing, randomCheckpoint, startFastapi, startTorchdog, type Service } from './lib/services.ts';
import { batchCounters, integer, load1, median, positive, table } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1,8,32' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    size: { type: 'string', default: '128' },
    image: { type: 'string' },
    timeout: { type: 'string', default: '120' },
    'max-batch': { type: 'string' },
    'max-wait-ms': { type: 'string' },
    env: { type: 'string', default: '' },
    'baseline-env': { type: 'string', default: '' },
    'no-baseline': { type: 'boolean', default: false },
    precision: { type: 'string', default: 'fp32' },
  },
});
const precision = values.precision!;
if (!['fp32', 'int8', 'bf16'].includes(precision)) throw new RangeError(`--precision: expected fp32, int8 or bf16 but received '${precision}'`);

const connections = values.connections!.split(',').map((c) => integer('connections', c, 1));
const rounds = integer('rounds', values.rounds!, 1);
const duration = positive('duration', values.duration!);
const warmup = Number(values.warmup);
const threads = integer('threads', values.threads!, 1);
const size = integer('size', values.size!, 8);
const timeout = integer('timeout', values.timeout!, 1);
const maxBatch = values['max-batch'] === undefined ? undefined : integer('max-batch', values['max-batch'], 1);
const maxWaitMs = values['max-wait-ms'] === undefined ? undefined : integer('max-wait-ms', values['max-wait-ms'], 0);
function envFlag(name: string, text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const pair of text.split(',').filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new RangeError(`--${name}: expected KEY=VALUE[,KEY=VALUE...] but received '${pair}'`);
    env[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return env;
}
const env = envFlag('env', values.env!);
const baselineEnv = envFlag('baseline-env', values['baseline-env']!);
const log = (line: string) => process.stderr.write(`serve-compare: ${line}\n`);

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
  meanBatch?: number;
  load1: number;
}

function sample(r: LoadResult, load: number, meanBatch?: number): Sample {
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, requests: r.requests.total, meanBatch, load1: load };
}

const dir = await mkdtemp(join(tmpdir(), 'torchdog-bench-compare-'));
const services: Service[] = [];
try {
  const image = values.image ? await readFile(values.image) : await syntheticPhoto();
  const upload = multipart(image, 'data');
  const missing = values['no-baseline'] ? 'left out (--no-baseline)' : fastapiMissing();
  if (missing) log(`the FastAPI baseline cannot run: ${missing}; measuring torchdog only`);

  const model = await randomCheckpoint(dir, size, 2);
  if (precision === 'int8') await calibrateOn(model, image, { dir, size, threads });
  const torchdog = await startTorchdog({ model, dir, threads, maxBatch, maxWaitMs, env, args: ['--precision', precision] });
  services.push(torchdog);
  const baseline = missing ? undefined : await startFastapi({ threads, size, classes: 2, env: baselineEnv });
  if (baseline) services.push(baseline);
  log(`torchdog ${torchdog.url} (pid ${torchdog.pid}, --precision ${precision}, --threads ${threads}${maxBatch ? `, --max-batch ${maxBatch}` : ''}${maxWaitMs !== undefined ? `, --max-wait-ms ${maxWaitMs}` : ''}${Object.keys(env).length ? `, env ${values.env}` : ''})`);
  if (baseline) log(`fastapi  ${baseline.url} (pid ${baseline.pid}, --threads ${threads}${Object.keys(baselineEnv).length ? `, env ${values['baseline-env']}` : ''})`);
  log(`image ${values.image ?? 'synthetic 640x480 JPEG'} (${image.length} bytes), ${size} px, ${cpus().length} CPUs, load ${load1()}`);

  const sides = baseline ? [torchdog, baseline] : [torchdog];
  const samples = new Map<string, Sample[]>(); // `${name}/${conns}`
  let turn = 0;
  for (const conns of connections) {
    for (let round = 0; round < rounds; round++, turn++) {
      const order = turn % 2 === 0 ? sides : [...sides].reverse();
      for (const s of order) {
        const url = `${s.url}/predict`;
        if (warmup > 0) await load(url, upload, { connections: conns, seconds: warmup, timeout });
        const before = s === torchdog ? await batchCounters(s.url) : undefined;
        const loadBefore = load1();
        const r = await load(url, upload, { connections: conns, seconds: duration, timeout });
        const after = s === torchdog ? await batchCounters(s.url) : undefined;
        const meanBatch = before && after ? (after.sum - before.sum) / (after.count - before.count) : undefined;
        const x = sample(r, Math.max(loadBefore, load1()), meanBatch);
        const key = `${s.name}/${conns}`;
        samples.set(key, [...(samples.get(key) ?? []), x]);
        log(
          `${conns} conn, round ${round + 1}/${rounds}, ${s.name.padEnd(8)}: ${x.rps.toFixed(1)} req/s, p50 ${x.p50} ms, p99 ${x.p99} ms, errors ${x.errors}, non-2xx ${x.non2xx}` +
            `${meanBatch !== undefined ? `, mean batch ${meanBatch.toFixed(1)}` : ''}, load ${x.load1}`,
        );
      }
    }
  }

  const summary = (name: string, conns: number) => {
    const list = samples.get(`${name}/${conns}`) ?? [];
    if (list.length === 0) return null;
    return {
      rps: +median(list.map((x) => x.rps)).toFixed(2),
      p50_ms: median(list.map((x) => x.p50)),
      p99_ms: median(list.map((x) => x.p99)),
      worst_p99_ms: Math.max(...list.map((x) => x.p99)),
      errors: list.reduce((a, x) => a + x.errors + x.non2xx, 0),
      requests: list.reduce((a, x) => a + x.requests, 0),
      mean_batch: list[0]!.meanBatch === undefined ? undefined : +median(list.map((x) => x.meanBatch!)).toFixed(2),
      rounds: list.map((x) => ({ rps: +x.rps.toFixed(2), p50_ms: x.p50, p99_ms: x.p99, errors: x.errors + x.non2xx, load1: x.load1 })),
    };
  };
  /** Median over rounds of the per-round ratio torchdog / baseline. */
  const ratio = (conns: number, pick: (s: Sample) => number) => {
    const a = samples.get(`torchdog/${conns}`) ?? [];
    const b = samples.get(`fastapi/${conns}`) ?? [];
    if (b.length === 0) return null;
    return +median(a.map((x, i) => pick(x) / pick(b[i]!))).toFixed(3);
  };

  const results = connections.map((conns) => ({
    connections: conns,
    torchdog: summary('torchdog', conns)!,
    fastapi: summary('fastapi', conns),
    ratio: baseline
      ? { rps: ratio(conns, (s) => s.rps), p50: ratio(conns, (s) => s.p50), p99: ratio(conns, (s) => s.p99) }
      : null,
  }));

  const f1 = (n: number | undefined | null) => (n === undefined || n === null || !Number.isFinite(n) ? '-' : n.toFixed(1));
  process.stdout.write(`\nmedians of ${rounds} round(s) of ${duration} s, ${threads} thread(s) each, ${size} px, image ${image.length} bytes\n`);
  process.stdout.write(
    table(
      ['conns', 'service', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'batch'],
      results.flatMap((r) => [
        [r.connections, 'torchdog', f1(r.torchdog.rps), f1(r.torchdog.p50_ms), f1(r.torchdog.p99_ms), r.torchdog.errors, f1(r.torchdog.mean_batch)],
        ...(r.fastapi ? [[r.connections, 'fastapi', f1(r.fastapi.rps), f1(r.fastapi.p50_ms), f1(r.fastapi.p99_ms), r.fastapi.errors, '1.0']] : []),
      ]),
    ),
  );
  if (baseline) {
    process.stdout.write('\ntorchdog / baseline, median of per-round ratios\n');
    process.stdout.write(
      table(
        ['conns', 'req/s x', 'p50 ratio', 'p99 ratio'],
        results.map((r) => [r.connections, r.ratio!.rps!.toFixed(2), r.ratio!.p50!.toFixed(3), r.ratio!.p99!.toFixed(3)]),
      ),
    );
  }

  // The must-shows.
  const at = (conns: number) => results.find((r) => r.connections === conns);
  const targets: { name: string; met: boolean | null; detail: string }[] = [];
  const eight = at(8);
  if (eight) {
    const t = eight.torchdog;
    targets.push({
      name: '8 connections: req/s >= 15x baseline',
      met: eight.ratio ? eight.ratio.rps! >= 15 : null,
      detail: eight.ratio ? `${eight.ratio.rps}x (${t.rps} vs ${eight.fastapi!.rps} req/s)` : 'no baseline',
    });
    targets.push({ name: '8 connections: torchdog p99 < 150 ms', met: t.p99_ms < 150, detail: `median p99 ${t.p99_ms} ms (worst round ${t.worst_p99_ms} ms)` });
    targets.push({ name: '8 connections: no errors', met: t.errors === 0, detail: `${t.errors} errors or non-2xx in ${t.requests} requests` });
  }
  const one = at(1);
  if (one) {
    targets.push({
      name: '1 connection: p50 <= 1/3 of baseline',
      met: one.ratio ? one.ratio.p50! <= 1 / 3 : null,
      detail: one.ratio ? `ratio ${one.ratio.p50} (${one.torchdog.p50_ms} vs ${one.fastapi!.p50_ms} ms)` : 'no baseline',
    });
  }
  if (targets.length) {
    process.stdout.write('\nmust-show targets\n');
    for (const t of targets) process.stdout.write(`  ${t.met === null ? 'n/a    ' : t.met ? 'MET    ' : 'NOT MET'}  ${t.name}: ${t.detail}\n`);
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'serve-compare',
      size,
      threads,
      cpus: cpus().length,
      image_bytes: image.length,
      rounds,
      duration_s: duration,
      torchdog_options: { precision, max_batch: maxBatch ?? 'default', max_wait_ms: maxWaitMs ?? 'default', env },
      baseline_env: baselineEnv,
      baseline: baseline ? 'fastapi+uvicorn+pytorch' : null,
      baseline_note: missing ?? undefined,
      results,
      targets: targets.map((t) => ({ name: t.name, met: t.met, detail: t.detail })),
    }) + '\n',
  );
} finally {
  for (const s of services.reverse()) await s.stop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
}
