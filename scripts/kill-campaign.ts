// Kill campaign: does a run directory stay one consistent state whatever
// moment a kill -9 picks? (issue 12, README "Training")
//
//   npm run build && node --import tsx scripts/kill-campaign.ts [--runs 20] [--epochs 3] [--parallel 2] [--seed 1] [--out DIR]
//
// Trains one short run uninterrupted (tiny demo data, 16 px, threads 1, so
// it is deterministic), then --runs more of the same, each killed with
// SIGKILL at 1 to 3 random moments (half anywhere in a run, half within
// 0.5 s after an epoch ended, where its checkpoint is committed) and resumed
// (`train --resume`) until it finishes; a run killed before its directory
// existed is started again.
// Then it counts, over all runs:
//   duplicated metric lines   metrics.jsonl lines past one per epoch 1..E
//   non-exact resumes          runs whose last/model.safetensors or
//                              metrics (timings aside) differ from the
//                              uninterrupted run's, byte for byte
//   unresumable runs           a resume (or restart) that failed by itself
//   stale temporary files      anything under the output left by the atomic
//                              writer (TEMP_FILE) or an uncommitted generation
// and where each kill landed (read from the run directory after it). Exit
// status 1 unless all four are 0. It runs the built CLI (bin/torchdog.js →
// dist/), so build first.
import { spawn } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { generateDemoData } from '../src/data/index.ts';
import { TEMP_FILE } from '../src/util/index.ts';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    epochs: { type: 'string', default: '3' },
    parallel: { type: 'string', default: '2' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const EPOCHS = Number(values.epochs);
const PARALLEL = Number(values.parallel);
const ROOT = join(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin', 'torchdog.js');
// A finished run drops optimizer.safetensors; its trajectory shows in last.safetensors.
const CHECKPOINTS = ['last.safetensors', 'model.safetensors'];
const PENDING_FILE = /^(last|optimizer|model)-\d+\.safetensors$/;

function assertBuilt(): void {
  const built = join(ROOT, 'dist', 'train', 'run-dir.js');
  const source = join(ROOT, 'src', 'train', 'run-dir.ts');
  if (!existsSync(built) || statSync(built).mtimeMs < statSync(source).mtimeMs) {
    console.error(`kill-campaign: ${built} is missing or older than its source; run 'npm run build' first`);
    process.exit(2);
  }
}

/** xorshift32: the kill moments are reproducible with --seed. */
function random(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

interface Outcome {
  code: number | null;
  killed: boolean;
  stderr: string;
  seconds: number;
}

/**
 * When to kill: `ms` after the start, or `ms` after the first line that says
 * an epoch ended (its commit follows at once), so that kills also land in the
 * few hundred milliseconds a commit takes.
 */
type KillAt = { ms: number; afterEpochLine: boolean };

/** Runs the CLI; with `kill`, SIGKILLs it then unless it ended first. */
function cli(args: string[], kill?: KillAt): Promise<Outcome> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let killed = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer ??= setTimeout(() => {
        killed = child.kill('SIGKILL');
      }, kill!.ms);
    };
    child.stderr.on('data', (d) => {
      stderr += d;
      if (kill?.afterEpochLine && /^epoch \d+\/\d+: /m.test(stderr)) arm();
    });
    if (kill && !kill.afterEpochLine) arm();
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, killed: killed && signal === 'SIGKILL', stderr, seconds: (performance.now() - started) / 1000 });
    });
  });
}

/** Where a kill landed, read from what it left on disk. */
async function landing(out: string, name: string): Promise<string> {
  const dir = join(out, name);
  if (!existsSync(dir)) {
    const making = (await readdir(out)).some((e) => e.startsWith(`.${name}.torchdog-`));
    return making ? 'while the run directory was being made' : 'before the run directory was made';
  }
  const names = await readdir(dir);
  const state = await readFile(join(dir, 'state.json'), 'utf8').then((t) => JSON.parse(t) as { generation: number }, () => null);
  if (!state) return 'leaving a run directory without a readable state.json (a bug)';
  const pending = names.filter((n) => PENDING_FILE.test(n)).map((n) => Number(/-(\d+)\./.exec(n)![1]));
  if (pending.some((g) => g > state.generation)) return 'in a commit, before state.json';
  if (pending.some((g) => g === state.generation)) return 'in a commit, after state.json, before the files took their names';
  if (names.some((n) => TEMP_FILE.test(n))) return 'while a file was being written';
  return 'between commits (training, validating, decoding, starting)';
}

/** metrics.jsonl without the timings, which no two runs share. */
async function metrics(dir: string): Promise<Array<Record<string, unknown>>> {
  const text = await readFile(join(dir, 'metrics.jsonl'), 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map((line) => {
    const { img_per_s: _speed, seconds: _seconds, ...rest } = JSON.parse(line);
    return rest;
  });
}

/** Every leftover of a killed writer under `dir`: temporary files and uncommitted generations. */
async function leftovers(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (TEMP_FILE.test(entry.name) || PENDING_FILE.test(entry.name)) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

interface RunResult {
  name: string;
  kills: string[];
  attempts: number;
  unresumable: string | null;
  duplicates: number;
  exact: boolean;
  why: string[];
}

async function campaignRun(index: number, base: string[], out: string, reference: { dir: string; seconds: number }, next: () => number): Promise<RunResult> {
  const name = `run${String(index).padStart(2, '0')}`;
  const dir = join(out, name);
  const result: RunResult = { name, kills: [], attempts: 0, unresumable: null, duplicates: 0, exact: true, why: [] };
  let killsLeft = 1 + Math.floor(next() * 3);
  const maxAttempts = killsLeft + 3;
  while (result.attempts < maxAttempts) {
    result.attempts++;
    const resume = existsSync(dir);
    const args = resume ? ['train', '--resume', dir] : ['train', ...base, `output.name=${name}`];
    // Half the kills at a moment anywhere in a whole run, startup included;
    // half within 0.5 s of an epoch's end, when its commit is written.
    const aimed = next() < 0.5;
    const delay = killsLeft > 0 ? { afterEpochLine: aimed, ms: next() * (aimed ? 500 : reference.seconds * 1000) } : undefined;
    const outcome = await cli(args, delay);
    if (outcome.killed) {
      killsLeft--;
      result.kills.push(await landing(out, name));
      continue;
    }
    if (delay !== undefined) killsLeft--;
    if (outcome.code === 0) break;
    result.unresumable = `${resume ? '--resume' : 'restart'} exited ${outcome.code}: ${outcome.stderr.trim().split('\n').slice(-3).join(' | ')}`;
    return result;
  }
  const mine = await metrics(dir);
  const theirs = await metrics(reference.dir);
  const epochs = mine.map((m) => m.epoch as number);
  result.duplicates = epochs.length - new Set(epochs).size;
  if (JSON.stringify(mine) !== JSON.stringify(theirs)) result.why.push(`metrics.jsonl epochs [${epochs}] differ from the uninterrupted run's`);
  for (const file of CHECKPOINTS) {
    const [a, b] = await Promise.all([readFile(join(dir, file)).catch(() => null), readFile(join(reference.dir, file))]);
    if (!a || !a.equals(b)) result.why.push(`${file} differs from the uninterrupted run's`);
  }
  result.exact = result.why.length === 0;
  return result;
}

async function main(): Promise<number> {
  assertBuilt();
  const out = values.out ?? (await mkdtemp(join(tmpdir(), 'torchdog-kill-campaign-')));
  const data = await generateDemoData(join(out, '.data'), { perClass: 10, size: 32 });
  const base = [
    `data.root=${data.root}`, 'data.image_size=16', 'data.workers=1', 'train.batch_size=4', `train.epochs=${EPOCHS}`, 'train.threads=1',
    'train.device=cpu', 'train.seed=0', `output.dir=${out}`,
  ];
  const started = performance.now();
  const straight = await cli(['train', ...base, 'output.name=uninterrupted']);
  if (straight.code !== 0) throw new Error(`the uninterrupted run failed: ${straight.stderr}`);
  const reference = { dir: join(out, 'uninterrupted'), seconds: straight.seconds };
  console.error(`uninterrupted run: ${straight.seconds.toFixed(1)} s; ${RUNS} runs, ${PARALLEL} at a time, each killed 1-3 times: at a random moment in [0, ${straight.seconds.toFixed(1)} s], or in [0, 0.5 s] after an epoch ended`);

  const next = random(Number(values.seed));
  const results: RunResult[] = [];
  let index = 0;
  const worker = async () => {
    while (index < RUNS) {
      const r = await campaignRun(index++, base, out, reference, next);
      results.push(r);
      const verdict = r.unresumable ? `UNRESUMABLE ${r.unresumable}` : r.exact ? 'exact' : `NOT EXACT: ${r.why.join('; ')}`;
      console.error(`${r.name}: ${r.kills.length} kill(s), ${r.attempts} process(es): ${verdict}`);
    }
  };
  await Promise.all(Array.from({ length: PARALLEL }, worker));

  const stale = await leftovers(out);
  const landings = new Map<string, number>();
  for (const where of results.flatMap((r) => r.kills)) landings.set(where, (landings.get(where) ?? 0) + 1);
  const summary = {
    runs: results.length,
    kills: results.reduce((n, r) => n + r.kills.length, 0),
    processes: results.reduce((n, r) => n + r.attempts, 0),
    duplicated_metric_lines: results.reduce((n, r) => n + r.duplicates, 0),
    non_exact_resumes: results.filter((r) => !r.unresumable && !r.exact).length,
    unresumable_runs: results.filter((r) => r.unresumable).length,
    stale_temp_files: stale.length,
    kills_landed: Object.fromEntries([...landings].sort((a, b) => b[1] - a[1])),
    seconds: Math.round((performance.now() - started) / 1000),
    out,
  };
  for (const path of stale) console.error(`stale: ${path}`);
  console.log(JSON.stringify(summary, null, 1));
  if (!values.keep && !values.out) await rm(out, { recursive: true, force: true });
  const clean = summary.duplicated_metric_lines + summary.non_exact_resumes + summary.unresumable_runs + summary.stale_temp_files === 0;
  return clean && summary.runs === RUNS ? 0 : 1;
}

process.exitCode = await main();
