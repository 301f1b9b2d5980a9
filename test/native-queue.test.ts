// The native queue: each model runs its operations on its own thread and
// settles their promises from there, so no libuv worker waits on a model (the
// pool is sharp's and fs's); dispose() cancels what has not started; no way
// of ending a process or a worker leaks, hangs or crashes.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import { Model, engineCounts } from '../src/index.ts';
import { encodeImage, randomPixels } from './helpers/images.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const norm = { mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
const batch = (count: number, size: number, seed = 1) => ({ data: randomPixels(count, size, seed), count, height: size, width: size });
const newModel = () => Model.create({ numClasses: 2, device: 'cpu', seed: 0, threads: 1 });
const disposedBeforeRun = (method: string) => (e: Error & { code?: string }) =>
  e.message === `Model.${method}: the model was disposed before this operation ran` && e.code === 'ERR_TORCHDOG_DISPOSED';

test('busy models park no libuv worker: fs and sharp finish before the first forward pass', { timeout: 300_000 }, async () => {
  // One model more than the pool has workers: under a design where each
  // operation waited in a pool worker, every worker would be parked until a
  // forward pass ended, and the read and the decode could only follow it.
  const poolSize = Number(process.env.UV_THREADPOOL_SIZE) || 4;
  const models = await Promise.all(Array.from({ length: poolSize + 1 }, newModel));
  const dir = await mkdtemp(join(tmpdir(), 'torchdog-queue-'));
  try {
    const file = join(dir, 'small.bin');
    await writeFile(file, randomBytes(4096));
    const png = await encodeImage('png', 32, 32);
    const images = batch(32, 128);
    const order: string[] = [];
    const started = performance.now();
    const note = (name: string) => () => void order.push(`${name} at ${(performance.now() - started).toFixed(0)} ms`);
    const forwards = models.map((m, i) => m.forward(images, norm).then(note(`forward ${i}`)));
    const io = [readFile(file).then(note('fs.readFile')), sharp(png).raw().toBuffer().then(note('sharp decode'))];
    await Promise.all([...forwards, ...io]);
    const firstTwo = order.slice(0, 2).map((line) => line.replace(/ at .*/, ''));
    assert.deepEqual(firstTwo.sort(), ['fs.readFile', 'sharp decode'], `settlement order:\n${order.join('\n')}`);
  } finally {
    await Promise.all(models.map((m) => m.dispose()));
    await rm(dir, { recursive: true, force: true });
  }
});

test('dispose() with operations queued: the running one completes, the queued ones reject, the engine is freed', async () => {
  const before = engineCounts();
  const model = await newModel();
  assert.deepEqual(engineCounts(), { engines: before.engines + 1, executors: before.executors + 1 }, 'a model is one engine and one thread');
  const images = batch(8, 64);
  const settled: string[] = [];
  const track = <T>(name: string, p: Promise<T>) =>
    p.then(
      (value) => (settled.push(`${name} fulfilled`), { ok: true as const, value }),
      (error: Error) => (settled.push(`${name} rejected`), { ok: false as const, error }),
    );
  const ops = [
    track('forward', model.forward(images, norm)),
    track('trainStep', model.trainStep(images, new Int32Array(8), norm)),
    track('getTensors', model.getTensors()),
    track('evalStep', model.evalStep(images, new Int32Array(8), norm)),
  ];
  const disposed = model.dispose();
  assert.equal(model.disposed, true);
  assert.throws(() => model.forward(images, norm), /^Error: Model\.forward: the model has been disposed$/);
  assert.throws(() => model.setThreads(1), /Model\.setThreads: the model has been disposed/);
  await track('dispose', disposed);
  const results = await Promise.all(ops);

  // At most the first had started (the executor runs one at a time, and
  // enqueueing the rest took microseconds); every other one was cancelled.
  const methods = ['forward', 'trainStep', 'getTensors', 'evalStep'];
  const ran = results.findIndex((r) => !r.ok);
  assert.ok(ran === 0 || ran === 1, `operations that ran: ${settled.join(', ')}`);
  results.forEach((r, i) => {
    if (i < ran) assert.equal((r as { value: { count: number } }).value.count, 8);
    else assert.ok(!r.ok && disposedBeforeRun(methods[i]!)(r.error), `${methods[i]}: ${!r.ok && r.error.message}`);
  });
  assert.deepEqual(settled, [...methods.map((m, i) => `${m} ${i < ran ? 'fulfilled' : 'rejected'}`), 'dispose fulfilled'], 'settled in call order');
  assert.deepEqual(engineCounts(), before, 'the engine and its thread are gone once dispose() resolves');
  await model.dispose(); // idempotent: resolves, frees nothing twice
  assert.deepEqual(engineCounts(), before);

  const next = await newModel();
  try {
    const result = await next.forward(batch(2, 64), norm);
    assert.equal(result.probabilities.length, 4);
  } finally {
    await next.dispose();
  }
  assert.deepEqual(engineCounts(), before);
});

test('a rejection carries the message and code of what failed, and the queue goes on', async () => {
  const model = await newModel();
  try {
    const failing = model.setTensors([{ name: 'fc.weight', dtype: 'F32', shape: [3, 512], data: new Uint8Array(3 * 512 * 4) }]);
    const after = model.forward(batch(1, 64), norm);
    await assert.rejects(failing, (e: Error & { code?: string }) => {
      assert.ok(e instanceof TypeError);
      assert.equal(e.message, "tensor 'fc.weight': expected shape [2, 512] but received [3, 512]");
      assert.equal(e.code, 'ERR_TORCHDOG_INVALID_ARGUMENT');
      return true;
    });
    assert.equal((await after).count, 1);
    // What TypeScript can tell is wrong never reaches the queue.
    assert.throws(() => model.setThreads(-1), { code: 'ERR_TORCHDOG_INVALID_ARGUMENT', message: 'Expected an integer between 0 and 1024 for threads but received number -1' });

    // A second refusal, queued behind work and ahead of more: the operations
    // on either side of it are unaffected.
    const images = batch(2, 64);
    const labels = new Int32Array([0, 1]);
    const ahead = model.evalStep(images, labels, norm);
    const refused = model.setTensors([{ name: 'fc.bias', dtype: 'F32', shape: [5], data: new Uint8Array(20) }]);
    const behind = [model.trainStep(images, labels, norm), model.evalStep(images, labels, norm)];
    assert.equal((await ahead).count, 2);
    await assert.rejects(refused, (e: Error & { code?: string }) => {
      assert.ok(e instanceof TypeError);
      assert.equal(e.message, "tensor 'fc.bias': expected shape [2] but received [5]");
      assert.equal(e.code, 'ERR_TORCHDOG_INVALID_ARGUMENT');
      return true;
    });
    const [trained, evaluated] = await Promise.all(behind);
    assert.equal(trained!.count, 2);
    assert.ok(Number.isFinite(trained!.loss));
    assert.equal(evaluated!.count, 2);
  } finally {
    await model.dispose();
  }
});

interface ChildRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Record<string, unknown>[];
  stderr: string;
  /** From the child's last line to its exit. */
  exitAfterMs: number;
}

function runChild(mode: string, nodeFlags: string[] = []): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...nodeFlags, '--import', 'tsx', join(root, 'test', 'helpers', 'native-queue-child.ts'), mode], {
      cwd: root,
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let lastLineAt = performance.now();
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      lastLineAt = performance.now();
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const lines = stdout.split('\n').filter(Boolean).map((line) => JSON.parse(line) as Record<string, unknown>);
      resolve({ code, signal, lines, stderr, exitAfterMs: performance.now() - lastLineAt });
    });
  });
}

// Generous for a loaded 2-core machine; a process kept alive by an idle
// model, or a finalizer waiting on itself, never gets there.
const kPromptExitMs = 10_000;

function assertCleanExit(run: ChildRun, mode: string): Record<string, unknown> {
  const what = `${mode}: exit ${run.code ?? run.signal}\n${run.stderr}`;
  assert.equal(run.code, 0, what);
  const last = run.lines.at(-1);
  assert.equal(last?.done, true, what);
  assert.ok(run.exitAfterMs < kPromptExitMs, `${mode}: exited ${run.exitAfterMs.toFixed(0)} ms after its last line`);
  return last!;
}

test('a process with a disposed model and an idle undisposed one ends on its own, promptly', { timeout: 180_000 }, async () => {
  const last = assertCleanExit(await runChild('dispose'), 'dispose');
  const outcomes = last.outcomes as string[];
  const cancelled = outcomes.findIndex((o) => o !== 'fulfilled');
  assert.ok(cancelled === 0 || cancelled === 1, outcomes.join('\n'));
  const rejection = (method: string) => `ERR_TORCHDOG_DISPOSED: Model.${method}: the model was disposed before this operation ran`;
  const expected = [rejection('forward'), rejection('forward'), rejection('getTensors')].map((r, i) => (i < cancelled ? 'fulfilled' : r));
  assert.deepEqual(outcomes, expected);
  assert.deepEqual(last.live, { engines: 1, executors: 1 }, 'only the undisposed model is left');
});

test('garbage collection frees an undisposed model, and waits for its pending work', { timeout: 180_000 }, async () => {
  const last = assertCleanExit(await runChild('gc', ['--expose-gc']), 'gc');
  assert.deepEqual(last.live, { engines: 0, executors: 0 });
});

test('process.exit() while a forward pass runs exits with its code, no crash', { timeout: 180_000 }, async () => {
  assertCleanExit(await runChild('exit-while-busy'), 'exit-while-busy');
});

test('terminating a worker with busy models frees them', { timeout: 180_000 }, async () => {
  const last = assertCleanExit(await runChild('worker'), 'worker');
  assert.deepEqual(last.live, { engines: 0, executors: 0 });
});
