// Where a run stands (state.json): written when the run is created, after
// every epoch and on interruption, read back by --resume. Writing it commits a
// checkpoint: it names the generation of the weights and optimizer state that
// belong to it (run-dir.ts). A state that was edited, truncated or
// written by something else is refused with the file and the field named,
// rather than resuming from numbers that do not add up.
import type { EpochMetrics } from './events.js';
import { TrainError } from './errors.js';

export interface RunState {
  /** The checkpoint this state belongs to: 0 when the run was created, one more at every commit. */
  generation: number;
  /** The epoch to run next (0-based) and the steps already done in it. */
  epoch: number;
  step: number;
  /** Sums over the steps done in the current epoch. */
  partial: { loss_sum: number; correct: number; count: number; seconds: number };
  best_val_acc: number | null;
  best_val_loss: number | null;
  /** 1-based, like EpochMetrics.epoch; null before the first epoch ends. */
  best_epoch: number | null;
  since_improvement: number;
  /** One entry per finished epoch (metrics.jsonl). */
  history: EpochMetrics[];
  best_confusion: number[][] | null;
  /** Early stopping ended the run. */
  finished: boolean;
  /**
   * optimizer.safetensors belongs to the checkpoint. A finished run drops it
   * (RunDirectory.finish): extending the run later starts a fresh optimizer state.
   */
  optimizer_kept: boolean;
}

export function freshState(): RunState {
  return {
    generation: 0, epoch: 0, step: 0, partial: { loss_sum: 0, correct: 0, count: 0, seconds: 0 },
    best_val_acc: null, best_val_loss: null, best_epoch: null, since_improvement: 0,
    history: [], best_confusion: null, finished: false, optimizer_kept: true,
  };
}

export function serializeRunState(state: RunState): string {
  return JSON.stringify(state, null, 1);
}

type Check = (value: unknown) => boolean;

const isNumber: Check = (v) => typeof v === 'number' && Number.isFinite(v);
const isCount: Check = (v) => Number.isInteger(v) && (v as number) >= 0;
const orNull = (check: Check): Check => (v) => v === null || check(v);
const inUnit: Check = (v) => isNumber(v) && (v as number) >= 0 && (v as number) <= 1;
const nonNegative: Check = (v) => isNumber(v) && (v as number) >= 0;

/** Reads the fields of one JSON object, naming `file` and the field's path in every error. */
class Fields {
  constructor(
    private readonly file: string,
    private readonly value: Record<string, unknown>,
    private readonly prefix = '',
  ) {}

  static of(file: string, value: unknown, name = ''): Fields {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new TrainError(`${file}: ${name ? `field '${name}'` : 'the content'}: expected an object but got ${shown(value)}`);
    }
    return new Fields(file, value as Record<string, unknown>, name ? `${name}.` : '');
  }

  get<T>(key: string, check: Check, expected: string): T {
    const value = this.value[key];
    if (!check(value)) fail(this.file, `${this.prefix}${key}`, expected, value);
    return value as T;
  }

  object(key: string): Fields {
    return Fields.of(this.file, this.value[key], `${this.prefix}${key}`);
  }

  list(key: string): unknown[] {
    const value = this.value[key];
    if (!Array.isArray(value)) fail(this.file, `${this.prefix}${key}`, 'a list', value);
    return value as unknown[];
  }
}

function shown(value: unknown): string {
  if (value === undefined) return 'nothing (missing)';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function fail(file: string, field: string, expected: string, value: unknown): never {
  throw new TrainError(`${file}: field '${field}': expected ${expected} but got ${shown(value)}`);
}

function inconsistent(file: string, field: string, why: string): never {
  throw new TrainError(`${file}: field '${field}' ${why}`);
}

function readMetrics(file: string, value: unknown, name: string): EpochMetrics {
  const m = Fields.of(file, value, name);
  return {
    epoch: m.get('epoch', isCount, 'an integer >= 1'),
    train_loss: m.get('train_loss', isNumber, 'a number'),
    train_acc: m.get('train_acc', inUnit, 'a number in [0, 1]'),
    val_loss: m.get('val_loss', orNull(isNumber), 'a number or null'),
    val_acc: m.get('val_acc', orNull(inUnit), 'a number in [0, 1] or null'),
    lr: m.get('lr', nonNegative, 'a number >= 0'),
    // JSON has no Infinity: a zero-length timing reads back as null.
    img_per_s: m.get('img_per_s', orNull(nonNegative), 'a number >= 0'),
    seconds: m.get('seconds', orNull(nonNegative), 'a number >= 0'),
  };
}

function readConfusion(file: string, value: unknown): number[][] | null {
  if (value === null) return null;
  const ok = Array.isArray(value) && value.every((row) => Array.isArray(row) && row.length === value.length && row.every(isCount));
  if (!ok) fail(file, 'best_confusion', 'null or a square list of lists of counts', value);
  return value as number[][];
}

/** Parses and checks state.json's text; `file` names it in errors. */
export function parseRunState(text: string, file: string): RunState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new TrainError(`${file}: not valid JSON (${(error as Error).message})`);
  }
  const s = Fields.of(file, json);
  const p = s.object('partial');
  const state: RunState = {
    generation: s.get('generation', isCount, 'an integer >= 0'),
    epoch: s.get('epoch', isCount, 'an integer >= 0'),
    step: s.get('step', isCount, 'an integer >= 0'),
    partial: {
      loss_sum: p.get('loss_sum', nonNegative, 'a number >= 0'),
      correct: p.get('correct', isCount, 'an integer >= 0'),
      count: p.get('count', isCount, 'an integer >= 0'),
      seconds: p.get('seconds', nonNegative, 'a number >= 0'),
    },
    best_val_acc: s.get('best_val_acc', orNull(inUnit), 'a number in [0, 1] or null'),
    best_val_loss: s.get('best_val_loss', orNull(isNumber), 'a number or null'),
    best_epoch: s.get('best_epoch', orNull(isCount), 'an integer >= 1 or null'),
    since_improvement: s.get('since_improvement', isCount, 'an integer >= 0'),
    history: s.list('history').map((m, i) => readMetrics(file, m, `history[${i}]`)),
    best_confusion: readConfusion(file, (json as Record<string, unknown>).best_confusion),
    finished: s.get('finished', (v) => typeof v === 'boolean', 'true or false'),
    // Absent in the state of runs written before it existed: they kept it.
    optimizer_kept: (json as Record<string, unknown>).optimizer_kept === undefined ? true : s.get('optimizer_kept', (v) => typeof v === 'boolean', 'true or false'),
  };
  checkConsistent(state, file);
  return state;
}

/** The relations every state the trainer writes keeps. */
function checkConsistent(state: RunState, file: string): void {
  const { generation, epoch, step, partial, history, best_epoch: best } = state;
  if (history.length !== epoch) inconsistent(file, 'history', `holds ${history.length} epoch(s) but 'epoch' says ${epoch} are done`);
  history.forEach((m, i) => {
    if (m.epoch !== i + 1) inconsistent(file, `history[${i}].epoch`, `is ${m.epoch}, expected ${i + 1}`);
  });
  if ((best === null) !== (epoch === 0)) inconsistent(file, 'best_epoch', best === null ? `is null after ${epoch} epoch(s)` : 'is set before any epoch ended');
  if (best !== null && (best < 1 || best > epoch)) inconsistent(file, 'best_epoch', `is ${best}, outside the ${epoch} epoch(s) done`);
  if (state.since_improvement !== epoch - (best ?? 0)) {
    inconsistent(file, 'since_improvement', `is ${state.since_improvement}, but the best epoch ${best} is ${epoch - (best ?? 0)} epoch(s) back`);
  }
  if ((step === 0) !== (partial.count === 0)) inconsistent(file, 'partial.count', `is ${partial.count} after ${step} step(s) of the epoch`);
  if (partial.correct > partial.count) inconsistent(file, 'partial.correct', `is ${partial.correct}, more than the ${partial.count} images seen`);
  // Every epoch's end is a commit, and so is stopping mid-epoch.
  const commits = epoch + (step > 0 ? 1 : 0);
  if (generation < commits) inconsistent(file, 'generation', `is ${generation}, but ${commits} checkpoint(s) must have been written to get to epoch ${epoch + 1}, step ${step}`);
}

/** Checks a state against the run it is resumed into (its data and config). */
export function checkStateFits(state: RunState, file: string, run: { stepsPerEpoch: number; classes: number }): void {
  if (state.step >= run.stepsPerEpoch) {
    inconsistent(file, 'step', `is ${state.step}, but an epoch of this data has ${run.stepsPerEpoch} step(s) (did data.root or train.batch_size change?)`);
  }
  if (state.best_confusion && state.best_confusion.length !== run.classes) {
    inconsistent(file, 'best_confusion', `is ${state.best_confusion.length}×${state.best_confusion.length}, but the data has ${run.classes} classes`);
  }
}
