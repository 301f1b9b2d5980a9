// int8 calibration of a checkpoint from decoded images: `torchdog quantize`
// and the end of every training run. Ranges come from calibration images;
// the agreement with float32 (and each precision's accuracy, with labels) is
// measured on other images. The checkpoint is rewritten with the
// calibration in its metadata; its weights stay the float32 ones.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { batchIndices, makeBatch, type DecodedSet } from '../data/index.js';
import {
  CALIBRATION_KEY,
  calibrate,
  checkpointMetadata,
  compareInt8,
  createModel,
  loadWeights,
  readCheckpoint,
  serializeCalibration,
  writeSafetensors,
  type Calibration,
  type ImageBatch,
  type LabelledBatch,
  type Observer,
} from '../model/index.js';
import { Random } from '../util/index.js';

/** Images per calibration forward pass: the ranges do not depend on it. */
const CALIBRATION_BATCH = 32;

export interface CalibrateOptions {
  /** Ranges from these images (all of them). */
  calibrationSet: DecodedSet;
  /** Agreement (and accuracy, when `labelled`) on these; none: no check recorded. */
  checkSet?: DecodedSet;
  /** Whether the sets' labels are the checkpoint's classes. */
  labelled: boolean;
  threads: number;
  /** How ranges are chosen; default DEFAULT_OBSERVER. */
  observer?: Observer;
}

export interface CalibrationSummary {
  calibration: Calibration;
  /** Where the calibrated checkpoint was written. */
  out: string;
}

/** Calibrates the checkpoint at `path` on the CPU and writes it, calibration included, to `out` (atomically). */
export async function calibrateCheckpoint(path: string, out: string, o: CalibrateOptions): Promise<CalibrationSummary> {
  const { info, tensors } = await readCheckpoint(path);
  const model = await createModel({ numClasses: info.classes.length, device: 'cpu', threads: o.threads });
  try {
    await loadWeights(model, tensors, path);
    await model.setTraining(false);
    const calibration = await calibrate(model, batchesOf(o.calibrationSet), info, o.observer);
    if (o.checkSet && o.checkSet.samples.length > 0) {
      const labelled: LabelledBatch[] = batchesOf(o.checkSet).map((images) => ({ images, labels: o.labelled ? images.labels : undefined }));
      const c = await compareInt8(model, calibration, labelled, info);
      calibration.check = { images: c.images, agreement: c.agree / c.images };
      if (o.labelled) Object.assign(calibration.check, { fp32Accuracy: c.fp32Correct / c.images, int8Accuracy: c.int8Correct / c.images });
    }
    const extra = { ...info.extra, [CALIBRATION_KEY]: serializeCalibration(calibration) };
    await writeSafetensors(out, tensors, checkpointMetadata({ ...info, extra }));
    return { calibration, out };
  } finally {
    await model.dispose();
  }
}

function batchesOf(set: DecodedSet): (ImageBatch & { labels: Int32Array })[] {
  return batchIndices([...set.samples.keys()], CALIBRATION_BATCH).map((indices) => makeBatch(set, indices));
}

/** A seeded sample of at most `count` of the set's images, in a fresh set. */
export function sampleSet(set: DecodedSet, count: number, seed: number): DecodedSet {
  const order = [...set.samples.keys()];
  new Random(seed).shuffle(order);
  const picked = order.slice(0, count).sort((a, b) => a - b);
  return { ...set, samples: picked.map((i) => set.samples[i]!), pixels: picked.map((i) => set.pixels[i]!), skipped: [] };
}

/** The flat numbers a summary line reports. */
export function calibrationFields(c: Calibration): { int8_agreement: number | null; int8_val_acc: number | null; fp32_val_acc: number | null } {
  return { int8_agreement: c.check?.agreement ?? null, int8_val_acc: c.check?.int8Accuracy ?? null, fp32_val_acc: c.check?.fp32Accuracy ?? null };
}

/** Training images a run calibrates on (a seeded sample). */
export const RUN_CALIBRATION_IMAGES = 256;

/**
 * The end of a training run: calibrates its best checkpoint on training
 * images, checks int8 on the validation split, rewrites the checkpoint.
 * Nulls when the run has no best checkpoint.
 */
export async function calibrateRun(runDir: string, trainSet: DecodedSet, valSet: DecodedSet, o: { threads: number; seed: number }): Promise<ReturnType<typeof calibrationFields>> {
  const best = join(runDir, 'model.safetensors');
  if (!existsSync(best)) return { int8_agreement: null, int8_val_acc: null, fp32_val_acc: null };
  const calibrationSet = sampleSet(trainSet, RUN_CALIBRATION_IMAGES, o.seed);
  const { calibration } = await calibrateCheckpoint(best, best, { calibrationSet, checkSet: valSet, labelled: true, threads: o.threads });
  return calibrationFields(calibration);
}
