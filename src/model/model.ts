// The one door to the engine. A Model owns its addon handle privately and
// checks every argument here, once, before the addon (a trusted marshaller)
// sees it; the engine keeps only its own invariants (buffer lengths, tensor
// names and shapes of the network it built).
import { loadNative, type NativeModel, type NativeOptimizerOptions, type NativeTrainRecipe, type NativeTrainStepOptions } from '../native.js';
import {
  expectBoolean,
  expectInteger,
  expectKnownKeys,
  expectNumber,
  expectOneOf,
  expectString,
  expectTriple,
  invalid,
  withoutUndefined,
} from '../util/index.js';
import { checkProcessGroupOptions, checkReduceValues, type ProcessGroupOptions } from './process-group.js';
import type { Tensor } from './safetensors.js';

export interface ModelOptions {
  /** Number of output classes (>= 1). */
  numClasses: number;
  arch?: 'resnet18';
  /** "cpu", "cuda", "cuda:N" or "auto" (CUDA when available). Default "auto". */
  device?: string;
  /** Seeds weight initialisation. Default 0. */
  seed?: number;
  /** LibTorch intra-op threads; 0 = one per hardware thread. Default 0. */
  threads?: number;
}

export interface OptimizerOptions {
  name?: 'adam' | 'adamw' | 'sgd';
  lr?: number;
  weightDecay?: number;
  /** SGD only. */
  momentum?: number;
  nesterov?: boolean;
  betas?: readonly [number, number];
  eps?: number;
}

/** A batch of uint8 RGB images in NHWC layout, as sharp's raw output. */
export interface ImageBatch {
  data: Uint8Array;
  count: number;
  height: number;
  width: number;
}

/** Applied after scaling pixels to [0, 1]: (x - mean) / std per channel. */
export interface Normalization {
  mean: readonly number[];
  std: readonly number[];
}

export interface ForwardResult {
  count: number;
  classes: number;
  /** Row-major [count, classes]. */
  logits: Float32Array;
  probabilities: Float32Array;
}

export interface StepResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  correct: number;
  count: number;
}

export interface TrainStepOptions {
  /**
   * Soft targets, row-major [count, numClasses], each row a distribution
   * (mixup, cutmix); the loss is their cross-entropy. `labels` still count `correct`.
   */
  targets?: Float32Array;
  /** false: keep this step's gradients for the next step instead of an optimizer step (accumulation). Default true. */
  apply?: boolean;
}

/** How trainStep computes its loss and updates the weights; unset fields take the defaults (plain steps). */
export interface TrainRecipe {
  /** Cross-entropy's label smoothing, in [0, 1). Default 0. */
  labelSmoothing?: number;
  /** Largest L2 norm of all gradients together before a step; 0 = none. Default 0. */
  clipGradNorm?: number;
  /** Gradients are of loss * lossScale (1/N when N steps accumulate). Default 1. */
  lossScale?: number;
  /** BatchNorm in eval mode while training: running statistics used and not updated. Default false. */
  freezeBatchNorm?: boolean;
  /** Exponential moving average of the weights after every optimizer step, decay in [0, 1); 0 = none. Default 0. */
  emaDecay?: number;
}

export interface EvalResult extends StepResult {
  /** Argmax class per image. */
  predicted: Int32Array;
}

export interface TorchScriptExportOptions {
  /** Applied inside the module's forward, after scaling pixels to [0, 1]. */
  normalization: Normalization;
  /** Files stored beside the code (torch.jit.load's `_extra_files`): name → UTF-8 text. */
  extraFiles?: Readonly<Record<string, string>>;
}

/** A TorchScript file's outputs on a batch, and the extra files asked for ('' for one it lacks). */
export interface TorchScriptRun extends ForwardResult {
  extraFiles: Record<string, string>;
}

/** What setPrecision takes: the graphs the engine builds. */
export type ServingPrecision = 'fp32' | 'bf16' | 'int8';
export const SERVING_PRECISIONS: readonly ServingPrecision[] = ['fp32', 'bf16', 'int8'];

/** An activation's float range at one int8 quantize point (names from observeActivations). */
export interface ActivationRange {
  name: string;
  min: number;
  max: number;
}

/** A quantize point's value counts in equal bins over a given range (histogramActivations). */
export interface ActivationHistogram {
  name: string;
  counts: Float64Array;
}

const MAX_HISTOGRAM_BINS = 1 << 16;

const MODEL_DEFAULTS = { arch: 'resnet18', device: 'auto', seed: 0, threads: 0 } as const;
const RECIPE_DEFAULTS = { labelSmoothing: 0, clipGradNorm: 0, lossScale: 1, freezeBatchNorm: false, emaDecay: 0 } as const;
const OPTIMIZER_DEFAULTS = { name: 'adam', lr: 1e-3, weightDecay: 0, momentum: 0.9, nesterov: false, betas: [0.9, 0.999], eps: 1e-8 } as const;

const MAX_CLASSES = 1 << 20;
const MAX_BATCH = 1 << 20;
const MAX_IMAGE_SIDE = 8192;
const MAX_THREADS = 1024;
const MAX_LR = 1000;
const DEVICE_PATTERN = /^(cpu|cuda|cuda:\d{1,3}|auto)$/;
// Stored as extra/NAME in the module's zip archive: one plain file name.
const EXTRA_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/** Whether this LibTorch build has CUDA and a GPU is visible. */
export function cudaAvailable(): boolean {
  return loadNative().cudaAvailable();
}

/**
 * Process-wide: let CUDA run float32 convolutions and matrix products in TF32
 * (faster, ~1e-3 relative error). No effect on the CPU.
 */
export function setTf32(allowed: boolean): void {
  loadNative().setTf32(expectBoolean(allowed, 'allowed'));
}

/**
 * Engines built and not yet freed, and model threads running, in this process:
 * a leak test drives both back to where they started.
 */
export function engineCounts(): { engines: number; executors: number } {
  return loadNative().liveCounts();
}

/**
 * A ResNet18 on LibTorch. Every method that computes returns a Promise and
 * runs on the model's own native thread, one operation at a time in call
 * order, so training and inference never race on it. Argument errors throw
 * synchronously (InvalidArgumentError naming the parameter); calls after
 * dispose() throw. Rejections carry `code`: ERR_TORCHDOG_INVALID_ARGUMENT
 * (the engine refused a value, e.g. a tensor of another shape),
 * ERR_TORCHDOG_NATIVE (LibTorch failed) or ERR_TORCHDOG_DISPOSED (dispose()
 * came before the operation started).
 */
export class Model {
  readonly #native: NativeModel;
  #disposed = false;

  private constructor(handle: NativeModel) {
    this.#native = handle;
  }

  /** Builds a model with fresh (seeded) weights. */
  static async create(options: ModelOptions): Promise<Model> {
    const o = checkModelOptions(options);
    const addon = loadNative();
    const problem = addon.checkDevice(o.device);
    if (problem) throw new Error(problem);
    const model = new Model(new addon.Model(o));
    await model.#native.ready();
    return model;
  }

  get device(): string {
    return this.#native.device;
  }
  get numClasses(): number {
    return this.#native.numClasses;
  }
  get parameterCount(): number {
    return this.#native.parameterCount;
  }
  get threads(): number {
    return this.#native.threads;
  }
  get training(): boolean {
    return this.#native.training;
  }
  get disposed(): boolean {
    return this.#disposed;
  }

  /** Logits and softmax probabilities in the current train/eval mode, without gradients. */
  forward(images: ImageBatch, normalization: Normalization): Promise<ForwardResult> {
    this.#alive('forward');
    return this.#run(this.#native.forward(checkImages(images), checkNormalization(normalization)));
  }

  /**
   * Forward, cross-entropy (label smoothing and the rest per setTrainRecipe),
   * backward, optimizer step unless `options.apply` is false; leaves the
   * model in train mode.
   */
  trainStep(images: ImageBatch, labels: Int32Array, normalization: Normalization, options: TrainStepOptions = {}): Promise<StepResult> {
    this.#alive('trainStep');
    const batch = checkImages(images);
    const checkedLabels = this.#checkLabels(labels, batch.count);
    const step = this.#checkStepOptions(options, batch.count);
    return this.#run(this.#native.trainStep(batch, checkedLabels, checkNormalization(normalization), step));
  }

  /** Replaces the training recipe (unset fields: defaults). A new emaDecay starts the EMA again at the next step. */
  setTrainRecipe(recipe: TrainRecipe = {}): Promise<void> {
    this.#alive('setTrainRecipe');
    return this.#run(this.#native.setTrainRecipe(resolveRecipe(recipe)));
  }

  /**
   * Exchanges the weights with their EMA (setTrainRecipe's emaDecay) without
   * a copy: evaluation, forward and getTensors then see the EMA; call again
   * to swap back before training on. Rejects when the recipe keeps no EMA.
   */
  swapEmaWeights(): Promise<void> {
    this.#alive('swapEmaWeights');
    return this.#run(this.#native.swapEmaWeights());
  }

  /** Loss and predictions without gradients; leaves the model in eval mode. */
  evalStep(images: ImageBatch, labels: Int32Array, normalization: Normalization): Promise<EvalResult> {
    this.#alive('evalStep');
    const batch = checkImages(images);
    return this.#run(this.#native.evalStep(batch, this.#checkLabels(labels, batch.count), checkNormalization(normalization)));
  }

  /** Replaces the optimizer (and its state); unset fields take Adam's defaults. */
  setOptimizer(options: OptimizerOptions = {}): Promise<void> {
    this.#alive('setOptimizer');
    return this.#run(this.#native.setOptimizer(resolveOptimizer(options)));
  }

  setLearningRate(lr: number): Promise<void> {
    this.#alive('setLearningRate');
    return this.#run(this.#native.setLearningRate(expectNumber(lr, 'lr', 0, MAX_LR)));
  }

  /** The optimizer's state tensors, for an exact resume. */
  getOptimizerState(): Promise<Tensor[]> {
    this.#alive('getOptimizerState');
    return this.#run(this.#native.getOptimizerState());
  }

  setOptimizerState(state: readonly Tensor[]): Promise<void> {
    this.#alive('setOptimizerState');
    return this.#run(this.#native.setOptimizerState(checkTensorList(state, 'state')));
  }

  /** Every parameter and BatchNorm buffer, by torchvision name, copied to the CPU. */
  getTensors(): Promise<Tensor[]> {
    this.#alive('getTensors');
    return this.#run(this.#native.getTensors());
  }

  /** All-or-nothing: every tensor is checked against the network before any is written. */
  setTensors(tensors: readonly Tensor[]): Promise<void> {
    this.#alive('setTensors');
    return this.#run(this.#native.setTensors(checkTensorList(tensors, 'tensors')));
  }

  /** LibTorch intra-op threads for this model; 0 = one per hardware thread. */
  setThreads(threads: number): Promise<void> {
    this.#alive('setThreads');
    return this.#run(this.#native.setThreads(expectInteger(threads, 'threads', 0, MAX_THREADS)));
  }

  setTraining(training: boolean): Promise<void> {
    this.#alive('setTraining');
    return this.#run(this.#native.setTraining(expectBoolean(training, 'training')));
  }

  /**
   * Eval-mode forward() runs a frozen, optimised TorchScript copy of the
   * weights (rebuilt after they change); default true. false = eager model.
   */
  setInferenceGraph(enabled: boolean): Promise<void> {
    this.#alive('setInferenceGraph');
    return this.#run(this.#native.setInferenceGraph(expectBoolean(enabled, 'enabled')));
  }

  /** bf16 autocast in trainStep/evalStep (CUDA, or CPUs with bf16); default false. */
  setMixedPrecision(enabled: boolean): Promise<void> {
    this.#alive('setMixedPrecision');
    return this.#run(this.#native.setMixedPrecision(expectBoolean(enabled, 'enabled')));
  }

  /** Reseeds the model's random source (dropout-free ResNet: only future initialisations). */
  seed(seed: number): Promise<void> {
    this.#alive('seed');
    return this.#run(this.#native.seed(expectInteger(seed, 'seed', 0, Number.MAX_SAFE_INTEGER)));
  }

  /**
   * Writes the current weights to `path` as a TorchScript module that
   * `torch.jit.load` opens in PyTorch and LibTorch: `forward(image)` takes
   * uint8 RGB pixels [N, H, W, 3] and returns (logits, probabilities), with
   * `normalization` applied inside, and state_dict() has torchvision's
   * names. Writes `path` in place; `exportModel` (src/export) goes through a
   * temporary file.
   */
  exportTorchScript(path: string, options: TorchScriptExportOptions): Promise<void> {
    this.#alive('exportTorchScript');
    if (typeof options !== 'object' || options === null) throw invalid('options', 'an object {normalization, extraFiles}', options);
    expectKnownKeys(options, 'options', ['normalization', 'extraFiles']);
    return this.#run(
      this.#native.exportTorchScript(expectString(path, 'path'), checkNormalization(options.normalization), checkExtraFiles(options.extraFiles ?? {})),
    );
  }

  /**
   * Loads a TorchScript file on the CPU, as `torch::jit::load` does, and runs
   * its forward on `images` on this model's thread (this model's weights play
   * no part): the file must map uint8 NHWC images to (logits,
   * probabilities), as exportTorchScript's do. Also reads the named extra files.
   */
  runTorchScript(path: string, images: ImageBatch, extraFiles: readonly string[] = []): Promise<TorchScriptRun> {
    this.#alive('runTorchScript');
    if (!Array.isArray(extraFiles)) throw invalid('extraFiles', 'an array of file names', extraFiles);
    extraFiles.forEach((name, i) => checkExtraFileName(name, `extraFiles[${i}]`));
    return this.#run(this.#native.runTorchScript(expectString(path, 'path'), checkImages(images), [...extraFiles]));
  }

  /**
   * The precision eval-mode forward() serves in: 'fp32' (default), 'bf16'
   * (a frozen bfloat16 graph) or 'int8' (CPU only; quantized with `ranges`,
   * which must give every quantize point, see observeActivations). The
   * graph is built at the next forward(); training and evalStep stay float32.
   */
  setPrecision(precision: ServingPrecision, ranges: readonly ActivationRange[] = []): Promise<void> {
    this.#alive('setPrecision');
    const p = expectOneOf(precision, 'precision', SERVING_PRECISIONS);
    if (p === 'int8' && ranges.length === 0) throw invalid('ranges', 'activation ranges from a calibration for int8', ranges);
    return this.#run(this.#native.setPrecision(p, checkRanges(ranges)));
  }

  /**
   * The float32 network's (BatchNorm-folded) min/max at each int8 quantize
   * point on this batch; a calibration widens them over its images.
   */
  observeActivations(images: ImageBatch, normalization: Normalization): Promise<ActivationRange[]> {
    this.#alive('observeActivations');
    return this.#run(this.#native.observeActivations(checkImages(images), checkNormalization(normalization)));
  }

  /**
   * How many of each quantize point's float32 values on this batch fall in
   * each of `bins` equal bins over its range in `over` (one range per
   * point, e.g. observeActivations' widened over the calibration images);
   * values outside count in the end bins. A histogram observer sums them.
   */
  histogramActivations(images: ImageBatch, normalization: Normalization, over: readonly ActivationRange[], bins: number): Promise<ActivationHistogram[]> {
    this.#alive('histogramActivations');
    const n = expectInteger(bins, 'bins', 1, MAX_HISTOGRAM_BINS);
    return this.#run(this.#native.histogramActivations(checkImages(images), checkNormalization(normalization), checkRanges(over, 'over'), n));
  }

  /**
   * Joins a distributed job (process-group.ts); resolves once every rank has.
   * From then on trainStep averages the gradients over the ranks before the
   * optimizer step. Every rank must make the same collective calls in order.
   */
  joinProcessGroup(options: ProcessGroupOptions): Promise<void> {
    this.#alive('joinProcessGroup');
    return this.#run(this.#native.joinProcessGroup(checkProcessGroupOptions(options)));
  }

  /** Rank 0's parameters and buffers to every rank. */
  broadcastTensors(): Promise<void> {
    this.#alive('broadcastTensors');
    return this.#run(this.#native.broadcastTensors());
  }

  /** The element-wise sum of `values` over the ranks. */
  async allReduceSum(values: readonly number[]): Promise<number[]> {
    this.#alive('allReduceSum');
    return [...(await this.#run(this.#native.allReduceSum(checkReduceValues(values))))];
  }

  leaveProcessGroup(): Promise<void> {
    this.#alive('leaveProcessGroup');
    return this.#run(this.#native.leaveProcessGroup());
  }

  /** Lets the running operation finish, rejects the queued ones, frees the engine. Idempotent. */
  async dispose(): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await this.#native.dispose();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.dispose();
  }

  /**
   * A rejection comes from the model's thread with no JavaScript frames; give
   * it the caller's stack (taken now, before the call goes native), as sharp
   * does, keeping the native message and code.
   */
  #run<T>(operation: Promise<T>): Promise<T> {
    const origin = new Error();
    return operation.catch((error: unknown) => {
      if (error instanceof Error && origin.stack) {
        error.stack = `${error.name}: ${error.message}\n${origin.stack.split('\n').slice(2).join('\n')}`;
      }
      throw error;
    });
  }

  #alive(method: string): void {
    if (this.#disposed) throw new Error(`Model.${method}: the model has been disposed`);
  }

  #checkStepOptions(options: TrainStepOptions, count: number): NativeTrainStepOptions {
    if (typeof options !== 'object' || options === null) throw invalid('options', 'an object {targets, apply}', options);
    expectKnownKeys(options, 'options', ['targets', 'apply']);
    const apply = options.apply === undefined ? true : expectBoolean(options.apply, 'options.apply');
    const { targets } = options;
    if (targets === undefined) return { apply };
    const k = this.numClasses;
    if (!(targets instanceof Float32Array) || targets.length !== count * k) {
      throw invalid('options.targets', `a Float32Array of count*numClasses = ${count * k} soft targets`, targets);
    }
    for (let i = 0; i < count; i++) {
      let sum = 0;
      for (let j = 0; j < k; j++) {
        const v = targets[i * k + j]!;
        if (!(v >= 0 && v <= 1)) throw invalid(`options.targets[${i * k + j}]`, 'a probability in [0, 1]', v);
        sum += v;
      }
      if (Math.abs(sum - 1) > 1e-3) throw invalid(`options.targets row ${i}`, 'probabilities summing to 1', sum);
    }
    return { targets, apply };
  }

  #checkLabels(labels: Int32Array, count: number): Int32Array {
    if (!(labels instanceof Int32Array)) throw invalid('labels', 'an Int32Array', labels);
    if (labels.length !== count) throw invalid('labels', `one label per image (${count})`, labels);
    const k = this.numClasses;
    for (let i = 0; i < labels.length; i++) {
      if (labels[i]! < 0 || labels[i]! >= k) throw invalid(`labels[${i}]`, `a class index in [0, ${k})`, labels[i]);
    }
    return labels;
  }
}

/** Same as Model.create(options). */
export function createModel(options: ModelOptions): Promise<Model> {
  return Model.create(options);
}

function checkModelOptions(options: ModelOptions) {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  expectKnownKeys(options, 'options', ['numClasses', 'arch', 'device', 'seed', 'threads']);
  const o = { ...MODEL_DEFAULTS, ...withoutUndefined(options) };
  const device = expectString(o.device, 'options.device');
  if (!DEVICE_PATTERN.test(device)) throw invalid('options.device', "'cpu', 'cuda', 'cuda:N' or 'auto'", device);
  return {
    arch: expectOneOf(o.arch, 'options.arch', ['resnet18']),
    numClasses: expectInteger(o.numClasses, 'options.numClasses', 1, MAX_CLASSES),
    device,
    seed: expectInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER),
    threads: expectInteger(o.threads, 'options.threads', 0, MAX_THREADS),
  };
}

function resolveOptimizer(options: OptimizerOptions): NativeOptimizerOptions {
  if (typeof options !== 'object' || options === null) throw invalid('optimizer', 'an object', options);
  expectKnownKeys(options, 'optimizer', Object.keys(OPTIMIZER_DEFAULTS));
  const o = { ...OPTIMIZER_DEFAULTS, ...withoutUndefined(options) };
  const name = expectOneOf(o.name, 'optimizer.name', ['adam', 'adamw', 'sgd']);
  if (!Array.isArray(o.betas) || o.betas.length !== 2) throw invalid('optimizer.betas', 'an array of 2 numbers in [0, 1)', o.betas);
  return {
    name,
    lr: expectNumber(o.lr, 'optimizer.lr', 0, MAX_LR),
    weightDecay: expectNumber(o.weightDecay, 'optimizer.weightDecay', 0, 1000),
    momentum: name === 'sgd' ? expectNumber(o.momentum, 'optimizer.momentum', 0, 1) : 0,
    nesterov: name === 'sgd' ? expectNesterov(o.nesterov, o.momentum) : false,
    beta1: expectNumber(o.betas[0], 'optimizer.betas[0]', 0, 0.999999),
    beta2: expectNumber(o.betas[1], 'optimizer.betas[1]', 0, 0.999999999),
    eps: expectNumber(o.eps, 'optimizer.eps', 0, 1),
  };
}

function resolveRecipe(recipe: TrainRecipe): NativeTrainRecipe {
  if (typeof recipe !== 'object' || recipe === null) throw invalid('recipe', 'an object', recipe);
  expectKnownKeys(recipe, 'recipe', Object.keys(RECIPE_DEFAULTS));
  const r = { ...RECIPE_DEFAULTS, ...withoutUndefined(recipe) };
  const below1 = (v: unknown, name: string) => {
    const n = expectNumber(v, name, 0, 1);
    if (n >= 1) throw invalid(name, 'a number in [0, 1)', v);
    return n;
  };
  return {
    labelSmoothing: below1(r.labelSmoothing, 'recipe.labelSmoothing'),
    clipGradNorm: expectNumber(r.clipGradNorm, 'recipe.clipGradNorm', 0, 1e9),
    lossScale: expectNumber(r.lossScale, 'recipe.lossScale', 1e-9, 1e9),
    freezeBatchNorm: expectBoolean(r.freezeBatchNorm, 'recipe.freezeBatchNorm'),
    emaDecay: below1(r.emaDecay, 'recipe.emaDecay'),
  };
}

function expectNesterov(nesterov: unknown, momentum: unknown): boolean {
  // LibTorch's SGD requires momentum > 0 with Nesterov's update.
  if (expectBoolean(nesterov, 'optimizer.nesterov') && momentum === 0) throw invalid('optimizer.momentum', 'a number > 0 with nesterov: true', momentum);
  return nesterov as boolean;
}

function checkImages(images: ImageBatch): ImageBatch {
  if (typeof images !== 'object' || images === null) throw invalid('images', 'an object {data, count, height, width}', images);
  const count = expectInteger(images.count, 'images.count', 1, MAX_BATCH);
  const height = expectInteger(images.height, 'images.height', 1, MAX_IMAGE_SIDE);
  const width = expectInteger(images.width, 'images.width', 1, MAX_IMAGE_SIDE);
  const { data } = images;
  if (!(data instanceof Uint8Array)) throw invalid('images.data', 'a Uint8Array or Buffer of RGB pixels (NHWC)', data);
  const bytes = count * height * width * 3;
  if (data.byteLength !== bytes) {
    throw invalid('images.data', `count*height*width*3 = ${bytes} bytes (${count}x${height}x${width}x3)`, data);
  }
  return { data, count, height, width };
}

function checkNormalization(normalization: Normalization): { mean: number[]; std: number[] } {
  if (typeof normalization !== 'object' || normalization === null) throw invalid('normalization', 'an object {mean, std}', normalization);
  const mean = expectTriple(normalization.mean, 'normalization.mean');
  mean.forEach((v, i) => expectNumber(v, `normalization.mean[${i}]`, -1e6, 1e6));
  const std = expectTriple(normalization.std, 'normalization.std');
  std.forEach((v, i) => {
    if (!(v > 0) || v > 1e6) throw invalid(`normalization.std[${i}]`, 'a number > 0 and <= 1e6', v);
  });
  return { mean, std };
}

function checkExtraFileName(name: unknown, at: string): string {
  if (typeof name !== 'string' || !EXTRA_FILE_NAME.test(name)) throw invalid(at, 'a file name of letters, digits, _ . - (at most 255)', name);
  return name;
}

function checkExtraFiles(files: Readonly<Record<string, string>>): Record<string, string> {
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw invalid('options.extraFiles', 'an object {name: text}', files);
  for (const [name, content] of Object.entries(files)) {
    checkExtraFileName(name, 'options.extraFiles');
    if (typeof content !== 'string') throw invalid(`options.extraFiles['${name}']`, 'a string', content);
  }
  return { ...files };
}

function checkRanges(ranges: readonly ActivationRange[], what = 'ranges'): ActivationRange[] {
  if (!Array.isArray(ranges)) throw invalid(what, 'an array of {name, min, max}', ranges);
  return ranges.map((r, i) => {
    const at = `${what}[${i}]`;
    if (typeof r !== 'object' || r === null) throw invalid(at, 'an object {name, min, max}', r);
    const name = expectString(r.name, `${at}.name`);
    const min = expectNumber(r.min, `${at}.min`, -3.4e38, 3.4e38);
    const max = expectNumber(r.max, `${at}.max`, min, 3.4e38);
    return { name, min, max };
  });
}

function checkTensorList(tensors: readonly Tensor[], name: string): Tensor[] {
  if (!Array.isArray(tensors)) throw invalid(name, 'an array of {name, dtype, shape, data}', tensors);
  tensors.forEach((t, i) => {
    const at = `${name}[${i}]`;
    if (typeof t !== 'object' || t === null) throw invalid(at, 'an object {name, dtype, shape, data}', t);
    expectString(t.name, `${at}.name`);
    expectString(t.dtype, `${at}.dtype`);
    if (!Array.isArray(t.shape) || t.shape.length > 8) throw invalid(`${at}.shape`, 'an array of at most 8 integers', t.shape);
    t.shape.forEach((d: unknown, j: number) => expectInteger(d, `${at}.shape[${j}]`, 0, 2 ** 40));
    if (!ArrayBuffer.isView(t.data)) throw invalid(`${at}.data`, 'a Uint8Array of row-major bytes', t.data);
  });
  return tensors as Tensor[];
}
