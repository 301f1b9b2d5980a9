// Forward-pass throughput of torchdog's native ResNet18, with PyTorch
// (torchvision) beside it when /usr/bin/python3 has torch and torchvision.
//
//   node --import tsx bench/forward.ts [--threads 2] [--batches 1,32] [--seconds 5]
//        [--rounds 5] [--no-pytorch]
//
// Per batch size: warm-up (at least --warmup-min batches and --warmup-seconds),
// then --rounds rounds that each run batches back to back until
// seconds/rounds have passed (at least one batch); the median over rounds is
// reported. bench/forward_pytorch.py does the same with the same arguments.
// Progress goes to stderr; the table and, last, one JSON line go to stdout.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

process.env.OPENBLAS_NUM_THREADS = '1';
const { native } = await import('../src/native.ts');

interface BatchResult {
  imgPerSec: number;
  msPerBatch: number;
  minImgPerSec: number;
  maxImgPerSec: number;
  rounds: number;
}

const PYTHON = '/usr/bin/python3';
const here = dirname(fileURLToPath(import.meta.url));

const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: '2' },
    batches: { type: 'string', default: '1,32' },
    seconds: { type: 'string', default: '5' },
    rounds: { type: 'string', default: '5' },
    'warmup-seconds': { type: 'string', default: '1' },
    'warmup-min': { type: 'string', default: '2' },
    size: { type: 'string', default: '128' },
    'no-pytorch': { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string, integer: boolean): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new RangeError(`--${name}: expected a positive ${integer ? 'integer' : 'number'} but received '${text}'`);
  }
  return n;
}

const threads = positive('threads', values.threads!, true);
const batches = values.batches!.split(',').filter((s) => s.trim() !== '').map((s) => positive('batches', s, true));
const seconds = positive('seconds', values.seconds!, false);
const rounds = positive('rounds', values.rounds!, true);
const warmupSeconds = Number(values['warmup-seconds']);
const warmupMin = Number(values['warmup-min']);
const size = positive('size', values.size!, true);
const normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Deterministic xorshift32 bytes; pixel content does not change the timing. */
function pixels(count: number, seed: number): Uint8Array {
  const data = new Uint8Array(count * size * size * 3);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff;
  }
  return data;
}

async function benchTorchdog(): Promise<Record<string, BatchResult>> {
  const model = new native.Model({ arch: 'resnet18', numClasses: 2, device: 'cpu', seed: 0, threads });
  await model.ready();
  await model.setTraining(false);
  const results: Record<string, BatchResult> = {};
  try {
    for (const batch of batches) {
      const images = { data: pixels(batch, 1234 + batch), count: batch, height: size, width: size };
      const t0 = performance.now();
      for (let n = 0; n < warmupMin || performance.now() - t0 < warmupSeconds * 1000; n++) {
        await model.forward(images, normalization);
      }
      const roundMs = (seconds * 1000) / rounds;
      const ips: number[] = [];
      const ms: number[] = [];
      for (let r = 0; r < rounds; r++) {
        const start = performance.now();
        let iters = 0;
        let elapsed: number;
        do {
          await model.forward(images, normalization);
          iters++;
          elapsed = performance.now() - start;
        } while (elapsed < roundMs);
        ips.push((iters * batch * 1000) / elapsed);
        ms.push(elapsed / iters);
      }
      results[String(batch)] = {
        imgPerSec: median(ips),
        msPerBatch: median(ms),
        minImgPerSec: Math.min(...ips),
        maxImgPerSec: Math.max(...ips),
        rounds: ips.length,
      };
      const r = results[String(batch)]!;
      console.error(`torchdog batch ${batch}: ${r.imgPerSec.toFixed(1)} img/s, ${r.msPerBatch.toFixed(1)} ms/batch`);
    }
  } finally {
    await model.dispose();
  }
  return results;
}

interface PytorchRun {
  results: Record<string, BatchResult>;
  torch: string;
  torchvision: string;
}

/** Runs bench/forward_pytorch.py, or returns a reason it could not. */
function benchPytorch(): PytorchRun | string {
  if (values['no-pytorch']) return 'skipped (--no-pytorch)';
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  const check = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { env, encoding: 'utf8' });
  if (check.error || check.status !== 0) {
    const why = check.error?.message ?? check.stderr.trim().split('\n').at(-1) ?? `exit ${check.status}`;
    return `${PYTHON} cannot import torch and torchvision (${why})`;
  }
  const args = [
    join(here, 'forward_pytorch.py'),
    '--threads', String(threads),
    '--batches', batches.join(','),
    '--seconds', String(seconds),
    '--rounds', String(rounds),
    '--warmup-seconds', String(warmupSeconds),
    '--warmup-min', String(warmupMin),
    '--size', String(size),
  ];
  const run = spawnSync(PYTHON, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (run.error || run.status !== 0) return `forward_pytorch.py failed (${run.error?.message ?? `exit ${run.status}`})`;
  const last = run.stdout.trim().split('\n').at(-1) ?? '';
  try {
    return JSON.parse(last) as PytorchRun;
  } catch {
    return `forward_pytorch.py printed no JSON result (got '${last.slice(0, 200)}')`;
  }
}

console.error(
  `forward bench: resnet18, ${size}x${size}, eval, threads=${threads}, batches=${batches.join(',')}, ` +
    `${seconds}s timed per batch in ${rounds} rounds (median reported)`,
);
const torchdog = await benchTorchdog();
const pytorch = benchPytorch();
const havePytorch = typeof pytorch !== 'string';

const header = ['batch', 'torchdog img/s', 'ms/batch'];
if (havePytorch) header.push('PyTorch img/s', 'ms/batch', 'torchdog/PyTorch');
const rows: string[][] = [header];
const ratio: Record<string, number> = {};
for (const batch of batches) {
  const t = torchdog[String(batch)]!;
  const row = [String(batch), t.imgPerSec.toFixed(1), t.msPerBatch.toFixed(1)];
  if (havePytorch) {
    const p = pytorch.results[String(batch)];
    if (p) {
      ratio[String(batch)] = t.imgPerSec / p.imgPerSec;
      row.push(p.imgPerSec.toFixed(1), p.msPerBatch.toFixed(1), ratio[String(batch)]!.toFixed(3));
    } else {
      row.push('-', '-', '-');
    }
  }
  rows.push(row);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(
  `\nresnet18 forward, ${size}x${size} uint8 NHWC, eval, ${threads} threads, median of ${rounds} rounds over ${seconds}s`,
);
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
if (!havePytorch) console.log(`PyTorch: ${pytorch}; torchdog numbers only.`);
else console.log(`PyTorch ${pytorch.torch}, torchvision ${pytorch.torchvision}; ratio > 1 means torchdog is faster.`);

const imgPerSec = (r: Record<string, BatchResult>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, Number(v.imgPerSec.toFixed(2))]));
console.log(
  JSON.stringify({
    bench: 'forward',
    arch: 'resnet18',
    size,
    threads,
    seconds,
    rounds,
    unit: 'img/s',
    torchdog: imgPerSec(torchdog),
    pytorch: havePytorch ? imgPerSec(pytorch.results) : null,
    ratio: havePytorch ? Object.fromEntries(Object.entries(ratio).map(([k, v]) => [k, Number(v.toFixed(4))])) : null,
    pytorchNote: havePytorch ? undefined : pytorch,
  }),
);
