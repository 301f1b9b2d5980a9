// Training throughput: `torchdog train` against the same recipe in PyTorch
// (bench/train_pytorch.py), in the same run, on the same demo data.
//
//   node --import tsx bench/train.ts [--epochs 3] [--threads 2] [--runs 1]
//
// Both train resnet18 from scratch at 128 px, batch 32, Adam 1e-3, horizontal
// flips, N epochs, then report img/s inside the training loop, whole-command
// wall time and validation accuracy. Runs alternate torchdog / PyTorch so
// background load falls on both; medians are printed with the ratio.
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { ensureDemoData } from '../src/data/demo.ts';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: '3' },
    threads: { type: 'string', default: '2' },
    runs: { type: 'string', default: '1' },
    amp: { type: 'boolean', default: false },
    /** train.amp=auto, the default recipe's: bf16 only where the CPU has bf16 instructions. */
    'amp-auto': { type: 'boolean', default: false },
    data: { type: 'string', default: 'data/demo' },
  },
});
const epochs = Number(values.epochs);
const threads = Number(values.threads);
const runs = Number(values.runs);
const root = join(import.meta.dirname, '..');
const python = process.env.TORCHDOG_BENCH_PYTHON ?? '/usr/bin/python3';
const env = { ...process.env, OPENBLAS_NUM_THREADS: '1' };

interface Result {
  seconds: number;
  img_per_s: number;
  /** torchdog: on the split held out of train/; PyTorch's script: on test/. */
  val_acc: number;
  best_val_acc: number;
  /** torchdog: test/ with the best weights (PyTorch's val_acc is on test/ too). */
  test_acc?: number | null;
  precision?: string;
}

function lastJson(stdout: string): Record<string, unknown> {
  return JSON.parse(stdout.trim().split('\n').at(-1)!);
}

function runTorchdog(out: string, i: number): Result {
  const started = performance.now();
  // The PyTorch script's recipe exactly: flips only, constant learning rate.
  const r = spawnSync(process.execPath, [join(root, 'bin', 'torchdog.js'), 'train', `data.root=${values.data}`, `train.epochs=${epochs}`,
    `train.threads=${threads}`, 'train.device=cpu', 'optim.name=adam', 'optim.lr=0.001', 'optim.schedule=none', 'train.batch_size=32',
    'data.image_size=128', 'train.augment.hflip=true', 'train.augment.crop_scale=null', `train.amp=${values.amp ? 'true' : values['amp-auto'] ? 'auto' : 'false'}`,
    `output.dir=${out}`, `output.name=bench-${i}`], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`torchdog train failed: ${r.stderr.slice(-2000)}`);
  const s = lastJson(r.stdout);
  return {
    seconds: (performance.now() - started) / 1000, img_per_s: s.train_img_per_s as number, val_acc: s.val_acc as number, best_val_acc: s.best_val_acc as number,
    test_acc: s.test_acc as number | null, precision: s.precision as string,
  };
}

function runPytorch(): Result | null {
  const started = performance.now();
  const r = spawnSync(python, [join(root, 'bench', 'train_pytorch.py'), '--data', values.data!, '--epochs', String(epochs), '--threads', String(threads)], { cwd: root, env, encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`PyTorch baseline did not run (${python}): ${(r.stderr || String(r.error)).slice(-500)}\n`);
    return null;
  }
  const s = lastJson(r.stdout);
  return { seconds: (performance.now() - started) / 1000, img_per_s: s.train_img_per_s as number, val_acc: s.val_acc as number, best_val_acc: s.best_val_acc as number };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

await ensureDemoData(values.data!);
const out = mkdtempSync(join(tmpdir(), 'torchdog-bench-train-'));
const ours: Result[] = [];
const theirs: Result[] = [];
for (let i = 0; i < runs; i++) {
  const order = i % 2 === 0 ? ['torchdog', 'pytorch'] : ['pytorch', 'torchdog'];
  for (const who of order) {
    process.stderr.write(`run ${i + 1}/${runs}: ${who}…\n`);
    if (who === 'torchdog') ours.push(runTorchdog(out, i));
    else {
      const r = runPytorch();
      if (r) theirs.push(r);
    }
  }
}
const summarise = (rs: Result[]) => rs.length ? {
  img_per_s: median(rs.map((r) => r.img_per_s)), seconds: median(rs.map((r) => r.seconds)),
  val_acc: median(rs.map((r) => r.val_acc)), best_val_acc: median(rs.map((r) => r.best_val_acc)),
  test_acc: rs.every((r) => typeof r.test_acc === 'number') ? median(rs.map((r) => r.test_acc!)) : null, precision: rs[0]!.precision ?? null,
} : null;
const a = summarise(ours)!;
const b = summarise(theirs);
const row = (name: string, s: ReturnType<typeof summarise>) =>
  s ? `${name.padEnd(10)} ${s.img_per_s.toFixed(1).padStart(10)} ${s.seconds.toFixed(1).padStart(9)} ${s.val_acc.toFixed(3).padStart(8)} ${s.best_val_acc.toFixed(3).padStart(9)}` : `${name.padEnd(10)} (not run)`;
console.log(`\nresnet18 training, ${values.data}, 128 px, batch 32, Adam 1e-3, ${epochs} epochs, ${threads} threads${values.amp ? ', torchdog with bf16 autocast' : ''}; median of ${runs} run(s)`);
console.log('           train img/s  wall s   val_acc  best_val');
console.log(row('torchdog', a));
if (a.test_acc !== null) console.log(`torchdog test_acc (test/, best weights; comparable to PyTorch's val_acc on test/): ${a.test_acc.toFixed(3)}; precision ${a.precision}`);
console.log(row('PyTorch', b));
if (b) console.log(`ratio (torchdog/PyTorch): img/s ${(a.img_per_s / b.img_per_s).toFixed(2)}x, wall ${(b.seconds / a.seconds).toFixed(2)}x faster`);
console.log(JSON.stringify({ bench: 'train', epochs, threads, runs, amp: values.amp, torchdog: a, pytorch: b, ratio: b ? { img_per_s: a.img_per_s / b.img_per_s, wall: b.seconds / a.seconds } : null }));
