// Data-parallel scaling on one machine: `torchdog train` as 1 process × T
// threads against `--nproc P` processes × T/P threads, the same global batch
// (32) and recipe, in the same run.
//
//   flock /tmp/bench.lock node --import tsx bench/distributed.ts [--nproc 2] [--threads 2] [--runs 3] [--epochs 1] [--size 128] [--data data/demo]
//
// Runs alternate single / distributed so background load falls on both;
// img/s is the summary's train_img_per_s (the training loop's images over
// its seconds: the job's images for the distributed run). Prints each run,
// the medians and distributed/single (> 1: the processes are faster).
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { ensureDemoData } from '../src/data/demo.ts';
import { median } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    nproc: { type: 'string', default: '2' },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string', default: '3' },
    epochs: { type: 'string', default: '1' },
    size: { type: 'string', default: '128' },
    batch: { type: 'string', default: '32' },
    data: { type: 'string', default: 'data/demo' },
  },
});
const [nproc, threads, runs, batch] = [values.nproc, values.threads, values.runs, values.batch].map(Number) as [number, number, number, number];
if (threads % nproc !== 0 || batch % nproc !== 0) throw new Error('--threads and --batch must be multiples of --nproc');
const root = join(import.meta.dirname, '..');
const out = mkdtempSync(join(tmpdir(), 'torchdog-bench-dist-'));
if (values.data === 'data/demo') await ensureDemoData(join(root, 'data', 'demo'));

function run(distributed: boolean, i: number): number {
  const perRank = distributed ? ['--nproc', String(nproc), `train.batch_size=${batch / nproc}`, `train.threads=${threads / nproc}`] : [`train.batch_size=${batch}`, `train.threads=${threads}`];
  const r = spawnSync(process.execPath, [join(root, 'bin', 'torchdog.js'), 'train', ...perRank, `data.root=${values.data}`, `data.image_size=${values.size}`,
    `train.epochs=${values.epochs}`, 'train.device=cpu', 'train.augment.crop_scale=null', `output.dir=${out}`, `output.name=${distributed ? 'dist' : 'single'}-${i}`],
    { cwd: root, env: { ...process.env, OPENBLAS_NUM_THREADS: '1' }, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torchdog train failed: ${r.stderr.slice(-2000)}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!).train_img_per_s as number;
}

const single: number[] = [];
const dist: number[] = [];
for (let i = 0; i < runs; i++) {
  for (const distributed of i % 2 ? [true, false] : [false, true]) {
    const imgPerS = run(distributed, i);
    (distributed ? dist : single).push(imgPerS);
    process.stderr.write(`run ${i + 1}: ${distributed ? `${nproc} processes × ${threads / nproc} thread(s)` : `1 process × ${threads} threads`}: ${imgPerS.toFixed(1)} img/s\n`);
  }
}
const [s, d] = [median(single), median(dist)];
console.log(`1 process × ${threads} threads: ${s.toFixed(1)} img/s (median of ${runs})`);
console.log(`${nproc} processes × ${threads / nproc} thread(s): ${d.toFixed(1)} img/s (median of ${runs})`);
console.log(JSON.stringify({ bench: 'distributed', size: Number(values.size), batch, threads, nproc, runs, single, distributed: dist, ratio: d / s }));
