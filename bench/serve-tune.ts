// Which serving settings help on this machine: starts several `torchdog
// serve` variants side by side (flags and environment per variant) and loads
// them in turns with the same photo, round-robin with a rotating first, so
// load from other processes falls on all alike. Prints the median of rounds
// per variant and connection count.
//
//   node --import tsx bench/serve-tune.ts [--connections 1,8] [--rounds 3] [--duration 6]
//        [--image photo.jpg] --variant 'NAME;SERVE FLAGS;KEY=VALUE,...' [--variant ...]
//
// e.g. --variant 'default;--threads 2;' --variant 'passive;--threads 2;OMP_WAIT_POLICY=PASSIVE'
// When a variant's flags say `--precision int8`, the random checkpoint is
// calibrated on the photo first (as serve-compare does).
// Tables on stdout, one JSON line last.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { load } from './lib/load.ts';
import { multipart, syntheticPhoto } from './lib/photo.ts';
import { calibrateOn, randomCheckpoint, startTorchdog, type Service } from './lib/services.ts';
import { batchCounters, integer, load1, median, positive, table } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1,8' },
    rounds: { type: 'string', default: '3' },
    duration: { type: 'string', default: '6' },
    warmup: { type: 'string', default: '2' },
    size: { type: 'string', default: '128' },
    variant: { type: 'string', multiple: true, default: [] },
    image: { type: 'string' },
  },
});
const connections = values.connections!.split(',').map((c) => integer('connections', c, 1));
const rounds = integer('rounds', values.rounds!, 1);
const duration = positive('duration', values.duration!);
const warmup = Number(values.warmup);
const log = (line: string) => process.stderr.write(`serve-tune: ${line}\n`);

interface Variant {
  name: string;
  args: string[];
  env: Record<string, string>;
}
const variants: Variant[] = values.variant!.map((spec) => {
  const [name, flags = '', env = ''] = spec.split(';');
  if (!name) throw new RangeError(`--variant: expected 'NAME;FLAGS;KEY=VALUE,...' but received '${spec}'`);
  return {
    name,
    args: flags.split(/\s+/).filter(Boolean),
    env: Object.fromEntries(env.split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])),
  };
});
if (variants.length === 0) throw new RangeError('give at least one --variant');

const dir = await mkdtemp(join(tmpdir(), 'torchdog-bench-tune-'));
const services: Service[] = [];
try {
  const photo = values.image ? await readFile(values.image) : await syntheticPhoto();
  const upload = multipart(photo);
  const size = integer('size', values.size!, 8);
  const model = await randomCheckpoint(dir, size);
  if (variants.some((v) => v.args.join(' ').includes('--precision int8'))) await calibrateOn(model, photo, { dir, size, threads: 2 });
  for (const [i, v] of variants.entries()) {
    const vdir = join(dir, String(i));
    await (await import('node:fs/promises')).mkdir(vdir);
    services.push(await startTorchdog({ model, dir: vdir, args: v.args, env: v.env }));
    log(`${v.name}: ${services[i]!.url} ${v.args.join(' ')} ${JSON.stringify(v.env)}`);
  }
  type Row = { rps: number; p50: number; p99: number; errors: number; batch: number };
  const samples = new Map<string, Row[]>();
  let turn = 0;
  for (const conns of connections) {
    for (let round = 0; round < rounds; round++, turn++) {
      const order = variants.map((_, i) => (i + turn) % variants.length);
      for (const i of order) {
        const s = services[i]!;
        if (warmup > 0) await load(`${s.url}/predict`, upload, { connections: conns, seconds: warmup });
        const before = await batchCounters(s.url);
        const r = await load(`${s.url}/predict`, upload, { connections: conns, seconds: duration });
        const after = await batchCounters(s.url);
        const row = { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts + r.non2xx, batch: (after.sum - before.sum) / (after.count - before.count) };
        const key = `${i}/${conns}`;
        samples.set(key, [...(samples.get(key) ?? []), row]);
        log(`${conns} conn, round ${round + 1}, ${variants[i]!.name}: ${row.rps.toFixed(1)} req/s, p50 ${row.p50}, p99 ${row.p99}, batch ${row.batch.toFixed(1)}, errors ${row.errors}, load ${load1()}`);
      }
    }
  }
  const results = connections.flatMap((conns) =>
    variants.map((v, i) => {
      const list = samples.get(`${i}/${conns}`)!;
      return {
        variant: v.name, connections: conns,
        rps: +median(list.map((x) => x.rps)).toFixed(1), p50_ms: median(list.map((x) => x.p50)), p99_ms: median(list.map((x) => x.p99)),
        batch: +median(list.map((x) => x.batch)).toFixed(1), errors: list.reduce((a, x) => a + x.errors, 0),
        rps_rounds: list.map((x) => +x.rps.toFixed(1)),
      };
    }),
  );
  process.stdout.write(table(['conns', 'variant', 'req/s', 'p50 ms', 'p99 ms', 'batch', 'errors', 'req/s by round'],
    results.map((r) => [r.connections, r.variant, r.rps.toFixed(1), r.p50_ms, r.p99_ms, r.batch, r.errors, r.rps_rounds.join(' ')])));
  process.stdout.write(JSON.stringify({ bench: 'serve-tune', rounds, duration_s: duration, variants, results }) + '\n');
} finally {
  for (const s of services) await s.stop().catch(() => {});
  await rm(dir, { recursive: true, force: true });
}
