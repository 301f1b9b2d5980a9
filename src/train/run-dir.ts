// The run directory (DESIGN.md, README "Training"): config.yaml, metrics.jsonl,
// model.safetensors (best), last.safetensors + optimizer.safetensors +
// state.json (where the run stands, for --resume), reference.jsonl and
// report.html; OUTPUT/latest points at the run that last saved a model.
//
// On disk it is always one consistent state, whatever moment a kill -9 picks:
// - A run appears whole: it is made under a temporary name beside its own
//   (config, reference, first checkpoint, state.json) and renamed into place,
//   so any run directory is resumable from its first step.
// - A checkpoint is committed as one unit. Generation g's files are written
//   as last-g, optimizer-g (and model-g for a new best) .safetensors; then
//   state.json, naming g, replaces the old one (the commit); then they take
//   their names (last.safetensors, ...). A kill before the commit leaves the
//   previous generation in force and the new files are dropped on resume; a
//   kill after it is finished on resume.
// - metrics.jsonl is appended after the commit and rewritten from state.json
//   on resume, so it never holds an epoch twice or one the state does not.
// - Resume trusts nothing: state.json is checked field by field, every file
//   of the checkpoint must be the generation state.json names, with the
//   model's full tensor set, the run's classes and image size.
import { appendFile, lstat, mkdir, open, readdir, readFile, readlink, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import {
  checkpointMetadata, checkTensorValues, loadWeights, readCheckpoint, readSafetensors, saveCheckpoint, writeSafetensors,
  type CheckpointInfo, type Model, type Tensor,
} from '../model/index.js';
import { pathExists, replaceAtomically, STALE_TEMP_MS, TEMP_FILE, tempPathBeside, writeFileAtomic, type FileContent } from '../util/index.js';
import { configToYaml, ConfigError, loadConfigFile, resolveConfig, type TrainConfig } from './config.js';
import { TrainError } from './errors.js';
import type { EpochMetrics, TrainEventListener } from './events.js';
import { checkStateFits, freshState, parseRunState, serializeRunState, type RunState } from './run-state.js';

const STATE_FILE = 'state.json';
const CONFIG_FILE = 'config.yaml';
const METRICS_FILE = 'metrics.jsonl';
const REFERENCE_FILE = 'reference.jsonl';
const LATEST = 'latest';

/** The files a commit replaces together, written as `<file>-<generation>.safetensors` until state.json names that generation. */
type CheckpointFile = 'last' | 'optimizer' | 'model';
const PENDING_FILE = /^(last|optimizer|model)-(0|[1-9][0-9]*)\.safetensors$/;
const pendingName = (file: CheckpointFile, generation: number) => `${file}-${generation}.safetensors`;
const settledName = (file: CheckpointFile) => `${file}.safetensors`;

/** An epoch that became the best: its metrics and, with train.ema, the EMA weights it was evaluated with. */
export interface BestCheckpoint {
  metrics: EpochMetrics;
  /** null: the model's own weights. */
  weights: Tensor[] | null;
  /** The EMA decay when `weights` are the EMA. */
  ema: number | null;
}

/** Resolves the config of a run to resume, with `overrides` (e.g. more epochs) applied on top. */
export async function resumeConfig(runDir: string, overrides: unknown): Promise<TrainConfig> {
  const path = await followLinks(resolve(runDir));
  await assertRunDirectory(path, runDir);
  const file = join(path, CONFIG_FILE);
  const saved = await loadConfigFile(file);
  try {
    resolveConfig(saved);
  } catch (error) {
    if (error instanceof ConfigError) throw new ConfigError(`${file}: ${error.message}`);
    throw error;
  }
  return resolveConfig(saved, overrides);
}

async function assertRunDirectory(path: string, given: string): Promise<void> {
  if (!(await pathExists(join(path, CONFIG_FILE))) || !(await pathExists(join(path, STATE_FILE)))) {
    throw new TrainError(`--resume ${given}: not a torchdog run directory (needs ${CONFIG_FILE} and ${STATE_FILE})`);
  }
}

/**
 * `path` with its last component's symbolic links resolved (OUTPUT/latest is
 * one): the run is then known by its own name, so pointing `latest` at it
 * cannot make `latest` point at itself.
 */
async function followLinks(path: string): Promise<string> {
  for (let hops = 0; hops < 40; hops++) {
    const info = await lstat(path).catch(() => null);
    if (!info?.isSymbolicLink()) return path;
    path = resolve(dirname(path), await readlink(path));
  }
  throw new TrainError(`${path}: too many levels of symbolic links`);
}

function checkpointInfo(config: TrainConfig, classes: string[]): CheckpointInfo {
  return { arch: config.model.arch, classes, imageSize: config.data.image_size, mean: config.data.mean, std: config.data.std };
}

function runName(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
}

/** fsync of a folder, so the renames in it reach the disk in order; a file system that cannot is left to its own order. */
async function syncFolder(path: string): Promise<void> {
  const handle = await open(path, 'r').catch(() => null);
  if (!handle) return;
  try {
    await handle.sync().catch(() => {});
  } finally {
    await handle.close();
  }
}

/** What a new run starts with besides the model's own weights. */
export interface NewRun {
  config: TrainConfig;
  classes: string[];
  /** reference.jsonl's content. */
  reference: string;
}

export class RunDirectory {
  /** Lines of metrics.jsonl on disk: the first ones of state.history. */
  private metricsLines: number;

  private constructor(
    readonly path: string,
    /** Where the run stands; the trainer advances it, commit() writes it. */
    readonly state: RunState,
    /** Whether the state was read from an earlier run (--resume). */
    readonly resumed: boolean,
    private readonly info: CheckpointInfo,
    private readonly optimizerName: string,
    private readonly emit: TrainEventListener,
    /** false on the ranks of a distributed job other than 0: they follow the run in memory and write nothing. */
    private readonly writes = true,
  ) {
    this.metricsLines = state.history.length;
  }

  /** Where a new run goes: OUTPUT_DIR/NAME (a timestamp by default), which must not exist yet. */
  static async newPath(config: TrainConfig): Promise<string> {
    const path = resolve(config.output.dir, config.output.name ?? runName());
    if (await pathExists(path)) {
      throw new TrainError(`output: ${path} already exists: continue it with 'torchdog train --resume ${path}', or choose another output.name`);
    }
    return path;
  }

  /**
   * Makes the run directory at `path` whole or not at all: config.yaml,
   * reference.jsonl, metrics.jsonl (empty), generation 0 of the checkpoint
   * (`model`'s weights as they start, no optimizer state) and state.json are
   * written under a temporary name, which is then renamed to `path`.
   */
  static async create(path: string, run: NewRun, model: Model, emit: TrainEventListener): Promise<RunDirectory> {
    const parent = dirname(path);
    await mkdir(parent, { recursive: true });
    await sweepOutput(parent, basename(path));
    const dir = new RunDirectory(tempPathBeside(path), freshState(), false, checkpointInfo(run.config, run.classes), run.config.optim.name, emit);
    await mkdir(dir.path);
    try {
      await dir.write(CONFIG_FILE, configToYaml(run.config));
      await dir.write(REFERENCE_FILE, run.reference);
      await dir.write(METRICS_FILE, '');
      await dir.writeCheckpointFiles(model, 0, null, settledName);
      await dir.write(STATE_FILE, serializeRunState(dir.state));
      await syncFolder(dir.path);
      await rename(dir.path, path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOTEMPTY' || error.code === 'EEXIST') throw new TrainError(`output: ${path} was created by another process meanwhile; choose another output.name`);
        throw error;
      });
    } catch (error) {
      await rm(dir.path, { recursive: true, force: true });
      throw error;
    }
    await syncFolder(parent);
    return new RunDirectory(path, dir.state, false, dir.info, dir.optimizerName, emit);
  }

  /** A distributed job's run as a rank other than 0 sees it: the state, in memory only. */
  static follower(config: TrainConfig, classes: string[], emit: TrainEventListener): RunDirectory {
    return new RunDirectory('', freshState(), false, checkpointInfo(config, classes), config.optim.name, emit, false);
  }

  /**
   * An earlier run, checked and loaded into `model`: state.json (field by
   * field), the checkpoint it names (finishing a commit a kill interrupted,
   * dropping one that was never committed, removing temporary files), then
   * the weights and the optimizer state, each refused unless it is complete
   * and this run's. `model` must have its optimizer set (config.optim).
   */
  static async resume(runDir: string, config: TrainConfig, classes: string[], model: Model, emit: TrainEventListener, follower = false): Promise<RunDirectory> {
    const path = await followLinks(resolve(runDir));
    await assertRunDirectory(path, runDir);
    const file = join(path, STATE_FILE);
    const state = parseRunState(await readFile(file, 'utf8'), file);
    const run = new RunDirectory(path, state, true, checkpointInfo(config, classes), config.optim.name, emit, !follower);
    if (follower) {
      // Rank 0 has settled the directory before the others read it (train's resumeRun).
      await run.restore(model, config);
      return run;
    }
    await sweepOutput(dirname(path), null);
    await run.removeTemporaryFiles();
    await run.settle(state.generation);
    await run.restore(model, config);
    return run;
  }

  /**
   * A resumed run, once its data is decoded: checks the state against it,
   * cuts metrics.jsonl back to the committed history and writes config.yaml
   * (with the overrides of this resume).
   */
  async continueOn(config: TrainConfig, data: { stepsPerEpoch: number; classes: number }): Promise<void> {
    checkStateFits(this.state, this.stateFile, data);
    await this.write(METRICS_FILE, this.state.history.map((m) => JSON.stringify(m) + '\n').join(''));
    this.metricsLines = this.state.history.length;
    await this.write(CONFIG_FILE, configToYaml(config));
  }

  get stateFile(): string {
    return join(this.path, STATE_FILE);
  }

  /** Replaces `name` in the run directory atomically. */
  async write(name: string, content: FileContent): Promise<void> {
    if (!this.writes) return;
    await writeFileAtomic(join(this.path, name), content);
  }

  /**
   * Commits where the run stands (`state`, advanced by the trainer) as the
   * next generation: the model's weights, its optimizer state and, with
   * `best` (the epoch that just became the best), model.safetensors; then
   * the epochs not yet in metrics.jsonl are appended.
   */
  async commit(model: Model, best: BestCheckpoint | null): Promise<void> {
    const generation = this.state.generation + 1;
    if (!this.writes) {
      this.state.generation = generation;
      return;
    }
    await this.writeCheckpointFiles(model, generation, best, (file) => pendingName(file, generation));
    await syncFolder(this.path);
    await this.write(STATE_FILE, serializeRunState({ ...this.state, generation }));
    this.state.generation = generation;
    await this.settle(generation);
    await this.appendMetrics();
    const { epoch, step } = this.state;
    if (best) {
      this.emit({ type: 'checkpoint', kind: 'best', path: join(this.path, settledName('model')), epoch: best.metrics.epoch, step: 0 });
      await this.linkLatest();
    }
    this.emit({ type: 'checkpoint', kind: 'resumable', path: this.stateFile, epoch: epoch + 1, step });
  }

  /**
   * The checkpoint's files. Metadata `weights` says what a file holds: 'raw'
   * (the trained weights) or 'ema' (their moving average, train.ema, with
   * `ema_decay`); last.safetensors is always raw, for resuming.
   */
  private async writeCheckpointFiles(model: Model, generation: number, best: BestCheckpoint | null, name: (file: CheckpointFile) => string): Promise<void> {
    const { epoch, step } = this.state;
    const at = { generation: String(generation) };
    // getTensors copies the weights out, so later steps cannot change what is written.
    await saveCheckpoint(join(this.path, name('last')), model, { ...this.info, extra: { epoch: String(epoch), step: String(step), weights: 'raw', ...at } });
    await writeSafetensors(join(this.path, name('optimizer')), await model.getOptimizerState(), { optimizer: this.optimizerName, ...at });
    if (best) {
      const m = best.metrics;
      const held: Record<string, string> = best.weights ? { weights: 'ema', ema_decay: String(best.ema) } : { weights: 'raw' };
      const info = { ...this.info, extra: { epoch: String(m.epoch), val_acc: String(m.val_acc), val_loss: String(m.val_loss), ...held, ...at } };
      if (best.weights) await writeSafetensors(join(this.path, name('model')), best.weights, checkpointMetadata(info));
      else await saveCheckpoint(join(this.path, name('model')), model, info);
    }
  }

  /** Once state.json names `generation`: its files take their own names; every other generation's are dropped. */
  private async settle(generation: number): Promise<void> {
    for (const name of await readdir(this.path)) {
      const pending = PENDING_FILE.exec(name);
      if (!pending) continue;
      const path = join(this.path, name);
      if (Number(pending[2]) === generation) await rename(path, join(this.path, settledName(pending[1] as CheckpointFile)));
      else await rm(path, { force: true });
    }
  }

  /** What a killed writer left in the run directory (this process owns it now). */
  private async removeTemporaryFiles(): Promise<void> {
    for (const name of await readdir(this.path)) {
      if (TEMP_FILE.test(name)) await rm(join(this.path, name), { recursive: true, force: true });
    }
  }

  private async appendMetrics(): Promise<void> {
    const lines = this.state.history.slice(this.metricsLines).map((m) => JSON.stringify(m) + '\n').join('');
    if (lines) await appendFile(join(this.path, METRICS_FILE), lines);
    this.metricsLines = this.state.history.length;
  }

  /**
   * A finished run keeps what a user needs: model.safetensors (the best
   * weights, what is served and exported), last.safetensors (where training
   * ended, to extend the run), the metrics, report, config and drift
   * reference. optimizer.safetensors (twice the weights' size with Adam) only
   * continues the exact trajectory of an interrupted run, so it goes: state.json
   * says so first, then the file is removed (a kill between leaves a file
   * the state disowns, removed on resume).
   */
  async finish(): Promise<void> {
    if (!this.state.optimizer_kept) return;
    this.state.optimizer_kept = false;
    await this.write(STATE_FILE, serializeRunState(this.state));
    await rm(join(this.path, settledName('optimizer')), { force: true });
  }

  /** Loads the committed weights and optimizer state into `model`, refusing any file that is not the state's. */
  private async restore(model: Model, config: TrainConfig): Promise<void> {
    const weights = await this.readLast();
    await loadWeights(model, weights, join(this.path, settledName('last')));
    if (this.state.optimizer_kept) {
      const state = await this.readOptimizer(await model.getTensors(), config);
      await model.setOptimizerState(state);
    } else {
      await rm(join(this.path, settledName('optimizer')), { force: true });
      this.emit({
        type: 'warning', code: 'optimizer-restarted', path: this.path,
        message: `${this.path} had finished and kept no optimizer state: training on starts the optimizer afresh${config.train.ema > 0 ? ' (and the EMA from the last weights)' : ''}`,
      });
      // The next commit writes the new optimizer's state.
      this.state.optimizer_kept = true;
    }
    await this.checkBest();
  }

  private async readLast(): Promise<Tensor[]> {
    const file = join(this.path, settledName('last'));
    const { info, tensors } = await readCheckpoint(file);
    const extra = info.extra ?? {};
    this.expectGeneration(file, extra.generation);
    const { epoch, step } = this.state;
    if (extra.epoch !== String(epoch) || extra.step !== String(step)) {
      throw new TrainError(`${file}: holds epoch ${extra.epoch ?? '?'} step ${extra.step ?? '?'}, but ${STATE_FILE} is at epoch ${epoch} step ${step}`);
    }
    if (JSON.stringify(info.classes) !== JSON.stringify(this.info.classes)) {
      throw new TrainError(`${file}: trained on classes ${JSON.stringify(info.classes)}, but the data has ${JSON.stringify(this.info.classes)}`);
    }
    if (info.imageSize !== this.info.imageSize) {
      throw new TrainError(`${file}: trained at image_size ${info.imageSize}, but data.image_size is ${this.info.imageSize}`);
    }
    return tensors;
  }

  /** optimizer.safetensors: this generation's, for config.optim.name, holding the full state of every parameter once a step was taken. */
  private async readOptimizer(weights: Tensor[], config: TrainConfig): Promise<Tensor[]> {
    const file = join(this.path, settledName('optimizer'));
    const { tensors, metadata } = await readSafetensors(file);
    if (metadata.optimizer !== config.optim.name) {
      throw new TrainError(`${file}: holds the state of optimizer ${JSON.stringify(metadata.optimizer ?? null)}, but optim.name is '${config.optim.name}'`);
    }
    this.expectGeneration(file, metadata.generation);
    const trained = this.state.epoch > 0 || this.state.step > 0;
    const expected = trained ? optimizerStateOf(weights, config) : [];
    const missing = expected.filter((t) => !tensors.has(t.name)).map((t) => t.name);
    if (missing.length > 0) {
      throw new TrainError(
        `${file}: missing ${missing.length} of the ${expected.length} optimizer tensors ${config.optim.name} keeps after a step: ` +
          `${missing.slice(0, 3).join(', ')}${missing.length > 3 ? ', …' : ''}`,
      );
    }
    const wanted = new Map(expected.map((t) => [t.name, t]));
    for (const t of tensors.values()) {
      const like = wanted.get(t.name);
      if (!like) throw new TrainError(`${file}: unexpected optimizer tensor '${t.name}' for ${config.optim.name}${trained ? '' : ' before the first step'}`);
      if (t.dtype !== like.dtype || JSON.stringify(t.shape) !== JSON.stringify(like.shape)) {
        throw new TrainError(`${file}: optimizer tensor '${t.name}' is ${t.dtype} ${JSON.stringify(t.shape)}, expected ${like.dtype} ${JSON.stringify(like.shape)}`);
      }
    }
    checkTensorValues([...tensors.values()], file);
    return [...tensors.values()];
  }

  /** model.safetensors, once an epoch was the best, must hold that epoch. */
  private async checkBest(): Promise<void> {
    const best = this.state.best_epoch;
    if (best === null) return;
    const file = join(this.path, settledName('model'));
    const { info } = await readCheckpoint(file);
    if (info.extra?.epoch !== String(best)) {
      throw new TrainError(`${file}: holds epoch ${info.extra?.epoch ?? '?'}, but ${STATE_FILE} says the best epoch is ${best}`);
    }
  }

  private expectGeneration(file: string, generation: string | undefined): void {
    if (generation !== String(this.state.generation)) {
      throw new TrainError(
        `${file}: is checkpoint generation ${generation ?? '(none)'}, but ${STATE_FILE} names generation ${this.state.generation} ` +
          '(not written with this state: copied in, or from an older torchdog?)',
      );
    }
  }

  /** Points OUTPUT/latest at the run, replacing any older link atomically. */
  private async linkLatest(): Promise<void> {
    await replaceAtomically(join(dirname(this.path), LATEST), (temp) => symlink(basename(this.path), temp));
  }
}

/**
 * The optimizer state torchdog's optimizers hold after a step, by the names
 * the engine gives it: per parameter (weights and biases; BatchNorm's running
 * statistics are buffers) Adam's and AdamW's moments and step count, SGD's
 * momentum buffer when it has momentum.
 */
function optimizerStateOf(weights: readonly Tensor[], config: TrainConfig): Array<Pick<Tensor, 'name' | 'dtype' | 'shape'>> {
  const parameters = weights.filter((t) => t.name.endsWith('.weight') || t.name.endsWith('.bias'));
  // train.ema: the moving average of every parameter and buffer ("ema.<name>").
  const ema = config.train.ema > 0 ? weights.map((t) => ({ name: `ema.${t.name}`, dtype: t.dtype, shape: t.shape })) : [];
  const { name, momentum } = config.optim;
  if (name === 'sgd') return [...(momentum > 0 ? parameters.map((p) => ({ name: `${p.name}.momentum_buffer`, dtype: p.dtype, shape: p.shape })) : []), ...ema];
  return [
    ...parameters.flatMap((p) => [
      { name: `${p.name}.exp_avg`, dtype: p.dtype, shape: p.shape },
      { name: `${p.name}.exp_avg_sq`, dtype: p.dtype, shape: p.shape },
      { name: `${p.name}.step`, dtype: 'I64', shape: [] },
    ]),
    ...ema,
  ];
}

/**
 * Temporary entries a killed train left in OUTPUT: any for the run `name`
 * being made now (a run is made by one process), others once stale
 * (STALE_TEMP_MS: making a run directory or a link takes seconds at most).
 */
async function sweepOutput(dir: string, name: string | null): Promise<void> {
  const now = Date.now();
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (!TEMP_FILE.test(entry)) continue;
    const path = join(dir, entry);
    const mine = name !== null && entry.startsWith(`.${name}.torchdog-`) && entry.length === name.length + 23;
    const info = await lstat(path).catch(() => null);
    if (info && (mine || now - info.mtimeMs > STALE_TEMP_MS)) await rm(path, { recursive: true, force: true }).catch(() => {});
  }
}
