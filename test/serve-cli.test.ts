// `torchdog serve` as a process: listening on PORT, answering, and stopping
// gracefully on SIGTERM (in-flight request answered, prediction log flushed).
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { form } from './helpers/serve.ts';

const CLI = join(import.meta.dirname, '..', 'bin', 'torchdog.js');
const run = promisify(execFile);

interface Started {
  child: ChildProcess;
  url: string;
  logs: any[];
  exited: Promise<number | null>;
}

/** Starts `torchdog serve` and resolves with its URL once it logs that it listens. */
async function startServe(args: string[], env: Record<string, string> = {}): Promise<Started> {
  const child = spawn(process.execPath, [CLI, 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: any[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stderr! });
    lines.on('line', (line) => {
      let entry;
      try {
        entry = JSON.parse(line);
      } catch {
        entry = { message: line, notJson: true };
      }
      logs.push(entry);
      if (entry.url) resolve(entry.url);
    });
    void exited.then((code) => reject(new Error(`serve exited with ${code}: ${JSON.stringify(logs)}`)));
    setTimeout(() => reject(new Error(`serve did not listen: ${JSON.stringify(logs)}`)), 20_000).unref();
  });
  return { child, url, logs, exited };
}

async function waitReady(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const res = await fetch(`${url}/ready`).catch(() => null);
    if (res?.status === 200) return;
    await res?.body?.cancel();
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('never ready');
}

test('serve --help', async () => {
  const { stdout } = await run(process.execPath, [CLI, 'serve', '--help']);
  assert.match(stdout, /^Usage: torchdog serve/);
  assert.match(stdout, /--predictions/);
  assert.match(stdout, /^  --name NAME /m);
  assert.match(stdout, /^  --cors ORIGIN /m);
  assert.match(stdout, /SIGHUP .*reloads/s);
  const { stdout: main } = await run(process.execPath, [CLI, '--help']);
  assert.match(main, /serve \[--model M\]/);
});

test('without a model, serve says where it looked and what to do', async () => {
  const cwd = await tempDir();
  const result = await run(process.execPath, [CLI, 'serve', '--port', '0'], { cwd }).then(
    () => ({ code: 0, stderr: '' }),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(result.code, 1);
  assert.match(result.stderr, /no model at runs\/latest\/model\.safetensors .*torchdog train.*--model/);
  const other = await run(process.execPath, [CLI, 'serve', '--model', join(cwd, 'x.safetensors')], { cwd }).catch((e) => e);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /no model at .*x\.safetensors/);
  const device = await run(process.execPath, [CLI, 'serve', '--model', '/dev/zero'], { cwd }).catch((e) => e);
  assert.equal(device.code, 1);
  assert.match(device.stderr, /no model at \/dev\/zero \(it is a device, FIFO or socket, not a checkpoint file\)/);
  const folder = await run(process.execPath, [CLI, 'serve', '--model', cwd], { cwd }).catch((e) => e);
  assert.match(folder.stderr, /\(it is a folder, not a checkpoint file\)/);
  const corrupt = join(cwd, 'corrupt.safetensors');
  await writeFile(corrupt, 'this is not a checkpoint');
  const broken = await run(process.execPath, [CLI, 'serve', '--model', corrupt, '--port', '0', '--host', '127.0.0.1'], { cwd }).catch((e) => e);
  assert.equal(broken.code, 1);
  assert.match(broken.stderr, /torchdog serve: cannot load the model .*corrupt\.safetensors: /);
  const badPort = await run(process.execPath, [CLI, 'serve', '--port', 'http'], { cwd }).catch((e) => e);
  assert.equal(badPort.code, 2);
  assert.match(badPort.stderr, /--port: expected an integer between 0 and 65535/);
  const badName = await run(process.execPath, [CLI, 'serve', '--name', 'my/model'], { cwd }).catch((e) => e);
  assert.equal(badName.code, 2);
  assert.match(badName.stderr, /--name: expected letters, digits, '\.', '_' and '-' .*got 'my\/model'/);
  const badOrigin = await run(process.execPath, [CLI, 'serve', '--cors', 'https://ok.example,example.com'], { cwd }).catch((e) => e);
  assert.equal(badOrigin.code, 2);
  assert.match(badOrigin.stderr, /--cors: expected '\*' or an origin such as https:\/\/example\.com \(no path\), got 'example\.com'/);
});

test('serve on $PORT: page, prediction, metrics; SIGTERM answers the request in flight, flushes the log, exits 0', async () => {
  const dir = await tempDir();
  const model = join(dir, 'model.safetensors');
  const predictions = join(dir, 'log', 'predictions.jsonl');
  await writeRandomCheckpoint(model);
  const server = await startServe(
    ['--model', model, '--host', '127.0.0.1', '--device', 'cpu', '--threads', '1', '--predictions', predictions, '--max-wait-ms', '1000', '--fixed-wait', '--flush-ms', '3600000'],
    { PORT: '0' },
  );
  try {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.notEqual(server.url, 'http://127.0.0.1:8080');
    await waitReady(server.url);
    const page = await fetch(server.url);
    assert.equal(page.status, 200);
    assert.match(await page.text(), /torchdog/);

    const image = await encodeImage('jpeg', 120, 90, 4);
    const first = await fetch(`${server.url}/predict`, { method: 'POST', body: form('data', image) });
    assert.equal(first.status, 200);
    assert.ok(['hotdog', 'nothotdog'].includes((await first.json()).category));
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    assert.match(metrics, /torchdog_http_requests_total\{route="\/predict",method="POST",status="200"\} 1/);
    // prom-client's default names, as the standard Node.js dashboards read them, beside torchdog's own.
    assert.match(metrics, /^process_resident_memory_bytes \d+/m);
    assert.match(metrics, /^nodejs_eventloop_lag_seconds /m);
    assert.doesNotMatch(metrics, /torchdog_process_|torchdog_nodejs_/);

    // With --fixed-wait this one waits up to a second for company in the batcher: stop once it is admitted.
    const inflight = fetch(`${server.url}/predict`, { method: 'POST', body: new Uint8Array(image), headers: { 'content-type': 'image/jpeg' } });
    for (let i = 0; ; i++) {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      if (/^torchdog_inflight_predictions 1$/m.test(text)) break;
      assert.ok(i < 500, 'the request was never admitted');
      await new Promise((r) => setTimeout(r, 10));
    }
    server.child.kill('SIGTERM');
    const answer = await inflight;
    assert.equal(answer.status, 200);
    assert.equal(answer.headers.get('connection'), 'close');
    assert.equal(await server.exited, 0);
    await assert.rejects(fetch(`${server.url}/health`));

    const lines = (await readFile(predictions, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    assert.ok(server.logs.every((e) => !e.notJson), 'every stderr line is JSON');
    const requestLog = server.logs.find((e) => e.httpRequest?.requestUrl === '/predict');
    assert.equal(requestLog.severity, 'INFO');
    assert.ok(server.logs.some((e) => e.message === 'SIGTERM: stopping (again to force)'));
    assert.ok(server.logs.some((e) => e.message === 'stopped' && e.drained === true));
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('a --reference that is missing or malformed is one line and exit status 1, before listening', async () => {
  const dir = await tempDir();
  const model = join(dir, 'model.safetensors');
  await writeRandomCheckpoint(model);
  const missing = await run(process.execPath, [CLI, 'serve', '--model', model, '--port', '0', '--host', '127.0.0.1', '--reference', join(dir, 'missing.jsonl')]).catch((e) => e);
  assert.equal(missing.code, 1);
  assert.equal(missing.stderr, `torchdog serve: --reference: ${join(dir, 'missing.jsonl')} does not exist\n`);
  const bad = join(dir, 'bad.jsonl');
  await writeFile(bad, '{"avg_brightness": 0.5}\n');
  const malformed = await run(process.execPath, [CLI, 'serve', '--model', model, '--port', '0', '--host', '127.0.0.1', '--reference', bad]).catch((e) => e);
  assert.equal(malformed.code, 1);
  assert.match(malformed.stderr, /^torchdog serve: .*bad\.jsonl:1: expected a finite number for "contrast" but it is missing\n$/);
});

test('a prediction log that is a FIFO nobody reads: warnings, and SIGTERM still ends the process within its bound', async () => {
  const dir = await tempDir();
  const model = join(dir, 'model.safetensors');
  const fifo = join(dir, 'predictions.jsonl');
  await writeRandomCheckpoint(model);
  execFileSync('mkfifo', [fifo]);
  const server = await startServe(['--model', model, '--host', '127.0.0.1', '--port', '0', '--threads', '1', '--predictions', fifo, '--flush-ms', '50', '--shutdown-timeout-ms', '500']);
  try {
    await waitReady(server.url);
    const res = await fetch(`${server.url}/predict`, { method: 'POST', body: form('data', await encodeImage('jpeg', 64, 64)) });
    assert.equal(res.status, 200);
    await new Promise((r) => setTimeout(r, 300));
    const started = performance.now();
    server.child.kill('SIGTERM');
    const code = await Promise.race([server.exited, new Promise((r) => setTimeout(() => r('still running'), 8000).unref())]);
    assert.equal(code, 0, `exit after SIGTERM: ${code}`);
    assert.ok(performance.now() - started < 5000);
    assert.ok(server.logs.some((e) => /prediction log: write to .* failed: .*is not a regular file/.test(e.message ?? '')), JSON.stringify(server.logs.slice(-5)));
  } finally {
    server.child.kill('SIGKILL');
  }
});
