// Which precision a classifier serves in: what the caller asked for, checked
// against the checkpoint and the hardware, with `auto` resolved and the
// reason said (the service logs it).
import { readFileSync } from 'node:fs';
import { AUTO_INT8_AGREEMENT, calibrationOf, type Calibration } from './calibration.js';
import { CheckpointError, type CheckpointInfo } from './checkpoint.js';
import type { Model, ServingPrecision } from './model.js';

export type Precision = ServingPrecision | 'auto';
export const PRECISIONS: readonly Precision[] = ['fp32', 'bf16', 'int8', 'auto'];

/** A precision that cannot serve this checkpoint on this device. */
export class PrecisionError extends Error {
  readonly code = 'ERR_TORCHDOG_PRECISION';
}

/** The CPU features the reduced-precision kernels of oneDNN use, from /proc/cpuinfo's flags. */
export interface CpuFeatures {
  /** int8 dot products in one instruction (AVX512-VNNI, AVX-VNNI or AMX-INT8). */
  int8Dot: boolean;
  /** AVX2: oneDNN's int8 kernels without VNNI (still faster than fp32, measured). */
  avx2: boolean;
  /** bfloat16 arithmetic (AVX512-BF16 or AMX-BF16). */
  bf16: boolean;
  /** The flags that decided, for the log. */
  flags: string[];
}

let cpu: CpuFeatures | undefined;

/** Read once; empty on a system without /proc/cpuinfo (then auto stays fp32 on the CPU). */
export function cpuFeatures(): CpuFeatures {
  if (cpu) return cpu;
  let line = '';
  try {
    line = /^flags\s*:(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1] ?? '';
  } catch {
    // Not Linux: no flags known.
  }
  cpu = featuresOf(new Set(line.trim().split(/\s+/)));
  return cpu;
}

/** What a set of /proc/cpuinfo flags says about oneDNN's reduced-precision kernels. */
export function featuresOf(have: ReadonlySet<string>): CpuFeatures {
  const flags = ['avx2', 'avx512_vnni', 'avx_vnni', 'amx_int8', 'avx512_bf16', 'amx_bf16'].filter((f) => have.has(f));
  return {
    int8Dot: flags.some((f) => f.includes('vnni') || f === 'amx_int8'),
    avx2: flags.includes('avx2'),
    bf16: flags.some((f) => f.endsWith('bf16')),
    flags,
  };
}

export interface PrecisionChoice {
  precision: ServingPrecision;
  /** Why, in a sentence (auto's reasoning, or "asked for"). */
  reason: string;
}

/**
 * Resolves `requested` for a checkpoint (`source`, its `calibration`) on
 * `device` ("cpu", "cuda:0"...). auto: int8 when the checkpoint carries a
 * calibration whose measured agreement with fp32 is at least
 * AUTO_INT8_AGREEMENT and the CPU has oneDNN's int8 kernels (VNNI/AMX, or
 * AVX2: on a 2-core AVX2 EPYC int8 ran 1.8-2.6x fp32's images per second
 * at batch 1, 8 and 32, bench/forward-peers.ts); bf16 on CUDA; else fp32 (bf16
 * is never auto's choice on a CPU: without AVX512-BF16/AMX it is emulated,
 * measured far slower than fp32). An explicit int8 without a calibration, or on CUDA, is a
 * PrecisionError.
 */
export function choosePrecision(
  requested: Precision,
  context: { device: string; calibration: Calibration | undefined; source: string; cpu?: CpuFeatures },
): PrecisionChoice {
  const { device, calibration, source } = context;
  const onCuda = device.startsWith('cuda');
  if (requested === 'int8') {
    if (onCuda) throw new PrecisionError(`precision int8 runs on the CPU only (LibTorch's oneDNN quantized engine), not on ${device}: use --device cpu, or bf16 on the GPU`);
    if (!calibration) throw new PrecisionError(`${source} has no int8 calibration: run \`torchdog quantize --model ${source} --data DIR\` first`);
    return { precision: 'int8', reason: 'asked for' };
  }
  if (requested !== 'auto') return { precision: requested, reason: 'asked for' };
  if (onCuda) return { precision: 'bf16', reason: `auto: bf16 on ${device}` };
  const features = context.cpu ?? cpuFeatures();
  const agreement = calibration?.check?.agreement;
  if (!calibration) return { precision: 'fp32', reason: 'auto: fp32, the checkpoint has no int8 calibration' };
  if (agreement === undefined) return { precision: 'fp32', reason: 'auto: fp32, the calibration has no measured agreement with fp32' };
  const percent = `${(agreement * 100).toFixed(1)}%`;
  if (agreement < AUTO_INT8_AGREEMENT) return { precision: 'fp32', reason: `auto: fp32, int8 agreed with fp32 on only ${percent} of ${calibration.check!.images} images` };
  if (!features.int8Dot && !features.avx2) return { precision: 'fp32', reason: 'auto: fp32, this CPU has neither AVX2 nor VNNI/AMX for int8' };
  const kernels = features.int8Dot ? features.flags.filter((f) => f.includes('vnni') || f === 'amx_int8').join(', ') : 'avx2 (no VNNI)';
  return { precision: 'int8', reason: `auto: int8, calibrated with ${percent} agreement with fp32 and this CPU has ${kernels}` };
}

/**
 * Resolves `requested` for the checkpoint `info` (read from `source`) on
 * `model`'s device and sets it on `model` (weights loaded): what
 * Classifier.load and `torchdog eval` do. The calibration is only read when
 * int8 or auto may use it; a corrupt one is a CheckpointError.
 */
export async function applyPrecision(model: Model, info: CheckpointInfo, requested: Precision, source: string): Promise<PrecisionChoice> {
  const calibration = requested === 'int8' || requested === 'auto' ? calibrationOf(info.extra, source) : undefined;
  const choice = choosePrecision(requested, { device: model.device, calibration, source });
  await model.setPrecision(choice.precision, choice.precision === 'int8' ? calibration!.ranges : []).catch((error: Error) => {
    throw new CheckpointError(`${source}: ${error.message}`);
  });
  return choice;
}
