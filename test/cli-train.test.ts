// `torchdog train` without --config trains the one default recipe, the
// package's configs/default.yaml, from whatever folder it runs in: a
// configs/default.yaml of the working directory is not read.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { torchdog } from './helpers/dvc.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { generateDemoData } from '../src/data/index.ts';
import { DEFAULT_CONFIG } from '../src/train/index.ts';

const ROOT = join(import.meta.dirname, '..');
const TINY = ['data.image_size=16', 'train.batch_size=4', 'train.epochs=1', 'train.threads=1', 'train.device=cpu', 'train.log_every=100'];

test("without --config, train reads the package's configs/default.yaml, not the working directory's", async () => {
  const elsewhere = await tempDir('torchdog-cli-train-');
  const data = (await generateDemoData(join(elsewhere, 'images'), { perClass: 6, size: 16 })).root;
  // A decoy recipe where a user's project might have one: none of it may reach the run.
  await mkdir(join(elsewhere, 'configs'));
  await writeFile(join(elsewhere, 'configs', 'default.yaml'), 'optim:\n  schedule: step\n  lr: 0.5\ntrain:\n  augment:\n    crop_scale: null\n');

  const result = await torchdog(['train', `data.root=${data}`, 'output.dir=runs', ...TINY], elsewhere);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stderr, new RegExp(`^config: ${join(ROOT, 'configs', 'default.yaml').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n`));
  const summary = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
  const resolved = parse(await readFile(join(summary.run_dir, 'config.yaml'), 'utf8'));
  assert.equal(resolved.optim.schedule, 'cosine');
  assert.equal(resolved.optim.lr, DEFAULT_CONFIG.optim.lr);
  assert.deepEqual(resolved.train.augment, DEFAULT_CONFIG.train.augment);
  assert.equal(resolved.train.epochs, 1, 'overrides still win');

  // --config names a file of the working directory explicitly.
  const own = await torchdog(['train', '--config', 'configs/default.yaml', `data.root=${data}`, 'output.dir=runs', ...TINY], elsewhere);
  assert.equal(own.code, 0, own.stderr);
  assert.match(own.stderr, /^config: configs\/default\.yaml\n/);
  const ownRun = parse(await readFile(join(JSON.parse(own.stdout.trim().split('\n').at(-1)!).run_dir, 'config.yaml'), 'utf8'));
  assert.deepEqual([ownRun.optim.schedule, ownRun.optim.lr, ownRun.train.augment.crop_scale], ['step', 0.5, null]);
});
