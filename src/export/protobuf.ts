// Protocol Buffers' wire format, the writing half and only what ONNX's
// messages need: varints (int32, int64, enums), 32-bit floats and
// length-delimited fields (strings, bytes, nested messages). See
// https://protobuf.dev/programming-guides/encoding/.
//
// A message is kept as a list of chunks, so weight tensors (tens of MB) are
// referenced, not copied, until the file is written; small fields gather in
// one growing buffer between them.

const SMALL_FIELD = 256;

const WireType = { Varint: 0, LengthDelimited: 2, Fixed32: 5 } as const;
type WireType = (typeof WireType)[keyof typeof WireType];

const utf8 = new TextEncoder();

export class ProtoWriter {
  readonly #chunks: Uint8Array[] = [];
  #closedLength = 0;
  #pending = new Uint8Array(64);
  #pendingLength = 0;

  /** Bytes written so far. */
  get byteLength(): number {
    return this.#closedLength + this.#pendingLength;
  }

  /** A varint field (int32, int64, uint64, bool, enum). Negative values take ten bytes, as int64's two's complement. */
  int(field: number, value: number | bigint): this {
    this.#tag(field, WireType.Varint);
    this.#varint(value);
    return this;
  }

  /** A repeated varint field, one tag per value (proto2's unpacked form, which every parser reads). */
  ints(field: number, values: Iterable<number | bigint>): this {
    for (const v of values) this.int(field, v);
    return this;
  }

  float(field: number, value: number): this {
    this.#tag(field, WireType.Fixed32);
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setFloat32(0, value, true);
    this.#append(bytes);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, utf8.encode(value));
  }

  strings(field: number, values: Iterable<string>): this {
    for (const v of values) this.string(field, v);
    return this;
  }

  /** A length-delimited field; large `value`s are referenced, not copied: do not change them before the writer is done. */
  bytes(field: number, value: Uint8Array): this {
    this.#tag(field, WireType.LengthDelimited);
    this.#varint(value.byteLength);
    if (value.byteLength <= SMALL_FIELD) this.#append(value);
    else this.#push(value);
    return this;
  }

  /** A nested message. */
  message(field: number, value: ProtoWriter): this {
    this.#tag(field, WireType.LengthDelimited);
    this.#varint(value.byteLength);
    for (const chunk of value.chunks()) {
      if (chunk.byteLength <= SMALL_FIELD) this.#append(chunk);
      else this.#push(chunk);
    }
    return this;
  }

  /** The encoded message as chunks, in order (ready for writeFileAtomic). */
  chunks(): Uint8Array[] {
    return this.#pendingLength > 0 ? [...this.#chunks, this.#pending.subarray(0, this.#pendingLength)] : [...this.#chunks];
  }

  /** The encoded message in one buffer. */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.byteLength);
    let offset = 0;
    for (const chunk of this.chunks()) {
      out.set(chunk, offset);
      offset += chunk.byteLength;
    }
    return out;
  }

  #tag(field: number, wire: WireType): void {
    if (!Number.isInteger(field) || field < 1 || field > 536_870_911) throw new RangeError(`protobuf: field number ${field} is out of range`);
    this.#varint(field * 8 + wire);
  }

  #varint(value: number | bigint): void {
    let v = typeof value === 'bigint' ? value : BigInt(value);
    if (typeof value === 'number' && !Number.isSafeInteger(value)) throw new RangeError(`protobuf: ${value} is not a safe integer`);
    if (v < 0n) v = BigInt.asUintN(64, v);
    if (v >= 1n << 64n) throw new RangeError(`protobuf: ${value} does not fit in 64 bits`);
    const bytes: number[] = [];
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      bytes.push(byte);
    } while (v > 0n);
    this.#append(bytes);
  }

  #append(bytes: ArrayLike<number>): void {
    if (this.#pendingLength + bytes.length > this.#pending.byteLength) {
      const grown = new Uint8Array(Math.max(this.#pending.byteLength * 2, this.#pendingLength + bytes.length));
      grown.set(this.#pending.subarray(0, this.#pendingLength));
      this.#pending = grown;
    }
    this.#pending.set(bytes, this.#pendingLength);
    this.#pendingLength += bytes.length;
  }

  #push(chunk: Uint8Array): void {
    if (this.#pendingLength > 0) {
      this.#chunks.push(this.#pending.slice(0, this.#pendingLength));
      this.#closedLength += this.#pendingLength;
      this.#pendingLength = 0;
    }
    this.#chunks.push(chunk);
    this.#closedLength += chunk.byteLength;
  }
}
