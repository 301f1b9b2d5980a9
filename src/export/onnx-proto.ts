// ONNX's messages (onnx/onnx.proto, proto2) as plain objects, and their
// encoding with the protobuf writer. Only the fields an inference graph of
// standard operators needs; the field numbers are onnx.proto's.
import { ProtoWriter } from './protobuf.js';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, UINT8: 2, INT64: 7 } as const;
export type DataType = (typeof DataType)[keyof typeof DataType];

/** AttributeProto.AttributeType values. */
const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export type AttributeValue = { f: number } | { i: number } | { s: string } | { floats: readonly number[] } | { ints: readonly number[] };

export interface NodeProto {
  opType: string;
  name: string;
  inputs: readonly string[];
  outputs: readonly string[];
  attributes?: Readonly<Record<string, AttributeValue>>;
}

/** An initializer: little-endian raw bytes of `dims` elements of `dataType`. */
export interface TensorProto {
  name: string;
  dataType: DataType;
  dims: readonly number[];
  rawData: Uint8Array;
}

export interface ValueInfoProto {
  name: string;
  elemType: DataType;
  /** A number is a fixed size; a string names a dimension fixed only at run time (dim_param). */
  shape: readonly (number | string)[];
  doc?: string;
}

export interface GraphProto {
  name: string;
  nodes: readonly NodeProto[];
  initializers: readonly TensorProto[];
  inputs: readonly ValueInfoProto[];
  outputs: readonly ValueInfoProto[];
  doc?: string;
}

export interface ModelProto {
  irVersion: number;
  /** The default ("ai.onnx") domain's opset. */
  opsetVersion: number;
  producerName: string;
  producerVersion: string;
  modelVersion?: number;
  doc?: string;
  graph: GraphProto;
  /** metadata_props, in order. */
  metadata: Readonly<Record<string, string>>;
}

const F = {
  model: { irVersion: 1, producerName: 2, producerVersion: 3, modelVersion: 5, doc: 6, graph: 7, opsetImport: 8, metadataProps: 14 },
  opset: { domain: 1, version: 2 },
  entry: { key: 1, value: 2 },
  graph: { node: 1, name: 2, initializer: 5, doc: 10, input: 11, output: 12 },
  node: { input: 1, output: 2, name: 3, opType: 4, attribute: 5 },
  attribute: { name: 1, f: 2, i: 3, s: 4, floats: 7, ints: 8, type: 20 },
  tensor: { dims: 1, dataType: 2, name: 8, rawData: 9 },
  valueInfo: { name: 1, type: 2, doc: 3 },
  type: { tensorType: 1 },
  tensorType: { elemType: 1, shape: 2 },
  shape: { dim: 1 },
  dim: { value: 1, param: 2 },
} as const;

function encodeAttribute(name: string, value: AttributeValue): ProtoWriter {
  const w = new ProtoWriter().string(F.attribute.name, name);
  if ('f' in value) w.float(F.attribute.f, value.f).int(F.attribute.type, AttributeType.FLOAT);
  else if ('i' in value) w.int(F.attribute.i, value.i).int(F.attribute.type, AttributeType.INT);
  else if ('s' in value) w.string(F.attribute.s, value.s).int(F.attribute.type, AttributeType.STRING);
  else if ('floats' in value) {
    for (const f of value.floats) w.float(F.attribute.floats, f);
    w.int(F.attribute.type, AttributeType.FLOATS);
  } else w.ints(F.attribute.ints, value.ints).int(F.attribute.type, AttributeType.INTS);
  return w;
}

function encodeNode(node: NodeProto): ProtoWriter {
  const w = new ProtoWriter().strings(F.node.input, node.inputs).strings(F.node.output, node.outputs);
  w.string(F.node.name, node.name).string(F.node.opType, node.opType);
  for (const [name, value] of Object.entries(node.attributes ?? {})) w.message(F.node.attribute, encodeAttribute(name, value));
  return w;
}

function encodeTensor(tensor: TensorProto): ProtoWriter {
  return new ProtoWriter()
    .ints(F.tensor.dims, tensor.dims)
    .int(F.tensor.dataType, tensor.dataType)
    .string(F.tensor.name, tensor.name)
    .bytes(F.tensor.rawData, tensor.rawData);
}

function encodeValueInfo(info: ValueInfoProto): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of info.shape) {
    const dim = typeof d === 'number' ? new ProtoWriter().int(F.dim.value, d) : new ProtoWriter().string(F.dim.param, d);
    shape.message(F.shape.dim, dim);
  }
  const tensorType = new ProtoWriter().int(F.tensorType.elemType, info.elemType).message(F.tensorType.shape, shape);
  const w = new ProtoWriter().string(F.valueInfo.name, info.name).message(F.valueInfo.type, new ProtoWriter().message(F.type.tensorType, tensorType));
  if (info.doc) w.string(F.valueInfo.doc, info.doc);
  return w;
}

function encodeGraph(graph: GraphProto): ProtoWriter {
  const w = new ProtoWriter();
  for (const node of graph.nodes) w.message(F.graph.node, encodeNode(node));
  w.string(F.graph.name, graph.name);
  for (const tensor of graph.initializers) w.message(F.graph.initializer, encodeTensor(tensor));
  if (graph.doc) w.string(F.graph.doc, graph.doc);
  for (const input of graph.inputs) w.message(F.graph.input, encodeValueInfo(input));
  for (const output of graph.outputs) w.message(F.graph.output, encodeValueInfo(output));
  return w;
}

/** A ModelProto, encoded (fields in field-number order, as protobuf's own serialisers write them). */
export function encodeModel(model: ModelProto): ProtoWriter {
  const w = new ProtoWriter()
    .int(F.model.irVersion, model.irVersion)
    .string(F.model.producerName, model.producerName)
    .string(F.model.producerVersion, model.producerVersion);
  if (model.modelVersion !== undefined) w.int(F.model.modelVersion, model.modelVersion);
  if (model.doc) w.string(F.model.doc, model.doc);
  w.message(F.model.graph, encodeGraph(model.graph));
  w.message(F.model.opsetImport, new ProtoWriter().string(F.opset.domain, '').int(F.opset.version, model.opsetVersion));
  for (const [key, value] of Object.entries(model.metadata)) {
    w.message(F.model.metadataProps, new ProtoWriter().string(F.entry.key, key).string(F.entry.value, value));
  }
  return w;
}
