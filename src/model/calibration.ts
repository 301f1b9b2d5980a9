// int8 calibration: the activation ranges the quantized graph needs, taken
// from the float32 network over calibration images, and the int8-vs-fp32
// agreement measured with them. Stored as JSON in the checkpoint's metadata
// under CALIBRATION_KEY; the weights stay float32.
import { CheckpointError } from './checkpoint.js';
import type { ActivationRange, ImageBatch, Model, Normalization } from './model.js';

export const CALIBRATION_KEY = 'calibration';

/** The agreement with fp32 `auto` needs before it serves int8. */
export const AUTO_INT8_AGREEMENT = 0.99;

/**
 * How a calibration picks each activation's range: 'minmax' keeps every
 * value seen; the histogram observers clip the tails, which spend 8 bits'
 * levels on a few outliers: 'percentile' keeps the central PERCENTILE of
 * the values, 'mse' the range whose quantization (rounding inside, clipping
 * outside) errs least in the mean square, over a HISTOGRAM_BINS histogram
 * (as PyTorch's HistogramObserver). 'percentile' is the default: on the
 * demo set and on sklearn's digits (validation and test splits) its mean
 * |int8 - fp32| probability error was 20-30% below minmax's and it kept
 * >= 99.6% agreement on each; 'mse' erred about as little but flipped the
 * demo's one near-tie validation image (fp32 0.545 / 0.455).
 */
export type Observer = 'minmax' | 'percentile' | 'mse';
export const OBSERVERS: readonly Observer[] = ['minmax', 'percentile', 'mse'];
export const DEFAULT_OBSERVER: Observer = 'percentile';

/** Bins of the histograms 'percentile' and 'mse' choose from (PyTorch's HistogramObserver has 2048). */
export const HISTOGRAM_BINS = 2048;
/** The share of values 'percentile' keeps inside the range (measured better than 0.9995 and 0.99999). */
export const PERCENTILE = 0.9999;
/** quint8 activations: 256 levels. */
const LEVELS = 255;

export interface Calibration {
  /** How ranges were chosen from the calibration images. */
  observer: Observer;
  /** Calibration images seen. */
  images: number;
  /** One range per quantize point, in network order. */
  ranges: ActivationRange[];
  /**
   * Measured with these ranges on images not used to calibrate (train:
   * the validation split): the share classified as fp32 does, and each
   * precision's accuracy when labels were known.
   */
  check?: { images: number; agreement: number; fp32Accuracy?: number; int8Accuracy?: number };
}

/** Widens ranges batch by batch (min of minimums, max of maximums). */
export class RangeObserver {
  readonly #ranges = new Map<string, ActivationRange>();
  #images = 0;

  add(batch: readonly ActivationRange[], images: number): void {
    for (const r of batch) {
      const seen = this.#ranges.get(r.name);
      this.#ranges.set(r.name, seen ? { name: r.name, min: Math.min(seen.min, r.min), max: Math.max(seen.max, r.max) } : { ...r });
    }
    this.#images += images;
  }

  get images(): number {
    return this.#images;
  }

  get ranges(): ActivationRange[] {
    return [...this.#ranges.values()];
  }

  calibration(): Calibration {
    if (this.#images === 0) throw new Error('calibration: no images were observed');
    return { observer: 'minmax', images: this.#images, ranges: this.ranges };
  }
}

/** Value counts in equal bins over [min, max] (values outside counted in the end bins). */
export interface Histogram {
  min: number;
  max: number;
  counts: ArrayLike<number>;
}

/**
 * The range 'percentile' keeps: `share` of the values inside, the rest cut
 * evenly from the tails that lie beyond zero (a ReLU's output keeps 0 as
 * its low end), interpolated within a bin.
 */
export function percentileClip(h: Histogram, share = PERCENTILE): [number, number] {
  const { counts } = h;
  const width = (h.max - h.min) / counts.length;
  let total = 0;
  for (let i = 0; i < counts.length; i++) total += counts[i]!;
  if (!(width > 0) || total === 0) return [h.min, h.max];
  const tails = (h.min < 0 ? 1 : 0) + (h.max > 0 ? 1 : 0);
  const cut = (total * (1 - share)) / Math.max(tails, 1);
  // The value below which `target` of the values lie.
  const quantile = (target: number): number => {
    let below = 0;
    for (let i = 0; i < counts.length; i++) {
      const n = counts[i]!;
      if (below + n >= target && n > 0) return h.min + width * (i + (target - below) / n);
      below += n;
    }
    return h.max;
  };
  const lo = h.min < 0 ? Math.min(quantile(cut), 0) : h.min;
  const hi = h.max > 0 ? Math.max(quantile(total - cut), 0) : h.max;
  return [lo, Math.max(hi, lo)];
}

/**
 * The range 'mse' keeps: of the ranges from bin edge to bin edge that hold
 * zero (quint8 represents zero exactly), the one whose quantization errs
 * least in the mean square, each bin's values taken at its centre: those
 * outside err by their distance to the range, those inside by the rounding
 * error of a uniform grid, step^2 / 12.
 */
export function mseClip(h: Histogram): [number, number] {
  const { counts } = h;
  const bins = counts.length;
  const width = (h.max - h.min) / bins;
  if (!(width > 0)) return [h.min, h.max];
  // Prefix sums of n, n*c and n*c^2 over bins (c: the bin's centre), so each candidate costs O(1).
  const n = new Float64Array(bins + 1), nc = new Float64Array(bins + 1), nc2 = new Float64Array(bins + 1);
  for (let i = 0; i < bins; i++) {
    const c = h.min + width * (i + 0.5), k = counts[i]!;
    n[i + 1] = n[i]! + k;
    nc[i + 1] = nc[i]! + k * c;
    nc2[i + 1] = nc2[i]! + k * c * c;
  }
  const edge = (i: number) => (i === bins ? h.max : h.min + width * i);
  // Bins [0, i) lie below lo = edge(i): sum n (c - lo)^2; bins [j, bins) above hi = edge(j).
  const below = (i: number, lo: number) => nc2[i]! - 2 * lo * nc[i]! + lo * lo * n[i]!;
  const above = (j: number, hi: number) => {
    const k = n[bins]! - n[j]!, kc = nc[bins]! - nc[j]!, kc2 = nc2[bins]! - nc2[j]!;
    return kc2 - 2 * hi * kc + hi * hi * k;
  };
  // Zero's bin edge: candidates hold zero (a lo above it or a hi below it would be widened to it anyway).
  const zero = Math.min(Math.max(Math.ceil(-h.min / width), 0), bins);
  // The bin holding zero sits on a grid point, whatever the range: its values err by at most the bin's
  // width (a ReLU's many exact zeros not at all), about width^2 / 3 in the mean square, not step^2 / 12.
  const zeroBin = Math.min(Math.max(Math.floor(-h.min / width), 0), bins - 1);
  const atZero = counts[zeroBin]!;
  let best = [h.min, h.max] as [number, number], bestError = Infinity;
  for (let i = 0; i <= Math.min(zero, bins - 1); i++) {
    const lo = Math.min(edge(i), 0), low = below(i, lo);
    for (let j = Math.max(zero, i + 1); j <= bins; j++) {
      const hi = Math.max(edge(j), 0), step = (hi - lo) / LEVELS;
      const onGrid = zeroBin >= i && zeroBin < j ? atZero : 0;
      const error = low + above(j, hi) + ((n[j]! - n[i]! - onGrid) * step * step) / 12 + (onGrid * width * width) / 3;
      if (error < bestError) {
        bestError = error;
        best = [lo, hi];
      }
    }
  }
  return best;
}

/** Sums histograms over batches, each point's bins over the range `over` gives it. */
export class HistogramObserver {
  readonly #over: Map<string, ActivationRange>;
  readonly #counts = new Map<string, Float64Array>();

  constructor(over: readonly ActivationRange[]) {
    this.#over = new Map(over.map((r) => [r.name, r]));
  }

  add(batch: readonly { name: string; counts: ArrayLike<number> }[]): void {
    for (const { name, counts } of batch) {
      const sum = this.#counts.get(name) ?? new Float64Array(counts.length);
      for (let i = 0; i < counts.length; i++) sum[i] = sum[i]! + counts[i]!;
      this.#counts.set(name, sum);
    }
  }

  /** Each point's range as `observer` chooses it from the summed histogram. */
  ranges(observer: Exclude<Observer, 'minmax'>): ActivationRange[] {
    return [...this.#over.values()].map(({ name, min, max }) => {
      const counts = this.#counts.get(name);
      if (!counts) throw new Error(`calibration: no histogram for activation '${name}'`);
      const h = { min, max, counts };
      const [lo, hi] = observer === 'mse' ? mseClip(h) : percentileClip(h);
      return { name, min: lo, max: hi };
    });
  }
}

/**
 * Observes `model` (float32, eval mode) over the batches: their min/max,
 * then, for a histogram observer, a second pass over the same batches
 * counting values in HISTOGRAM_BINS bins over those ranges.
 */
export async function calibrate(model: Model, batches: readonly ImageBatch[], normalization: Normalization, observer: Observer = DEFAULT_OBSERVER): Promise<Calibration> {
  const minmax = new RangeObserver();
  for (const batch of batches) minmax.add(await model.observeActivations(batch, normalization), batch.count);
  const calibration = minmax.calibration();
  if (observer === 'minmax') return calibration;
  const histograms = new HistogramObserver(calibration.ranges);
  for (const batch of batches) histograms.add(await model.histogramActivations(batch, normalization, calibration.ranges, HISTOGRAM_BINS));
  return { ...calibration, observer, ranges: histograms.ranges(observer) };
}

export interface AgreementCount {
  images: number;
  /** Images int8 and fp32 put in the same class. */
  agree: number;
  fp32Correct: number;
  int8Correct: number;
}

export interface LabelledBatch {
  images: ImageBatch;
  labels?: Int32Array;
}

/**
 * Runs the batches in fp32, then in int8 with `calibration` (each graph is
 * built once), and counts where they agree and, with labels, where each is
 * right. Leaves `model` in fp32.
 */
export async function compareInt8(model: Model, calibration: Calibration, batches: readonly LabelledBatch[], normalization: Normalization): Promise<AgreementCount> {
  const classesOf = async () => {
    const out: number[][] = [];
    for (const { images } of batches) {
      const r = await model.forward(images, normalization);
      out.push(Array.from({ length: images.count }, (_, i) => argmaxRow(r.probabilities, r.classes, i)));
    }
    return out;
  };
  let fp32: number[][], int8: number[][];
  try {
    await model.setPrecision('fp32');
    fp32 = await classesOf();
    await model.setPrecision('int8', calibration.ranges);
    int8 = await classesOf();
  } finally {
    await model.setPrecision('fp32');
  }
  const count: AgreementCount = { images: 0, agree: 0, fp32Correct: 0, int8Correct: 0 };
  batches.forEach(({ labels }, b) =>
    fp32[b]!.forEach((a, i) => {
      const q = int8[b]![i]!;
      count.images++;
      if (a === q) count.agree++;
      if (labels?.[i] === a) count.fp32Correct++;
      if (labels?.[i] === q) count.int8Correct++;
    }),
  );
  return count;
}

function argmaxRow(rows: Float32Array, k: number, i: number): number {
  let best = 0;
  for (let c = 1; c < k; c++) if (rows[i * k + c]! > rows[i * k + best]!) best = c;
  return best;
}

/** The metadata value: ranges as {name: [min, max]}, in network order. */
export function serializeCalibration(c: Calibration): string {
  return JSON.stringify({
    observer: c.observer,
    images: c.images,
    ranges: Object.fromEntries(c.ranges.map((r) => [r.name, [r.min, r.max]])),
    ...(c.check ? { check: c.check } : {}),
  });
}

const MAX_ABS_RANGE = 3.4e38;

/** Parses the metadata value, refusing it with the reason (CheckpointError naming `source`). */
export function parseCalibration(text: string, source: string): Calibration {
  const bad = (why: string) => new CheckpointError(`${source}: metadata '${CALIBRATION_KEY}' is unusable: ${why} (run \`torchdog quantize\` to calibrate it again)`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw bad('not JSON');
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad('not a JSON object');
  const v = value as Record<string, unknown>;
  if (!OBSERVERS.includes(v.observer as Observer)) throw bad(`observer is ${JSON.stringify(v.observer ?? null)}, expected one of ${OBSERVERS.map((o) => `"${o}"`).join(', ')}`);
  if (!Number.isSafeInteger(v.images) || (v.images as number) < 1) throw bad('images must be an integer >= 1');
  if (typeof v.ranges !== 'object' || v.ranges === null || Array.isArray(v.ranges)) throw bad('ranges must be an object {activation: [min, max]}');
  const ranges: ActivationRange[] = [];
  for (const [name, pair] of Object.entries(v.ranges as Record<string, unknown>)) {
    const ok = Array.isArray(pair) && pair.length === 2 && pair.every((x) => typeof x === 'number' && Math.abs(x) <= MAX_ABS_RANGE) && pair[0] <= pair[1];
    if (!ok) throw bad(`the range of '${name}' must be [min, max], finite numbers with min <= max, got ${JSON.stringify(pair)}`);
    ranges.push({ name, min: pair[0] as number, max: pair[1] as number });
  }
  if (ranges.length === 0) throw bad('ranges is empty');
  const calibration: Calibration = { observer: v.observer as Observer, images: v.images as number, ranges };
  if (v.check !== undefined) calibration.check = parseCheck(v.check, bad);
  return calibration;
}

function parseCheck(value: unknown, bad: (why: string) => Error): NonNullable<Calibration['check']> {
  if (typeof value !== 'object' || value === null) throw bad('check must be an object');
  const c = value as Record<string, unknown>;
  const share = (key: string, required: boolean) => {
    const x = c[key];
    if (x === undefined && !required) return undefined;
    if (typeof x !== 'number' || !(x >= 0 && x <= 1)) throw bad(`check.${key} must be a number between 0 and 1`);
    return x;
  };
  if (!Number.isSafeInteger(c.images) || (c.images as number) < 1) throw bad('check.images must be an integer >= 1');
  const check: NonNullable<Calibration['check']> = { images: c.images as number, agreement: share('agreement', true)! };
  const fp32 = share('fp32Accuracy', false);
  const int8 = share('int8Accuracy', false);
  if (fp32 !== undefined) check.fp32Accuracy = fp32;
  if (int8 !== undefined) check.int8Accuracy = int8;
  return check;
}

/** The checkpoint's calibration, undefined when it has none; corrupt metadata throws (parseCalibration). */
export function calibrationOf(extra: Readonly<Record<string, string>> | undefined, source: string): Calibration | undefined {
  const text = extra?.[CALIBRATION_KEY];
  return text === undefined ? undefined : parseCalibration(text, source);
}
