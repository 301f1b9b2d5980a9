// train.amp: 'auto' turns bf16 autocast on where it pays: on CUDA, and on
// CPUs with bf16 instructions (AVX512-BF16, AMX), where oneDNN runs bf16
// convolutions at about twice the float32 rate. Elsewhere (AVX2 CPUs, say)
// bf16 would be emulated and slower than float32, so auto means float32.
import { readFileSync } from 'node:fs';

let cpuFlags: ReadonlySet<string> | undefined;

/** The CPU's feature flags (Linux /proc/cpuinfo); empty where that file is absent. */
function flags(): ReadonlySet<string> {
  if (!cpuFlags) {
    let text = '';
    try {
      text = readFileSync('/proc/cpuinfo', 'utf8');
    } catch {
      // Not Linux: no flags known, so auto stays float32.
    }
    cpuFlags = new Set(/^flags\s*:\s*(.*)$/m.exec(text)?.[1]?.split(/\s+/) ?? []);
  }
  return cpuFlags;
}

/** Whether this CPU has bf16 instructions oneDNN uses (avx512_bf16 or amx_bf16). */
export function cpuHasBf16(cpuFlagSet: ReadonlySet<string> = flags()): boolean {
  return cpuFlagSet.has('avx512_bf16') || cpuFlagSet.has('amx_bf16');
}

/** What train.amp means on `device` (the model's resolved device: 'cpu', 'cuda:0', ...): true = bf16 autocast. */
export function resolveAmp(amp: boolean | 'auto', device: string, cpuFlagSet?: ReadonlySet<string>): boolean {
  if (amp !== 'auto') return amp;
  return device.startsWith('cuda') || cpuHasBf16(cpuFlagSet);
}
