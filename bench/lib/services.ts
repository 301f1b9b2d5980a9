// The services the serving benchmarks load: `torchdog serve` started from the
// sources (through tsx) and the FastAPI + PyTorch baseline
// (bench/serve_fastapi.py), both on 127.0.0.1, both stoppable, with their PIDs
// (for /proc/PID/status).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../src/util/index.ts';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Service {
  name: string;
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** A checkpoint of random weights (what is measured is speed, not accuracy). */
export async function randomCheckpoint(dir: string, size: number, classes = 2): Promise<string> {
  const { createModel, saveCheckpoint } = await import('../../src/index.ts');
  const path = join(dir, 'model.safetensors');
  const model = await createModel({ numClasses: classes, device: 'cpu', seed: 1, threads: 1 });
  const names = ['hotdog', 'nothotdog', ...Array.from({ length: Math.max(0, classes - 2) }, (_, i) => `class${i + 2}`)].slice(0, classes);
  try {
    await saveCheckpoint(path, model, { arch: 'resnet18', classes: names, imageSize: size, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  } finally {
    await model.dispose();
  }
  return path;
}

/** Calibrates a checkpoint in place on one photo, so that it serves with `--precision int8`. */
export async function calibrateOn(model: string, photo: Buffer, o: { dir: string; size: number; threads: number }): Promise<void> {
  const { writeFile } = await import('node:fs/promises');
  const { decodeSet } = await import('../../src/data/index.ts');
  const { calibrateCheckpoint } = await import('../../src/train/index.ts');
  const path = join(o.dir, 'calibration.jpg');
  await writeFile(path, photo);
  const calibrationSet = await decodeSet([{ path, label: 0 }], { size: o.size, workers: 1, strict: true });
  await calibrateCheckpoint(model, model, { calibrationSet, labelled: false, threads: o.threads });
}

async function waitFor(url: string, what: string, exited: Promise<unknown>, tail: () => string, seconds = 120): Promise<void> {
  let dead = false;
  void exited.then(() => (dead = true));
  const deadline = performance.now() + seconds * 1000;
  for (;;) {
    const status = await fetch(url).then((r) => r.status, () => 0);
    if (status === 200) return;
    if (dead) throw new Error(`${what} exited before it was ready:\n${tail()}`);
    if (performance.now() > deadline) throw new Error(`${what} was not ready within ${seconds} s:\n${tail()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function stopper(child: ChildProcess, exited: Promise<unknown>): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
  };
}

/** Keeps the last lines of a stream (and optionally copies all of it to a file). */
function tailOf(stream: NodeJS.ReadableStream, onLine: (line: string) => void, file?: string): () => string {
  const lines: string[] = [];
  const copy = file ? createWriteStream(file) : undefined;
  createInterface({ input: stream }).on('line', (line) => {
    copy?.write(line + '\n');
    lines.push(line);
    if (lines.length > 30) lines.shift();
    onLine(line);
  });
  return () => lines.join('\n');
}

export interface TorchdogOptions {
  model: string;
  /** Folder for the prediction log. */
  dir: string;
  threads?: number;
  maxBatch?: number;
  maxWaitMs?: number;
  maxQueue?: number;
  /** Extra environment (UV_THREADPOOL_SIZE, ...). */
  env?: Record<string, string>;
  /** Copy the service's stderr (JSON log lines) here. */
  logFile?: string;
  /** More `torchdog serve` flags. */
  args?: string[];
  /** Flags for node itself (e.g. --cpu-prof). */
  nodeArgs?: string[];
}

/** `torchdog serve` from the sources, on a free port of 127.0.0.1. */
export async function startTorchdog(o: TorchdogOptions): Promise<Service> {
  const entry = "import('./src/cli/main.ts').then((m) => m.main(process.argv.slice(1))).then((code) => { process.exitCode = code; })";
  const flag = (name: string, value: number | undefined) => (value === undefined ? [] : [`--${name}`, String(value)]);
  const args = [
    ...(o.nodeArgs ?? []), '--import', 'tsx', '-e', entry, 'serve', '--model', o.model, '--host', '127.0.0.1', '--port', '0', '--device', 'cpu',
    ...flag('threads', o.threads), ...flag('max-batch', o.maxBatch), ...flag('max-wait-ms', o.maxWaitMs),
    '--max-queue', String(o.maxQueue ?? 256), '--predictions', join(o.dir, 'predictions.jsonl'), ...(o.args ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } });
  const exited = new Promise<unknown>((resolve) => child.once('exit', resolve));
  let announce!: (url: string) => void;
  const announced = new Promise<string>((resolve) => (announce = resolve));
  const tail = tailOf(child.stderr!, (line) => {
    if (!line.startsWith('{')) return;
    try {
      const entry = JSON.parse(line) as { url?: string };
      if (entry.url) announce(entry.url);
    } catch {
      // not a log line
    }
  }, o.logFile);
  const url = await Promise.race([
    announced,
    exited.then(() => Promise.reject(new Error(`torchdog serve exited with ${child.exitCode}:\n${tail()}`))),
  ]);
  await waitFor(`${url}/ready`, 'torchdog serve', exited, tail);
  return { name: 'torchdog', url, pid: child.pid!, stop: stopper(child, exited) };
}

export const PYTHON = process.env.TORCHDOG_BENCH_PYTHON ?? '/usr/bin/python3';

/** Why the FastAPI baseline cannot run here, or null when it can. */
export function fastapiMissing(): string | null {
  const probe = spawnSync(PYTHON, ['-c', 'import fastapi, uvicorn, multipart, torch, torchvision, PIL'], { encoding: 'utf8' });
  if (probe.error) return `${PYTHON}: ${probe.error.message}`;
  if (probe.status !== 0) return `${PYTHON} lacks the baseline's packages: ${probe.stderr.trim().split('\n').pop()}`;
  return null;
}

export interface FastapiOptions {
  threads: number;
  size: number;
  classes?: number;
  env?: Record<string, string>;
}

/** bench/serve_fastapi.py (FastAPI + uvicorn + PyTorch, one image per forward pass) on a free port of 127.0.0.1. */
export async function startFastapi(o: FastapiOptions): Promise<Service> {
  const port = await freePort();
  const args = [join(ROOT, 'bench', 'serve_fastapi.py'), '--port', String(port), '--threads', String(o.threads), '--size', String(o.size), '--classes', String(o.classes ?? 2)];
  const child = spawn(PYTHON, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...o.env } });
  const exited = new Promise<unknown>((resolve) => child.once('exit', resolve));
  const tail = tailOf(child.stderr!, () => {});
  const url = `http://127.0.0.1:${port}`;
  await waitFor(`${url}/health`, 'the FastAPI baseline', exited, tail);
  return { name: 'fastapi', url, pid: child.pid!, stop: stopper(child, exited) };
}

/** Resident set size of a process in MiB (VmRSS of /proc/PID/status). */
export async function rssMiB(pid: number): Promise<number> {
  const { readFile } = await import('node:fs/promises');
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!kb) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(kb[1]) / 1024;
}
