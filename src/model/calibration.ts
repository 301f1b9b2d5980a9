// int8 calibration: the activation ranges the quantized graph needs, taken
// from the float32 network over calibration images, and the int8-vs-fp32
// agreement measured with them. Stored as JSON in the checkpoint's metadata
// under CALIBRATION_KEY; the weights stay float32.
import { CheckpointError } from './checkpoint.js';
import type { ActivationRange, ImageBatch, Model, Normalization } from './model.js';

export const CALIBRATION_KEY = 'calibration';

/** The agreement with fp32 `auto` needs before it serves int8. */
export const AUTO_INT8_AGREEMENT = 0.99;

export interface Calibration {
  /** How ranges were observed: min/max over every calibration image. */
  observer: 'minmax';
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

  calibration(): Calibration {
    if (this.#images === 0) throw new Error('calibration: no images were observed');
    return { observer: 'minmax', images: this.#images, ranges: [...this.#ranges.values()] };
  }
}

/** Observes `model` (float32, eval mode) over the batches. */
export async function calibrate(model: Model, batches: AsyncIterable<ImageBatch> | Iterable<ImageBatch>, normalization: Normalization): Promise<Calibration> {
  const observer = new RangeObserver();
  for await (const batch of batches) observer.add(await model.observeActivations(batch, normalization), batch.count);
  return observer.calibration();
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
  if (v.observer !== 'minmax') throw bad(`observer is ${JSON.stringify(v.observer ?? null)}, expected "minmax"`);
  if (!Number.isSafeInteger(v.images) || (v.images as number) < 1) throw bad('images must be an integer >= 1');
  if (typeof v.ranges !== 'object' || v.ranges === null || Array.isArray(v.ranges)) throw bad('ranges must be an object {activation: [min, max]}');
  const ranges: ActivationRange[] = [];
  for (const [name, pair] of Object.entries(v.ranges as Record<string, unknown>)) {
    const ok = Array.isArray(pair) && pair.length === 2 && pair.every((x) => typeof x === 'number' && Math.abs(x) <= MAX_ABS_RANGE) && pair[0] <= pair[1];
    if (!ok) throw bad(`the range of '${name}' must be [min, max], finite numbers with min <= max, got ${JSON.stringify(pair)}`);
    ranges.push({ name, min: pair[0] as number, max: pair[1] as number });
  }
  if (ranges.length === 0) throw bad('ranges is empty');
  const calibration: Calibration = { observer: 'minmax', images: v.images as number, ranges };
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
