// A training run as one rank of a distributed job (docs/distributed.md): what
// the epoch loop does differently when `train()` is given `distributed`.
// - Every epoch's order is the single-process one (seeded once); its global
//   batches of batch_size × world_size images are cut in contiguous, even
//   parts, one per rank, so the ranks together see exactly the epoch and a
//   step of N ranks × batch B is a step of 1 rank × batch N·B.
// - Each step's loss/correct/count are summed over the ranks (the metrics
//   and state.json are the job's, identical on every rank), and with them
//   whether any rank was asked to stop, so all ranks stop at the same step.
// - Validation is sharded the same way and its sums reduced.
// - BatchNorm normalises with each rank's own batch statistics (no
//   SyncBatchNorm); its running statistics are rank 0's, broadcast with the
//   weights before every validation.
// - Rank 0 alone writes the run directory; the others follow it in memory.
import type { DecodedSet } from '../data/index.js';
import type { Model, ProcessGroupOptions, StepResult } from '../model/index.js';
import type { EpochLoop } from './epoch.js';
import { evaluate, type Evaluation } from './evaluate.js';
import type { RunState } from './run-state.js';

export type DistributedOptions = ProcessGroupOptions;

/** [start, end) of rank's even, contiguous part of `n` items. */
export function shardRange(n: number, rank: number, worldSize: number): [number, number] {
  return [Math.floor((rank * n) / worldSize), Math.floor(((rank + 1) * n) / worldSize)];
}

/**
 * This rank's batch of every step of an epoch whose first `state.step` steps
 * (`state.partial.count` images of `order`) are done: empty for those, then
 * its part of each global batch of the rest. A last global batch smaller
 * than the world lends its images again to the ranks it leaves empty (as
 * PyTorch's DistributedSampler pads), so every rank has the same steps.
 */
export function epochBatches(order: readonly number[], state: Pick<RunState, 'step' | 'partial'>, batchSize: number, rank = 0, worldSize = 1): number[][] {
  const out: number[][] = Array.from({ length: state.step }, () => []);
  const global = batchSize * worldSize;
  for (let i = state.partial.count; i < order.length; i += global) {
    const batch = order.slice(i, i + global);
    const [start, end] = shardRange(batch.length, rank, worldSize);
    out.push(start < end ? batch.slice(start, end) : [batch[rank % batch.length]!]);
  }
  return out;
}

/** Steps of the epoch `state` stands in (or a fresh one), as epochBatches cuts it. */
export function epochSteps(images: number, state: Pick<RunState, 'step' | 'partial'> | null, batchSize: number, worldSize = 1): number {
  const done = state ?? { step: 0, partial: { count: 0 } };
  return done.step + Math.ceil(Math.max(0, images - done.partial.count) / (batchSize * worldSize));
}

/** This process's place in the job, over the model's process group. */
export class Cluster {
  private constructor(private readonly model: Model, readonly rank: number, readonly worldSize: number) {}

  /** Joins the job: resolves once every rank has (or rejects after options.connectTimeout). */
  static async join(model: Model, options: DistributedOptions): Promise<Cluster> {
    await model.joinProcessGroup(options);
    return new Cluster(model, options.rank, options.worldSize);
  }

  /** Rank 0 writes the run directory; the others only follow it. */
  get leader(): boolean {
    return this.rank === 0;
  }

  batches(order: readonly number[], state: Pick<RunState, 'step' | 'partial'>, batchSize: number): number[][] {
    return epochBatches(order, state, batchSize, this.rank, this.worldSize);
  }

  async barrier(): Promise<void> {
    await this.model.allReduceSum([0]);
  }

  /** Whether any rank's signal has been aborted (every rank learns the same answer). */
  async anyAborted(signal: AbortSignal | undefined): Promise<boolean> {
    const [aborted] = await this.model.allReduceSum([signal?.aborted ? 1 : 0]);
    return aborted! > 0;
  }

  /** The job's step (sums over the ranks) and whether any rank was asked to stop. */
  async reduceStep(r: StepResult, signal: AbortSignal | undefined): Promise<StepResult & { stop: boolean }> {
    const [lossSum, correct, count, stop] = await this.model.allReduceSum([r.loss * r.count, r.correct, r.count, signal?.aborted ? 1 : 0]);
    return { loss: lossSum! / count!, correct: correct!, count: count!, stop: stop! > 0 };
  }

  /** Rank 0's weights and BatchNorm statistics on every rank, then this rank's part of `set`, reduced over the job. */
  async evaluate(set: DecodedSet, options: Parameters<typeof evaluate>[2]): Promise<Evaluation> {
    await this.model.broadcastTensors();
    const [start, end] = shardRange(set.samples.length, this.rank, this.worldSize);
    const part = { ...set, samples: set.samples.slice(start, end), pixels: set.pixels.slice(start, end) };
    const k = options.classes;
    const mine = part.samples.length
      ? await evaluate(this.model, part, options)
      : { loss: 0, n: 0, accuracy: 0, confusion: Array.from({ length: k }, () => new Array<number>(k).fill(0)) };
    const correct = Math.round(mine.accuracy * mine.n);
    const sums = await this.model.allReduceSum([mine.loss * mine.n, correct, mine.n, ...mine.confusion.flat()]);
    const [lossSum, allCorrect, n] = sums as [number, number, number];
    const confusion = Array.from({ length: k }, (_, i) => sums.slice(3 + i * k, 3 + (i + 1) * k));
    return { loss: lossSum / n, accuracy: allCorrect / n, n, confusion };
  }
}

/** Whether the run should stop after this epoch: any rank's signal in a job, else this one's. */
export async function stopRequested(loop: Pick<EpochLoop, 'cluster' | 'signal'>): Promise<boolean> {
  return loop.cluster ? loop.cluster.anyAborted(loop.signal) : Boolean(loop.signal?.aborted);
}
