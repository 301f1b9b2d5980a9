// The node-gyp build (binding.gyp) must keep producing a working addon, even
// though cmake-js is the build that `npm install` runs. The check compiles all
// three sources in a temporary directory: about a minute on 2 cores without
// ccache, seconds with a warm one. TORCHDOG_SKIP_GYP=1 skips it.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const script = join(root, 'scripts', 'check-gyp-build.sh');

const skip = process.env.TORCHDOG_SKIP_GYP === '1' ? 'TORCHDOG_SKIP_GYP=1: skipping the node-gyp build check' : false;

/** Every file under ./build with its size and mtime, to show the check left the cmake-js output alone. */
function snapshot(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .sort()
    .map((name) => {
      const s = statSync(join(dir, name));
      return `${name} ${s.isDirectory() ? 'dir' : `${s.size} ${s.mtimeMs}`}`;
    });
}

function run(command: string, args: string[]): Promise<{ code: number | null; signal: NodeJS.Signals | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, output }));
  });
}

test('binding.gyp builds with node-gyp into an addon that runs a forward pass', { skip, timeout: 20 * 60_000 }, async () => {
  const before = snapshot(join(root, 'build'));
  const { code, signal, output } = await run('bash', [script]);
  assert.equal(code, 0, `scripts/check-gyp-build.sh exited with ${code ?? signal}:\n${output}`);
  assert.match(output, /check-gyp-build: forward OK/, output);
  assert.match(output, /check-gyp-build: OK/, output);
  assert.deepEqual(snapshot(join(root, 'build')), before, 'the node-gyp check changed ./build (the cmake-js output)');
});
