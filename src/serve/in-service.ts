// One model as the service holds it: the classifier, the batcher in front of
// it, how answers and metrics describe it, and how many requests are using
// it (a replaced model is disposed only once that count is back to 0).
import { CALIBRATION_KEY, type CheckpointInfo, type Prediction, type ScoredPrediction } from '../model/index.js';
import { Batcher, type BatcherOptions } from './batcher.js';

/** What the service needs of a model; a {@link Classifier} is one. */
export interface ServeClassifier {
  readonly info: CheckpointInfo;
  readonly device: string;
  /** The precision its forward passes run in, and why (a Classifier's; absent: fp32). */
  readonly precision?: string;
  readonly precisionReason?: string;
  /** Encoded bytes → HWC RGB uint8 at info.imageSize; throws ImageDecodeError. */
  decode(input: Uint8Array): Promise<Uint8Array>;
  /** One forward pass over decoded images. */
  predictPixels(images: readonly Uint8Array[]): Promise<Prediction[]>;
  /**
   * One forward pass, with each image's logits and probabilities rows (a
   * Classifier has it). Without it the service's `logits` output carries the
   * log-probabilities, which softmax maps to the same probabilities.
   */
  scorePixels?(images: readonly Uint8Array[]): Promise<ScoredPrediction[]>;
  /** Frees the model: called on models the app loaded itself, once replaced and drained, or at shutdown. */
  dispose?(): Promise<void>;
}

/** A model as `load` gives it: the classifier and what names it. */
export interface ModelLoad {
  classifier: ServeClassifier;
  /** The path or URI it came from. */
  source?: string;
  /** The training run it came from. */
  run?: string;
  /** Hex sha256 of the checkpoint file. */
  sha256?: string;
}

/** The model as /ready and every answer describe it. */
export interface ModelDescription {
  /** The name it is served under (Open Inference Protocol: /v2/models/NAME). */
  name: string;
  /** The first 12 hex digits of the checkpoint's sha256; without one, the count of models loaded so far. */
  version: string;
  /** The training run the checkpoint came from. */
  run?: string;
  sha256?: string;
  arch: string;
  classes: string[];
  image_size: number;
  device: string;
  /** fp32, bf16 or int8: what its forward passes compute in. */
  precision: string;
  source?: string;
  /** The checkpoint's further metadata, less its int8 calibration (ranges nobody reads per answer). */
  metadata?: Record<string, string>;
}

export type BatchingOptions = Pick<BatcherOptions<Uint8Array, ScoredPrediction>, 'maxBatch' | 'maxWaitMs' | 'expected' | 'onBatch'>;

export class InService {
  readonly batcher: Batcher<Uint8Array, ScoredPrediction>;
  private users = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly classifier: ServeClassifier,
    readonly description: ModelDescription,
    /** Loaded by the app (through `load`): the app disposes it. */
    readonly owned: boolean,
    batching: BatchingOptions,
  ) {
    this.batcher = new Batcher({ ...batching, run: scorer(classifier) });
  }

  /** Requests answering with this model now. */
  get inUse(): number {
    return this.users;
  }

  /** A request starts on this model; call the function returned once it is answered. */
  use(): () => void {
    this.users++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.users > 0) return;
      for (const wake of this.idleWaiters) wake();
      this.idleWaiters = [];
    };
  }

  /** Resolves once no request uses this model. */
  idle(): Promise<void> {
    return this.users === 0 ? Promise.resolve() : new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}

/** The batch runner: the classifier's scorePixels, or its predictPixels with log-probabilities for logits. */
function scorer(classifier: ServeClassifier): (pixels: Uint8Array[]) => Promise<ScoredPrediction[]> {
  if (typeof classifier.scorePixels === 'function') return (pixels) => classifier.scorePixels!(pixels);
  return async (pixels) => {
    const predictions = await classifier.predictPixels(pixels);
    return predictions.map((prediction) => {
      const probabilities = Float32Array.from(classifier.info.classes, (name) => prediction.probabilities[name] ?? 0);
      return { prediction, probabilities, logits: probabilities.map(Math.log) };
    });
  };
}

/** How a model is described, served as `name`; `loads` numbers it when there is no sha256 to. */
export function describeModel(name: string, loads: number, model: ModelLoad): ModelDescription {
  const { classifier: { info, device, precision }, source, run, sha256 } = model;
  const metadata = Object.fromEntries(Object.entries(info.extra ?? {}).filter(([key]) => key !== CALIBRATION_KEY));
  return {
    name,
    version: sha256 ? sha256.slice(0, 12) : String(loads),
    ...(run ? { run } : {}),
    ...(sha256 ? { sha256 } : {}),
    arch: info.arch,
    classes: [...info.classes],
    image_size: info.imageSize,
    device,
    precision: precision ?? 'fp32',
    ...(source !== undefined ? { source } : {}),
    ...(Object.keys(metadata).length ? { metadata } : {}),
  };
}
