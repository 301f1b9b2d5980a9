// train.amp: 'auto' turns bf16 autocast on where it pays: on CUDA, and on
// CPUs with bf16 instructions (AVX512-BF16, AMX), where oneDNN runs bf16
// convolutions at about twice the float32 rate. Elsewhere (AVX2 CPUs, say)
// bf16 would be emulated and slower than float32, so auto means float32.
// The CPU's flags are read where serving's precision reads them (src/model).
import { cpuFeatures, featuresOf } from '../model/index.js';

/** Whether this CPU (or one with these /proc/cpuinfo flags) has bf16 instructions oneDNN uses (avx512_bf16 or amx_bf16). */
export function cpuHasBf16(cpuFlagSet?: ReadonlySet<string>): boolean {
  return (cpuFlagSet ? featuresOf(cpuFlagSet) : cpuFeatures()).bf16;
}

/** What train.amp means on `device` (the model's resolved device: 'cpu', 'cuda:0', ...): true = bf16 autocast. */
export function resolveAmp(amp: boolean | 'auto', device: string, cpuFlagSet?: ReadonlySet<string>): boolean {
  if (amp !== 'auto') return amp;
  return device.startsWith('cuda') || cpuHasBf16(cpuFlagSet);
}
