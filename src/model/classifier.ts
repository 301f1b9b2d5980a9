// A trained model ready to classify images: checkpoint metadata (classes,
// preprocessing) bound to a Model in eval mode.
import { decodeImage, stackImages, type ImageInput } from '../image/index.js';
import { expectInteger, expectOneOf, mapLimit } from '../util/index.js';
import { BATCH_MEMORY_BYTES, readCheckpoint, loadWeights, maxBatchForMemory, type CheckpointInfo } from './checkpoint.js';
import { Model, type ServingPrecision } from './model.js';
import { applyPrecision, PRECISIONS, type Precision, type PrecisionChoice } from './precision.js';

export interface ClassifierOptions {
  /** "cpu", "cuda", "cuda:N" or "auto". Default "auto". */
  device?: string;
  /** LibTorch intra-op threads; 0 = one per hardware thread. Default 0. */
  threads?: number;
  /** Most images per forward pass in predictMany(). Default 32. */
  maxBatch?: number;
  /** Concurrent image decodes. Default 4. */
  decodeConcurrency?: number;
  /** Largest accepted width*height of an input image. */
  maxPixels?: number;
  /** Memory one forward pass may take; more images run as several passes. Default 1 GiB (409 images at 128 px, 6 at 1024). */
  passMemoryBytes?: number;
  /**
   * "fp32", "bf16", "int8" (needs a calibrated checkpoint, CPU only) or
   * "auto" (see choosePrecision). Default "fp32".
   */
  precision?: Precision;
}

export interface Prediction {
  category: string;
  probability: number;
  probabilities: Record<string, number>;
}

/** One image's prediction with the network's raw rows beside it (index i is classes[i]). */
export interface ScoredPrediction {
  prediction: Prediction;
  logits: Float32Array;
  probabilities: Float32Array;
}

/** The model's output is not a probability distribution (NaN or Inf): a fault of the checkpoint, not of the input. */
export class ModelOutputError extends Error {
  readonly code = 'ERR_TORCHDOG_MODEL_OUTPUT';
}

export class Classifier {
  private disposed = false;
  #precision: PrecisionChoice = { precision: 'fp32', reason: 'default' };

  private constructor(
    private readonly model: Model,
    readonly info: CheckpointInfo,
    private readonly options: Required<Pick<ClassifierOptions, 'maxBatch' | 'decodeConcurrency'>> & ClassifierOptions,
  ) {}

  /**
   * Loads a torchdog checkpoint (safetensors) for inference, in
   * `options.precision`: refused (PrecisionError) when the checkpoint or the
   * device cannot serve it, or (CheckpointError) when its calibration is corrupt.
   */
  static async load(path: string, options: ClassifierOptions = {}): Promise<Classifier> {
    const requested = expectOneOf(options.precision ?? 'fp32', 'options.precision', PRECISIONS);
    const { info, tensors } = await readCheckpoint(path);
    const model = await Model.create({ numClasses: info.classes.length, device: options.device, threads: options.threads });
    let choice: PrecisionChoice;
    try {
      await loadWeights(model, tensors, path);
      await model.setTraining(false);
      choice = await applyPrecision(model, info, requested, path);
    } catch (error) {
      await model.dispose();
      throw error;
    }
    const classifier = Classifier.fromModel(model, info, options);
    classifier.#precision = choice;
    return classifier;
  }

  /** The precision this classifier computes in, and why (auto's choice). */
  get precision(): ServingPrecision {
    return this.#precision.precision;
  }

  get precisionReason(): string {
    return this.#precision.reason;
  }

  /** Wraps an already-loaded model; the classifier takes ownership. */
  static fromModel(model: Model, info: CheckpointInfo, options: ClassifierOptions = {}): Classifier {
    return new Classifier(model, info, {
      ...options,
      maxBatch: expectInteger(options.maxBatch ?? 32, 'options.maxBatch', 1, 4096),
      decodeConcurrency: expectInteger(options.decodeConcurrency ?? 4, 'options.decodeConcurrency', 1, 256),
      passMemoryBytes: expectInteger(options.passMemoryBytes ?? BATCH_MEMORY_BYTES, 'options.passMemoryBytes', 1, Number.MAX_SAFE_INTEGER),
    });
  }

  get classes(): readonly string[] {
    return this.info.classes;
  }

  get imageSize(): number {
    return this.info.imageSize;
  }

  get device(): string {
    return this.model.device;
  }

  /** Decodes an image file or encoded bytes to this model's input pixels (HWC RGB). */
  decode(input: ImageInput): Promise<Uint8Array> {
    return decodeImage(input, { size: this.info.imageSize, maxPixels: this.options.maxPixels });
  }

  async predict(input: ImageInput): Promise<Prediction> {
    const [prediction] = await this.predictPixels([await this.decode(input)]);
    return prediction!;
  }

  /** Classifies many images: decoded concurrently, run in batches of maxBatch. */
  async predictMany(inputs: readonly ImageInput[]): Promise<Prediction[]> {
    const pixels = await mapLimit(inputs, this.options.decodeConcurrency, (input) => this.decode(input));
    const out: Prediction[] = [];
    for (let i = 0; i < pixels.length; i += this.options.maxBatch) {
      out.push(...(await this.predictPixels(pixels.slice(i, i + this.options.maxBatch))));
    }
    return out;
  }

  /** One forward pass over already-decoded images (each imageSize²×3 bytes). */
  async predictPixels(images: readonly Uint8Array[]): Promise<Prediction[]> {
    this.checkAlive('predictPixels');
    return (await this.scorePixels(images)).map((s) => s.prediction);
  }

  /**
   * predictPixels with each image's logits and probabilities rows too (views
   * of a pass's output). More images than fit the memory bound of one pass
   * at this image size (maxBatchForMemory) run as several passes.
   */
  async scorePixels(images: readonly Uint8Array[]): Promise<ScoredPrediction[]> {
    this.checkAlive('scorePixels');
    const most = maxBatchForMemory(this.info.imageSize, this.options.passMemoryBytes);
    if (images.length <= most) return this.scorePass(images);
    const out: ScoredPrediction[] = [];
    for (let i = 0; i < images.length; i += most) out.push(...(await this.scorePass(images.slice(i, i + most))));
    return out;
  }

  private async scorePass(images: readonly Uint8Array[]): Promise<ScoredPrediction[]> {
    if (images.length === 0) return [];
    const size = this.info.imageSize;
    const { logits, probabilities } = await this.model.forward(
      // The engine copies the batch before its thread reads it, so a lone
      // image goes as it is rather than copied twice.
      { data: images.length === 1 ? images[0]! : stackImages(images), count: images.length, height: size, width: size },
      { mean: this.info.mean, std: this.info.std },
    );
    const k = this.info.classes.length;
    // Weights that load (finite) can still overflow float32 on the way: say so
    // rather than answer with NaN probabilities or a constant class.
    const bad = probabilities.findIndex((p) => !Number.isFinite(p));
    if (bad >= 0) {
      throw new ModelOutputError(
        `the model produced a non-finite probability for image ${Math.floor(bad / k)} (its activations overflow float32): the checkpoint's weights are not usable`,
      );
    }
    return images.map((_, i) => {
      const row = probabilities.subarray(i * k, (i + 1) * k);
      return { prediction: this.toPrediction(row), logits: logits.subarray(i * k, (i + 1) * k), probabilities: row };
    });
  }

  private toPrediction(row: Float32Array): Prediction {
    let best = 0;
    row.forEach((p, c) => {
      if (p > row[best]!) best = c;
    });
    // fromEntries defines own properties, so a class named "__proto__" is a key like any other.
    const probabilities = Object.fromEntries(this.info.classes.map((name, c) => [name, row[c]!]));
    return { category: this.info.classes[best]!, probability: row[best]!, probabilities };
  }

  private checkAlive(method: string): void {
    if (this.disposed) throw new Error(`Classifier.${method}: the classifier has been disposed`);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.model.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }
}
