// Throughput and latency of the HTTP service under load: autocannon posts one
// photo (multipart field 'data', as the seed's clients do) to /predict at
// several connection counts.
//
//   node --import tsx bench/serve.ts [--connections 8,32] [--duration 10]
//        [--model M.safetensors] [--size 128] [--image photo.jpg]
//        [--threads 0] [--max-batch 32] [--max-wait-ms 5] [--url http://127.0.0.1:PORT]
//
// Without --url it starts `torchdog serve` (from src/, through tsx) on
// 127.0.0.1 with --model, or with a random-weight checkpoint of --size px
// (what is measured is speed, not accuracy). Without --image it encodes a
// deterministic 640x480 JPEG. Each connection count gets a short warm-up,
// then --duration seconds of load. Progress on stderr; a table and, last,
// one JSON line on stdout.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import sharp from 'sharp';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '8,32' },
    duration: { type: 'string', default: '10' },
    warmup: { type: 'string', default: '2' },
    model: { type: 'string' },
    size: { type: 'string', default: '128' },
    image: { type: 'string' },
    threads: { type: 'string', default: '0' },
    'max-batch': { type: 'string', default: '32' },
    'max-wait-ms': { type: 'string', default: '5' },
    url: { type: 'string' },
  },
});

function integer(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min) throw new RangeError(`--${name}: expected an integer >= ${min} but received '${text}'`);
  return n;
}

const connections = values.connections!.split(',').map((c) => integer('connections', c, 1));
const duration = integer('duration', values.duration!, 1);
const warmup = integer('warmup', values.warmup!, 0);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

/** A photo-like 640x480 JPEG: smooth light, a few shapes and fine texture, the same bytes every run. */
async function syntheticPhoto(): Promise<Buffer> {
  const width = 640;
  const height = 480;
  const pixels = Buffer.alloc(width * height * 3);
  let state = 0x9e3779b9;
  const noise = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 2 ** 32 - 0.5) * 18;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const sky = y < height * 0.45;
      const dx = x - 400;
      const dy = y - 300;
      const bun = (dx * dx) / (200 * 200) + (dy * dy) / (60 * 60) < 1;
      const sausage = (dx * dx) / (230 * 230) + ((dy + 10) * (dy + 10)) / (28 * 28) < 1;
      const shade = 0.75 + 0.25 * Math.sin(x / 53) * Math.cos(y / 41);
      const [r, g, b] = sausage ? [150, 60, 40] : bun ? [215, 160, 90] : sky ? [120, 170, 225] : [70, 120, 60];
      pixels[i] = Math.max(0, Math.min(255, r * shade + noise()));
      pixels[i + 1] = Math.max(0, Math.min(255, g * shade + noise()));
      pixels[i + 2] = Math.max(0, Math.min(255, b * shade + noise()));
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

function multipart(image: Buffer): { body: Buffer; contentType: string } {
  const boundary = 'torchdogbench7MA4YWxkTrZu0gW';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="data"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), image, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}

async function randomCheckpoint(dir: string, size: number): Promise<string> {
  const { createModel, saveCheckpoint } = await import('../src/index.ts');
  const path = join(dir, 'model.safetensors');
  const model = await createModel({ numClasses: 2, device: 'cpu', seed: 1, threads: 1 });
  try {
    await saveCheckpoint(path, model, { arch: 'resnet18', classes: ['hotdog', 'nothotdog'], imageSize: size, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  } finally {
    await model.dispose();
  }
  return path;
}

interface Service {
  url: string;
  stop(): Promise<void>;
}

/** `torchdog serve` from the sources, on a free port of 127.0.0.1. */
async function startService(model: string, dir: string): Promise<Service> {
  const entry = "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })";
  const args = [
    '--import', 'tsx', '-e', entry, 'serve', '--model', model, '--host', '127.0.0.1', '--port', '0', '--device', 'cpu',
    '--threads', values.threads!, '--max-batch', values['max-batch']!, '--max-wait-ms', values['max-wait-ms']!,
    '--predictions', join(dir, 'predictions.jsonl'), '--max-queue', '256',
  ];
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const tail: string[] = [];
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stderr }).on('line', (line) => {
      tail.push(line);
      if (tail.length > 20) tail.shift();
      try {
        const entry = JSON.parse(line);
        if (entry.url) resolve(entry.url);
      } catch {
        // not a log line
      }
    });
    void exited.then((code) => reject(new Error(`torchdog serve exited with ${code}:\n${tail.join('\n')}`)));
  });
  for (let i = 0; ; i++) {
    const ready = await fetch(`${url}/ready`).then((r) => r.status, () => 0);
    if (ready === 200) break;
    if (i > 600) throw new Error('torchdog serve never became ready');
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

function checkLocal(url: string): string {
  const { hostname } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) {
    throw new Error(`--url: this bench only loads services on this machine (127.0.0.1), not ${hostname}`);
  }
  return url.replace(/\/+$/, '');
}

async function batchCounters(url: string): Promise<{ sum: number; count: number }> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text(), () => '');
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { sum: value('torchdog_batch_size_sum'), count: value('torchdog_batch_size_count') };
}

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

/** The part of autocannon's result used here (the package ships no types). */
interface LoadResult {
  requests: { average: number; total: number };
  latency: { p50: number; p99: number };
  errors: number;
  timeouts: number;
  non2xx: number;
}

const autocannon = createRequire(import.meta.url)('autocannon') as (options: {
  url: string; method: string; headers: Record<string, string>; body: Buffer; connections: number; duration: number; timeout: number;
}) => Promise<LoadResult>;

async function load(url: string, body: Buffer, contentType: string, conns: number, seconds: number): Promise<LoadResult> {
  return autocannon({
    url: `${url}/predict`,
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
    connections: conns,
    duration: seconds,
    timeout: 30,
  });
}

const dir = await mkdtemp(join(tmpdir(), 'torchdog-bench-serve-'));
let service: Service | undefined;
try {
  const image = values.image ? await readFile(values.image) : await syntheticPhoto();
  const { body, contentType } = multipart(image);
  let url: string;
  if (values.url) {
    url = checkLocal(values.url);
  } else {
    const model = values.model ?? (await randomCheckpoint(dir, integer('size', values.size!, 8)));
    service = await startService(model, dir);
    url = service.url;
  }
  const ready = await (await fetch(`${url}/ready`)).json();
  log(`service ${url}: ${JSON.stringify(ready.model)}; image ${values.image ?? 'synthetic 640x480'} (${image.length} bytes); ${cpus().length} CPUs`);

  const rows: Row[] = [];
  for (const conns of connections) {
    if (warmup > 0) await load(url, body, contentType, conns, warmup);
    const before = await batchCounters(url);
    log(`${conns} connections, ${duration} s ...`);
    const result = await load(url, body, contentType, conns, duration);
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
      max_batch: Number(values['max-batch']),
      max_wait_ms: Number(values['max-wait-ms']),
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
