// The run directory (DESIGN.md, README "Training"): config.yaml, metrics.jsonl,
// model.safetensors (best), last.safetensors + optimizer.safetensors +
// state.json (where the run stands, for --resume), reference.jsonl and
// report.html; OUTPUT/latest points at the newest run. Every file but
// metrics.jsonl (appended a line per epoch) is replaced atomically.
import { appendFile, mkdir, readFile, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { readSafetensors, saveCheckpoint, writeSafetensors, type CheckpointInfo, type Model } from '../model/index.js';
import { replaceAtomically, writeFileAtomic, type FileContent } from '../util/index.js';
import { pathExists } from '../util/index.js';
import { configToYaml, resolveConfig, type TrainConfig } from './config.js';
import { TrainError } from './errors.js';
import type { EpochMetrics, TrainEventListener } from './events.js';
import { checkStateFits, freshState, parseRunState, serializeRunState, type RunState } from './run-state.js';

const STATE_FILE = 'state.json';
const CONFIG_FILE = 'config.yaml';

/** Resolves the config of a run to resume, with `overrides` (e.g. more epochs) applied on top. */
export async function resumeConfig(runDir: string, overrides: unknown): Promise<TrainConfig> {
  await assertRunDirectory(runDir);
  const { parse } = await import('yaml');
  return resolveConfig(parse(await readFile(join(runDir, CONFIG_FILE), 'utf8')), overrides);
}

async function assertRunDirectory(runDir: string): Promise<void> {
  if (!(await pathExists(join(runDir, CONFIG_FILE))) || !(await pathExists(join(runDir, STATE_FILE)))) {
    throw new TrainError(`--resume ${runDir}: not a torchdog run directory (needs ${CONFIG_FILE} and ${STATE_FILE})`);
  }
}

function checkpointInfo(config: TrainConfig, classes: string[]): CheckpointInfo {
  return { arch: config.model.arch, classes, imageSize: config.data.image_size, mean: config.data.mean, std: config.data.std };
}

function runName(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
}

export class RunDirectory {
  private constructor(
    readonly path: string,
    /** Where the run stands; the trainer advances it, saveResumable() writes it. */
    readonly state: RunState,
    /** Whether the state was read from an earlier run (--resume). */
    readonly resumed: boolean,
    private readonly info: CheckpointInfo,
    private readonly optimizerName: string,
    private readonly emit: TrainEventListener,
  ) {}

  /** A new run: makes OUTPUT_DIR/NAME (a timestamp by default), which must not exist yet. */
  static async create(config: TrainConfig, classes: string[], emit: TrainEventListener): Promise<RunDirectory> {
    const path = resolve(config.output.dir, config.output.name ?? runName());
    if (await pathExists(path)) throw new TrainError(`output: ${path} already exists (choose another output.name, or --resume it)`);
    await mkdir(path, { recursive: true });
    return new RunDirectory(path, freshState(), false, checkpointInfo(config, classes), config.optim.name, emit);
  }

  /** An earlier run, from its state.json (read and checked; nothing is written yet). */
  static async resume(runDir: string, config: TrainConfig, classes: string[], emit: TrainEventListener): Promise<RunDirectory> {
    const path = resolve(runDir);
    await assertRunDirectory(path);
    const file = join(path, STATE_FILE);
    const state = parseRunState(await readFile(file, 'utf8'), file);
    return new RunDirectory(path, state, true, checkpointInfo(config, classes), config.optim.name, emit);
  }

  /** Checks the state against the data it continues on, then writes config.yaml and points OUTPUT/latest here. */
  async begin(config: TrainConfig, data: { stepsPerEpoch: number; classes: number }): Promise<void> {
    checkStateFits(this.state, this.stateFile, data);
    await this.write(CONFIG_FILE, configToYaml(config));
    await this.linkLatest();
  }

  get stateFile(): string {
    return join(this.path, STATE_FILE);
  }

  /** Replaces `name` in the run directory atomically. */
  async write(name: string, content: FileContent): Promise<void> {
    await writeFileAtomic(join(this.path, name), content);
  }

  async appendMetrics(metrics: EpochMetrics): Promise<void> {
    await appendFile(join(this.path, 'metrics.jsonl'), JSON.stringify(metrics) + '\n');
  }

  /** model.safetensors: the weights of `epoch` (1-based), the best so far. */
  async saveBest(model: Model, epoch: number, metrics: EpochMetrics): Promise<void> {
    const path = join(this.path, 'model.safetensors');
    // getTensors copies the weights out, so later steps cannot change what is written.
    await saveCheckpoint(path, model, {
      ...this.info, extra: { epoch: String(epoch), val_acc: String(metrics.val_acc), val_loss: String(metrics.val_loss) },
    });
    this.emit({ type: 'checkpoint', kind: 'best', path, epoch, step: 0 });
  }

  /** last.safetensors, optimizer.safetensors and state.json: everything --resume needs, state last. */
  async saveResumable(model: Model): Promise<void> {
    const { epoch, step } = this.state;
    await saveCheckpoint(join(this.path, 'last.safetensors'), model, { ...this.info, extra: { epoch: String(epoch), step: String(step) } });
    await writeSafetensors(join(this.path, 'optimizer.safetensors'), await model.getOptimizerState(), { optimizer: this.optimizerName });
    await this.write(STATE_FILE, serializeRunState(this.state));
    this.emit({ type: 'checkpoint', kind: 'resumable', path: this.stateFile, epoch: epoch + 1, step });
  }

  /** Loads the weights and optimizer state saved with state.json into `model`. */
  async restore(model: Model): Promise<void> {
    const last = await readSafetensors(join(this.path, 'last.safetensors'));
    await model.setTensors([...last.tensors.values()]);
    const optimizer = await readSafetensors(join(this.path, 'optimizer.safetensors'));
    await model.setOptimizerState([...optimizer.tensors.values()]);
  }

  /** Points OUTPUT/latest at the run, replacing any older link atomically. */
  private async linkLatest(): Promise<void> {
    await replaceAtomically(join(dirname(this.path), 'latest'), (temp) => symlink(basename(this.path), temp));
  }
}
