// The Open Inference Protocol's tensors for this model: one input, `image`
// (UINT8 [N, H, W, 3]: N RGB images of the model's size, row-major NHWC),
// and two outputs, `probabilities` and `logits` (FP32 [N, classes]). Every
// refusal names the field and what was expected.
import type { ScoredPrediction } from '../model/index.js';
import { ServeError } from './errors.js';
import type { ModelDescription } from './in-service.js';

export const INPUT_NAME = 'image';
export const OUTPUT_NAMES = ['probabilities', 'logits'] as const;
export type OutputName = (typeof OUTPUT_NAMES)[number];

/** The platform the protocol's model metadata names: the framework that runs the model. */
export const PLATFORM = 'pytorch_libtorch';

export interface InferRequest {
  /** The request's `id`, if it gave one. */
  id?: string;
  /** Each image's pixels, imageSize²×3 bytes (views of one buffer). */
  images: Uint8Array[];
  /** The outputs to answer, in the order asked. */
  outputs: OutputName[];
}

export interface TensorLimits {
  /** The model's input size: images are imageSize×imageSize. */
  imageSize: number;
  /** Most elements a request may claim: what the body limit can hold. */
  maxElements: number;
}

function bad(message: string): ServeError {
  return new ServeError(400, 'ERR_BAD_TENSOR', message);
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Checks an inference request against the model's one input and two outputs; 400 with the reason otherwise. */
export function parseInferRequest(body: unknown, limits: TensorLimits): InferRequest {
  if (!isObject(body)) throw bad(`the inference request must be a JSON object with 'inputs', not ${describe(body)}`);
  const { id, inputs, outputs, parameters } = body;
  if (id !== undefined && typeof id !== 'string') throw bad(`'id' must be a string, not ${describe(id)}`);
  if (parameters !== undefined && !isObject(parameters)) throw bad(`'parameters' must be an object, not ${describe(parameters)}`);
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw bad(`'inputs' must be a list with one tensor, '${INPUT_NAME}' (${inputShape(limits.imageSize)}), not ${describe(inputs)}`);
  }
  if (inputs.length > 1) throw bad(`'inputs' has ${inputs.length} tensors; this model takes one, '${INPUT_NAME}'`);
  return { ...(id !== undefined ? { id } : {}), images: parseImages(inputs[0], limits), outputs: parseOutputs(outputs) };
}

function parseImages(input: unknown, limits: TensorLimits): Uint8Array[] {
  const { imageSize: size, maxElements } = limits;
  if (!isObject(input)) throw bad(`inputs[0] must be an object {name, shape, datatype, data}, not ${describe(input)}`);
  const { name, shape, datatype, data, parameters } = input;
  if (name !== INPUT_NAME) throw bad(`inputs[0] is named ${describe(name)}; this model's input is '${INPUT_NAME}'`);
  if (isObject(parameters) && 'binary_data_size' in parameters) {
    throw new ServeError(400, 'ERR_UNSUPPORTED_EXTENSION', "binary tensor data is not supported: send 'data' as a JSON array");
  }
  if (datatype !== 'UINT8') throw bad(`input '${INPUT_NAME}' has datatype ${describe(datatype)}; it takes UINT8 (RGB values 0-255), shape ${inputShape(size)}`);
  if (!Array.isArray(shape) || shape.length !== 4 || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw bad(`input '${INPUT_NAME}' has shape ${describe(shape)}; it takes ${inputShape(size)} (N images, height, width, RGB)`);
  }
  const [count, height, width, channels] = shape as [number, number, number, number];
  if (height !== size || width !== size || channels !== 3) {
    throw bad(`input '${INPUT_NAME}' has shape ${JSON.stringify(shape)}; this model takes ${inputShape(size)} (${size}x${size} RGB images)`);
  }
  if (count === 0) throw bad(`input '${INPUT_NAME}' has no images (shape[0] is 0)`);
  const each = size * size * 3;
  if (count > Math.floor(maxElements / each)) {
    throw bad(`input '${INPUT_NAME}' claims ${count} images (${count * each} elements); a request within the body limit holds at most ${maxElements} elements`);
  }
  const pixels = toUint8(data, shape as number[], count * each);
  return Array.from({ length: count }, (_, i) => pixels.subarray(i * each, (i + 1) * each));
}

/** The tensor's elements, row-major: `data` flat, or nested as the shape says. */
function toUint8(data: unknown, shape: number[], total: number): Uint8Array {
  if (!Array.isArray(data)) throw bad(`input '${INPUT_NAME}' needs 'data', a list of ${total} integers 0-255, not ${describe(data)}`);
  const out = new Uint8Array(total);
  const put = (value: unknown, k: number) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 255) {
      throw bad(`input '${INPUT_NAME}' element ${k} is ${describe(value)}; UINT8 elements are integers 0-255`);
    }
    out[k] = value;
  };
  if (!Array.isArray(data[0])) {
    if (data.length !== total) throw bad(`input '${INPUT_NAME}' has ${data.length} elements in 'data'; shape ${JSON.stringify(shape)} has ${total}`);
    for (let k = 0; k < total; k++) put(data[k], k);
    return out;
  }
  let k = 0;
  const walk = (node: unknown, depth: number, at: string): void => {
    if (depth === shape.length) return put(node, k++);
    if (!Array.isArray(node) || node.length !== shape[depth]) {
      throw bad(`input '${INPUT_NAME}' data${at} has ${Array.isArray(node) ? `${node.length} entries` : describe(node)} where shape ${JSON.stringify(shape)} says ${shape[depth]}`);
    }
    for (let i = 0; i < node.length; i++) walk(node[i], depth + 1, `${at}[${i}]`);
  };
  walk(data, 0, '');
  return out;
}

function parseOutputs(outputs: unknown): OutputName[] {
  if (outputs === undefined) return [...OUTPUT_NAMES];
  const names = `'${OUTPUT_NAMES.join("' and '")}'`;
  if (!Array.isArray(outputs)) throw bad(`'outputs' must be a list of {name}, not ${describe(outputs)}`);
  const chosen: OutputName[] = [];
  outputs.forEach((output, i) => {
    const name = isObject(output) ? output.name : undefined;
    if (!OUTPUT_NAMES.includes(name as OutputName)) throw bad(`outputs[${i}] names ${describe(name)}; this model's outputs are ${names}`);
    if (chosen.includes(name as OutputName)) throw bad(`outputs[${i}] asks for '${name}' again`);
    const parameters = (output as Record<string, unknown>).parameters;
    if (isObject(parameters) && parameters.classification !== undefined) {
      throw new ServeError(400, 'ERR_UNSUPPORTED_EXTENSION', `outputs[${i}]: the classification extension is not supported; the classes are in the output's parameters`);
    }
    chosen.push(name as OutputName);
  });
  return chosen;
}

/** The inference response: the outputs asked for, rows in the order of the images, classes in each output's parameters. */
export function inferResponse(model: ModelDescription, id: string, outputs: readonly OutputName[], scored: readonly ScoredPrediction[]) {
  const k = model.classes.length;
  const classes = JSON.stringify(model.classes);
  return {
    model_name: model.name,
    model_version: model.version,
    id,
    outputs: outputs.map((name) => {
      const data = new Array<number>(scored.length * k);
      scored.forEach((s, i) => {
        const row = s[name];
        for (let c = 0; c < k; c++) data[i * k + c] = row[c]!;
      });
      return { name, datatype: 'FP32', shape: [scored.length, k], parameters: { classes }, data };
    }),
  };
}

/**
 * The model metadata: its one version, input and outputs. The classes are a
 * JSON string in `parameters` (the protocol's parameter values are strings,
 * numbers or booleans, and strict clients check).
 */
export function modelMetadata(model: ModelDescription) {
  const classes = JSON.stringify(model.classes);
  const size = model.image_size;
  return {
    name: model.name,
    versions: [model.version],
    platform: PLATFORM,
    inputs: [{ name: INPUT_NAME, datatype: 'UINT8', shape: [-1, size, size, 3] }],
    outputs: OUTPUT_NAMES.map((name) => ({ name, datatype: 'FP32', shape: [-1, model.classes.length], parameters: { classes } })),
    parameters: {
      classes,
      ...(model.run ? { run: model.run } : {}),
      ...(model.sha256 ? { sha256: model.sha256 } : {}),
    },
  };
}

function inputShape(size: number): string {
  return `UINT8 [-1, ${size}, ${size}, 3]`;
}

function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (Array.isArray(value) && value.length > 8) return `a list of ${value.length} entries`;
  const text = JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}
