// A torchdog checkpoint as an ONNX model, written by this project: the
// graph of ResNet18 is fixed, so it is built here from the architecture
// table (resnet18.ts) and encoded with a small protobuf writer rather than
// through a protobuf library and onnx.proto (a dependency, and generated
// code, for a few hundred lines of encoding).
//
// The graph takes what a camera or sharp gives, uint8 RGB pixels NHWC
// [N, image_size, image_size, 3] with N free, and does the rest inside:
// Cast to float, x * 1/(255*std) - mean/std (the engine's own two
// operations, in float32), Transpose to NCHW, ResNet18, then Softmax.
// BatchNorm is folded into each convolution (in float64, rounded once to
// float32): the graph is for inference, and the runtime would fuse it
// anyway. The normalisation is not folded into the first convolution: its
// zero padding applies to normalised pixels, which a fold would change at
// the borders.
import type { Checkpoint } from '../model/index.js';
import { encodeModel, DataType, type AttributeValue, type ModelProto, type NodeProto, type TensorProto } from './onnx-proto.js';
import type { ProtoWriter } from './protobuf.js';
import { BATCH_NORM_EPS, BLOCKS, FEATURES, STEM, checkResNet18Tensors, type ConvSpec } from './resnet18.js';

/**
 * The opsets this exporter writes: every operator it uses means the same in
 * all of them (later versions of Cast, Conv, Transpose... only add types).
 */
export const ONNX_OPSETS = { min: 11, max: 23, default: 13 } as const;

export interface OnnxOptions {
  /** Default ONNX_OPSETS.default (13). */
  opset?: number;
  /** metadata_props, after the checkpoint's own (classes, image_size, mean, std, ...). */
  metadata?: Readonly<Record<string, string>>;
  /** ModelProto.producer_version. */
  producerVersion?: string;
  /** Names the checkpoint in errors. */
  source?: string;
}

export const INPUT_NAME = 'image';
export const OUTPUT_NAMES = ['logits', 'probabilities'] as const;

/**
 * The IR version of the ONNX release that introduced `opset`: the oldest
 * runtime that knows the opset can read the file.
 */
export function irVersionFor(opset: number): number {
  if (opset <= 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  if (opset <= 22) return 10;
  return 11;
}

class GraphBuilder {
  readonly nodes: NodeProto[] = [];
  readonly initializers: TensorProto[] = [];

  /** Adds a node named `name` whose (only) output is also `name`; returns it. */
  op(opType: string, name: string, inputs: string[], attributes?: Record<string, AttributeValue>): string {
    this.nodes.push({ opType, name, inputs, outputs: [name], ...(attributes ? { attributes } : {}) });
    return name;
  }

  floats(name: string, dims: number[], values: Float32Array): string {
    this.initializers.push({ name, dataType: DataType.FLOAT, dims, rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) });
    return name;
  }
}

/** W·γ/√(σ²+ε) and β − μ·γ/√(σ²+ε), per output channel, in float64. */
function foldBatchNorm(weights: Map<string, Float32Array>, spec: ConvSpec): { weight: Float32Array; bias: Float32Array } {
  const w = weights.get(`${spec.conv}.weight`)!;
  const [gamma, beta, mean, variance] = ['weight', 'bias', 'running_mean', 'running_var'].map((p) => weights.get(`${spec.bn}.${p}`)!) as [
    Float32Array, Float32Array, Float32Array, Float32Array,
  ];
  const perChannel = w.length / spec.outChannels;
  const weight = new Float32Array(w.length);
  const bias = new Float32Array(spec.outChannels);
  for (let o = 0; o < spec.outChannels; o++) {
    const scale = gamma[o]! / Math.sqrt(variance[o]! + BATCH_NORM_EPS);
    for (let i = o * perChannel; i < (o + 1) * perChannel; i++) weight[i] = w[i]! * scale;
    bias[o] = beta[o]! - mean[o]! * scale;
  }
  return { weight, bias };
}

function convolution(g: GraphBuilder, weights: Map<string, Float32Array>, spec: ConvSpec, input: string): string {
  const { weight, bias } = foldBatchNorm(weights, spec);
  const k = spec.kernel;
  const w = g.floats(`${spec.conv}.weight`, [spec.outChannels, spec.inChannels, k, k], weight);
  const b = g.floats(`${spec.conv}.bias`, [spec.outChannels], bias);
  const p = spec.padding;
  return g.op('Conv', spec.conv, [input, w, b], {
    kernel_shape: { ints: [k, k] },
    strides: { ints: [spec.stride, spec.stride] },
    pads: { ints: [p, p, p, p] },
    dilations: { ints: [1, 1] },
    group: { i: 1 },
  });
}

/**
 * The engine's normalisation constants (Engine::Impl::ToInput): 1/(std*255)
 * and mean/std, each operation rounded to float32 as LibTorch computes them.
 * Every step is one IEEE operation on float32 values done in float64, so
 * Math.fround gives float32's own correctly rounded result.
 */
function pixelConstants(mean: readonly number[], std: readonly number[]): { scale: Float32Array; shift: Float32Array } {
  const f = Math.fround;
  return {
    scale: Float32Array.from(std, (s) => f(1 / f(f(s) * 255))),
    shift: Float32Array.from(mean, (m, c) => f(f(m) / f(std[c]!))),
  };
}

function resnet18Graph(g: GraphBuilder, weights: Map<string, Float32Array>, mean: readonly number[], std: readonly number[]): void {
  const { scale, shift } = pixelConstants(mean, std);
  let x = g.op('Cast', 'pixels', [INPUT_NAME], { to: { i: DataType.FLOAT } });
  x = g.op('Mul', 'scaled', [x, g.floats('pixel_scale', [3], scale)]);
  x = g.op('Sub', 'normalized', [x, g.floats('pixel_shift', [3], shift)]);
  x = g.op('Transpose', 'nchw', [x], { perm: { ints: [0, 3, 1, 2] } });
  x = g.op('Relu', 'relu', [convolution(g, weights, STEM, x)]);
  x = g.op('MaxPool', 'maxpool', [x], { kernel_shape: { ints: [3, 3] }, strides: { ints: [2, 2] }, pads: { ints: [1, 1, 1, 1] } });
  for (const block of BLOCKS) {
    const y = g.op('Relu', `${block.name}.relu1`, [convolution(g, weights, block.conv1, x)]);
    const residual = convolution(g, weights, block.conv2, y);
    const shortcut = block.downsample ? convolution(g, weights, block.downsample, x) : x;
    x = g.op('Relu', block.name, [g.op('Add', `${block.name}.add`, [residual, shortcut])]);
  }
  x = g.op('GlobalAveragePool', 'avgpool', [x]);
  x = g.op('Flatten', 'flatten', [x], { axis: { i: 1 } });
  const classes = weights.get('fc.bias')!.length;
  const fcWeight = g.floats('fc.weight', [classes, FEATURES], weights.get('fc.weight')!);
  const fcBias = g.floats('fc.bias', [classes], weights.get('fc.bias')!);
  const logits = g.op('Gemm', OUTPUT_NAMES[0], [x, fcWeight, fcBias], { transB: { i: 1 } });
  g.op('Softmax', OUTPUT_NAMES[1], [logits], { axis: { i: 1 } });
}

/**
 * The ONNX model of a checkpoint, encoded (chunks that reference the weight
 * buffers; write them with writeFileAtomic or concatenate with toBytes()).
 * Throws ExportError when the checkpoint is not torchvision's ResNet18.
 */
export function onnxModel(checkpoint: Checkpoint, options: OnnxOptions = {}): ProtoWriter {
  const { info } = checkpoint;
  const opset = options.opset ?? ONNX_OPSETS.default;
  const weights = checkResNet18Tensors(checkpoint.tensors, info.classes.length, options.source ?? 'checkpoint');
  const g = new GraphBuilder();
  resnet18Graph(g, weights, info.mean, info.std);
  const size = info.imageSize;
  const k = info.classes.length;
  const model: ModelProto = {
    irVersion: irVersionFor(opset),
    opsetVersion: opset,
    producerName: 'torchdog',
    producerVersion: options.producerVersion ?? '',
    doc: `ResNet18 image classifier (${k} classes: ${info.classes.join(', ')}) exported by torchdog`,
    graph: {
      name: 'torchdog_resnet18',
      nodes: g.nodes,
      initializers: g.initializers,
      inputs: [{ name: INPUT_NAME, elemType: DataType.UINT8, shape: ['N', size, size, 3], doc: `RGB pixels, NHWC, resized to ${size}x${size}; normalisation is inside the graph` }],
      outputs: [
        { name: OUTPUT_NAMES[0], elemType: DataType.FLOAT, shape: ['N', k], doc: 'class scores before softmax; class i is classes[i]' },
        { name: OUTPUT_NAMES[1], elemType: DataType.FLOAT, shape: ['N', k], doc: 'softmax of logits' },
      ],
    },
    metadata: options.metadata ?? {},
  };
  return encodeModel(model);
}
