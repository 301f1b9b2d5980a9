// `train --multirun`: the grid, its folder, resuming after a stop, and the
// files it writes (summary.jsonl, the comparison page).
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateDemoData } from '../src/data/index.ts';
import { parseSweep, splitSweepValues, sweep, sweepGrid, type SweepEvent } from '../src/train/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { torchdog } from './helpers/dvc.ts';

test('Hydra comma syntax: swept keys become axes of a product (last fastest); brackets keep their commas', () => {
  assert.deepEqual(splitSweepValues('[1,2],[3, 4]'), ['[1,2]', '[3, 4]']);
  assert.deepEqual(splitSweepValues('"a,b",c'), ['"a,b"', 'c']);
  const { fixed, axes } = parseSweep(['optim.lr=1e-3,3e-4', 'train.epochs=2', 'train.batch_size=16,32', 'data.mean=[0.4,0.4,0.4]']);
  assert.deepEqual(fixed, ['train.epochs=2', 'data.mean=[0.4,0.4,0.4]']);
  assert.deepEqual(axes, [{ key: 'optim.lr', values: ['1e-3', '3e-4'] }, { key: 'train.batch_size', values: ['16', '32'] }]);
  const grid = sweepGrid([{}], fixed, axes);
  assert.deepEqual(grid.map((r) => [r.n, r.config.optim.lr, r.config.train.batch_size, r.config.train.epochs]), [
    [0, 1e-3, 16, 2], [1, 1e-3, 32, 2], [2, 3e-4, 16, 2], [3, 3e-4, 32, 2],
  ]);
  assert.throws(() => sweepGrid([{}], [], parseSweep(['train.epochs=1,zero']).axes), /sweep run 1 \(train\.epochs=zero\): config key 'train\.epochs'/);
  assert.throws(() => parseSweep(['optim.lr=1e-3,']), /an empty value/);
});

test('a 2×2 sweep stopped in its second run continues where it stopped: finished runs skipped, the interrupted one resumed', async () => {
  const data = (await generateDemoData(join(await tempDir('torchdog-sweep-data-'), 'demo'), { perClass: 6, size: 16 })).root;
  const out = await tempDir();
  const { fixed, axes } = parseSweep([
    `data.root=${data}`, 'data.image_size=16', 'train.epochs=2', 'train.threads=1', 'train.device=cpu', `output.dir=${out}`,
    'optim.lr=1e-3,3e-4', 'train.batch_size=2,4',
  ]);
  const grid = sweepGrid([{}], fixed, axes);
  const controller = new AbortController();
  const first: SweepEvent[] = [];
  const stopped = await sweep(grid, {
    signal: controller.signal,
    onEvent: (e) => {
      first.push(e);
      if (e.type === 'run-event' && e.n === 1 && e.event.type === 'step' && e.event.epoch === 2) controller.abort();
    },
  });
  assert.equal(stopped.interrupted, true);
  assert.equal(stopped.completed, 1);
  assert.match(stopped.sweep_dir, /\/sweep-[0-9a-f]{10}$/);
  assert.deepEqual((await readdir(stopped.sweep_dir)).sort(), ['0', '1', 'index.html', 'latest', 'summary.jsonl', 'sweep.json']);

  const again: SweepEvent[] = [];
  const done = await sweep(sweepGrid([{}], fixed, axes), { onEvent: (e) => again.push(e) });
  assert.equal(done.sweep_dir, stopped.sweep_dir, 'the same command finds the same sweep');
  assert.deepEqual(again.filter((e) => e.type === 'sweep-run').map((e) => e.type === 'sweep-run' && `${e.n}:${e.action}`), ['0:skip', '1:resume', '2:start', '3:start']);
  const resumedAt = again.find((e) => e.type === 'run-event' && e.n === 1 && e.event.type === 'run-started');
  assert.ok(resumedAt?.type === 'run-event' && resumedAt.event.type === 'run-started' && resumedAt.event.resumed?.epoch === 2);
  assert.deepEqual([done.completed, done.skipped, done.interrupted], [4, 1, false]);

  const lines = (await readFile(done.summary, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => [l.n, l.overrides['optim.lr'], l.overrides['train.batch_size'], l.epochs]), [
    [0, '1e-3', '2', 2], [1, '1e-3', '4', 2], [2, '3e-4', '2', 2], [3, '3e-4', '4', 2],
  ]);
  assert.ok(lines.every((l) => l.run_dir === join(done.sweep_dir, String(l.n)) && typeof l.best_val_acc === 'number'));
  const best = lines.reduce((b, l) => (l.best_val_acc > b.best_val_acc ? l : b));
  assert.equal(done.best!.best_val_acc, best.best_val_acc);

  const page = await readFile(done.page, 'utf8');
  assert.equal((page.match(/<path class="line run"/g) ?? []).length, 8, 'every run has a curve on both charts');
  assert.equal((page.match(/<tr><td data-v="\d"/g) ?? []).length, 4);
  // The table starts sorted by best validation accuracy.
  const order = [...page.matchAll(/<tr><td data-v="(\d)"/g)].map((m) => Number(m[1]));
  const accs = order.map((n) => lines.find((l) => l.n === n)!.best_val_acc);
  assert.deepEqual(accs, [...accs].sort((a, b) => b - a));
  // Run 3 differs from run 0 in both swept keys; run 1 only in the batch size.
  assert.match(page, /<td class="name diff" data-v="3e-4">3e-4<\/td><td class="name diff" data-v="4">/);
  assert.match(page, /<tr><td data-v="1"[^>]*>#1<\/td><td class="name" data-v="1e-3">1e-3<\/td><td class="name diff" data-v="4">/);
  // Its one script is allowed by its hash, nothing else.
  const script = /<script>([\s\S]*)<\/script>/.exec(page)![1]!;
  assert.match(page, new RegExp(`script-src 'sha256-${createHash('sha256').update(script).digest('base64').replace(/[+/]/g, '\\$&')}'`));
});

test('CLI: train --multirun runs the grid and prints the sweep summary; --multirun without a swept key is a usage error', async () => {
  const data = (await generateDemoData(join(await tempDir('torchdog-sweep-cli-'), 'demo'), { perClass: 4, size: 16 })).root;
  const out = await tempDir();
  const args = ['train', '--multirun', `data.root=${data}`, 'data.image_size=16', 'train.epochs=1', 'train.threads=1', 'train.device=cpu', `output.dir=${out}`, 'output.name=grid'];
  const r = await torchdog([...args, 'optim.lr=1e-3,1e-4'], out);
  assert.equal(r.code, 0, r.stderr);
  const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual([summary.sweep_dir, summary.runs, summary.completed], [join(out, 'grid'), 2, 2]);
  assert.match(r.stderr, /sweep: run 2\/2 \(optim\.lr=1e-4\): starting/);
  const bad = await torchdog(args, out);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--multirun needs a swept key/);
});
