import type { EvalResult, ImageBatch, Model, Normalization } from '../model/index.js';
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

/**
 * Loss, accuracy and confusion matrix of `model` (eval mode) on a decoded
 * set, in batches. `serving`: through forward(), in the precision the model
 * serves (Model.setPrecision), instead of evalStep's float32.
 */
export async function evaluate(
  model: Model,
  set: DecodedSet,
  options: { batchSize: number; normalization: Normalization; classes: number; serving?: boolean },
): Promise<Evaluation> {
  const { classes } = options;
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  let lossSum = 0;
  let correct = 0;
  for (const indices of batchIndices([...set.samples.keys()], options.batchSize)) {
    const batch = makeBatch(set, indices);
    const r = options.serving ? await servingStep(model, batch, options.normalization) : await model.evalStep(batch, batch.labels, options.normalization);
    lossSum += r.loss * r.count;
    correct += r.correct;
    r.predicted.forEach((p, i) => confusion[batch.labels[i]!]![p]!++);
  }
  const n = set.samples.length;
  return { loss: n ? lossSum / n : NaN, accuracy: n ? correct / n : NaN, n, confusion };
}

/** evalStep's result from forward()'s probabilities: the loss is -log p(label). */
async function servingStep(model: Model, batch: ImageBatch & { labels: Int32Array }, normalization: Normalization): Promise<EvalResult> {
  const { probabilities, classes } = await model.forward(batch, normalization);
  const predicted = new Int32Array(batch.count);
  let loss = 0;
  let correct = 0;
  for (let i = 0; i < batch.count; i++) {
    const row = probabilities.subarray(i * classes, (i + 1) * classes);
    predicted[i] = row.indexOf(Math.max(...row));
    loss -= Math.log(Math.max(row[batch.labels[i]!]!, 1e-45));
    if (predicted[i] === batch.labels[i]) correct++;
  }
  return { loss: loss / batch.count, correct, count: batch.count, predicted };
}
