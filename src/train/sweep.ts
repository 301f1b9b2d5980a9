// `train --multirun`: a grid of runs, Hydra's basic sweeper. Each override
// `key=a,b` is an axis; the grid is their product (the last axis varies
// fastest) and runs one run after another into OUTPUT/<sweep>/<n>/. The sweep
// is resumable by running the same command again: a run with its summary.json
// is done and skipped, one with a state.json is continued (--resume), the rest
// start. summary.jsonl and index.html (the comparison page) are rewritten
// after every run.
import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathExists, writeFileAtomic } from '../util/index.js';
import { ConfigError, parseOverrides, resolveConfig, type TrainConfig } from './config.js';
import type { TrainEventListener } from './events.js';
import { renderSweepPage } from './sweep-page.js';
import { train, type TrainOptions, type TrainSummary } from './train.js';

export interface SweepAxis {
  key: string;
  /** The values as typed (YAML scalars or flow collections). */
  values: string[];
}

export interface SweepRun {
  /** 0-based position in the grid, the run's folder name. */
  n: number;
  /** key → value as typed, one per axis. */
  overrides: Record<string, string>;
  config: TrainConfig;
}

export interface SweepRunSummary extends TrainSummary {
  n: number;
  overrides: Record<string, string>;
}

export interface SweepSummary {
  sweep_dir: string;
  runs: number;
  completed: number;
  /** Runs already complete before this call (skipped). */
  skipped: number;
  interrupted: boolean;
  /** The run with the best best_val_acc. */
  best: { n: number; best_val_acc: number | null; overrides: Record<string, string> } | null;
  summary: string;
  page: string;
}

export interface SweepOptions extends Pick<TrainOptions, 'signal' | 'gcs'> {
  onEvent?: (event: SweepEvent) => void;
}

export type SweepEvent =
  | { type: 'sweep-run'; n: number; runs: number; overrides: Record<string, string>; action: 'start' | 'resume' | 'skip'; runDir: string }
  | { type: 'run-event'; n: number; event: Parameters<TrainEventListener>[0] };

/** Splits `text` at commas outside brackets, braces and quotes (`[1,2],[3,4]` is two values). */
export function splitSweepValues(text: string): string[] {
  const values: string[] = [];
  let depth = 0;
  let quote: string | null = null;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 0) {
      values.push(text.slice(start, i));
      start = i + 1;
    }
  }
  values.push(text.slice(start));
  return values;
}

/** `key=a,b` overrides become axes (in order); `key=value` ones stay fixed for every run. */
export function parseSweep(overrides: readonly string[]): { fixed: string[]; axes: SweepAxis[] } {
  const fixed: string[] = [];
  const axes: SweepAxis[] = [];
  for (const text of overrides) {
    const eq = text.indexOf('=');
    const values = eq > 0 ? splitSweepValues(text.slice(eq + 1)) : [];
    if (values.length < 2) {
      fixed.push(text);
      continue;
    }
    const key = text.slice(0, eq).trim();
    if (values.some((v) => v.trim() === '')) throw new ConfigError(`override '${text}': an empty value in the sweep of '${key}'`);
    if (axes.some((a) => a.key === key)) throw new ConfigError(`override '${text}': '${key}' is swept twice`);
    axes.push({ key, values });
  }
  return { fixed, axes };
}

/** Every point of the grid, resolved and validated before anything runs. */
export function sweepGrid(layers: readonly unknown[], fixed: readonly string[], axes: readonly SweepAxis[]): SweepRun[] {
  let points: Array<Record<string, string>> = [{}];
  for (const axis of axes) points = points.flatMap((p) => axis.values.map((v) => ({ ...p, [axis.key]: v })));
  return points.map((overrides, n) => {
    const assignments = [...fixed, ...Object.entries(overrides).map(([k, v]) => `${k}=${v}`)];
    try {
      return { n, overrides, config: resolveConfig(...layers, parseOverrides(assignments)) };
    } catch (error) {
      if (error instanceof ConfigError) throw new ConfigError(`sweep run ${n} (${Object.entries(overrides).map(([k, v]) => `${k}=${v}`).join(' ')}): ${error.message}`);
      throw error;
    }
  });
}

/**
 * The sweep's folder: OUTPUT/<output.name> when named, else OUTPUT/sweep-<hash
 * of the grid>, so the same command finds the same sweep again.
 */
export function sweepDirectory(grid: readonly SweepRun[]): string {
  const first = grid[0]!.config;
  const name = first.output.name ?? `sweep-${createHash('sha256').update(JSON.stringify(grid.map((r) => r.config))).digest('hex').slice(0, 10)}`;
  return resolve(first.output.dir, name);
}

const RUN_SUMMARY = 'summary.json';

/** Runs the grid one run after another (see the file's head); stops at the signal with the run in progress resumable. */
export async function sweep(grid: readonly SweepRun[], options: SweepOptions = {}): Promise<SweepSummary> {
  const emit = options.onEvent ?? (() => {});
  const dir = sweepDirectory(grid);
  await mkdir(dir, { recursive: true });
  await writeFileAtomic(join(dir, 'sweep.json'), JSON.stringify({ runs: grid.map((r) => ({ n: r.n, overrides: r.overrides })) }, null, 1) + '\n');
  const done: SweepRunSummary[] = [];
  let skipped = 0;
  let interrupted = false;
  for (const run of grid) {
    const runDir = join(dir, String(run.n));
    const config: TrainConfig = { ...run.config, output: { ...run.config.output, dir, name: String(run.n) } };
    const finished = await readRunSummary(runDir);
    if (finished) {
      skipped++;
      done.push(finished);
      emit({ type: 'sweep-run', n: run.n, runs: grid.length, overrides: run.overrides, action: 'skip', runDir });
      continue;
    }
    const resume = await pathExists(join(runDir, 'state.json'));
    emit({ type: 'sweep-run', n: run.n, runs: grid.length, overrides: run.overrides, action: resume ? 'resume' : 'start', runDir });
    const summary = await train(config, {
      resume: resume ? runDir : undefined, signal: options.signal, gcs: options.gcs, onEvent: (event) => emit({ type: 'run-event', n: run.n, event }),
    });
    if (summary.interrupted) {
      interrupted = true;
      break;
    }
    const entry: SweepRunSummary = { n: run.n, overrides: run.overrides, ...summary };
    await writeFileAtomic(join(runDir, RUN_SUMMARY), JSON.stringify(entry) + '\n');
    done.push(entry);
    await writeSweepFiles(dir, grid, done);
    if (options.signal?.aborted) {
      interrupted = run.n < grid.length - 1;
      break;
    }
  }
  await writeSweepFiles(dir, grid, done);
  const best = done.reduce<SweepRunSummary | null>((b, r) => (b === null || (r.best_val_acc ?? -1) > (b.best_val_acc ?? -1) ? r : b), null);
  return {
    sweep_dir: dir, runs: grid.length, completed: done.length, skipped, interrupted,
    best: best ? { n: best.n, best_val_acc: best.best_val_acc, overrides: best.overrides } : null,
    summary: join(dir, 'summary.jsonl'), page: join(dir, 'index.html'),
  };
}

async function readRunSummary(runDir: string): Promise<SweepRunSummary | null> {
  const text = await readFile(join(runDir, RUN_SUMMARY), 'utf8').catch(() => null);
  if (text === null) return null;
  try {
    return JSON.parse(text) as SweepRunSummary;
  } catch {
    return null; // torn by hand: the run is resumed, which rewrites it
  }
}

async function writeSweepFiles(dir: string, grid: readonly SweepRun[], done: readonly SweepRunSummary[]): Promise<void> {
  const ordered = [...done].sort((a, b) => a.n - b.n);
  await writeFileAtomic(join(dir, 'summary.jsonl'), ordered.map((r) => JSON.stringify(r) + '\n').join(''));
  const histories = await Promise.all(ordered.map(async (r) => {
    const text = await readFile(join(r.run_dir, 'metrics.jsonl'), 'utf8').catch(() => '');
    return text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l));
  }));
  await writeFileAtomic(join(dir, 'index.html'), renderSweepPage({
    title: `torchdog sweep ${dir.split('/').at(-1)}`,
    runs: grid.map((g) => {
      const i = ordered.findIndex((r) => r.n === g.n);
      return { n: g.n, overrides: g.overrides, summary: i >= 0 ? ordered[i]! : null, epochs: i >= 0 ? histories[i]! : [] };
    }),
  }));
}
