// The suite's test API: node:test's shape (test, describe, before, after,
// beforeEach, afterEach; options { timeout, skip }), run by uvu.
//
// Each test file is one uvu suite, named after the file. The file registers its
// tests while it loads; once the file (top-level awaits included) has finished
// loading, the harness hands them to uvu and uvu runs them, one at a time, and
// prints its summary (Total / Passed / Skipped). A file therefore runs alone
// with `node --import tsx test/X.test.ts`; `npm test` (scripts/test.mjs) runs
// every file that way, each in its own process, and adds up uvu's summaries.
//
// What uvu leaves to us, and this file adds:
// - a time bound on every test and hook: DEFAULT_TIMEOUT_MS unless the test
//   says otherwise (`{ timeout }`, milliseconds; Infinity for none), or
//   TORCHDOG_TEST_TIMEOUT_S overrides the default. A test past its bound fails
//   with a message naming it and the bound, and the file goes on; once uvu has
//   printed its summary, whatever the hung test left running is cut off;
// - skip reported as skipped (uvu's count), with the reason printed;
// - a rejection nobody handled, or an exception thrown from a callback, fails
//   the test (or hook) that is running; outside any test it is an error of the
//   file: printed, counted on an `Outside tests: N` line after uvu's summary
//   (scripts/test.mjs adds it to the failures) and the exit code is 1;
// - a failing `before` fails every test of the file (uvu would not count it);
//   a failing `after` is an error of the file.
// - `t.diagnostic(message)`, `t.after(fn)`, `t.signal` and `t.name` on the
//   context a test receives.
import { realpathSync } from 'node:fs';
import { basename } from 'node:path';
import { pathToFileURL } from 'node:url';
import { inspect } from 'node:util';
import { suite } from 'uvu';

/** The bound on a test (or hook) that sets none: generous for a 2-core machine, short enough that a hang is noticed. */
export const DEFAULT_TIMEOUT_MS = envSeconds('TORCHDOG_TEST_TIMEOUT_S') ?? 120_000;
/** How long a file may keep running after uvu's summary before the harness ends it. */
const EXIT_GRACE_MS = 2_000;

export interface TestOptions {
  /** Milliseconds; `Infinity` for no bound. Default DEFAULT_TIMEOUT_MS. */
  timeout?: number;
  /** `true` or the reason: the test is not run and counts as skipped. */
  skip?: boolean | string;
}
export interface HookOptions {
  timeout?: number;
}
export interface TestContext {
  readonly name: string;
  /** Aborted when the test runs past its bound. */
  readonly signal: AbortSignal;
  /** A line printed under the test's name. */
  diagnostic(message: string): void;
  /** Runs once the test is over, passed or failed. */
  after(fn: () => unknown): void;
}
export type TestFn = (t: TestContext) => unknown;
export type HookFn = () => unknown;

interface Entry {
  name: string;
  fn: TestFn;
  timeout: number;
  skip: string | false;
}

const fileName = basename(process.argv[1] ?? 'tests');
const entries: Entry[] = [];
const beforeHooks: { fn: HookFn; timeout: number }[] = [];
const afterHooks: { fn: HookFn; timeout: number }[] = [];
const beforeEachHooks: { fn: HookFn; timeout: number }[] = [];
const afterEachHooks: { fn: HookFn; timeout: number }[] = [];
const describes: { name: string; skip: string | false }[] = [];

type Phase = 'loading' | 'running' | 'finished';
let phase: Phase = 'loading';
/** The test or hook now running: an error nobody caught goes to it. */
let running: { label: string; fail(error: Error): void } | null = null;
let beforeFailure: Error | null = null;
let errorsOutsideTests = 0;
let slowest: { label: string; ms: number; bound: number }[] = [];

function envSeconds(name: string): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const seconds = Number(raw);
  if (!(seconds > 0)) throw new Error(`${name} must be a positive number of seconds, got ${JSON.stringify(raw)}`);
  return seconds * 1000;
}

function formatMs(ms: number): string {
  if (ms >= 60_000 && ms % 60_000 === 0) return `${ms / 60_000} min`;
  return ms >= 1000 ? `${+(ms / 1000).toFixed(1)} s` : `${Math.round(ms)} ms`;
}

function checkTimeout(timeout: unknown, where: string): number {
  if (timeout === undefined) return DEFAULT_TIMEOUT_MS;
  if (typeof timeout !== 'number' || !(timeout > 0)) throw new TypeError(`${where}: timeout must be a positive number of milliseconds (or Infinity), got ${inspect(timeout)}`);
  return timeout;
}

function notWhileRunning(what: string): void {
  if (phase !== 'loading') throw new Error(`${what} was called after ${fileName} finished loading; register tests, hooks and describes at load time (test/helpers/harness.ts)`);
}

/** Stack frames of this file and of uvu: the same in every failure, so left out of its report. */
const HARNESS_FRAME = /test\/helpers\/harness\.ts:|node_modules\/uvu\//;

/** Any thrown value as an Error that uvu can print: uvu needs `name`, `message` and `stack`, prints the message and then the stack from its first line break on, and must not try its own diff. */
function asError(value: unknown, prefix = ''): Error {
  if (value instanceof Error) {
    // node:assert's message already holds its diff; uvu would diff again, and
    // its diff throws on values JSON cannot write (BigInt). A plain Error keeps
    // the message, the frames and the operator uvu prints beside the message.
    const error = new Error(prefix + value.message, { cause: value });
    const stack = typeof value.stack === 'string' ? value.stack : '';
    const frames = stack.search(/\n\s+at /); // after a message of any number of lines
    const own = frames >= 0 ? stack.slice(frames).split('\n').filter((line) => !HARNESS_FRAME.test(line)).join('\n') : '';
    error.stack = `Error: ${error.message.split('\n', 1)[0]}${own}`;
    const operator = (value as { operator?: unknown }).operator;
    if (typeof operator === 'string') Object.assign(error, { operator });
    return error;
  }
  const error = new Error(prefix + (typeof value === 'string' ? value : inspect(value)));
  error.stack = `Error: ${error.message.split('\n', 1)[0]}`;
  return error;
}

function errorOutsideTests(value: unknown, what: string): void {
  errorsOutsideTests++;
  process.exitCode = 1;
  process.stderr.write(`\n✘ ${fileName}: ${what}\n${inspect(value)}\n`);
}

function onUncaught(value: unknown, kind: string): void {
  if (phase === 'loading') {
    // As Node would: the file cannot be run.
    process.stderr.write(`${fileName} failed to load:\n${inspect(value)}\n`);
    process.exit(1);
  }
  if (running) running.fail(asError(value, `${kind}: `));
  else errorOutsideTests(value, `${kind} outside any test`);
}
process.on('unhandledRejection', (reason) => onUncaught(reason, 'unhandled rejection'));
process.on('uncaughtException', (error) => onUncaught(error, 'uncaught exception'));
process.on('exit', () => {
  if (errorsOutsideTests === 0) return;
  process.exitCode = 1; // uvu sets it from its own count, after the last hook
  process.stdout.write(`  Outside tests: ${errorsOutsideTests} error(s)\n\n`);
});

/** One turn of the event loop, so that a promise the body rejected and left unhandled is reported while the body is still the one running. */
const settle = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Runs fn within its bound; an error nobody caught meanwhile fails it too. */
async function bounded(label: string, bound: number, fn: (signal: AbortSignal) => unknown): Promise<void> {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const failed = new Promise<never>((_, reject) => {
    running = { label, fail: reject };
    if (Number.isFinite(bound) && bound < 2 ** 31) {
      timer = setTimeout(() => {
        const error = new Error(`${label} timed out after ${formatMs(bound)} (its time bound)`);
        controller.abort(error);
        reject(error);
      }, bound);
    }
  });
  const started = performance.now();
  try {
    await Promise.race([
      (async () => {
        await fn(controller.signal);
        await settle();
      })(),
      failed,
    ]);
  } finally {
    clearTimeout(timer);
    running = null;
    const ms = performance.now() - started;
    slowest.push({ label, ms, bound });
  }
}

async function runTest(entry: Entry): Promise<void> {
  if (beforeFailure) throw asError(beforeFailure, 'before hook failed: ');
  const label = `test "${entry.name}"`;
  const cleanups: (() => unknown)[] = [];
  let diagnosed = false;
  let failure: unknown = null;
  try {
    for (const hook of beforeEachHooks) await bounded(`beforeEach hook of ${label}`, hook.timeout, () => hook.fn());
    await bounded(label, entry.timeout, (signal) =>
      entry.fn({
        name: entry.name,
        signal,
        diagnostic: (message) => {
          // On lines of their own under uvu's row of marks.
          process.stdout.write(`${diagnosed ? '' : '\n'}    # ${message}\n`);
          diagnosed = true;
        },
        after: (fn) => void cleanups.push(fn),
      }),
    );
  } catch (error) {
    failure = error;
  }
  // Clean-ups and afterEach hooks run whether the test passed or not; the
  // test's own failure is the one reported.
  for (const fn of cleanups.reverse()) {
    try {
      await bounded(`t.after() of ${label}`, DEFAULT_TIMEOUT_MS, fn);
    } catch (error) {
      failure ??= error;
    }
  }
  for (const hook of afterEachHooks) {
    try {
      await bounded(`afterEach hook of ${label}`, hook.timeout, () => hook.fn());
    } catch (error) {
      failure ??= error;
    }
  }
  if (failure !== null) throw asError(failure);
}

/** Hands the file's tests to uvu, once the file has finished loading. */
function start(): void {
  phase = 'running';
  const s = suite(fileName);
  s.before(async () => {
    for (const hook of beforeHooks) {
      try {
        await bounded('before hook', hook.timeout, () => hook.fn());
      } catch (error) {
        beforeFailure = asError(error);
        return;
      }
    }
  });
  for (const entry of entries) {
    if (entry.skip !== false) {
      s.skip(entry.name);
      process.stdout.write(`  skipped: "${entry.name}"${entry.skip ? ` (${entry.skip})` : ''}\n`);
    } else {
      s(entry.name, () => runTest(entry));
    }
  }
  s.after(async () => {
    for (const hook of afterHooks) {
      try {
        await bounded('after hook', hook.timeout, () => hook.fn());
      } catch (error) {
        errorOutsideTests(error, 'after hook failed');
      }
    }
    phase = 'finished';
    reportSlow();
    // uvu prints its summary and sets the exit code right after this hook. If
    // something (a timed-out test's server, say) keeps the process alive past
    // that, end it with that exit code.
    setTimeout(() => {
      process.stderr.write(`${fileName}: still running ${formatMs(EXIT_GRACE_MS)} after its tests finished (open handles); exiting\n`);
      process.exit();
    }, EXIT_GRACE_MS).unref();
  });
  s.run();
}

function reportSlow(): void {
  const all = process.env.TORCHDOG_TEST_TIMES === '1';
  const lines = slowest
    .filter(({ ms, bound }) => all || ms > bound / 2)
    .map(({ label, ms, bound }) => `  ${all ? 'time' : 'slow'}: ${label} took ${formatMs(ms)} of its ${Number.isFinite(bound) ? formatMs(bound) : 'unbounded'} bound\n`);
  if (lines.length > 0) process.stderr.write(`\n${lines.join('')}`);
  slowest = [];
}

// Start once the file that was run (the main module) has loaded: importing it
// again resolves when its evaluation, top-level awaits included, is complete.
let scheduled = false;
function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  const main = process.argv[1];
  if (!main || (globalThis as { UVU_DEFER?: unknown }).UVU_DEFER) {
    throw new Error('test/helpers/harness.ts runs a test file as its own program: `node --import tsx test/X.test.ts`, or `npm test` for all of them (not the uvu command)');
  }
  import(pathToFileURL(realpathSync(main)).href).then(start, () => {
    // The load error itself is reported by onUncaught (or by Node).
  });
}

function parseArgs<F>(args: unknown[], kind: string): { name: string; options: Record<string, unknown>; fn: F } {
  let name: unknown = '';
  let options: unknown = {};
  let fn: unknown;
  const rest = [...args];
  if (typeof rest[0] === 'string') name = rest.shift();
  if (typeof rest[0] === 'object' && rest[0] !== null) options = rest.shift();
  fn = rest.shift();
  if (typeof fn !== 'function') throw new TypeError(`${kind}(${name ? JSON.stringify(name) : ''}): expected a function`);
  return { name: String(name), options: options as Record<string, unknown>, fn: fn as F };
}

function skipReason(skip: unknown): string | false {
  if (skip === undefined || skip === false) return false;
  if (skip === true) return '';
  if (typeof skip === 'string') return skip;
  throw new TypeError(`skip must be a boolean or a reason, got ${inspect(skip)}`);
}

/** node:test's `test(name, [options], fn)`. */
export function test(name: string, fn: TestFn): void;
export function test(name: string, options: TestOptions, fn: TestFn): void;
export function test(...args: unknown[]): void {
  notWhileRunning('test()');
  const { name, options, fn } = parseArgs<TestFn>(args, 'test');
  const inner = skipReason(options.skip);
  const outer = describes.find((d) => d.skip !== false)?.skip ?? false;
  const full = [...describes.map((d) => d.name), name || '(unnamed)'].join(' › ');
  entries.push({ name: full, fn, timeout: checkTimeout(options.timeout, `test(${JSON.stringify(full)})`), skip: inner !== false ? inner : outer });
  schedule();
}
test.skip = (name: string, fn: TestFn): void => test(name, { skip: true }, fn);
export const it = test;

/** node:test's `describe(name, [options], fn)`: its tests are named `name › test`. */
export function describe(name: string, fn: () => void): void;
export function describe(name: string, options: { skip?: boolean | string }, fn: () => void): void;
export function describe(...args: unknown[]): void {
  notWhileRunning('describe()');
  const { name, options, fn } = parseArgs<() => unknown>(args, 'describe');
  describes.push({ name, skip: skipReason(options.skip) });
  try {
    const result = fn();
    if (result && typeof (result as Promise<unknown>).then === 'function') throw new Error(`describe(${JSON.stringify(name)}): the callback must register its tests synchronously`);
  } finally {
    describes.pop();
  }
}

function hook(kind: string, list: { fn: HookFn; timeout: number }[]) {
  return (fn: HookFn, options: HookOptions = {}): void => {
    notWhileRunning(`${kind}()`);
    if (describes.length > 0) throw new Error(`${kind}() inside describe() is not supported by test/helpers/harness.ts; call it at the top of the file`);
    if (typeof fn !== 'function') throw new TypeError(`${kind}(): expected a function`);
    list.push({ fn, timeout: checkTimeout(options.timeout, `${kind}()`) });
    schedule();
  };
}
/** Runs once before the file's first test; if it fails, every test fails. */
export const before = hook('before', beforeHooks);
/** Runs once after the file's last test. */
export const after = hook('after', afterHooks);
export const beforeEach = hook('beforeEach', beforeEachHooks);
export const afterEach = hook('afterEach', afterEachHooks);
