// A protobuf reader for tests: decodes what src/export's writer produced
// without sharing its code, and an ONNX ModelProto into the fields the
// tests check (onnx.proto's field numbers, written out again here).

export interface Field {
  field: number;
  wire: number;
  /** varint: bigint; length-delimited: bytes; fixed32: the raw 4 bytes. */
  value: bigint | Uint8Array;
}

export function readVarint(bytes: Uint8Array, offset: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (offset >= bytes.length) throw new Error('protobuf: truncated varint');
    const byte = bytes[offset++]!;
    result |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [result, offset];
    shift += 7n;
    if (shift > 63n) throw new Error('protobuf: varint longer than 10 bytes');
  }
}

export function readFields(bytes: Uint8Array): Field[] {
  const fields: Field[] = [];
  let offset = 0;
  while (offset < bytes.length) {
    const [key, next] = readVarint(bytes, offset);
    offset = next;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    if (wire === 0) {
      const [v, after] = readVarint(bytes, offset);
      fields.push({ field, wire, value: v });
      offset = after;
    } else if (wire === 2) {
      const [length, after] = readVarint(bytes, offset);
      const end = after + Number(length);
      if (end > bytes.length) throw new Error(`protobuf: field ${field} runs past the end`);
      fields.push({ field, wire, value: bytes.subarray(after, end) });
      offset = end;
    } else if (wire === 5) {
      fields.push({ field, wire, value: bytes.subarray(offset, offset + 4) });
      offset += 4;
    } else {
      throw new Error(`protobuf: unexpected wire type ${wire} for field ${field}`);
    }
  }
  return fields;
}

const text = new TextDecoder('utf-8', { fatal: true });
const all = (fields: Field[], n: number) => fields.filter((f) => f.field === n).map((f) => f.value);
const one = (fields: Field[], n: number) => all(fields, n)[0];
const str = (fields: Field[], n: number) => {
  const v = one(fields, n);
  return v instanceof Uint8Array ? text.decode(v) : undefined;
};
const int = (fields: Field[], n: number) => {
  const v = one(fields, n);
  return typeof v === 'bigint' ? BigInt.asIntN(64, v) : undefined;
};
const msgs = (fields: Field[], n: number) => all(fields, n).map((v) => readFields(v as Uint8Array));

export interface DecodedValueInfo {
  name: string;
  elemType: number;
  dims: (number | string)[];
}

export interface DecodedModel {
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producerName: string;
  producerVersion: string;
  metadata: Record<string, string>;
  inputs: DecodedValueInfo[];
  outputs: DecodedValueInfo[];
  nodes: { opType: string; name: string; inputs: string[]; outputs: string[]; attributes: Record<string, { type: number; i?: number; ints?: number[] }> }[];
  initializers: { name: string; dataType: number; dims: number[]; rawBytes: number }[];
}

function valueInfo(fields: Field[]): DecodedValueInfo {
  const tensorType = msgs(msgs(fields, 2)[0]!, 1)[0]!;
  const dims = msgs(msgs(tensorType, 2)[0] ?? [], 1).map((d) => (int(d, 1) !== undefined ? Number(int(d, 1)) : str(d, 2)!));
  return { name: str(fields, 1)!, elemType: Number(int(tensorType, 1)), dims };
}

export function decodeOnnxModel(bytes: Uint8Array): DecodedModel {
  const model = readFields(bytes);
  const graph = msgs(model, 7)[0]!;
  return {
    irVersion: Number(int(model, 1)),
    opsets: msgs(model, 8).map((o) => ({ domain: str(o, 1) ?? '', version: Number(int(o, 2)) })),
    producerName: str(model, 2) ?? '',
    producerVersion: str(model, 3) ?? '',
    metadata: Object.fromEntries(msgs(model, 14).map((e) => [str(e, 1)!, str(e, 2)!])),
    inputs: msgs(graph, 11).map(valueInfo),
    outputs: msgs(graph, 12).map(valueInfo),
    nodes: msgs(graph, 1).map((n) => ({
      opType: str(n, 4)!,
      name: str(n, 3) ?? '',
      inputs: all(n, 1).map((v) => text.decode(v as Uint8Array)),
      outputs: all(n, 2).map((v) => text.decode(v as Uint8Array)),
      attributes: Object.fromEntries(
        msgs(n, 5).map((a) => [
          str(a, 1)!,
          { type: Number(int(a, 20)), ...(int(a, 3) !== undefined ? { i: Number(int(a, 3)) } : {}), ints: all(a, 8).map((v) => Number(BigInt.asIntN(64, v as bigint))) },
        ]),
      ),
    })),
    initializers: msgs(graph, 5).map((t) => ({
      name: str(t, 8)!,
      dataType: Number(int(t, 2)),
      dims: all(t, 1).map((v) => Number(v as bigint)),
      rawBytes: (one(t, 9) as Uint8Array | undefined)?.byteLength ?? 0,
    })),
  };
}
