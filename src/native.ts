// The one place that loads the compiled addon. Everything else imports the
// typed surface below, never the .node file.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// OpenBLAS reads this when LibTorch loads it; LibTorch's own threads are the
// parallelism we control (the addon also pins OpenBLAS at runtime).
process.env.OPENBLAS_NUM_THREADS ??= '1';

// LibTorch's OpenMP (libgomp) threads spin for about 300,000 rounds
// (milliseconds) at every barrier and after every parallel region before
// they sleep. When the cores are shared (image decodes in this process,
// other processes on a small machine), a spinning thread holds a core that
// the thread it waits for needs: with one competing busy process, forward
// passes at 2 threads ran about 2x slower than with short spins, and the
// service answered 24 instead of 40 req/s at 1 connection, 51 instead of 67
// at 8. A short spin (about 10 us) keeps back-to-back regions as fast as the
// default on an idle machine (measured: batch 1 and 8, and training, within
// noise). libgomp reads these when it loads, so they are set before the
// addon is; OMP_WAIT_POLICY or GOMP_SPINCOUNT set by the user win. See
// bench/README.md ("Serving settings").
if (process.env.OMP_WAIT_POLICY === undefined) process.env.GOMP_SPINCOUNT ??= '1000';

/** A batch of uint8 RGB images in NHWC layout, as sharp's raw output. */
export interface NativeImageBatch {
  data: Uint8Array;
  count: number;
  height: number;
  width: number;
}

export interface NativeNormalization {
  mean: readonly [number, number, number] | number[];
  std: readonly [number, number, number] | number[];
}

export interface NativeForwardResult {
  count: number;
  classes: number;
  /** Row-major [count, classes]. */
  logits: Float32Array;
  probabilities: Float32Array;
}

export interface NativeStepResult {
  /** Mean cross-entropy over the batch. */
  loss: number;
  correct: number;
  count: number;
}

export interface NativeEvalResult extends NativeStepResult {
  /** Argmax class per image. */
  predicted: Int32Array;
}

export interface NativeOptimizerOptions {
  name: 'adam' | 'adamw' | 'sgd';
  lr: number;
  weightDecay: number;
  momentum: number;
  nesterov: boolean;
  beta1: number;
  beta2: number;
  eps: number;
}

/** A tensor by name with safetensors dtype ("F32", "I64", ...) and raw row-major bytes. */
export interface NativeTrainStepOptions {
  targets?: Float32Array;
  apply: boolean;
}

export interface NativeTrainRecipe {
  labelSmoothing: number;
  clipGradNorm: number;
  lossScale: number;
  freezeBatchNorm: boolean;
  emaDecay: number;
}

export interface NativeTensor {
  name: string;
  dtype: string;
  shape: number[];
  data: Uint8Array;
}

/** What runTorchScript() returns: the file's forward on the batch, and the extra files asked for. */
export interface NativeTorchScriptRun extends NativeForwardResult {
  /** Each extra file asked for, '' when the file has none of that name. */
  extraFiles: Record<string, string>;
}

/** An activation's float range at one int8 quantize point. */
export interface NativeActivationRange {
  name: string;
  min: number;
  max: number;
}

export interface NativeModelOptions {
  arch: 'resnet18';
  numClasses: number;
  /** "cpu", "cuda", "cuda:N" or "auto". */
  device: string;
  seed: number;
  /** Intra-op threads; 0 = one per hardware thread. */
  threads: number;
}

/**
 * A model handle. Every method that computes copies its arguments, queues an
 * operation on the model's own native thread and returns a Promise settled
 * from there (no libuv worker waits on it); operations run one at a time in
 * call order. While any is pending the handle and the event loop stay alive;
 * an idle model keeps neither.
 *
 * The addon trusts its caller (src/model) to have checked every option and
 * range. It throws synchronously (TypeError/RangeError naming the parameter)
 * only for what it cannot marshal safely: a wrong type, an integer the C++
 * type cannot hold, non-positive image dimensions, `images.data` not
 * count*height*width*3 bytes, `labels` not one Int32 per image in
 * [0, numClasses). Calls after dispose() throw an Error.
 *
 * Rejections carry `code`: 'ERR_TORCHDOG_INVALID_ARGUMENT' (a TypeError: the
 * engine refused a value it knows, e.g. a tensor's name or shape, the arch,
 * the device), 'ERR_TORCHDOG_NATIVE' (LibTorch failed) or
 * 'ERR_TORCHDOG_DISPOSED' (dispose() was called before the operation started).
 */
export interface NativeModel {
  /**
   * Resolves once the engine is built; rejects if it refused the options
   * (arch, numClasses >= 1, threads >= 0, device). Same promise every call.
   */
  ready(): Promise<void>;
  /** Uses the current train/eval mode, without gradients. */
  forward(images: NativeImageBatch, normalization: NativeNormalization): Promise<NativeForwardResult>;
  /**
   * Forward, cross-entropy (against `options.targets`, soft [count, classes],
   * when given), backward, optimizer step (unless `options.apply` is false:
   * the gradients wait for a later step); leaves the model in train mode.
   */
  trainStep(images: NativeImageBatch, labels: Int32Array, normalization: NativeNormalization, options?: NativeTrainStepOptions): Promise<NativeStepResult>;
  /** Loss and predictions without gradients; leaves the model in eval mode. */
  evalStep(images: NativeImageBatch, labels: Int32Array, normalization: NativeNormalization): Promise<NativeEvalResult>;
  /** Replaces the optimizer (and its state). */
  setOptimizer(options: NativeOptimizerOptions): Promise<void>;
  setLearningRate(lr: number): Promise<void>;
  getOptimizerState(): Promise<NativeTensor[]>;
  setOptimizerState(state: NativeTensor[]): Promise<void>;
  /** Every parameter and BatchNorm buffer, by torchvision name, copied to the CPU. */
  getTensors(): Promise<NativeTensor[]>;
  /** All-or-nothing: every tensor is checked before any is written. */
  setTensors(tensors: NativeTensor[]): Promise<void>;
  /** `threads` reads the new count once this settles; rejects for threads < 0. */
  setThreads(threads: number): Promise<void>;
  setTraining(training: boolean): Promise<void>;
  /**
   * Eval-mode forward() runs a frozen, optimised TorchScript copy of the
   * weights (rebuilt after they change); default true. false = eager model.
   */
  setInferenceGraph(enabled: boolean): Promise<void>;
  /** bf16 autocast in trainStep/evalStep (CUDA, or CPUs with bf16); default false. */
  setMixedPrecision(enabled: boolean): Promise<void>;
  seed(seed: number): Promise<void>;
  /** How training steps compute the loss and update (engine.h TrainRecipe). */
  setTrainRecipe(recipe: NativeTrainRecipe): Promise<void>;
  /** Exchanges the weights with their EMA; rejects when the recipe keeps none. */
  swapEmaWeights(): Promise<void>;
  /**
   * Writes the current weights to `path` as a TorchScript module mapping
   * uint8 NHWC images to (logits, probabilities), normalisation inside, with
   * `extraFiles` stored beside it (torch.jit.load's _extra_files).
   * Overwrites `path`; the caller makes the write atomic. Rejects
   * (ERR_TORCHDOG_NATIVE) when LibTorch cannot write it.
   */
  exportTorchScript(path: string, normalization: NativeNormalization, extraFiles: Record<string, string>): Promise<void>;
  /**
   * Loads a TorchScript file on the CPU and runs forward(images), which must
   * return (logits, probabilities); reads the named extra files. Uses this
   * model's thread, not its weights. Rejects ERR_TORCHDOG_NATIVE for a file
   * LibTorch cannot load or run, ERR_TORCHDOG_INVALID_ARGUMENT for other outputs.
   */
  runTorchScript(path: string, images: NativeImageBatch, extraFiles: string[]): Promise<NativeTorchScriptRun>;
  /**
   * Eval-mode forward's precision: 'fp32', 'bf16' or 'int8' (CPU only;
   * `ranges` must cover every quantize point). Rejects
   * ERR_TORCHDOG_INVALID_ARGUMENT for what the engine refuses.
   */
  setPrecision(precision: string, ranges: NativeActivationRange[]): Promise<void>;
  /** The float32 network's range at each int8 quantize point on this batch. */
  observeActivations(images: NativeImageBatch, normalization: NativeNormalization): Promise<NativeActivationRange[]>;
  /** Counts of each quantize point's values in `bins` equal bins over its range in `over` (end bins take what lies outside). */
  histogramActivations(images: NativeImageBatch, normalization: NativeNormalization, over: NativeActivationRange[], bins: number): Promise<{ name: string; counts: Float64Array }[]>;
  /**
   * Joins a distributed job (c10d TCPStore + ProcessGroupGloo); resolves once
   * every rank has. From then on trainStep averages gradients over the ranks
   * before the optimizer step. Rejects ERR_TORCHDOG_NATIVE when the
   * rendezvous times out, Gloo cannot connect, or the build has no
   * distributed training (distributedAvailable()).
   */
  joinProcessGroup(options: NativeProcessGroupOptions): Promise<void>;
  /** Rank 0's parameters and buffers to every rank (rejects outside a group). */
  broadcastTensors(): Promise<void>;
  /** The element-wise sum over the ranks (rejects outside a group). */
  allReduceSum(values: Float64Array): Promise<Float64Array>;
  leaveProcessGroup(): Promise<void>;
  /**
   * Marks the handle disposed at once (later calls throw); the operation
   * running completes, the ones queued and not started reject with
   * "Model.<method>: the model was disposed before this operation ran"
   * (ERR_TORCHDOG_DISPOSED); then the engine is freed and its thread ends,
   * and this resolves. Idempotent: later calls return the same promise.
   */
  dispose(): Promise<void>;
  /** "pending" (and parameterCount, threads 0) until ready() resolves. */
  readonly device: string;
  readonly numClasses: number;
  readonly parameterCount: number;
  readonly threads: number;
  readonly training: boolean;
  readonly disposed: boolean;
}

/** Timeouts in seconds; host is the local address Gloo binds ('' = use `interface`). */
export interface NativeProcessGroupOptions {
  rank: number;
  worldSize: number;
  masterAddr: string;
  masterPort: number;
  host: string;
  interface: string;
  connectTimeout: number;
  opTimeout: number;
  setupTimeout: number;
  bucketBytes: number;
}

export interface NativeAddon {
  Model: new (options: NativeModelOptions) => NativeModel;
  cudaAvailable(): boolean;
  /**
   * Process-wide: let CUDA run float32 convolutions and matrix products in
   * TF32 (faster, ~1e-3 relative error; LibTorch allows it for convolutions
   * by default). No effect on the CPU.
   */
  setTf32(allowed: boolean): void;
  /** null when usable, else a message saying why not. */
  checkDevice(device: string): string | null;
  /** null when this build can join a process group, else why not. */
  distributedAvailable(): string | null;
  /** Engines built and not yet freed, and model threads running, in this process (for leak tests). */
  liveCounts(): { engines: number; executors: number };
}

function addonPath(): string {
  const override = process.env.TORCHDOG_ADDON;
  if (override) return override;
  const root = join(dirname(fileURLToPath(import.meta.url)), '..');
  const candidates = [join(root, 'build', 'Release', 'torchdog.node'), join(root, 'build', 'Debug', 'torchdog.node')];
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new Error(
      `the native addon is not built (looked for ${candidates[0]}); its install script did not run or failed. ` +
        'Run `npm rebuild torchdog` (in this repository: `npm run build:native`); it needs LibTorch (Debian: apt install libtorch-dev) and cmake.',
    );
  }
  return found;
}

let loaded: NativeAddon | undefined;

/**
 * The addon, loaded on first use: the parts of torchdog that never compute
 * (drift, DVC, config) import without it.
 */
export function loadNative(): NativeAddon {
  if (loaded) return loaded;
  const require = createRequire(import.meta.url);
  const path = addonPath();
  try {
    loaded = require(path) as NativeAddon;
  } catch (err) {
    // Node's message goes on with a "Require stack" list: the first line is the reason.
    const reason = String((err as Error).message).split('\n')[0];
    throw new Error(`the native addon at ${path} could not be loaded (${reason}). Run \`npm rebuild torchdog\`.`, { cause: err });
  }
  return loaded;
}
