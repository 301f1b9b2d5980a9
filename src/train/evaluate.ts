import type { Model, Normalization } from '../model/index.js';
import { batchIndices, makeBatch, type DecodedSet } from '../data/index.js';

export interface Evaluation {
  /** Mean cross-entropy; NaN for an empty set. */
  loss: number;
  /** NaN for an empty set. */
  accuracy: number;
  n: number;
  /** Counts by [true class][predicted class]. */
  confusion: number[][];
}

/** Loss, accuracy and confusion matrix of `model` (eval mode) on a decoded set, in batches. */
export async function evaluate(
  model: Model,
  set: DecodedSet,
  options: { batchSize: number; normalization: Normalization; classes: number },
): Promise<Evaluation> {
  const { classes } = options;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let lossSum = 0;
  let correct = 0;
  for (const indices of batchIndices([...set.samples.keys()], options.batchSize)) {
    const batch = makeBatch(set, indices);
    const r = await model.evalStep(batch, batch.labels, options.normalization);
    lossSum += r.loss * r.count;
    correct += r.correct;
    r.predicted.forEach((p, i) => confusion[batch.labels[i]!]![p]!++);
  }
  const n = set.samples.length;
  return { loss: n ? lossSum / n : NaN, accuracy: n ? correct / n : NaN, n, confusion };
}
