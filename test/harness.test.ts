// The suite's own accounting: test/helpers/harness.ts and scripts/test.mjs count
// every outcome honestly, so that `npm test`'s closing line (which .ci/run reads)
// and its exit code can be trusted. Small sample test files are written into a
// temporary folder, each importing the harness by absolute file URL, and run
// through the real runner as a child process, the way `npm test` runs the
// suite: all of them in one run (their counts summed), the passing ones in a
// second run (exit code 0), and two of them directly with `node --import tsx`.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const harness = JSON.stringify(pathToFileURL(join(root, 'test', 'helpers', 'harness.ts')).href);
const header = `import { test, before, after } from ${harness};\nimport assert from 'node:assert/strict';\n`;

/** The sample files: name → source (after the common header). */
const samples: Record<string, string> = {
  'pass.test.ts': `
test('adds', () => { assert.equal(1 + 1, 2); });
test('awaits', async () => { await new Promise((resolve) => setTimeout(resolve, 5)); });
`,
  'assertion.test.ts': `
test('compares wrongly', () => { assert.equal(1 + 1, 3); });
test('compares rightly', () => { assert.equal(1 + 1, 2); });
`,
  'throws.test.ts': `
test('throws an Error', () => { throw new Error('an Error thrown by the test'); });
test('throws a string', () => { throw 'a string thrown by the test'; });
`,
  'timeout.test.ts': `
test('hangs past its bound', { timeout: 300 }, () => {
  setInterval(() => {}, 1000); // a handle left alive: only the harness can end this file
  return new Promise(() => {});
});
test('runs after the hung test', () => {});
`,
  'rejection.test.ts': `
test('rejects in the background', () => { void Promise.reject(new Error('rejected and never handled')); });
test('passes after the rejection', () => {});
`,
  'before.test.ts': `
before(() => { throw new Error('the setup broke'); });
test('first, after a broken setup', () => {});
test('second, after a broken setup', () => {});
`,
  'skip.test.ts': `
test('is skipped', { skip: 'not on this machine' }, () => { throw new Error('a skipped test ran'); });
test('is run', () => {});
`,
  'after.test.ts': `
after(() => { throw new Error('the teardown broke'); });
test('passes before a broken teardown', () => {});
`,
  'crash.test.ts': `
test('never runs', () => {});
throw new Error('broken at import');
`,
};

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

const stripAnsi = (s: string): string => s.replace(/\x1b\[[0-9;]*m/g, '');

/** Runs `node ARGS` from the repository root (where tsx resolves), without colours, bounded. */
function node(args: string[]): Promise<Run> {
  const env: NodeJS.ProcessEnv = { ...process.env, NO_COLOR: '1', TORCHDOG_TEST_FILE_TIMEOUT_S: '60' };
  delete env.FORCE_COLOR;
  delete env.TORCHDOG_TEST_TIMEOUT_S;
  delete env.TORCHDOG_TEST_TIMES;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const kill = setTimeout(() => child.kill('SIGKILL'), 75_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(kill);
      resolve({ code, signal, stdout: stripAnsi(stdout), stderr: stripAnsi(stderr) });
    });
  });
}

let dir = '';
const file = (name: string): string => join(dir, name);
let all: Run;
let passing: Run;
let directPass: Run;
let directFail: Run;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'torchdog-harness-'));
  // ES modules, as the suite's own files are (top-level await and all).
  writeFileSync(file('package.json'), '{ "type": "module" }\n');
  for (const [name, source] of Object.entries(samples)) writeFileSync(file(name), header + source);
  const runner = join(root, 'scripts', 'test.mjs');
  [all, passing, directPass, directFail] = await Promise.all([
    node([runner, ...Object.keys(samples).map(file)]),
    node([runner, file('pass.test.ts'), file('skip.test.ts')]),
    node(['--import', 'tsx', file('pass.test.ts')]),
    node(['--import', 'tsx', file('assertion.test.ts')]),
  ]);
}, { timeout: 90_000 });

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The runner's line for one file, without its duration: `uvu Total T, Passed P, Skipped S; F failed; exit code N`. */
function fileLine(run: Run, name: string): string {
  const lines = run.stdout.split('\n').filter((line) => line.startsWith('# ') && line.includes(`/${name}: `));
  const [line] = lines;
  assert.ok(lines.length === 1 && line !== undefined, `one runner line for ${name} in:\n${quote(run.stdout)}`);
  return line.slice(line.indexOf(`/${name}: `) + name.length + 3).replace(/; [\d.]+ s$/, '');
}

/** The runner's `failed:` list, each entry as `FILE  "test"` or `FILE: reason`, the folder left out. */
function failedList(run: Run): string[] {
  const match = /\nfailed:\n((?: {2}.*\n)*)/.exec(run.stdout);
  if (!match?.[1]) return [];
  return match[1].trimEnd().split('\n').map((line) => line.trim().replace(/^\S*\//, ''));
}

const closing = (run: Run): string => run.stdout.trimEnd().split('\n').at(-1) ?? '';

/** A run's output for a failure message, each line behind `| ` so that the outer runner does not read the samples' summaries (Total, FAIL, Outside tests, # total) as this file's. */
const quote = (text: string): string => text.replace(/^/gm, '    | ');
const why = (run: Run): string => `stdout:\n${quote(run.stdout)}\nstderr:\n${quote(run.stderr)}`;

test('a passing file counts every test as passed', () => {
  assert.equal(fileLine(all, 'pass.test.ts'), 'uvu Total 2, Passed 2, Skipped 0; 0 failed; exit code 0');
});

test('a failing assertion fails its test (and only it), named in the failures', () => {
  assert.equal(fileLine(all, 'assertion.test.ts'), 'uvu Total 2, Passed 1, Skipped 0; 1 failed; exit code 1');
  assert.match(all.stdout, /FAIL\s+assertion\.test\.ts\s+"compares wrongly"/);
  assert.ok(failedList(all).includes('assertion.test.ts  "compares wrongly"'), why(all));
});

test('a thrown Error and a thrown string each fail their test, with the message', () => {
  assert.equal(fileLine(all, 'throws.test.ts'), 'uvu Total 2, Passed 0, Skipped 0; 2 failed; exit code 1');
  assert.match(all.stdout, /"throws an Error"\n\s+an Error thrown by the test/);
  assert.match(all.stdout, /"throws a string"\n\s+a string thrown by the test/);
});

test('a test past its own bound fails naming itself and the bound; the file still finishes although a timer stays alive', () => {
  assert.equal(fileLine(all, 'timeout.test.ts'), 'uvu Total 2, Passed 1, Skipped 0; 1 failed; exit code 1');
  assert.match(all.stdout, /"hangs past its bound"\n\s+test "hangs past its bound" timed out after 300 ms \(its time bound\)/);
  assert.match(all.stderr, /timeout\.test\.ts: still running 2 s after its tests finished \(open handles\); exiting/);
});

test('an unhandled rejection fails the test that is running, not the next one', () => {
  assert.equal(fileLine(all, 'rejection.test.ts'), 'uvu Total 2, Passed 1, Skipped 0; 1 failed; exit code 1');
  assert.match(all.stdout, /"rejects in the background"\n\s+unhandled rejection: rejected and never handled/);
  assert.ok(!failedList(all).includes('rejection.test.ts  "passes after the rejection"'), why(all));
});

test('a failing before hook fails every test of the file', () => {
  assert.equal(fileLine(all, 'before.test.ts'), 'uvu Total 2, Passed 0, Skipped 0; 2 failed; exit code 1');
  assert.equal(all.stdout.match(/before hook failed: the setup broke/g)?.length, 2, why(all));
});

test('a skipped test counts as skipped, not passed, and its reason is printed', () => {
  assert.equal(fileLine(all, 'skip.test.ts'), 'uvu Total 1, Passed 1, Skipped 1; 0 failed; exit code 0');
  assert.match(all.stdout, /skipped: "is skipped" \(not on this machine\)/);
  assert.doesNotMatch(all.stdout + all.stderr, /a skipped test ran/);
});

test('a failing after hook is an error outside tests, counted as a failure', () => {
  assert.equal(fileLine(all, 'after.test.ts'), 'uvu Total 1, Passed 1, Skipped 0; 1 failed; exit code 1');
  assert.match(all.stdout, /Outside tests: 1 error\(s\)/);
  assert.match(all.stderr, /after\.test\.ts: after hook failed\n.*the teardown broke/);
  assert.ok(failedList(all).includes('after.test.ts: 1 error(s) outside tests'), why(all));
});

test('a file that crashes at import counts as one failure', () => {
  assert.equal(fileLine(all, 'crash.test.ts'), 'no uvu summary; 1 failed; exit code 1');
  assert.match(all.stderr, /crash\.test\.ts failed to load:\n.*broken at import/);
  assert.ok(failedList(all).includes('crash.test.ts: no uvu summary (exit code 1)'), why(all));
});

test('one run over every sample sums the counts of all files, lists every failure and exits 1', () => {
  assert.equal(closing(all), '# total 14, passed 7, failed 9, skipped 1', why(all));
  assert.deepEqual(failedList(all).sort(), [
    'after.test.ts: 1 error(s) outside tests',
    'assertion.test.ts  "compares wrongly"',
    'before.test.ts  "first, after a broken setup"',
    'before.test.ts  "second, after a broken setup"',
    'crash.test.ts: no uvu summary (exit code 1)',
    'rejection.test.ts  "rejects in the background"',
    'throws.test.ts  "throws a string"',
    'throws.test.ts  "throws an Error"',
    'timeout.test.ts  "hangs past its bound"',
  ]);
  assert.equal(all.code, 1, why(all));
});

test('a run where everything passes or is skipped exits 0', () => {
  assert.equal(closing(passing), '# total 3, passed 3, failed 0, skipped 1', why(passing));
  assert.doesNotMatch(passing.stdout, /\nfailed:\n/);
  assert.equal(passing.code, 0, why(passing));
});

test('a file run directly exits 0 when every test passes and non-zero when one fails', () => {
  assert.equal(directPass.code, 0, why(directPass));
  assert.match(directPass.stdout, /Total:\s+2\n\s+Passed:\s+2\n/);
  assert.notEqual(directFail.code, 0, why(directFail));
  assert.equal(directFail.signal, null);
  assert.match(directFail.stdout, /Total:\s+2\n\s+Passed:\s+1\n/);
});
