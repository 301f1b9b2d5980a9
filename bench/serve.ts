// Throughput and latency of the HTTP service under load: autocannon posts one
// photo (multipart field 'data', as the seed's clients do) to /predict at
// several connection counts.
//
//   node --import tsx bench/serve.ts [--connections 8,32] [--duration 10]
//        [--model M.safetensors] [--size 128] [--image photo.jpg]
//        [--threads 0] [--max-batch N] [--max-wait-ms N] [--url http://127.0.0.1:PORT]
//
// Without --url it starts `torchdog serve` (from src/, through tsx) on
// 127.0.0.1 with --model, or with a random-weight checkpoint of --size px
// (what is measured is speed, not accuracy). Without --image it encodes a
// deterministic 640x480 JPEG. Each connection count gets a short warm-up,
// then --duration seconds of load. Progress on stderr; a table and, last,
// one JSON line on stdout. bench/serve-compare.ts runs the same load against
// the FastAPI baseline too.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { checkLocal, load } from './lib/load.ts';
import { multipart, syntheticPhoto } from './lib/photo.ts';
import { randomCheckpoint, startTorchdog, type Service } from './lib/services.ts';
import { batchCounters, integer } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '8,32' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    model: { type: 'string' },
    size: { type: 'string', default: '128' },
    image: { type: 'string' },
    threads: { type: 'string', default: '0' },
    'max-batch': { type: 'string' },
    'max-wait-ms': { type: 'string' },
    url: { type: 'string' },
  },
});

const connections = values.connections!.split(',').map((c) => integer('connections', c, 1));
const duration = integer('duration', values.duration!, 1);
const warmup = integer('warmup', values.warmup!, 0);
const maxBatch = values['max-batch'] === undefined ? undefined : integer('max-batch', values['max-batch'], 1);
const maxWaitMs = values['max-wait-ms'] === undefined ? undefined : integer('max-wait-ms', values['max-wait-ms'], 0);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

interface Row {
  connections: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
  meanBatch: number;
}

const dir = await mkdtemp(join(tmpdir(), 'torchdog-bench-serve-'));
let service: Service | undefined;
try {
  const image = values.image ? await readFile(values.image) : await syntheticPhoto();
  const upload = multipart(image);
  let url: string;
  if (values.url) {
    url = checkLocal(values.url);
  } else {
    const model = values.model ?? (await randomCheckpoint(dir, integer('size', values.size!, 8)));
    service = await startTorchdog({ model, dir, threads: integer('threads', values.threads!, 0), maxBatch, maxWaitMs });
    url = service.url;
  }
  const ready = await (await fetch(`${url}/ready`)).json();
  log(`service ${url}: ${JSON.stringify(ready.model)}; image ${values.image ?? 'synthetic 640x480'} (${image.length} bytes); ${cpus().length} CPUs`);

  const rows: Row[] = [];
  for (const conns of connections) {
    if (warmup > 0) await load(`${url}/predict`, upload, { connections: conns, seconds: warmup, timeout: 30 });
    const before = await batchCounters(url);
    log(`${conns} connections, ${duration} s ...`);
    const result = await load(`${url}/predict`, upload, { connections: conns, seconds: duration, timeout: 30 });
    const afterwards = await batchCounters(url);
    rows.push({
      connections: conns,
      rps: result.requests.average,
      p50: result.latency.p50,
      p99: result.latency.p99,
      errors: result.errors + result.timeouts,
      non2xx: result.non2xx,
      requests: result.requests.total,
      meanBatch: (afterwards.sum - before.sum) / (afterwards.count - before.count),
    });
  }

  const pad = (s: string | number, n: number) => String(s).padStart(n);
  process.stdout.write(`${pad('connections', 11)} ${pad('req/s', 8)} ${pad('p50 ms', 8)} ${pad('p99 ms', 8)} ${pad('errors', 7)} ${pad('non-2xx', 8)} ${pad('mean batch', 10)}\n`);
  for (const r of rows) {
    process.stdout.write(
      `${pad(r.connections, 11)} ${pad(r.rps.toFixed(1), 8)} ${pad(r.p50.toFixed(1), 8)} ${pad(r.p99.toFixed(1), 8)} ${pad(r.errors, 7)} ${pad(r.non2xx, 8)} ${pad(r.meanBatch.toFixed(1), 10)}\n`,
    );
  }
  process.stdout.write(
    JSON.stringify({
      bench: 'serve',
      image_bytes: image.length,
      image_size: ready.model.image_size,
      cpus: cpus().length,
      threads: Number(values.threads),
      max_batch: maxBatch ?? 'default',
      max_wait_ms: maxWaitMs ?? 'default',
      duration_s: duration,
      results: rows.map((r) => ({
        connections: r.connections, rps: +r.rps.toFixed(2), p50_ms: r.p50, p99_ms: r.p99,
        errors: r.errors, non2xx: r.non2xx, requests: r.requests, mean_batch: +r.meanBatch.toFixed(2),
      })),
    }) + '\n',
  );
} finally {
  await service?.stop();
  await rm(dir, { recursive: true, force: true });
}
