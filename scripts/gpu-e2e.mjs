// The end-to-end part of the GPU check: the addon, built against the CUDA
// LibTorch and loaded by Node, trains and classifies on the GPU, and agrees
// with the CPU. Run by scripts/gpu-check.sh with TORCHDOG_ADDON set; needs
// only dist/native.js (no npm dependencies). Prints one JSON line.
import { native } from '../dist/native.js';

const size = 128;
const count = 16;
const norm = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const pixels = new Uint8Array(count * size * size * 3);
let state = 12345;
for (let i = 0; i < pixels.length; i++) {
  state = (state * 1103515245 + 12345) >>> 0;
  pixels[i] = state >>> 24;
}
const images = { data: pixels, count, height: size, width: size };
const labels = Int32Array.from({ length: count }, (_, i) => i % 2);

const result = { cuda_available: native.cudaAvailable() };
if (!result.cuda_available) {
  console.log(JSON.stringify({ ...result, ok: false, error: 'this addon sees no CUDA' }));
  process.exit(1);
}
const gpu = new native.Model({ arch: 'resnet18', numClasses: 2, device: 'cuda', seed: 0, threads: 0 });
await gpu.ready();
result.device = gpu.device;
await gpu.setOptimizer({ name: 'adam', lr: 1e-3, weightDecay: 0, momentum: 0, nesterov: false, beta1: 0.9, beta2: 0.999, eps: 1e-8 });
await gpu.setMixedPrecision(true);
const before = await gpu.evalStep(images, labels, norm);
for (let i = 0; i < 20; i++) await gpu.trainStep(images, labels, norm);
const after = await gpu.evalStep(images, labels, norm);
result.amp_train = { loss_before: before.loss, loss_after: after.loss, correct_after: after.correct };

await gpu.setTraining(false);
const cpu = new native.Model({ arch: 'resnet18', numClasses: 2, device: 'cpu', seed: 1, threads: 0 });
await cpu.ready();
await cpu.setTensors(await gpu.getTensors());
await cpu.setTraining(false);
const onCpu = await cpu.forward(images, norm);
const worstWith = async (tf32) => {
  native.setTf32(tf32);
  const onGpu = await gpu.forward(images, norm);
  let worst = 0;
  onCpu.probabilities.forEach((p, i) => (worst = Math.max(worst, Math.abs(p - onGpu.probabilities[i]))));
  return worst;
};
result.cpu_vs_cuda_max_abs_prob_diff = await worstWith(false);
result.cpu_vs_cuda_tf32_max_abs_prob_diff = await worstWith(true);
const tolerance = 1e-4; // float32 on both sides (TF32 off)
// 20 AMP steps on 16 noise images at least halve the loss (measured on an H200: 0.94 -> 0.46).
result.ok = after.loss < before.loss * 0.6 && result.cpu_vs_cuda_max_abs_prob_diff <= tolerance;
await Promise.all([gpu.dispose(), cpu.dispose()]);
console.log(JSON.stringify(result));
process.exit(result.ok ? 0 : 1);
