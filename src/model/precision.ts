// Which precision a classifier serves in: what the caller asked for, checked
// against the checkpoint and the hardware, with `auto` resolved and the
// reason said (the service logs it).
import { readFileSync } from 'node:fs';
import { AUTO_INT8_AGREEMENT, type Calibration } from './calibration.js';
import type { ServingPrecision } from './model.js';

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
  const have = new Set(line.trim().split(/\s+/));
  const flags = ['avx512_vnni', 'avx_vnni', 'amx_int8', 'avx512_bf16', 'amx_bf16'].filter((f) => have.has(f));
  cpu = {
    int8Dot: flags.some((f) => f.includes('vnni') || f === 'amx_int8'),
    bf16: flags.some((f) => f.endsWith('bf16')),
    flags,
  };
  return cpu;
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
 * AUTO_INT8_AGREEMENT and the CPU has int8 dot-product instructions; bf16 on
 * CUDA; else fp32. An explicit int8 without a calibration, or on CUDA, is a
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
  if (!features.int8Dot) return { precision: 'fp32', reason: 'auto: fp32, this CPU has no VNNI/AMX int8 instructions' };
  return { precision: 'int8', reason: `auto: int8, calibrated with ${percent} agreement and this CPU has ${features.flags.filter((f) => !f.endsWith('bf16')).join(', ')}` };
}
