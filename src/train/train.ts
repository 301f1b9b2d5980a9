// The training run, orchestrated in TypeScript; all compute is native. The
// pieces: the run directory (run-dir.ts, run-state.ts), the epoch (epoch.ts)
// and the events a run reports (events.ts). train() writes nothing to the
// terminal: callers render the events (the CLI draws a bar).
import { basename, join } from 'node:path';
import type { GcsClientOptions } from '../cloud/index.js';
import { decodeSet, scanImageFolder, type DecodedSet, type ImageFolder } from '../data/index.js';
import { driftFeatures, DRIFT_IMAGE_SIZE } from '../drift/index.js';
import { decodeImage } from '../image/index.js';
import { checkTensorValues, createModel, loadWeights, readCheckpoint, readSafetensors, type Model } from '../model/index.js';
import { mapLimit } from '../util/index.js';
import { resolveAmp } from './amp.js';
import { calibrateRun } from './calibrate.js';
import { configToYaml, type TrainConfig } from './config.js';
import { Cluster, epochSteps, stopRequested, type DistributedOptions } from './distributed.js';
import { endEpoch, trainSteps, type EpochLoop } from './epoch.js';
import { TrainError } from './errors.js';
import { evaluate, type Evaluation } from './evaluate.js';
import type { TrainEventListener } from './events.js';
import { renderReport } from './report.js';
import { RunDirectory } from './run-dir.js';
import { uploadRun } from './upload.js';

export interface TrainSummary {
  run_dir: string;
  epochs: number;
  best_epoch: number | null;
  /** Validation (held out of train/): what chose the best epoch. */
  best_val_acc: number | null;
  val_acc: number | null;
  val_loss: number | null;
  /** test/ evaluated once, with the best epoch's weights, after the run finished; null without test/ (or when interrupted). */
  test_acc: number | null;
  test_loss: number | null;
  train_loss: number | null;
  train_img_per_s: number;
  seconds: number;
  classes: string[];
  n_train: number;
  n_val: number;
  n_test: number;
  skipped_images: number;
  stopped_early: boolean;
  interrupted: boolean;
  device: string;
  threads: number;
  /** What ran: bf16 autocast or float32 (train.amp, 'auto' resolved for this device and CPU). */
  precision: 'bf16' | 'fp32';
  /** gs:// folder the run was uploaded to (output.gcs), when it was. */
  gcs?: string;
  /** Why the upload failed; the local run is complete regardless. */
  gcs_error?: string;
  /** int8 (calibrated at the run's end, calibrate.ts) against fp32 on the validation split; absent for an interrupted run. */
  int8_agreement?: number | null;
  int8_val_acc?: number | null;
  fp32_val_acc?: number | null;
}

export interface TrainOptions {
  /** Continue the run in this directory (weights, optimizer state, position). */
  resume?: string;
  /** Aborting stops after the current step, with a consistent checkpoint written. */
  signal?: AbortSignal;
  /** Receives the run's events (data, steps, epochs, checkpoints, warnings); nothing is printed without it. */
  onEvent?: TrainEventListener;
  /** Cloud Storage client settings for output.gcs (e.g. an emulator's endpoint). */
  gcs?: GcsClientOptions;
  /** Train as one rank of a distributed job (distributed.ts, docs/distributed.md). */
  distributed?: DistributedOptions;
}

interface TrainData {
  folder: ImageFolder;
  trainSet: DecodedSet;
  valSet: DecodedSet;
}

/**
 * Trains `config.model` on `config.data.root` into a new run directory, or
 * continues `options.resume`. Same seed and threads give the same metrics;
 * a resumed run ends exactly where the uninterrupted one would have.
 */
export async function train(config: TrainConfig, options: TrainOptions = {}): Promise<TrainSummary> {
  const emit = options.onEvent ?? (() => {});
  const started = performance.now();
  const folder = await scanData(config, emit);
  const model = await createModel({ numClasses: folder.classes.length, device: config.train.device, seed: config.train.seed, threads: config.train.threads });
  try {
    const amp = await configureTraining(model, config);
    const cluster = options.distributed ? await Cluster.join(model, options.distributed) : undefined;
    // A resumed run is checked and loaded, a new run's name found free, before minutes of decoding.
    const resumed = options.resume ? await resumeRun(options.resume, config, folder.classes, model, emit, cluster) : null;
    const newPath = resumed || cluster?.leader === false ? null : await RunDirectory.newPath(config);
    const data = await decodeData(folder, config, emit);
    const stepsPerEpoch = epochSteps(data.trainSet.samples.length, resumed?.state ?? null, config.train.batch_size, cluster?.worldSize);
    let run: RunDirectory;
    if (resumed) {
      await resumed.continueOn(config, { stepsPerEpoch, classes: folder.classes.length });
      run = resumed;
    } else {
      run = newPath ? await createRun(newPath, config, data, model, emit) : RunDirectory.follower(config, folder.classes, emit);
    }
    if (cluster) await model.broadcastTensors();
    const loop = startLoop(config, model, run, data, emit, options.signal, amp, cluster);
    const interrupted = await trainEpochs(loop);
    // Rank 0 alone finishes, tests, calibrates and uploads the run it wrote.
    const leads = cluster?.leader !== false;
    if (!interrupted && leads) await run.finish();
    const test = interrupted || !leads ? null : await testBest(run, folder, config, model, emit);
    await writeReport(run, config, data, model, test, amp);
    const int8 = interrupted || !leads ? {} : await calibrateRun(run.path, data.trainSet, data.valSet, { threads: config.train.threads, seed: config.train.seed });
    const upload = interrupted || !leads ? {} : await uploadIfAsked(run, config, options.gcs, emit);
    return { ...upload, ...summarize(run, data, model, { ...loop.speed, started }, interrupted, test, amp), ...int8 };
  } finally {
    await model.dispose();
  }
}

/** In a job, rank 0 settles the run directory (finishing or dropping a commit) before the other ranks read it. */
async function resumeRun(path: string, config: TrainConfig, classes: string[], model: Model, emit: TrainEventListener, cluster: Cluster | undefined): Promise<RunDirectory> {
  if (!cluster) return RunDirectory.resume(path, config, classes, model, emit);
  if (cluster.leader) {
    const run = await RunDirectory.resume(path, config, classes, model, emit);
    await cluster.barrier();
    return run;
  }
  await cluster.barrier();
  return RunDirectory.resume(path, config, classes, model, emit, true);
}

export async function scanData(config: TrainConfig, emit: TrainEventListener): Promise<ImageFolder> {
  const folder = await scanImageFolder(config.data.root, { valFraction: config.data.val_fraction, seed: config.train.seed });
  emit({
    type: 'data', root: folder.root, classes: folder.classes, train: folder.train.length, val: folder.val.length,
    valSource: folder.valSource, valFraction: config.data.val_fraction, test: folder.test.length,
  });
  return folder;
}

export function decodeOptions(config: TrainConfig, emit: TrainEventListener) {
  return {
    size: config.data.image_size, workers: config.data.workers, strict: config.data.strict,
    onSkip: (path: string, message: string) =>
      emit({ type: 'warning', code: 'image-skipped', path, message: `skipping unreadable image ${path}: ${message}` }),
  };
}

async function decodeData(folder: ImageFolder, config: TrainConfig, emit: TrainEventListener): Promise<TrainData> {
  const options = decodeOptions(config, emit);
  const trainSet = await decodeSet(folder.train, options);
  const valSet = await decodeSet(folder.val, options);
  if (trainSet.samples.length === 0) throw new TrainError(`${folder.root}: no readable training images`);
  // The scan found images in every class; decoding may have skipped all of one.
  folder.classes.forEach((name, label) => {
    if (!trainSet.samples.some((s) => s.label === label)) {
      const skipped = trainSet.skipped.filter((s) => folder.train.some((t) => t.path === s.path && t.label === label)).length;
      throw new TrainError(`${join(folder.root, 'train', name)}: no readable training images (${skipped} unreadable skipped)`);
    }
  });
  return { folder, trainSet, valSet };
}

/** The optimizer, the recipe and the precision; returns whether bf16 autocast runs. */
export async function configureTraining(model: Model, config: TrainConfig): Promise<boolean> {
  const o = config.optim;
  const t = config.train;
  await model.setOptimizer({ name: o.name, lr: o.lr, weightDecay: o.weight_decay, momentum: o.momentum, nesterov: o.nesterov, betas: o.betas });
  await model.setTrainRecipe({
    labelSmoothing: t.label_smoothing, clipGradNorm: t.clip_grad_norm ?? 0, lossScale: 1 / t.grad_accum_steps, emaDecay: t.ema,
  });
  const amp = resolveAmp(t.amp, model.device);
  if (amp) await model.setMixedPrecision(true);
  return amp;
}

/** A new run: pretrained weights (optional), the drift reference, then the run directory, whole, with the weights it starts from. */
async function createRun(path: string, config: TrainConfig, data: TrainData, model: Model, emit: TrainEventListener): Promise<RunDirectory> {
  if (config.model.pretrained) await loadPretrained(model, config.model.pretrained, emit);
  const reference = await referenceLines(data.trainSet, data.folder.classes, config.data.workers);
  return RunDirectory.create(path, { config, classes: data.folder.classes, reference }, model, emit);
}

function startLoop(
  config: TrainConfig, model: Model, run: RunDirectory, data: TrainData, emit: TrainEventListener, signal: AbortSignal | undefined, amp: boolean,
  cluster: Cluster | undefined,
): EpochLoop {
  const stepsPerEpoch = epochSteps(data.trainSet.samples.length, run.state, config.train.batch_size, cluster?.worldSize);
  const { epoch, step } = run.state;
  emit({
    type: 'run-started', runDir: run.path, resumed: run.resumed ? { epoch: epoch + 1, step } : null, epochs: config.train.epochs, stepsPerEpoch,
    model: { arch: config.model.arch, parameterCount: model.parameterCount, device: model.device, threads: model.threads, amp },
  });
  return {
    config, model, run, trainSet: data.trainSet, valSet: data.valSet, classes: data.folder.classes.length, emit, signal,
    speed: { images: 0, seconds: 0 }, appliedLr: NaN, amp, cluster,
  };
}

/** Runs epochs until the last, early stopping, or the signal; true when the signal stopped the run. */
async function trainEpochs(loop: EpochLoop): Promise<boolean> {
  const { run, config } = loop;
  const more = () => run.state.epoch < config.train.epochs && !run.state.finished;
  while (more()) {
    const { lr, interrupted } = await trainSteps(loop);
    if (interrupted) {
      await run.commit(loop.model, null);
      return stopped(loop);
    }
    await endEpoch(loop, lr); // commits the epoch
    if ((await stopRequested(loop)) && more()) return stopped(loop);
  }
  return false;
}

function stopped(loop: EpochLoop): true {
  const { run } = loop;
  loop.emit({ type: 'interrupted', runDir: run.path, epoch: run.state.epoch + 1, step: run.state.step });
  return true;
}

async function loadPretrained(model: Model, path: string, emit: TrainEventListener): Promise<void> {
  const { tensors } = await readSafetensors(path);
  const own = new Map((await model.getTensors()).map((t) => [t.name, t]));
  const usable = [...tensors.values()].filter((t) => {
    const mine = own.get(t.name);
    return mine && mine.dtype === t.dtype && JSON.stringify(mine.shape) === JSON.stringify(t.shape);
  });
  if (usable.length === 0) throw new TrainError(`model.pretrained ${path}: no tensor matches resnet18's names and shapes`);
  checkTensorValues(usable, `model.pretrained ${path}`);
  await model.setTensors(usable);
  const fresh = [...own.keys()].filter((name) => !usable.some((t) => t.name === name));
  emit({ type: 'pretrained', path, loaded: usable.length, fresh });
}

/** reference.jsonl: the drift features of every training image, for monitoring the service against. */
async function referenceLines(train: DecodedSet, classes: string[], workers: number): Promise<string> {
  const lines = await mapLimit(train.samples, workers, async (sample, i) => {
    const pixels = train.size === DRIFT_IMAGE_SIZE ? train.pixels[i]! : await decodeImage(sample.path, { size: DRIFT_IMAGE_SIZE });
    return JSON.stringify({ ...driftFeatures(pixels, DRIFT_IMAGE_SIZE, DRIFT_IMAGE_SIZE), label: classes[sample.label] });
  });
  return lines.join('\n') + '\n';
}

/**
 * test/, once the run is over: the best epoch's weights (model.safetensors)
 * on images that played no part in choosing them, so the number is what a
 * user can expect. Null without test/ images.
 */
async function testBest(run: RunDirectory, folder: ImageFolder, config: TrainConfig, model: Model, emit: TrainEventListener): Promise<Evaluation | null> {
  if (folder.test.length === 0 || run.state.best_epoch === null) return null;
  const testSet = await decodeSet(folder.test, decodeOptions(config, emit));
  if (testSet.samples.length === 0) return null;
  const best = join(run.path, 'model.safetensors');
  await loadWeights(model, (await readCheckpoint(best)).tensors, best);
  return evaluate(model, testSet, { batchSize: config.train.batch_size, normalization: config.data, classes: folder.classes.length });
}

async function writeReport(run: RunDirectory, config: TrainConfig, data: TrainData, model: Model, test: Evaluation | null, amp: boolean): Promise<void> {
  const { state } = run;
  const report = renderReport({
    title: `torchdog run ${basename(run.path)}`,
    classes: data.folder.classes,
    epochs: state.history,
    confusion: state.best_confusion ?? [],
    summary: {
      data: data.folder.root, train_images: data.trainSet.samples.length, val_images: data.valSet.samples.length,
      test_images: test?.n ?? null, best_epoch: state.best_epoch, best_val_acc: state.best_val_acc, test_acc: test?.accuracy ?? null,
      device: model.device, threads: model.threads, precision: amp ? 'bf16' : 'fp32',
    },
    config: configToYaml(config),
  });
  await run.write('report.html', report);
}

/** output.gcs: uploads the finished run; a failure is a warning and the summary's gcs_error, never a failed run. */
async function uploadIfAsked(run: RunDirectory, config: TrainConfig, gcs: GcsClientOptions | undefined, emit: TrainEventListener): Promise<Pick<TrainSummary, 'gcs' | 'gcs_error'>> {
  const destination = config.output.gcs;
  if (!destination) return {};
  try {
    const done = await uploadRun(run.path, destination, gcs);
    emit({ type: 'uploaded', uri: done.uri, files: done.files.length });
    return { gcs: done.uri };
  } catch (error) {
    const message = (error as Error).message;
    emit({ type: 'warning', code: 'upload-failed', path: destination, message: `upload to ${destination} failed, the run is kept in ${run.path}: ${message}` });
    return { gcs_error: message };
  }
}

function summarize(
  run: RunDirectory, data: TrainData, model: Model, time: { images: number; seconds: number; started: number }, interrupted: boolean, test: Evaluation | null, amp: boolean,
): TrainSummary {
  const { state } = run;
  const last = state.history.at(-1);
  return {
    run_dir: run.path,
    epochs: state.history.length,
    best_epoch: state.best_epoch,
    best_val_acc: state.best_val_acc,
    val_acc: last?.val_acc ?? null,
    val_loss: last?.val_loss ?? null,
    test_acc: test?.accuracy ?? null,
    test_loss: test?.loss ?? null,
    train_loss: last?.train_loss ?? null,
    train_img_per_s: time.seconds > 0 ? time.images / time.seconds : 0,
    seconds: (performance.now() - time.started) / 1000,
    classes: data.folder.classes,
    n_train: data.trainSet.samples.length,
    n_val: data.valSet.samples.length,
    n_test: test?.n ?? 0,
    skipped_images: data.trainSet.skipped.length + data.valSet.skipped.length,
    stopped_early: state.finished,
    interrupted,
    device: model.device,
    threads: model.threads,
    precision: amp ? 'bf16' : 'fp32',
  };
}
