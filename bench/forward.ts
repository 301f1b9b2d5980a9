// Forward-pass throughput of torchdog's native ResNet18, with PyTorch
// (torchvision, bench/forward_pytorch.py) beside it when /usr/bin/python3 can
// import torch and torchvision.
//
//   node --import tsx bench/forward.ts [--threads 2] [--batches 1,32] [--seconds 5]
//        [--rounds 5] [--warmup-seconds 1] [--warmup-min 2] [--size 128] [--no-pytorch]
//
// Per batch size: a warm-up (at least --warmup-min batches and
// --warmup-seconds) for each side, then --rounds rounds each way, where a round
// runs batches back to back until seconds/rounds have passed (at least one
// batch). The two sides take turns round by round (order alternating), so
// that a machine whose background load drifts weighs on both alike; the
// median over rounds is reported. Progress goes to stderr; the table and,
// last, one JSON line go to stdout.
import { spawn, spawnSync, type ChildProcessByStdio } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

// Set before the addon loads LibTorch (and thus OpenBLAS); inherited by Python.
process.env.OPENBLAS_NUM_THREADS = '1';
const { Model } = await import('../src/index.ts');

// TORCHDOG_BENCH_PYTHON overrides the interpreter (e.g. to test the no-PyTorch path).
const PYTHON = process.env.TORCHDOG_BENCH_PYTHON || '/usr/bin/python3';
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

function numberArg(name: string, text: string, integer: boolean, min: number): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
    throw new RangeError(`--${name}: expected ${integer ? 'an integer' : 'a number'} >= ${min} but received '${text}'`);
  }
  return n;
}

const threads = numberArg('threads', values.threads!, true, 1);
const batches = values.batches!.split(',').map((s) => numberArg('batches', s, true, 1));
const seconds = numberArg('seconds', values.seconds!, false, 0);
const rounds = numberArg('rounds', values.rounds!, true, 1);
const warmupSeconds = numberArg('warmup-seconds', values['warmup-seconds']!, false, 0);
const warmupMin = numberArg('warmup-min', values['warmup-min']!, true, 0);
const size = numberArg('size', values.size!, true, 1);
const roundSeconds = seconds / rounds;
const normalization = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };

interface Round {
  iters: number;
  /** Seconds. */
  elapsed: number;
}

interface Side {
  name: string;
  /** Runs batches until `seconds` have passed and at least `minIters` ran. */
  round(batch: number, seconds: number, minIters: number): Promise<Round>;
  close(): Promise<void>;
}

interface BatchResult {
  imgPerSec: number;
  msPerBatch: number;
  minImgPerSec: number;
  maxImgPerSec: number;
  rounds: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function summarize(batch: number, rs: Round[]): BatchResult {
  const ips = rs.map((r) => (r.iters * batch) / r.elapsed);
  return {
    imgPerSec: median(ips),
    msPerBatch: median(rs.map((r) => (r.elapsed * 1000) / r.iters)),
    minImgPerSec: Math.min(...ips),
    maxImgPerSec: Math.max(...ips),
    rounds: rs.length,
  };
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

async function torchdogSide(): Promise<Side> {
  const model = await Model.create({ numClasses: 2, device: 'cpu', seed: 0, threads });
  await model.setTraining(false);
  const images = new Map<number, { data: Uint8Array; count: number; height: number; width: number }>();
  return {
    name: 'torchdog',
    async round(batch, secs, minIters) {
      let batchImages = images.get(batch);
      if (!batchImages) {
        batchImages = { data: pixels(batch, 1234 + batch), count: batch, height: size, width: size };
        images.set(batch, batchImages);
      }
      const start = performance.now();
      let iters = 0;
      for (;;) {
        await model.forward(batchImages, normalization);
        iters++;
        const elapsed = (performance.now() - start) / 1000;
        if (iters >= minIters && elapsed >= secs) return { iters, elapsed };
      }
    },
    close: () => model.dispose(),
  };
}

/** Starts bench/forward_pytorch.py --serve, or returns why it could not. */
async function pytorchSide(): Promise<{ side: Side; version: string } | string> {
  if (values['no-pytorch']) return 'skipped (--no-pytorch)';
  const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };
  const check = spawnSync(PYTHON, ['-c', 'import torch, torchvision'], { env, encoding: 'utf8' });
  if (check.error || check.status !== 0) {
    const why = check.error?.message ?? (check.stderr.trim().split('\n').at(-1) || `exit ${check.status}`);
    return `${PYTHON} cannot import torch and torchvision (${why})`;
  }
  const args = [join(here, 'forward_pytorch.py'), '--serve', '--threads', String(threads), '--size', String(size)];
  const child: ChildProcessByStdio<Writable, Readable, null> = spawn(PYTHON, args, {
    env,
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const exited = once(child, 'exit').then(([code]) => `forward_pytorch.py exited (${code})`);
  const spawnError = once(child, 'error').then(([e]) => `forward_pytorch.py failed to start (${(e as Error).message})`);
  async function next(): Promise<Record<string, unknown>> {
    const line = await lines.next();
    if (line.done) throw new Error(await Promise.race([exited, spawnError]));
    return JSON.parse(line.value) as Record<string, unknown>;
  }
  let hello: Record<string, unknown>;
  try {
    hello = await next();
  } catch (e) {
    return (e as Error).message;
  }
  return {
    version: `PyTorch ${String(hello.torch)}, torchvision ${String(hello.torchvision)}, ${String(hello.threads)} threads`,
    side: {
      name: 'pytorch',
      async round(batch, secs, minIters) {
        child.stdin.write(JSON.stringify({ batch, seconds: secs, minIters }) + '\n');
        const r = await next();
        return { iters: Number(r.iters), elapsed: Number(r.elapsed) };
      },
      async close() {
        child.stdin.end();
        await exited;
      },
    },
  };
}

console.error(
  `forward bench: resnet18, ${size}x${size}, eval, threads=${threads}, batches=${batches.join(',')}, ` +
    `${seconds}s timed per batch and side in ${rounds} rounds (median reported)`,
);
const sides: Side[] = [await torchdogSide()];
let py = await pytorchSide();
if (typeof py === 'string') console.error(`PyTorch: ${py}`);
else sides.push(py.side);

const results: Record<string, Record<string, BatchResult>> = Object.fromEntries(sides.map((s) => [s.name, {}]));

/** One round; if PyTorch fails, drops it (torchdog's numbers still get reported). */
async function runRound(side: Side, batch: number, secs: number, minIters: number): Promise<Round | undefined> {
  if (side.name !== 'pytorch') return side.round(batch, secs, minIters);
  try {
    return await side.round(batch, secs, minIters);
  } catch (e) {
    py = `failed during the run (${(e as Error).message})`;
    console.error(`PyTorch: ${py}`);
    sides.splice(sides.indexOf(side), 1);
    delete results.pytorch;
    return undefined;
  }
}

for (const batch of batches) {
  for (const side of [...sides]) await runRound(side, batch, warmupSeconds, warmupMin);
  const samples = new Map<Side, Round[]>(sides.map((s) => [s, []]));
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 ? [...sides].reverse() : [...sides];
    for (const side of order) {
      const round = await runRound(side, batch, roundSeconds, 1);
      if (round) samples.get(side)!.push(round);
    }
  }
  for (const side of sides) {
    const res = (results[side.name]![String(batch)] = summarize(batch, samples.get(side)!));
    console.error(
      `${side.name} batch ${batch}: ${res.imgPerSec.toFixed(1)} img/s (rounds ${res.minImgPerSec.toFixed(1)}` +
        `..${res.maxImgPerSec.toFixed(1)}), ${res.msPerBatch.toFixed(1)} ms/batch`,
    );
  }
}
for (const side of sides) await side.close();
const pyNote = typeof py === 'string' ? py : undefined;

const torchdog = results.torchdog!;
const pytorch = results.pytorch;
const header = ['batch', 'torchdog img/s', 'ms/batch'];
if (pytorch) header.push('PyTorch img/s', 'ms/batch', 'torchdog/PyTorch');
const rows: string[][] = [header];
const ratio: Record<string, number> = {};
for (const batch of batches) {
  const t = torchdog[String(batch)]!;
  const row = [String(batch), t.imgPerSec.toFixed(1), t.msPerBatch.toFixed(1)];
  const p = pytorch?.[String(batch)];
  if (p) {
    ratio[String(batch)] = t.imgPerSec / p.imgPerSec;
    row.push(p.imgPerSec.toFixed(1), p.msPerBatch.toFixed(1), ratio[String(batch)]!.toFixed(2));
  }
  rows.push(row);
}
const widths = header.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
console.log(
  `\nresnet18 forward, ${size}x${size} uint8 NHWC, eval, ${threads} threads: median of ${rounds} rounds, ${seconds}s per batch size and side`,
);
for (const r of rows) console.log(r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '));
if (typeof py === 'string') console.log(`PyTorch: ${py}; torchdog numbers only.`);
else console.log(`${py.version}; ratio > 1 means torchdog is faster.`);

const round2 = (x: number) => Math.round(x * 100) / 100;
const imgPerSec = (r: Record<string, BatchResult>) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [k, round2(v.imgPerSec)]));
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
    pytorch: pytorch ? imgPerSec(pytorch) : null,
    ratio: pytorch ? Object.fromEntries(Object.entries(ratio).map(([k, v]) => [k, Math.round(v * 1000) / 1000])) : null,
    ...(pyNote !== undefined ? { pytorchNote: pyNote } : {}),
  }),
);
