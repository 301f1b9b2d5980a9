// torchvision's ResNet18 as data: the convolutions in order, with the
// tensor names and shapes a checkpoint must hold. The ONNX graph is built
// from this table and a checkpoint is checked against it, so the two cannot
// disagree.
import type { Tensor } from '../model/index.js';

export interface ConvSpec {
  /** torchvision module names: `${conv}.weight`, `${bn}.{weight,bias,running_mean,running_var}`. */
  conv: string;
  bn: string;
  inChannels: number;
  outChannels: number;
  kernel: number;
  stride: number;
  padding: number;
}

export interface BlockSpec {
  /** "layer2.0" */
  name: string;
  conv1: ConvSpec;
  conv2: ConvSpec;
  /** The shortcut's 1x1 convolution when the shape changes. */
  downsample?: ConvSpec;
}

export const STEM: ConvSpec = { conv: 'conv1', bn: 'bn1', inChannels: 3, outChannels: 64, kernel: 7, stride: 2, padding: 3 };
export const FEATURES = 512;
/** torchvision's BatchNorm2d default. */
export const BATCH_NORM_EPS = 1e-5;

function blocks(): BlockSpec[] {
  const out: BlockSpec[] = [];
  let inChannels = 64;
  [64, 128, 256, 512].forEach((planes, i) => {
    for (let b = 0; b < 2; b++) {
      const name = `layer${i + 1}.${b}`;
      const stride = i > 0 && b === 0 ? 2 : 1;
      const conv = (c: string, bn: string, cin: number, kernel: number, s: number, padding: number): ConvSpec => ({
        conv: `${name}.${c}`, bn: `${name}.${bn}`, inChannels: cin, outChannels: planes, kernel, stride: s, padding,
      });
      out.push({
        name,
        conv1: conv('conv1', 'bn1', inChannels, 3, stride, 1),
        conv2: conv('conv2', 'bn2', planes, 3, 1, 1),
        ...(stride !== 1 || inChannels !== planes ? { downsample: conv('downsample.0', 'downsample.1', inChannels, 1, stride, 0) } : {}),
      });
      inChannels = planes;
    }
  });
  return out;
}

export const BLOCKS: readonly BlockSpec[] = blocks();

export class ExportError extends Error {
  readonly code = 'ERR_TORCHDOG_EXPORT';
}

/** Every float tensor torchvision's resnet18(num_classes) has, by name, with its shape. */
export function resnet18Shapes(numClasses: number): Map<string, number[]> {
  const shapes = new Map<string, number[]>();
  const addConv = (c: ConvSpec) => {
    shapes.set(`${c.conv}.weight`, [c.outChannels, c.inChannels, c.kernel, c.kernel]);
    for (const p of ['weight', 'bias', 'running_mean', 'running_var']) shapes.set(`${c.bn}.${p}`, [c.outChannels]);
  };
  addConv(STEM);
  for (const b of BLOCKS) [b.conv1, b.conv2, ...(b.downsample ? [b.downsample] : [])].forEach(addConv);
  shapes.set('fc.weight', [numClasses, FEATURES]);
  shapes.set('fc.bias', [numClasses]);
  return shapes;
}

/**
 * The checkpoint's float tensors by name, once each is there with
 * torchvision's shape and dtype F32 (what torchdog writes); else an
 * ExportError naming the first that is not. BatchNorm's num_batches_tracked
 * counters play no part in inference and are not required.
 */
export function checkResNet18Tensors(tensors: readonly Tensor[], numClasses: number, source: string): Map<string, Float32Array> {
  const byName = new Map(tensors.map((t) => [t.name, t]));
  const out = new Map<string, Float32Array>();
  for (const [name, shape] of resnet18Shapes(numClasses)) {
    const t = byName.get(name);
    if (!t) throw new ExportError(`${source}: not a torchvision ResNet18 checkpoint: tensor '${name}' is missing`);
    if (t.dtype !== 'F32') throw new ExportError(`${source}: tensor '${name}' is ${t.dtype}, expected F32`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new ExportError(`${source}: tensor '${name}' has shape ${JSON.stringify(t.shape)}, expected ${JSON.stringify(shape)} for ResNet18`);
    }
    // A copy of exactly the tensor's bytes (Buffer#slice would share the
    // whole file's memory), aligned for Float32Array.
    out.set(name, new Float32Array(new Uint8Array(t.data).buffer));
  }
  return out;
}
