// Decoded, in-memory image sets for training and evaluation: every image is
// decoded once per run (in parallel, bounded) and batches are cut from memory.
import { decodeImage, ImageDecodeError } from '../image/index.js';
import { mapLimit } from '../util/index.js';
import type { Random } from '../util/index.js';
import { augmentInto, type AugmentOptions } from './augment.js';
import type { Sample } from './scan.js';

export interface DecodedSet {
  samples: Sample[];
  /** One size×size×3 RGB image per sample. */
  pixels: Uint8Array[];
  size: number;
  skipped: Array<{ path: string; message: string }>;
}

export interface DecodeSetOptions {
  size: number;
  workers: number;
  /** Throw on the first unreadable image instead of skipping it. */
  strict: boolean;
  onProgress?: (done: number, total: number) => void;
  onSkip?: (path: string, message: string) => void;
}

export async function decodeSet(samples: readonly Sample[], options: DecodeSetOptions): Promise<DecodedSet> {
  let done = 0;
  const decoded = await mapLimit(samples, options.workers, async (sample) => {
    try {
      return { pixels: await decodeImage(sample.path, { size: options.size }) };
    } catch (error) {
      if (options.strict || !(error instanceof ImageDecodeError)) throw error;
      options.onSkip?.(sample.path, error.message);
      return { error: error.message };
    } finally {
      options.onProgress?.(++done, samples.length);
    }
  });
  const set: DecodedSet = { samples: [], pixels: [], size: options.size, skipped: [] };
  decoded.forEach((result, i) => {
    const sample = samples[i]!;
    if (result.pixels) {
      set.samples.push(sample);
      set.pixels.push(result.pixels);
    } else {
      set.skipped.push({ path: sample.path, message: result.error ?? 'unreadable image' });
    }
  });
  return set;
}

export interface Batch {
  data: Uint8Array;
  labels: Int32Array;
  count: number;
  height: number;
  width: number;
}

/** Stacks the images at `indices` into one NHWC batch, augmenting each when `augment` is given. */
export function makeBatch(set: DecodedSet, indices: readonly number[], augment?: { options: AugmentOptions; random: Random }): Batch {
  const each = set.size * set.size * 3;
  const data = new Uint8Array(each * indices.length);
  const labels = new Int32Array(indices.length);
  indices.forEach((index, i) => {
    const target = data.subarray(i * each, (i + 1) * each);
    if (augment) augmentInto(set.pixels[index]!, target, set.size, augment.options, augment.random);
    else target.set(set.pixels[index]!);
    labels[i] = set.samples[index]!.label;
  });
  return { data, labels, count: indices.length, height: set.size, width: set.size };
}

/** Index batches of `batchSize` in order (the last may be short). */
export function batchIndices(order: readonly number[], batchSize: number): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < order.length; i += batchSize) out.push(order.slice(i, i + batchSize));
  return out;
}
