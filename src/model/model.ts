// Creating native models from TypeScript: defaults filled and options
// checked here, so the addon receives a complete, valid description.
import { native, type NativeModel, type NativeOptimizerOptions } from '../native.js';
import { expectInteger, expectKnownKeys, expectNumber, expectOneOf, expectString, invalid, withoutUndefined } from '../util/validate.js';

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

const MODEL_DEFAULTS = { arch: 'resnet18', device: 'auto', seed: 0, threads: 0 } as const;

export async function createModel(options: ModelOptions): Promise<NativeModel> {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  expectKnownKeys(options, 'options', ['numClasses', 'arch', 'device', 'seed', 'threads']);
  const o = { ...MODEL_DEFAULTS, ...withoutUndefined(options) };
  const device = expectString(o.device, 'options.device');
  const problem = native.checkDevice(device);
  if (problem) throw new Error(problem);
  const model = new native.Model({
    arch: expectOneOf(o.arch, 'options.arch', ['resnet18']),
    numClasses: expectInteger(o.numClasses, 'options.numClasses', 1, 1 << 20),
    device,
    seed: expectInteger(o.seed, 'options.seed', 0, Number.MAX_SAFE_INTEGER),
    threads: expectInteger(o.threads, 'options.threads', 0, 1024),
  });
  await model.ready();
  return model;
}

export interface OptimizerOptions {
  name?: 'adam' | 'adamw' | 'sgd';
  lr?: number;
  weightDecay?: number;
  /** SGD only. */
  momentum?: number;
  nesterov?: boolean;
  betas?: [number, number];
  eps?: number;
}

const OPTIMIZER_DEFAULTS = { name: 'adam', lr: 1e-3, weightDecay: 0, momentum: 0.9, nesterov: false, betas: [0.9, 0.999], eps: 1e-8 } as const;

/** Fills optimizer defaults and checks every field. */
export function resolveOptimizer(options: OptimizerOptions = {}): NativeOptimizerOptions {
  expectKnownKeys(options, 'optimizer', Object.keys(OPTIMIZER_DEFAULTS));
  const o = { ...OPTIMIZER_DEFAULTS, ...withoutUndefined(options) };
  const name = expectOneOf(o.name, 'optimizer.name', ['adam', 'adamw', 'sgd']);
  if (!Array.isArray(o.betas) || o.betas.length !== 2) throw invalid('optimizer.betas', 'an array of 2 numbers in [0, 1)', o.betas);
  return {
    name,
    lr: expectNumber(o.lr, 'optimizer.lr', 0, 1000),
    weightDecay: expectNumber(o.weightDecay, 'optimizer.weightDecay', 0, 1000),
    momentum: name === 'sgd' ? expectNumber(o.momentum, 'optimizer.momentum', 0, 1) : 0,
    nesterov: name === 'sgd' ? Boolean(o.nesterov) : false,
    beta1: expectNumber(o.betas[0], 'optimizer.betas[0]', 0, 0.999999),
    beta2: expectNumber(o.betas[1], 'optimizer.betas[1]', 0, 0.999999999),
    eps: expectNumber(o.eps, 'optimizer.eps', 0, 1),
  };
}
