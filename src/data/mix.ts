// Batch mixing, as timm's Mixup in batch mode: each image is mixed with its
// mirror in the batch (image i with image n-1-i) by one weight λ drawn from
// Beta(alpha, alpha), and the targets are mixed by the same λ: mixup blends
// the pixels, cutmix pastes a box of area (1-λ) and corrects λ to the box that
// fits. The model then learns from soft targets (the engine's cross-entropy
// against probabilities).
import type { Random } from '../util/index.js';
import type { Batch } from './dataset.js';

export interface MixOptions {
  mixup: { alpha: number; prob: number };
  cutmix: { alpha: number; prob: number };
}

export interface MixedBatch {
  kind: 'mixup' | 'cutmix';
  /** The weight of each image's own label (the partner's is 1 - lambda). */
  lambda: number;
  /** Row-major [count, classes]: lambda · onehot(own) + (1 - lambda) · onehot(partner). */
  targets: Float32Array;
  /** The heavier label of each image, for counting correct predictions. */
  labels: Int32Array;
}

/**
 * Mixes `batch` in place: cutmix with probability cutmix.prob (when its alpha
 * > 0), otherwise mixup with probability mixup.prob (when its alpha > 0).
 * Null when the batch stays as it is.
 */
export function mixBatch(batch: Batch, classes: number, options: MixOptions, random: Random): MixedBatch | null {
  const { mixup, cutmix } = options;
  let kind: MixedBatch['kind'] | null = null;
  if (cutmix.alpha > 0 && random.next() < cutmix.prob) kind = 'cutmix';
  else if (mixup.alpha > 0 && random.next() < mixup.prob) kind = 'mixup';
  if (!kind || batch.count < 2) return null;
  const alpha = kind === 'cutmix' ? cutmix.alpha : mixup.alpha;
  let lambda = random.beta(alpha, alpha);
  if (kind === 'mixup') blendPairs(batch, lambda);
  else lambda = pasteBoxes(batch, lambda, random);
  return { kind, lambda, ...mixedTargets(batch.labels, classes, lambda) };
}

/** lambda · onehot(label i) + (1 - lambda) · onehot(label n-1-i) per image. */
export function mixedTargets(labels: Int32Array, classes: number, lambda: number): { targets: Float32Array; labels: Int32Array } {
  const n = labels.length;
  const targets = new Float32Array(n * classes);
  const heavier = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const partner = labels[n - 1 - i]!;
    const own = i * classes + labels[i]!;
    const other = i * classes + partner;
    targets[own] = targets[own]! + lambda;
    targets[other] = targets[other]! + (1 - lambda);
    heavier[i] = lambda >= 0.5 ? labels[i]! : partner;
  }
  return { targets, labels: heavier };
}

function blendPairs(batch: Batch, lambda: number): void {
  const each = batch.height * batch.width * 3;
  const { data, count } = batch;
  for (let i = 0; i < Math.floor(count / 2); i++) {
    const a = i * each;
    const b = (count - 1 - i) * each;
    for (let p = 0; p < each; p++) {
      const x = data[a + p]!;
      const y = data[b + p]!;
      data[a + p] = Math.round(lambda * x + (1 - lambda) * y);
      data[b + p] = Math.round(lambda * y + (1 - lambda) * x);
    }
  }
}

/** Swaps a box of about (1 - lambda) of the area between each pair (timm's rand_bbox); returns lambda for the box that fit. */
function pasteBoxes(batch: Batch, lambda: number, random: Random): number {
  const { height, width, data, count } = batch;
  const cut = Math.sqrt(1 - lambda);
  const ch = Math.floor(height * cut);
  const cw = Math.floor(width * cut);
  const cy = random.int(height);
  const cx = random.int(width);
  const top = Math.max(0, cy - Math.floor(ch / 2));
  const bottom = Math.min(height, cy + Math.floor(ch / 2));
  const left = Math.max(0, cx - Math.floor(cw / 2));
  const right = Math.min(width, cx + Math.floor(cw / 2));
  const each = height * width * 3;
  for (let i = 0; i < Math.floor(count / 2); i++) {
    const a = i * each;
    const b = (count - 1 - i) * each;
    for (let y = top; y < bottom; y++) {
      for (let p = (y * width + left) * 3; p < (y * width + right) * 3; p++) {
        const t = data[a + p]!;
        data[a + p] = data[b + p]!;
        data[b + p] = t;
      }
    }
  }
  return 1 - ((bottom - top) * (right - left)) / (height * width);
}
