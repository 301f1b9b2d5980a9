// The training loop, orchestrated in TypeScript; all compute is native.
// A run directory holds everything needed to inspect or resume it.
import { appendFile, mkdir, readFile, rename, rm, symlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { createModel, type Model } from '../model/model.js';
import { saveCheckpoint, type CheckpointInfo } from '../model/checkpoint.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import { writeFileAtomic } from '../util/atomic-write.js';
import { scanImageFolder } from '../data/scan.js';
import { batchIndices, decodeSet, makeBatch, type DecodedSet } from '../data/dataset.js';
import { ensureDemoData } from '../data/demo.js';
import { decodeImage } from '../image/decode.js';
import { driftFeatures, DRIFT_IMAGE_SIZE } from '../drift/features.js';
import { mapLimit } from '../util/map-limit.js';
import { Random, deriveSeed } from '../util/random.js';
import { configToYaml, DEFAULT_CONFIG, resolveConfig, type TrainConfig } from './config.js';
import { learningRate } from './schedule.js';
import { evaluate } from './evaluate.js';
import { ProgressReporter } from './progress.js';
import { renderReport, type ReportEpoch } from './report.js';
import { uploadRun } from './upload.js';
import type { GcsClientOptions } from '../cloud/gcs.js';
import { pathExists } from '../util/fs.js';

/** One line of metrics.jsonl (what the report draws). */
export type EpochMetrics = ReportEpoch;

export interface TrainSummary {
  run_dir: string;
  epochs: number;
  best_epoch: number | null;
  best_val_acc: number | null;
  val_acc: number | null;
  val_loss: number | null;
  train_loss: number | null;
  train_img_per_s: number;
  seconds: number;
  classes: string[];
  n_train: number;
  n_val: number;
  skipped_images: number;
  stopped_early: boolean;
  interrupted: boolean;
  device: string;
  threads: number;
  /** gs:// folder the run was uploaded to (output.gcs), when it was. */
  gcs?: string;
  /** Why the upload failed; the local run is complete regardless. */
  gcs_error?: string;
}

export interface TrainOptions {
  /** Continue the run in this directory (weights, optimizer state, position). */
  resume?: string;
  /** Aborting stops after the current step, with a consistent checkpoint written. */
  signal?: AbortSignal;
  progress?: ProgressReporter;
  /** Cloud Storage client settings for output.gcs (e.g. an emulator's endpoint). */
  gcs?: GcsClientOptions;
}

/** Where a run stands; written after every epoch and on interruption. */
interface RunState {
  /** The epoch to run next (0-based) and the step within it. */
  epoch: number;
  step: number;
  partial: { loss_sum: number; correct: number; count: number; seconds: number };
  best_val_acc: number | null;
  best_val_loss: number | null;
  best_epoch: number | null;
  since_improvement: number;
  history: EpochMetrics[];
  best_confusion: number[][] | null;
  finished: boolean;
}

export class TrainError extends Error {
  readonly code = 'ERR_TORCHDOG_TRAIN';
}


function runName(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
}


/** Points OUTPUT/latest at the run, replacing any older link atomically. */
async function linkLatest(runDir: string): Promise<void> {
  const link = join(dirname(runDir), 'latest');
  const temp = `${link}.${process.pid}.tmp`;
  await rm(temp, { force: true });
  await symlink(basename(runDir), temp);
  await rename(temp, link);
}

async function loadPretrained(model: Model, path: string, log: (s: string) => void): Promise<void> {
  const { tensors } = await readSafetensors(path);
  const own = new Map((await model.getTensors()).map((t) => [t.name, t]));
  const usable = [...tensors.values()].filter((t) => {
    const mine = own.get(t.name);
    return mine && mine.dtype === t.dtype && JSON.stringify(mine.shape) === JSON.stringify(t.shape);
  });
  if (usable.length === 0) throw new TrainError(`model.pretrained ${path}: no tensor matches resnet18's names and shapes`);
  await model.setTensors(usable);
  const skipped = [...own.keys()].filter((name) => !usable.some((t) => t.name === name));
  log(`pretrained: loaded ${usable.length} tensors from ${path}` + (skipped.length ? `; kept fresh: ${skipped.join(', ')}` : ''));
}

async function writeReference(runDir: string, train: DecodedSet, classes: string[], workers: number): Promise<void> {
  const lines = await mapLimit(train.samples, workers, async (sample, i) => {
    const pixels = train.size === DRIFT_IMAGE_SIZE ? train.pixels[i]! : await decodeImage(sample.path, { size: DRIFT_IMAGE_SIZE });
    return JSON.stringify({ ...driftFeatures(pixels, DRIFT_IMAGE_SIZE, DRIFT_IMAGE_SIZE), label: classes[sample.label] });
  });
  await writeFileAtomic(join(runDir, 'reference.jsonl'), [Buffer.from(lines.join('\n') + '\n')]);
}

function freshState(): RunState {
  return {
    epoch: 0, step: 0, partial: { loss_sum: 0, correct: 0, count: 0, seconds: 0 },
    best_val_acc: null, best_val_loss: null, best_epoch: null, since_improvement: 0,
    history: [], best_confusion: null, finished: false,
  };
}

/** Resolves the config of a run to resume, with `overrides` (e.g. more epochs) applied on top. */
export async function resumeConfig(runDir: string, overrides: unknown): Promise<TrainConfig> {
  const path = join(runDir, 'config.yaml');
  if (!(await pathExists(path)) || !(await pathExists(join(runDir, 'state.json')))) {
    throw new TrainError(`--resume ${runDir}: not a torchdog run directory (needs config.yaml and state.json)`);
  }
  const { parse } = await import('yaml');
  return resolveConfig(parse(await readFile(path, 'utf8')), overrides);
}

export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  const progress = options.progress ?? new ProgressReporter(process.stderr, config.train.log_every);
  const log = (s: string) => progress.line(s);
  const started = performance.now();

  if (resolve(config.data.root) === resolve(DEFAULT_CONFIG.data.root)) {
    await ensureDemoData(config.data.root);
  }
  const folder = await scanImageFolder(config.data.root, { valFraction: config.data.val_fraction, seed: config.train.seed });
  const classes = folder.classes;
  log(`data: ${folder.root}: ${classes.length} classes (${classes.join(', ')}), ${folder.train.length} train / ${folder.val.length} val images (${folder.valSource === 'test' ? 'test/' : folder.valSource === 'split' ? `${config.data.val_fraction} held out` : 'no validation'})`);

  const decodeOptions = {
    size: config.data.image_size,
    workers: config.data.workers,
    strict: config.data.strict,
    onSkip: (path: string, message: string) => log(`warning: skipping unreadable image ${path}: ${message}`),
  };
  const trainSet = await decodeSet(folder.train, decodeOptions);
  const valSet = await decodeSet(folder.val, decodeOptions);
  if (trainSet.samples.length === 0) throw new TrainError(`${folder.root}: no readable training images`);

  const runDir = options.resume ? resolve(options.resume) : resolve(config.output.dir, config.output.name ?? runName());
  let state = freshState();
  if (options.resume) {
    state = JSON.parse(await readFile(join(runDir, 'state.json'), 'utf8')) as RunState;
  } else {
    if (await pathExists(runDir)) throw new TrainError(`output: ${runDir} already exists (choose another output.name, or --resume it)`);
    await mkdir(runDir, { recursive: true });
  }
  await writeFileAtomic(join(runDir, 'config.yaml'), [Buffer.from(configToYaml(config))]);
  await linkLatest(runDir);

  const model = await createModel({
    numClasses: classes.length, device: config.train.device, seed: config.train.seed, threads: config.train.threads,
  });
  const info: CheckpointInfo = {
    arch: config.model.arch, classes, imageSize: config.data.image_size, mean: config.data.mean, std: config.data.std,
  };
  const saveWeights = async (file: string, extra: Record<string, string>) => {
    await saveCheckpoint(join(runDir, file), model, { ...info, extra });
  };
  const saveResumable = async () => {
    await saveWeights('last.safetensors', { epoch: String(state.epoch), step: String(state.step) });
    await writeSafetensors(join(runDir, 'optimizer.safetensors'), await model.getOptimizerState(), { optimizer: config.optim.name });
    await writeFileAtomic(join(runDir, 'state.json'), [Buffer.from(JSON.stringify(state, null, 1))]);
  };

  let interrupted = false;
  try {
    await model.setOptimizer({
      name: config.optim.name, lr: config.optim.lr, weightDecay: config.optim.weight_decay,
      momentum: config.optim.momentum, nesterov: config.optim.nesterov, betas: config.optim.betas,
    });
    if (config.train.amp) await model.setMixedPrecision(true);
    if (options.resume) {
      const last = await readSafetensors(join(runDir, 'last.safetensors'));
      await model.setTensors([...last.tensors.values()]);
      const optimizer = await readSafetensors(join(runDir, 'optimizer.safetensors'));
      await model.setOptimizerState([...optimizer.tensors.values()]);
      log(`resume: ${runDir} at epoch ${state.epoch + 1}, step ${state.step}`);
    } else {
      if (config.model.pretrained) await loadPretrained(model, config.model.pretrained, log);
      await writeReference(runDir, trainSet, classes, config.data.workers);
    }
    log(`model: resnet18, ${model.parameterCount.toLocaleString('en')} parameters, device ${model.device}, ${model.threads} thread(s)${config.train.amp ? ', bf16 autocast' : ''}`);

    const epochs = config.train.epochs;
    const n = trainSet.samples.length;
    const stepsPerEpoch = Math.ceil(n / config.train.batch_size);
    const augmentOptions = { hflip: config.train.augment.hflip, cropScale: config.train.augment.crop_scale, cropRatio: config.train.augment.crop_ratio };
    let totalImages = 0;
    let totalTrainSeconds = 0;
    let appliedLr = NaN; // the optimizer's learning rate, set again only when the schedule moves it

    while (state.epoch < epochs && !state.finished) {
      const epoch = state.epoch;
      const order = new Random(deriveSeed(config.train.seed, epoch, 1)).shuffle([...Array(n).keys()]);
      const batches = batchIndices(order, config.train.batch_size);
      const augmentFor = (step: number) => ({ options: augmentOptions, random: new Random(deriveSeed(config.train.seed, epoch, step, 2)) });
      let lr = 0;
      // The next batch is assembled while the current step runs natively.
      let next = state.step < batches.length ? makeBatch(trainSet, batches[state.step]!, augmentFor(state.step)) : null;
      while (next) {
        const step = state.step;
        const batch = next;
        lr = learningRate(config.optim, epochs, epoch + step / stepsPerEpoch);
        const t0 = performance.now();
        if (lr !== appliedLr) {
          await model.setLearningRate(lr);
          appliedLr = lr;
        }
        const pending = model.trainStep(batch, batch.labels, config.data);
        next = step + 1 < batches.length ? makeBatch(trainSet, batches[step + 1]!, augmentFor(step + 1)) : null;
        const r = await pending;
        const seconds = (performance.now() - t0) / 1000;
        if (!Number.isFinite(r.loss)) throw new TrainError(`epoch ${epoch + 1} step ${step + 1}: loss is ${r.loss} (try a lower optim.lr)`);
        state.partial.loss_sum += r.loss * r.count;
        state.partial.correct += r.correct;
        state.partial.count += r.count;
        state.partial.seconds += seconds;
        totalImages += r.count;
        totalTrainSeconds += seconds;
        state.step = step + 1;
        const imgPerS = state.partial.count / state.partial.seconds;
        const remaining = (epochs - epoch) * n - state.partial.count;
        progress.step({ epoch, epochs, step: step + 1, steps: batches.length, loss: r.loss, imgPerS, eta: remaining / imgPerS });
        if (options.signal?.aborted && next) {
          interrupted = true;
          break;
        }
      }
      if (interrupted) break;

      const val = valSet.samples.length ? await evaluate(model, valSet, { batchSize: config.train.batch_size, normalization: config.data, classes: classes.length }) : null;
      const p = state.partial;
      const metrics: EpochMetrics = {
        epoch: epoch + 1,
        train_loss: p.loss_sum / p.count,
        train_acc: p.correct / p.count,
        val_loss: val ? val.loss : null,
        val_acc: val ? val.accuracy : null,
        lr,
        img_per_s: p.count / p.seconds,
        seconds: p.seconds,
      };
      state.history.push(metrics);
      state.partial = { loss_sum: 0, correct: 0, count: 0, seconds: 0 };
      await appendFile(join(runDir, 'metrics.jsonl'), JSON.stringify(metrics) + '\n');

      const improved = val
        ? state.best_val_acc === null || val.accuracy > state.best_val_acc + config.train.early_stopping.min_delta ||
          (val.accuracy === state.best_val_acc && val.loss < (state.best_val_loss ?? Infinity))
        : true;
      if (improved) {
        state.best_val_acc = val ? val.accuracy : null;
        state.best_val_loss = val ? val.loss : null;
        state.best_epoch = epoch + 1;
        state.best_confusion = val ? val.confusion : null;
        state.since_improvement = 0;
        // getTensors copies the weights out, so later steps cannot change what is written.
        await saveWeights('model.safetensors', {
          epoch: String(epoch + 1), val_acc: String(metrics.val_acc), val_loss: String(metrics.val_loss),
        });
      } else {
        state.since_improvement++;
      }
      log(
        `epoch ${epoch + 1}/${epochs}: train loss ${metrics.train_loss.toFixed(4)} acc ${metrics.train_acc.toFixed(4)}` +
          (val ? `, val loss ${val.loss.toFixed(4)} acc ${val.accuracy.toFixed(4)}` : '') +
          `, ${metrics.img_per_s.toFixed(1)} img/s, ${metrics.seconds.toFixed(1)} s${improved ? ' (best)' : ''}`,
      );
      const patience = config.train.early_stopping.patience;
      if (patience !== null && state.since_improvement >= patience) {
        log(`early stopping: no val_acc improvement for ${patience} epoch(s)`);
        state.finished = true;
      }
      state.epoch = epoch + 1;
      state.step = 0;
      await saveResumable();
      if (options.signal?.aborted && state.epoch < epochs && !state.finished) {
        interrupted = true;
        break;
      }
    }
    if (interrupted) {
      await saveResumable();
      log(`interrupted: checkpoint written at epoch ${state.epoch + 1}, step ${state.step}; continue with --resume ${runDir}`);
    }
    const stoppedEarly = state.finished;

    const last = state.history.at(-1);
    const report = renderReport({
      title: `torchdog run ${basename(runDir)}`,
      classes,
      epochs: state.history,
      confusion: state.best_confusion ?? [],
      summary: {
        data: folder.root, train_images: trainSet.samples.length, val_images: valSet.samples.length,
        best_epoch: state.best_epoch, best_val_acc: state.best_val_acc, device: model.device, threads: model.threads,
      },
      config: configToYaml(config),
    });
    await writeFileAtomic(join(runDir, 'report.html'), [Buffer.from(report)]);
    const upload: Pick<TrainSummary, 'gcs' | 'gcs_error'> = {};
    if (config.output.gcs && !interrupted) {
      try {
        const done = await uploadRun(runDir, config.output.gcs, options.gcs);
        upload.gcs = done.uri;
        log(`uploaded ${done.files.length} files to ${done.uri}`);
      } catch (error) {
        upload.gcs_error = (error as Error).message;
        log(`warning: upload to ${config.output.gcs} failed, the run is kept in ${runDir}: ${upload.gcs_error}`);
      }
    }
    return {
      ...upload,
      run_dir: runDir,
      epochs: state.history.length,
      best_epoch: state.best_epoch,
      best_val_acc: state.best_val_acc,
      val_acc: last?.val_acc ?? null,
      val_loss: last?.val_loss ?? null,
      train_loss: last?.train_loss ?? null,
      train_img_per_s: totalTrainSeconds > 0 ? totalImages / totalTrainSeconds : 0,
      seconds: (performance.now() - started) / 1000,
      classes,
      n_train: trainSet.samples.length,
      n_val: valSet.samples.length,
      skipped_images: trainSet.skipped.length + valSet.skipped.length,
      stopped_early: stoppedEarly,
      interrupted,
      device: model.device,
      threads: model.threads,
    };
  } finally {
    await model.dispose();
  }
}
