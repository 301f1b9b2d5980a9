// Without a loadable addon (install scripts off, LibTorch missing), the
// package still imports: drift and DVC work, from the library and the CLI,
// and only what needs LibTorch fails, with one line naming the fix. Runs the
// built dist/ (as bin/torchdog.js does), with TORCHDOG_ADDON pointing nowhere.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { withoutAddonProgram, type WithoutAddonResult } from './helpers/without-addon.ts';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin', 'torchdog.js');
const NO_ADDON = { ...process.env, TORCHDOG_ADDON: '/nonexistent/torchdog-addon' };

async function run(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, args, { cwd, env: NO_ADDON });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('the library imports without the addon: drift and DVC work, Model.create names `npm rebuild torchdog`', async () => {
  const dir = await tempDir('torchdog-no-addon-');
  const program = join(dir, 'program.mjs');
  await writeFile(program, withoutAddonProgram(pathToFileURL(join(ROOT, 'dist', 'index.js')).href));
  const result = await run([program, dir], dir);
  assert.equal(result.code, 0, result.stderr);
  const seen = JSON.parse(result.stdout) as WithoutAddonResult;
  assert.deepEqual({ ...seen, engine: undefined }, { drift: true, pushed: 4, pulled: 3, restored: ['0.jpg', '1.jpg', '2.jpg'], engine: undefined });
  assert.match(seen.engine ?? '', /native addon at \/nonexistent\/torchdog-addon could not be loaded [^]*Run `npm rebuild torchdog`/);
});

test('the CLI without the addon: --version, drift and data work; predict fails naming the fix, without a stack trace', async () => {
  const dir = await tempDir('torchdog-no-addon-cli-');
  const version = await run([CLI, '--version'], dir);
  assert.equal(version.code, 0, version.stderr);
  const row = (i: number, shift: number) => JSON.stringify({ avg_brightness: 0.4 + shift + (i % 10) / 100, contrast: 0.2, sharpness: 0.05, category: 'a' });
  await writeFile(join(dir, 'reference.jsonl'), Array.from({ length: 50 }, (_, i) => row(i, 0)).join('\n') + '\n');
  await writeFile(join(dir, 'current.jsonl'), Array.from({ length: 50 }, (_, i) => row(i, 0.3)).join('\n') + '\n');
  const drift = await run([CLI, 'drift', '-r', 'reference.jsonl', '-c', 'current.jsonl'], dir);
  assert.equal(drift.code, 0, drift.stderr);
  assert.equal(JSON.parse(drift.stdout).columns.avg_brightness.drift, true);
  const data = await run([CLI, 'data', 'status'], dir);
  assert.equal(data.code, 1);
  assert.match(data.stderr, /^torchdog data: status: .* is not inside a DVC repository/);
  // A real checkpoint and image (written by this process, which has the addon), so predict gets as far as the engine.
  await writeRandomCheckpoint(join(dir, 'model.safetensors'));
  await writeFile(join(dir, 'photo.jpg'), await encodeImage('jpeg', 64, 64, 1));
  const predict = await run([CLI, 'predict', '--device', 'cpu', '-m', 'model.safetensors', 'photo.jpg'], dir);
  assert.equal(predict.code, 1);
  assert.doesNotMatch(predict.stderr, /\n\s+at /, 'no stack trace');
  assert.match(predict.stderr, /^torchdog predict: .*native addon at \/nonexistent\/torchdog-addon could not be loaded [^]*Run `npm rebuild torchdog`\.\n$/);
});
