// `torchdog` itself: --version, help and usage errors, and what a flag that
// should have been a config override gets told. Runs the CLI from source.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { torchdog } from './helpers/dvc.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { COMMAND_NAMES } from '../src/cli/main.ts';

const ROOT = join(import.meta.dirname, '..');
const cwd = await tempDir('torchdog-cli-main-');
const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };

test('--version and -v print the package version, one line, from any folder', async () => {
  for (const flag of ['--version', '-v']) {
    const result = await torchdog([flag], cwd);
    assert.deepEqual([result.code, result.stdout, result.stderr], [0, `${version}\n`, ''], flag);
  }
});

test('bare torchdog is a usage error: usage on stderr, nothing on stdout, status 2; --help is usage on stdout, status 0', async () => {
  const bare = await torchdog([], cwd);
  assert.equal(bare.code, 2);
  assert.equal(bare.stdout, '');
  assert.match(bare.stderr, /^torchdog — train, serve and monitor/);
  assert.match(bare.stderr, /--version, -v/);
  for (const flag of ['--help', '-h', 'help']) {
    const help = await torchdog([flag], cwd);
    assert.deepEqual([help.code, help.stderr], [0, ''], flag);
    assert.equal(help.stdout, bare.stderr, flag);
  }
  const unknown = await torchdog(['trian'], cwd);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stdout, '');
  assert.match(unknown.stderr, /^torchdog: unknown command 'trian'\n/);
});

test("every command's --help prints its usage on stdout, lists --help, and exits 0", async () => {
  assert.ok(COMMAND_NAMES.includes('eval') && COMMAND_NAMES.length >= 6, `commands: ${COMMAND_NAMES.join(', ')}`);
  for (const name of COMMAND_NAMES) {
    const result = await torchdog([name, '--help'], cwd);
    assert.equal(result.code, 0, `${name}: ${result.stderr}`);
    assert.match(result.stdout, new RegExp(`^Usage: torchdog ${name}\\b`), name);
    assert.match(result.stdout, /\n {2}--help, -h +show this help\n/, `${name} --help lists --help`);
  }
});

test('train --epochs 5 suggests the override train.epochs=5, with the value typed; other unknown flags get one short line', async () => {
  const cases: Array<[string[], string]> = [
    [['train', '--epochs', '5'], "torchdog train: unknown option '--epochs'; config keys are set as key=value, without dashes: train.epochs=5\n"],
    [['train', '--epochs=5'], "torchdog train: unknown option '--epochs'; config keys are set as key=value, without dashes: train.epochs=5\n"],
    [['train', '--lr', '3e-4', 'train.epochs=2'], "torchdog train: unknown option '--lr'; config keys are set as key=value, without dashes: optim.lr=3e-4\n"],
    [['train', '--batch-size', '64'], "torchdog train: unknown option '--batch-size'; config keys are set as key=value, without dashes: train.batch_size=64\n"],
    [['train', '--train.augment.hflip=false'], "torchdog train: unknown option '--train.augment.hflip'; config keys are set as key=value, without dashes: train.augment.hflip=false\n"],
    [['train', '--name', 'x'], "torchdog train: unknown option '--name'; config keys are set as key=value, without dashes: optim.name=x or output.name=x\n"],
    [['train', '--epochs', '--resume', 'r'], "torchdog train: unknown option '--epochs'; config keys are set as key=value, without dashes: train.epochs=VALUE\n"],
    [['train', '--frobnicate'], "torchdog train: unknown option '--frobnicate'; train's options are --config, --resume, --multirun, --help and the launcher's (--nproc, --nnodes, --node-rank, --master, --host, --timeout); config keys are set as key=value (e.g. train.epochs=5), see 'torchdog train --help'\n"],
    [['eval', '--frobnicate'], "torchdog eval: unknown option '--frobnicate'\nRun 'torchdog eval --help' for usage.\n"],
  ];
  for (const [args, stderr] of cases) {
    const result = await torchdog(args, cwd);
    assert.deepEqual([result.code, result.stdout, result.stderr], [2, '', stderr], args.join(' '));
  }
});
