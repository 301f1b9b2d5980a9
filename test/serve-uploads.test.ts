// The service over real sockets against clients that misbehave on purpose:
// uploads far over the limit from a client that writes the whole body before
// reading the answer (Python's http.client), bodies that trickle in a byte at
// a time, and clients that go away mid-upload.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Classifier } from '../src/index.ts';
import { createApp, startServer, type LogEntry } from '../src/serve/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { testClassifier } from './helpers/serve.ts';

const PYTHON = ['/usr/bin/python3', 'python3'].find((p) => spawnSync(p, ['--version']).status === 0);
const CLIENT = join(import.meta.dirname, 'helpers', 'hostile-upload.py');
const CHILD = join(import.meta.dirname, 'helpers', 'serve-child.ts');
const MB = 1_000_000;

let classifier: Classifier;
let jpeg: Buffer;

before(async () => {
  classifier = await testClassifier();
  jpeg = await encodeImage('jpeg', 80, 60, 1);
});

after(async () => {
  await classifier.dispose();
});

/** The high-water mark of a process's resident memory, in bytes (Linux). */
function peakRss(pid: number): number {
  const kb = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  assert.ok(kb, 'VmHWM in /proc/PID/status');
  return Number(kb) * 1024;
}

/** Starts test/helpers/serve-child.ts with createApp `options`; resolves with its port once it listens. */
async function serveChild(options: Record<string, unknown>): Promise<{ child: ChildProcess; port: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD, JSON.stringify(options)], { stdio: ['ignore', 'pipe', 'inherit'] });
  const first = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve);
    child.once('exit', (code) => reject(new Error(`the service exited (${code}) before listening`)));
  });
  child.stdout!.destroy();
  return { child, port: Number(new URL(JSON.parse(first).url).port) };
}

test(
  "Python's http.client writing 11, 40 and 200 MB bodies (plain, chunked, multipart) before reading gets JSON 413s, never a broken pipe; the service's memory stays flat",
  { skip: PYTHON ? false : 'no python3 on this machine', timeout: 120_000 },
  async () => {
    const { child, port } = await serveChild({ maxBodyBytes: 10 * 1024 * 1024 });
    try {
      const image = join(await tempDir(), 'photo.jpg');
      await writeFile(image, jpeg);
      // One good prediction first, so what loading the decoder costs is in the baseline.
      const warm = await promisify(execFile)(PYTHON!, [CLIENT, '127.0.0.1', String(port), String(MB), 'plain', image]);
      const baseline = peakRss(child.pid!);
      const sizes = [11 * MB, 40 * MB, 200 * MB];
      const { stdout } = await promisify(execFile)(PYTHON!, [CLIENT, '127.0.0.1', String(port), sizes.join(','), 'plain,chunked,multipart'], { maxBuffer: 1 << 20 });
      const grown = peakRss(child.pid!) - baseline;
      const results = (warm.stdout + stdout).trim().split('\n').map((line) => JSON.parse(line));
      assert.equal(results.length, 2 + sizes.length * 3);
      for (const r of results) {
        const what = `${r.kind} ${r.size} bytes: ${JSON.stringify(r)}`;
        assert.equal(r.exception, undefined, what);
        assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), what);
        assert.match(r.content_type, /^application\/json/, what);
      }
      assert.equal(results[0].status, 200, 'the image is classified');
      assert.equal(results[1].status, 415, 'a 1 MB body of zeros is read and refused for what it is');
      for (const r of results.slice(2)) assert.equal(r.code, 'ERR_BODY_TOO_LARGE', JSON.stringify(r));
      // 3 x 251 MB went through; what the service kept is bounded by the body
      // limit (10 MiB read before a chunked body is refused), not the uploads.
      assert.ok(grown < 48 * 1024 * 1024, `peak RSS grew by ${(grown / 2 ** 20).toFixed(1)} MiB`);
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  },
);

/** A raw HTTP/1.1 client: connects, writes `head`, collects what comes back. */
function rawClient(port: number, head: string): { socket: Socket; received: () => string; closed: Promise<void> } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  socket.on('data', (d) => (text += d.toString('latin1')));
  socket.on('error', () => {});
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(head, 'latin1');
  return { socket, received: () => text, closed };
}

test('uploads trickling in a byte at a time hold no prediction slot: others are answered meanwhile, and the slow ones get a 408 and a closed connection', async () => {
  const app = createApp({ classifier, logger: null, maxQueue: 4, bodyGraceMs: 600, minBodyBytesPerSecond: 1000 });
  const server = await startServer(app, { port: 0, host: '127.0.0.1', logger: () => {} });
  try {
    const slow = Array.from({ length: 16 }, () =>
      rawClient(server.port, 'POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: 5000\r\n\r\n\xff'),
    );
    const trickle = setInterval(() => slow.forEach((c) => c.socket.writable && c.socket.write('\xd8', 'latin1')), 150);
    try {
      await sleep(200);
      // 16 slow uploads, 4 slots: each of these would be a 503 if reading held a slot.
      for (let i = 0; i < 3; i++) {
        const res = await fetch(`${server.url}/predict`, { method: 'POST', body: jpeg, headers: { 'content-type': 'image/jpeg' } });
        assert.equal(res.status, 200, await res.text());
      }
      await Promise.race([Promise.all(slow.map((c) => c.closed)), sleep(5000, undefined, { ref: false })]);
    } finally {
      clearInterval(trickle);
    }
    for (const c of slow) {
      const answer = c.received();
      assert.match(answer, /^HTTP\/1\.1 408 /, answer);
      assert.match(answer, /\r\nConnection: close\r\n/i, answer);
      assert.match(answer, /"code":"ERR_BODY_TIMEOUT"/, answer);
      assert.ok(c.socket.destroyed || c.socket.readableEnded, 'the connection was closed');
    }
  } finally {
    await server.close();
  }
});

test('a client that goes away mid-upload is counted and logged as 499, not as a 500', async () => {
  const logged: LogEntry[] = [];
  const app = createApp({ classifier, logger: (e) => logged.push(e), maxBodyBytes: 1024 * 1024 });
  const server = await startServer(app, { port: 0, host: '127.0.0.1', logger: () => {} });
  try {
    for (let i = 0; i < 8; i++) {
      // Two pipelined uploads, the second cut off halfway, then the socket dropped.
      const part = jpeg.subarray(0, jpeg.length >> 1).toString('latin1');
      const head = `POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/jpeg\r\nContent-Length: ${jpeg.length}\r\n\r\n`;
      const c = rawClient(server.port, head + jpeg.toString('latin1') + head + part);
      await sleep(i % 2 ? 0 : 30);
      c.socket.destroy();
    }
    await sleep(500);
    const statuses = logged.filter((e) => e.httpRequest).map((e) => (e.httpRequest as { status: number }).status);
    assert.ok(statuses.includes(499), `logged statuses ${statuses}`);
    assert.ok(statuses.every((s) => s < 500 || s === 503), `logged statuses ${statuses}`);
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.doesNotMatch(metrics, /torchdog_http_requests_total\{[^}]*status="500"/);
  } finally {
    await server.close();
  }
});
