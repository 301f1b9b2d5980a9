// The prediction log alone: buffered, flushed on a timer, bounded, and
// indifferent to how its sink behaves.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { appendFile, mkdir, readFile, rename, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { readFeatureFile } from '../src/drift/index.ts';
import { FileSink, GcsSink, PredictionLog, sinkFor, type FileSinkFs, type PredictionRecord, type PredictionSink } from '../src/serve/index.ts';
import { tempDir } from './helpers/checkpoint.ts';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function record(i: number): PredictionRecord {
  return { time: new Date(0).toISOString(), category: i % 2 ? 'hotdog' : 'nothotdog', probability: 0.5 + i / 1000, avg_brightness: 0.5, contrast: 0.2, sharpness: 0.01 };
}

class MemorySink implements PredictionSink {
  readonly description = 'memory';
  lines: string[] = [];
  writes = 0;
  failing = false;
  delayMs = 0;
  async write(text: string, count: number): Promise<void> {
    this.writes++;
    if (this.delayMs) await sleep(this.delayMs);
    if (this.failing) throw new Error('sink down');
    const lines = text.trimEnd().split('\n');
    assert.equal(lines.length, count);
    this.lines.push(...lines);
  }
}

test('flushes on its timer, in order, as JSON lines; close writes the rest', async () => {
  const sink = new MemorySink();
  const log = new PredictionLog(sink, { flushIntervalMs: 20 });
  for (let i = 0; i < 5; i++) log.append(record(i));
  assert.equal(sink.lines.length, 0, 'append never writes synchronously');
  await sleep(80);
  assert.equal(sink.lines.length, 5);
  log.append(record(5));
  await log.close();
  assert.deepEqual(sink.lines.map((l) => JSON.parse(l).probability), [0, 1, 2, 3, 4, 5].map((i) => 0.5 + i / 1000));
  assert.deepEqual(log.stats, { buffered: 0, written: 6, dropped: 0, failedWrites: 0 });
  log.append(record(6));
  assert.equal(log.stats.dropped, 1, 'appends after close are counted, not written');
});

test('a full buffer drops and counts new records instead of growing', async () => {
  const sink = new MemorySink();
  let dropped = 0;
  const log = new PredictionLog(sink, { flushIntervalMs: 3_600_000, maxBuffer: 3, onDrop: (n) => (dropped += n) });
  for (let i = 0; i < 10; i++) log.append(record(i));
  assert.equal(log.stats.buffered, 3);
  assert.equal(dropped, 7);
  await log.close();
  assert.equal(sink.lines.length, 3);
});

test('failed writes keep the records for the next try, then deliver them', async () => {
  const sink = new MemorySink();
  const errors: string[] = [];
  const log = new PredictionLog(sink, { flushIntervalMs: 3_600_000, onError: (e) => errors.push(e.message) });
  sink.failing = true;
  log.append(record(0));
  log.append(record(1));
  await log.flush();
  await log.flush();
  assert.deepEqual(errors, ['sink down', 'sink down']);
  assert.equal(log.stats.buffered, 2);
  sink.failing = false;
  log.append(record(2));
  await log.flush();
  assert.equal(sink.lines.length, 3);
  assert.deepEqual(log.stats, { buffered: 0, written: 3, dropped: 0, failedWrites: 2 });
  await log.close();
});

test('one write at a time: a slow sink is not called again until it returns', async () => {
  const sink = new MemorySink();
  sink.delayMs = 100;
  const log = new PredictionLog(sink, { flushIntervalMs: 5 });
  log.append(record(0));
  await sleep(50);
  log.append(record(1));
  await sleep(30);
  assert.equal(sink.writes, 1);
  await log.close();
  assert.equal(sink.lines.length, 2);
});

test('close gives up on a sink that hangs, counting what was lost', async () => {
  const hanging: PredictionSink = { description: 'hanging', write: () => new Promise(() => {}) };
  const errors: string[] = [];
  const log = new PredictionLog(hanging, { flushIntervalMs: 3_600_000, onError: (e) => errors.push(e.message) });
  log.append(record(0));
  void log.flush(); // never settles
  log.append(record(1));
  const started = performance.now();
  await log.close(100);
  assert.ok(performance.now() - started < 1000);
  assert.match(errors[0]!, /did not finish writing within 100 ms/);
  assert.equal(log.stats.dropped, 1);
});

test('FileSink appends to a JSONL file, creating its folder; sinkFor picks the sink', async () => {
  const file = join(await tempDir(), 'deep', 'er', 'predictions.jsonl');
  const log = new PredictionLog(new FileSink(file), { flushIntervalMs: 3_600_000 });
  log.append(record(0));
  await log.flush();
  log.append(record(1));
  await log.close();
  const lines = (await readFile(file, 'utf8')).split('\n');
  assert.deepEqual(lines.slice(0, 2).map((l) => JSON.parse(l).probability), [0.5, 0.501]);
  assert.equal(lines[2], '');
  assert.ok(sinkFor('x.jsonl') instanceof FileSink);
  assert.ok(sinkFor('gs://my-bucket/p') instanceof GcsSink);
  assert.throws(() => sinkFor('gs://'), /predictions: expected gs:\/\/BUCKET\[\/PATH\]/);
  assert.throws(() => new PredictionLog(new MemorySink(), { maxBuffer: 0 }), /predictionLog\.maxBuffer/);
});

/** node:fs/promises, with appendFile failing part way (as on a full disk) while `full` is set. */
function fullDisk() {
  const state = { full: false, failures: 0 };
  const fs: FileSinkFs = {
    async appendFile(path, data) {
      if (!state.full) return appendFile(path, data);
      state.failures++;
      await appendFile(path, data.slice(0, Math.floor(data.length / 2)));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    },
    truncate, stat, mkdir, rename,
  };
  return { fs, state };
}

test('a write that fails part way (a full disk) leaves no torn line, and the retry writes each record once', async () => {
  const file = join(await tempDir(), 'predictions.jsonl');
  const { fs, state } = fullDisk();
  const log = new PredictionLog(new FileSink(file, { fs }), { flushIntervalMs: 3_600_000, onError: () => {} });
  for (let i = 0; i < 5; i++) log.append(record(i));
  await log.flush();
  state.full = true;
  for (let i = 5; i < 12; i++) {
    log.append(record(i));
    await log.flush();
  }
  assert.equal(state.failures, 7);
  const during = await readFile(file, 'utf8');
  assert.ok(during.endsWith('\n'), 'no torn line while the disk is full');
  assert.equal(during.split('\n').length - 1, 5);
  state.full = false;
  await log.close();
  const lines = (await readFile(file, 'utf8')).trimEnd().split('\n');
  assert.deepEqual(lines.map((l) => Math.round((JSON.parse(l).probability - 0.5) * 1000)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.deepEqual(await readFeatureFile(file), lines.map((l) => { const r = JSON.parse(l); return { avg_brightness: r.avg_brightness, contrast: r.contrast, sharpness: r.sharpness, category: r.category, time: r.time }; }));
});

test('a log folder that is missing, or removed while serving, is made again', async () => {
  const root = await tempDir();
  const blocker = join(root, 'logs');
  await writeFile(blocker, 'a file where the folder should be');
  const file = join(blocker, 'predictions.jsonl');
  const errors: string[] = [];
  const log = new PredictionLog(new FileSink(file), { flushIntervalMs: 3_600_000, onError: (e) => errors.push(e.message) });
  log.append(record(0));
  await log.flush();
  assert.equal(errors.length, 1, 'the folder cannot be made while a file is in the way');
  await rm(blocker);
  await log.flush();
  assert.equal((await readFile(file, 'utf8')).trimEnd().split('\n').length, 1, 'the failed mkdir is tried again');
  await rm(blocker, { recursive: true });
  log.append(record(1));
  await log.close();
  assert.equal((await readFile(file, 'utf8')).trimEnd().split('\n').length, 1, 'the removed folder is made again');
});

test('FileSink refuses a FIFO (a write would block for good) and rotates past maxBytes to FILE.1', async () => {
  const dir = await tempDir();
  const fifo = join(dir, 'fifo.jsonl');
  execFileSync('mkfifo', [fifo]);
  await assert.rejects(new FileSink(fifo).write('{}\n', 1), /is not a regular file/);

  const file = join(dir, 'rotated.jsonl');
  const line = `${JSON.stringify(record(0))}\n`;
  const sink = new FileSink(file, { maxBytes: line.length * 3 });
  for (let i = 0; i < 7; i++) await sink.write(line, 1);
  assert.equal((await readFile(file, 'utf8')).split('\n').length - 1, 1);
  assert.equal((await readFile(`${file}.1`, 'utf8')).split('\n').length - 1, 3);
  assert.throws(() => new FileSink(file, { maxBytes: -1 }), /predictionLog\.maxBytes/);
});
