// Reload without downtime, under load. `torchdog serve` runs a checkpoint
// with classes hotdog/nothotdog while autocannon posts a photo to /predict;
// after --swap-at seconds the file is replaced (atomic rename) by one with
// other classes and SIGHUP is sent. Then, in a second run, the file is
// replaced by a corrupt one and SIGHUP sent again: the reload must fail and
// the model in service keep answering.
//
//   node --import tsx bench/reload.ts [--connections 8] [--duration 12] [--swap-at 4]
//        [--size 128] [--next-size N] [--threads 0]
//
// Both runs must end with 0 failed requests and /ready 200 throughout; the
// first with every request started after the swap answered by the new model.
// Progress on stderr; a table and, last, one JSON line on stdout. Exits 1
// when a check fails.
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { multipart, syntheticPhoto } from './lib/photo.ts';
import { loadWithSwap, type SwapReport } from './lib/reload.ts';
import { startTorchdog, type Service } from './lib/services.ts';
import { integer, load1, table } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '8' },
    duration: { type: 'string', default: '12' },
    'swap-at': { type: 'string', default: '4' },
    size: { type: 'string', default: '128' },
    'next-size': { type: 'string' },
    threads: { type: 'string', default: '0' },
  },
});
const connections = integer('connections', values.connections!, 1);
const seconds = integer('duration', values.duration!, 2);
const swapAt = integer('swap-at', values['swap-at']!, 1);
const size = integer('size', values.size!, 8);
const nextSize = values['next-size'] === undefined ? size : integer('next-size', values['next-size'], 8);
const log = (line: string) => process.stderr.write(`bench: ${line}\n`);

async function checkpoint(path: string, classes: string[], imageSize: number, seed: number): Promise<void> {
  const { createModel, saveCheckpoint } = await import('../src/index.ts');
  const model = await createModel({ numClasses: classes.length, device: 'cpu', seed, threads: 1 });
  try {
    await saveCheckpoint(path, model, { arch: 'resnet18', classes, imageSize, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  } finally {
    await model.dispose();
  }
}

/** What must hold of a run; each broken one is a line. */
function problems(r: SwapReport, expectNew: boolean): string[] {
  const out: string[] = [];
  if (r.reload !== (expectNew ? 'loaded' : 'failed')) out.push(`the reload ended ${r.reload}, expected ${expectNew ? 'loaded' : 'failed'}`);
  if (r.failed > 0) out.push(`${r.failed} failed requests (${r.errors} errors, ${r.timeouts} timeouts, ${r.non2xx} non-2xx, ${r.unreadable} unreadable)`);
  if (r.ready_not_200 > 0) out.push(`/ready was not 200 ${r.ready_not_200} times`);
  const after = Object.keys(r.answers_after);
  if (expectNew) {
    if (r.ready_after === r.ready_before) out.push('the new version never took over /ready');
    if (after.some((k) => k.startsWith(`${r.ready_before} `))) out.push(`requests started after the swap were answered by the old model: ${JSON.stringify(r.answers_after)}`);
  } else {
    if (r.ready_after !== r.ready_before) out.push(`the version changed from ${r.ready_before} to ${r.ready_after}`);
    if (after.some((k) => !k.startsWith(`${r.ready_before} `))) out.push(`answers from another model: ${JSON.stringify(r.answers_after)}`);
  }
  if (after.length === 0) out.push('no answers after the swap');
  return out;
}

const dir = await mkdtemp(join(tmpdir(), 'torchdog-bench-reload-'));
let service: Service | undefined;
try {
  const served = join(dir, 'run', 'model.safetensors');
  const next = join(dir, 'next.safetensors');
  await mkdir(join(dir, 'run'));
  await checkpoint(served, ['hotdog', 'nothotdog'], size, 1);
  await checkpoint(next, ['cat', 'dog', 'bird'], nextSize, 2);
  const nextBytes = await readFile(next);
  const corrupt = nextBytes.subarray(0, 4096);
  const upload = multipart(await syntheticPhoto());
  const logFile = join(dir, 'serve.log');
  service = await startTorchdog({ model: served, dir, threads: integer('threads', values.threads!, 0), logFile });
  log(`service ${service.url} (pid ${service.pid}); ${cpus().length} CPUs, load ${load1()}`);

  const runs: { name: string; report: SwapReport; problems: string[] }[] = [];
  log(`reload to another model: ${connections} connections, ${seconds} s, swap at ${swapAt} s ...`);
  const swapped = await loadWithSwap({ url: service.url, pid: service.pid, modelPath: served, replacement: nextBytes, upload, connections, seconds, swapAt });
  runs.push({ name: 'reload', report: swapped, problems: problems(swapped, true) });
  log(`failed reload (a corrupt file): ${connections} connections, ${seconds} s, swap at ${swapAt} s ...`);
  const failed = await loadWithSwap({ url: service.url, pid: service.pid, modelPath: served, replacement: corrupt, upload, connections, seconds, swapAt });
  runs.push({ name: 'corrupt', report: failed, problems: problems(failed, false) });

  const metrics = await (await fetch(`${service.url}/metrics`)).text();
  const reloads = Object.fromEntries([...metrics.matchAll(/^torchdog_model_reloads_total\{outcome="(\w+)"\} (\d+)/gm)].map((m) => [m[1], Number(m[2])]));
  const logs = (await readFile(logFile, 'utf8')).split('\n').filter((l) => /SIGHUP|drained/.test(l)).map((l) => JSON.parse(l).message as string);
  for (const line of logs) log(`service: ${line}`);

  process.stdout.write(
    table(
      ['run', 'seconds', 'requests', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'failed', '/ready !200', 'reload', 'settled ms', 'answers before', 'answers after'],
      runs.map(({ name, report: r }) => [
        name, r.seconds, r.requests, r.rps, r.p50_ms, r.p99_ms, r.max_ms, r.failed, r.ready_not_200, r.reload, r.reload_settled_ms ?? '-',
        JSON.stringify(r.answers_before), JSON.stringify(r.answers_after),
      ]),
    ),
  );
  for (const { name, problems: p } of runs) for (const line of p) process.stdout.write(`FAIL ${name}: ${line}\n`);
  process.stdout.write(
    JSON.stringify({ bench: 'reload', cpus: cpus().length, connections, duration_s: seconds, swap_at_s: swapAt, image_size: size, next_image_size: nextSize, reloads, runs }) + '\n',
  );
  if (runs.some((r) => r.problems.length > 0)) process.exitCode = 1;
} finally {
  await service?.stop();
  await rm(dir, { recursive: true, force: true });
}
