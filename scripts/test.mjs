#!/usr/bin/env node
// `npm test`: runs each test file in its own process, one after another, as
// `node --import tsx test/X.test.ts` (each file is one uvu suite; see
// test/helpers/harness.ts), and adds up uvu's own summaries.
//
//   node scripts/test.mjs [FILE ...]     default: every test/*.test.ts
//
// A file's process is its own so that native models, servers, environment
// variables and other global state never leak from one file into the next;
// its TMPDIR is its own folder, removed when the file ends, so temporary
// files a test (or a child it killed) left behind never pile up on the disk.
//
// Counts: total, passed and skipped are the sums of uvu's Total, Passed and
// Skipped lines. Failed is total - passed, plus one for each error the harness
// counted outside any test (its `Outside tests: N` line), plus one for a file
// that printed no uvu summary (it crashed, or ran past
// TORCHDOG_TEST_FILE_TIMEOUT_S, default 3600) or exited non-zero for no counted
// reason. The last line is `# total T, passed P, failed F, skipped S`
// (.ci/run reads it); the exit code is 1 when F > 0.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const fileTimeoutS = Number(process.env.TORCHDOG_TEST_FILE_TIMEOUT_S || 3600);
if (!(fileTimeoutS > 0)) throw new Error(`TORCHDOG_TEST_FILE_TIMEOUT_S must be a positive number of seconds`);

const files = process.argv.length > 2
  ? process.argv.slice(2).map((f) => resolve(f))
  : readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.ts')).sort().map((f) => join(root, 'test', f));

// uvu colours its output only on a terminal; the child writes to a pipe.
const env = { ...process.env };
if (process.stdout.isTTY && env.FORCE_COLOR === undefined && env.NO_COLOR === undefined) env.FORCE_COLOR = '1';

const stripAnsi = (s) => s.replace(/\x1b\[[0-9;]*m/g, '');
const lastNumber = (text, label) => {
  const all = [...text.matchAll(new RegExp(`^\\s*${label}:\\s+(\\d+)\\b`, 'gm'))];
  return all.length > 0 ? Number(all.at(-1)[1]) : undefined;
};

const tempRoot = mkdtempSync(join(tmpdir(), 'torchdog-tests-'));
// Open like /tmp itself: some tests run their child as another user (nobody).
chmodSync(tempRoot, 0o755);
process.on('exit', () => rmSync(tempRoot, { recursive: true, force: true }));

function runFile(file, index) {
  // Short: Unix socket paths under TMPDIR must stay within 107 bytes.
  const tmp = join(tempRoot, String(index));
  mkdirSync(tmp);
  chmodSync(tmp, 0o1777);
  return new Promise((done) => {
    const started = Date.now();
    const child = spawn(process.execPath, ['--import', 'tsx', file], { cwd: root, env: { ...env, TMPDIR: tmp }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk.toString();
      process.stdout.write(chunk);
    });
    child.stderr.on('data', (chunk) => process.stderr.write(chunk));
    let timedOut = false;
    const watchdog = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 10_000).unref();
    }, fileTimeoutS * 1000);
    child.on('error', (error) => {
      clearTimeout(watchdog);
      done({ file, error: `could not start: ${error.message}`, stdout, code: null, signal: null, ms: Date.now() - started });
    });
    child.on('close', (code, signal) => {
      clearTimeout(watchdog);
      rmSync(tmp, { recursive: true, force: true });
      done({ file, stdout, code, signal, timedOut, ms: Date.now() - started });
    });
  });
}

const sum = { total: 0, passed: 0, skipped: 0, failed: 0 };
const failures = [];
const started = Date.now();
for (const [index, file] of files.entries()) {
  const name = relative(root, file);
  process.stdout.write(`\n▶ ${name}\n`);
  const run = await runFile(file, index);
  const text = stripAnsi(run.stdout);
  const total = lastNumber(text, 'Total');
  const passed = lastNumber(text, 'Passed');
  const skipped = lastNumber(text, 'Skipped');
  const outside = lastNumber(text, 'Outside tests') ?? 0;
  const exit = run.error ?? (run.timedOut ? `killed after TORCHDOG_TEST_FILE_TIMEOUT_S=${fileTimeoutS}` : run.signal ? `killed by ${run.signal}` : `exit code ${run.code}`);
  let failed;
  if (total === undefined || passed === undefined || skipped === undefined) {
    failed = 1;
    const hint = /from 'node:test'/.test(readFileSync(file, 'utf8')) ? '; it imports node:test, not ./helpers/harness.ts' : '';
    failures.push(`${name}: no uvu summary (${exit}${hint})`);
  } else {
    sum.total += total;
    sum.passed += passed;
    sum.skipped += skipped;
    failed = total - passed + outside;
    for (const m of text.matchAll(/^\s*FAIL\s+\S+\s+(".*")\s*$/gm)) failures.push(`${name}  ${m[1]}`);
    if (outside > 0) failures.push(`${name}: ${outside} error(s) outside tests`);
    if (failed === 0 && run.code !== 0) {
      failed = 1;
      failures.push(`${name}: ${exit} although every test passed`);
    }
  }
  sum.failed += failed;
  process.stdout.write(`${run.stdout.endsWith('\n') ? '' : '\n'}# ${name}: ${total === undefined ? 'no uvu summary' : `uvu Total ${total}, Passed ${passed}, Skipped ${skipped}`}; ${failed} failed; ${exit}; ${(run.ms / 1000).toFixed(1)} s\n`);
}

process.stdout.write(`\n${files.length} file(s) in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
if (failures.length > 0) process.stdout.write(`failed:\n${failures.map((f) => `  ${f}\n`).join('')}`);
process.stdout.write(`# total ${sum.total}, passed ${sum.passed}, failed ${sum.failed}, skipped ${sum.skipped}\n`);
process.exitCode = sum.failed > 0 || sum.total === 0 ? 1 : 0;
