// `torchdog lr-find`: an exponential ramp of the learning rate on a fresh
// model, a smoothed loss that stops at divergence, a suggestion on stdout and
// the curve in a page; no run directory or weights touched.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generateDemoData } from '../src/data/index.ts';
import { lrFind, parseOverrides, resolveConfig, train } from '../src/train/index.ts';
import { suggest } from '../src/train/lr-find.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { torchdog } from './helpers/dvc.ts';

test('the suggestion is the steepest fall of the smoothed loss before its minimum, else a tenth of the lowest loss\'s rate', () => {
  const lrs = [1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1];
  assert.deepEqual(suggest(lrs, [2, 1.9, 1.2, 0.9, 0.8, 5]), { suggested_lr: 1e-3, min_loss_lr: 1e-1 });
  assert.deepEqual(suggest(lrs, [1, 0.99, 1, 1, 0.98, 5]), { suggested_lr: 1e-2, min_loss_lr: 1e-1 }, 'no steep part: a tenth of the lowest loss\'s rate');
  assert.deepEqual(suggest(lrs.slice(0, 2), [2, 1]), { suggested_lr: null, min_loss_lr: null });
});

test('lr-find ramps the rate exponentially, stops when the loss diverges, and changes no run', async () => {
  const data = (await generateDemoData(join(await tempDir('torchdog-lrfind-data-'), 'demo'), { perClass: 8, size: 16 })).root;
  const out = await tempDir();
  const overrides = [`data.root=${data}`, 'data.image_size=16', 'train.batch_size=4', 'train.threads=1', 'train.device=cpu', `output.dir=${out}`];
  const config = resolveConfig(parseOverrides(overrides));
  const result = await lrFind(config, { startLr: 1e-5, endLr: 1e4, steps: 40 });
  assert.equal(result.stopped, 'diverged', `Adam at lr up to 1e4 diverges (losses ${result.smoothed.map((l) => l.toFixed(2))})`);
  assert.ok(result.steps < 40);
  const ratios = result.lrs.slice(1).map((lr, i) => lr / result.lrs[i]!);
  for (const r of ratios) assert.ok(Math.abs(r - (1e9) ** (1 / 39)) < 1e-9, 'a constant ratio: exponential');
  assert.ok(result.suggested_lr !== null && result.suggested_lr >= 1e-5 && result.suggested_lr <= result.min_loss_lr!);

  const run = await train(resolveConfig(parseOverrides([...overrides, 'train.epochs=1', 'output.name=kept'])));
  const hashes = async () => Object.fromEntries(await Promise.all((await readdir(run.run_dir)).sort().map(async (f) => [f, createHash('sha256').update(await readFile(join(run.run_dir, f))).digest('hex')])));
  const before = await hashes();
  const cli = await torchdog(['lr-find', ...overrides, '--steps', '12', '--html', join(out, 'curve.html')], out);
  assert.equal(cli.code, 0, cli.stderr);
  const lines = cli.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'one JSON line on stdout');
  const printed = JSON.parse(lines[0]!);
  assert.equal(typeof printed.suggested_lr, 'number');
  assert.equal(printed.html, join(out, 'curve.html'));
  assert.match(await readFile(printed.html, 'utf8'), /<svg[\s\S]*learning rate/);
  assert.deepEqual(await hashes(), before, 'the run directory is untouched');
  assert.deepEqual((await readdir(out)).sort(), ['curve.html', 'kept', 'latest']);
});
