// Closed-form ResNet18 weights and images for the parity test: the TypeScript
// twin of scripts/make-parity-fixture.py, which computed the expected outputs
// with torchvision. Change both together and bump kFormulaVersion.
//
// Only +, -, *, %, Math.floor and Math.sqrt touch float64 here; IEEE 754 rounds
// those identically in JavaScript and NumPy, so every value has the same
// float64 bits as in Python, and Float32Array's round-to-nearest cast then
// matches NumPy's astype(float32) exactly.
import type { ImageBatch, Tensor } from '../../src/index.ts';

export const kFormulaVersion = 1;
// Weyl-sequence steps: irrational fractions (1/phi, plastic number - 1, sqrt2 - 1).
const kStepIndex = 0.6180339887498949;
const kStepSquare = 0.7548776662466927;
const kStepTensor = 0.41421356237309515;
const kSquareModulus = 1009;

export const kImageCount = 4;
export const kImageSize = 128;

export interface TensorSpec {
  name: string;
  dtype: string;
  shape: readonly number[];
}

/** Python's sorted() on ASCII names: by UTF-16 code unit, not locale. */
export function sortedNames(names: Iterable<string>): string[] {
  return [...names].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function numelOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** s_i = 2*frac(i*A + ((i*i) mod P)*B + t*C) - 1, in [-1, 1), for i = 0..numel-1. */
function signedUnit(numel: number, tensorIndex: number): Float64Array {
  const out = new Float64Array(numel);
  const offset = tensorIndex * kStepTensor;
  for (let i = 0; i < numel; i++) {
    // i*i stays below 2^53 for every ResNet18 tensor, so % is exact, as int64 is in NumPy.
    const s = i * kStepIndex + ((i * i) % kSquareModulus) * kStepSquare + offset;
    out[i] = 2.0 * (s - Math.floor(s)) - 1.0;
  }
  return out;
}

/** Same affine map per element as tensor_values() in the Python script, same operation order. */
function floatValues(name: string, shape: readonly number[], tensorIndex: number): Float32Array {
  const s = signedUnit(numelOf(shape), tensorIndex);
  const kind = name.slice(name.lastIndexOf('.') + 1);
  const isFc = name.startsWith('fc.');
  const isBn = shape.length === 1 && !isFc;
  let map: (v: number) => number;
  if (kind === 'weight' && shape.length > 1) {
    const gain = isFc ? 0.25 : 6.0;
    const scale = Math.sqrt(gain / numelOf(shape.slice(1)));
    map = (v) => v * scale;
  } else if (isBn && kind === 'weight') {
    map = (v) => 1.0 + 0.2 * v;
  } else if (isBn && kind === 'bias') {
    map = (v) => 0.1 * v;
  } else if (kind === 'running_mean') {
    map = (v) => 0.2 * v;
  } else if (kind === 'running_var') {
    map = (v) => 1.5 + 0.75 * v;
  } else if (name === 'fc.bias') {
    map = (v) => 0.05 * v;
  } else {
    throw new Error(`parity-weights: no formula for tensor ${name} [${shape.join(', ')}]`);
  }
  const out = new Float32Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = map(s[i]!);
  return out;
}

/** The values of one tensor: Float32Array for F32, BigInt64Array for I64 (num_batches_tracked). */
export function tensorValues(name: string, shape: readonly number[], tensorIndex: number): Float32Array | BigInt64Array {
  if (name.endsWith('num_batches_tracked')) {
    return new BigInt64Array(numelOf(shape)).fill(BigInt(1000 + 7 * tensorIndex));
  }
  return floatValues(name, shape, tensorIndex);
}

/**
 * Every tensor of `specs` filled by the formula, in sorted-name order; a
 * tensor's index t is its position in that order, as in the Python script.
 * Bytes are the platform's order, little-endian on every machine we build for.
 */
export function parityTensors(specs: readonly TensorSpec[]): Tensor[] {
  const byName = new Map(specs.map((s) => [s.name, s]));
  return sortedNames(byName.keys()).map((name, t) => {
    const spec = byName.get(name)!;
    const expectedDtype = name.endsWith('num_batches_tracked') ? 'I64' : 'F32';
    if (spec.dtype !== expectedDtype) {
      throw new Error(`parity-weights: ${name} has dtype ${spec.dtype}, expected ${expectedDtype}`);
    }
    const values = tensorValues(name, spec.shape, t);
    return {
      name,
      dtype: spec.dtype,
      shape: [...spec.shape],
      data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    };
  });
}

/** v = (x*(3+n) + y*(5+2n) + c*(60+20n) + ((x*y*(n+1)) mod 97) + 41n) mod 256, NHWC RGB. */
export function parityImages(): ImageBatch {
  const data = new Uint8Array(kImageCount * kImageSize * kImageSize * 3);
  let k = 0;
  for (let n = 0; n < kImageCount; n++) {
    for (let y = 0; y < kImageSize; y++) {
      for (let x = 0; x < kImageSize; x++) {
        for (let c = 0; c < 3; c++) {
          const v = x * (3 + n) + y * (5 + 2 * n) + c * (60 + 20 * n) + ((x * y * (n + 1)) % 97) + 41 * n;
          data[k++] = v % 256;
        }
      }
    }
  }
  return { data, count: kImageCount, height: kImageSize, width: kImageSize };
}
