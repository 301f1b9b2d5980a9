// One epoch of training: its steps (from wherever the run stands, so a resumed
// run continues mid-epoch exactly), then validation, the epoch's metrics, the
// best checkpoint and the resumable state. Everything random is derived from
// (seed, epoch, step), never from how many steps this process has run.
import { batchIndices, makeBatch, mixBatch, type Batch, type DecodedSet } from '../data/index.js';
import type { Model, Tensor } from '../model/index.js';
import { Random, deriveSeed } from '../util/index.js';
import type { TrainConfig } from './config.js';
import { epochBatches, type Cluster } from './distributed.js';
import { TrainError } from './errors.js';
import { evaluate, type Evaluation } from './evaluate.js';
import type { EpochMetrics, TrainEventListener } from './events.js';
import type { RunDirectory } from './run-dir.js';
import type { RunState } from './run-state.js';
import { learningRate } from './schedule.js';

/** What the epochs of one train() call share. */
export interface EpochLoop {
  readonly config: TrainConfig;
  readonly model: Model;
  readonly run: RunDirectory;
  readonly trainSet: DecodedSet;
  readonly valSet: DecodedSet;
  readonly classes: number;
  readonly emit: TrainEventListener;
  /** Checked after every step: aborted stops the epoch there. */
  readonly signal: AbortSignal | undefined;
  /** Images and seconds of the steps this call ran (the summary's img/s). */
  readonly speed: { images: number; seconds: number };
  /** The optimizer's learning rate, set again only when the schedule moves it. */
  appliedLr: number;
  /** This process's place in a distributed job (distributed.ts); absent alone. */
  readonly cluster?: Cluster;
  /** bf16 autocast runs (train.amp resolved). */
  readonly amp: boolean;
}

export interface EpochSteps {
  /** The learning rate of the last step (what metrics.jsonl records). */
  lr: number;
  /** The signal stopped the epoch before its last step. */
  interrupted: boolean;
}

/** A step's batch, and its soft targets when it was mixed (mixup, cutmix). */
interface PlannedBatch {
  batch: Batch;
  labels: Int32Array;
  targets?: Float32Array;
}

/** The batches of `epoch`, in its seeded order, and the augmentation and mixing of each step. */
function epochPlan(loop: EpochLoop, epoch: number) {
  const { config, trainSet } = loop;
  const seed = config.train.seed;
  const order = new Random(deriveSeed(seed, epoch, 1)).shuffle([...trainSet.samples.keys()]);
  const batches = loop.cluster ? loop.cluster.batches(order, loop.run.state, config.train.batch_size) : epochBatches(order, loop.run.state, config.train.batch_size);
  const a = config.train.augment;
  const options = { hflip: a.hflip, cropScale: a.crop_scale, cropRatio: a.crop_ratio };
  const batch = (step: number): PlannedBatch | null => {
    if (step >= batches.length) return null;
    const made = makeBatch(trainSet, batches[step]!, { options, random: new Random(deriveSeed(seed, epoch, step, 2)) });
    const mixed = mixBatch(made, loop.classes, a, new Random(deriveSeed(seed, epoch, step, 3)));
    return mixed ? { batch: made, labels: mixed.labels, targets: mixed.targets } : { batch: made, labels: made.labels };
  };
  return { steps: batches.length, batch };
}

/** Runs the steps of the current epoch that are not done yet. */
export async function trainSteps(loop: EpochLoop): Promise<EpochSteps> {
  const { config, model, run } = loop;
  const state = run.state;
  const epoch = state.epoch;
  const plan = epochPlan(loop, epoch);
  let lr = 0;
  // The next batch is assembled while the current step runs natively.
  let next = plan.batch(state.step);
  const accumulate = config.train.grad_accum_steps;
  while (next) {
    const step = state.step;
    const { batch, labels, targets } = next;
    lr = learningRate(config.optim, config.train.epochs, epoch + step / plan.steps);
    const t0 = performance.now();
    if (lr !== loop.appliedLr) {
      await model.setLearningRate(lr);
      loop.appliedLr = lr;
    }
    // An optimizer step every grad_accum_steps batches, and at the epoch's end.
    const apply = (step + 1) % accumulate === 0 || step + 1 === plan.steps;
    const pending = model.trainStep(batch, labels, config.data, { targets, apply });
    next = plan.batch(step + 1);
    const r = loop.cluster ? await loop.cluster.reduceStep(await pending, loop.signal) : await pending;
    const seconds = (performance.now() - t0) / 1000;
    if (!Number.isFinite(r.loss)) throw new TrainError(`epoch ${epoch + 1} step ${step + 1}: loss is ${r.loss} (try a lower optim.lr)`);
    recordStep(loop, r, seconds);
    loop.emit(stepEvent(loop, plan.steps, r.loss));
    // Only after an optimizer step: accumulated gradients are not part of a checkpoint.
    // In a job, the ranks' stop requests are reduced with the step, so all stop together.
    if (('stop' in r ? r.stop : loop.signal?.aborted) && next && apply) return { lr, interrupted: true };
  }
  return { lr, interrupted: false };
}

function recordStep(loop: EpochLoop, r: { loss: number; correct: number; count: number }, seconds: number): void {
  const { partial } = loop.run.state;
  partial.loss_sum += r.loss * r.count;
  partial.correct += r.correct;
  partial.count += r.count;
  partial.seconds += seconds;
  loop.speed.images += r.count;
  loop.speed.seconds += seconds;
  loop.run.state.step++;
}

function stepEvent(loop: EpochLoop, steps: number, loss: number) {
  const { epoch, step, partial } = loop.run.state;
  const epochs = loop.config.train.epochs;
  const imgPerS = partial.count / partial.seconds;
  const remaining = (epochs - epoch) * loop.trainSet.samples.length - partial.count;
  return { type: 'step', epoch: epoch + 1, epochs, step, steps, loss, imgPerS, eta: remaining / imgPerS } as const;
}

/**
 * Closes the current epoch: validation, its metrics, whether it is the best
 * so far, early stopping, then one commit of all of it (state.json,
 * last/optimizer and, for a best epoch, model.safetensors; metrics.jsonl).
 */
export async function endEpoch(loop: EpochLoop, lr: number): Promise<void> {
  const { config, model, run, valSet } = loop;
  const state = run.state;
  // With train.ema, the EMA is what is evaluated and kept as the best model.
  const ema = config.train.ema > 0;
  if (ema) await model.swapEmaWeights();
  let val: Evaluation | null;
  let best: boolean;
  let bestWeights: Tensor[] | null = null;
  try {
    const options = { batchSize: config.train.batch_size, normalization: config.data, classes: loop.classes };
    val = valSet.samples.length ? await (loop.cluster ? loop.cluster.evaluate(valSet, options) : evaluate(model, valSet, options)) : null;
    best = isImprovement(state, val, config.train.early_stopping.min_delta);
    if (best && ema) bestWeights = await model.getTensors();
  } finally {
    if (ema) await model.swapEmaWeights();
  }
  const metrics = epochMetrics(state, val, lr);
  state.history.push(metrics);
  state.partial = { loss_sum: 0, correct: 0, count: 0, seconds: 0 };

  if (best) {
    state.best_val_acc = val ? val.accuracy : null;
    state.best_val_loss = val ? val.loss : null;
    state.best_epoch = metrics.epoch;
    state.best_confusion = val ? val.confusion : null;
    state.since_improvement = 0;
  } else {
    state.since_improvement++;
  }
  loop.emit({ type: 'epoch-end', epochs: config.train.epochs, metrics, best });
  const patience = config.train.early_stopping.patience;
  if (patience !== null && state.since_improvement >= patience) {
    state.finished = true;
    loop.emit({ type: 'early-stop', patience, epoch: metrics.epoch });
  }
  state.epoch++;
  state.step = 0;
  await run.commit(model, best ? { metrics, weights: bestWeights, ema: ema ? config.train.ema : null } : null);
}

function epochMetrics(state: RunState, val: Evaluation | null, lr: number): EpochMetrics {
  const p = state.partial;
  return {
    epoch: state.epoch + 1,
    train_loss: p.loss_sum / p.count,
    train_acc: p.correct / p.count,
    val_loss: val ? val.loss : null,
    val_acc: val ? val.accuracy : null,
    lr,
    img_per_s: p.count / p.seconds,
    seconds: p.seconds,
  };
}

/** Better validation accuracy (by more than minDelta), or the same with a lower loss; every epoch without validation. */
function isImprovement(state: RunState, val: Evaluation | null, minDelta: number): boolean {
  if (!val) return true;
  if (state.best_val_acc === null) return true;
  return val.accuracy > state.best_val_acc + minDelta || (val.accuracy === state.best_val_acc && val.loss < (state.best_val_loss ?? Infinity));
}
