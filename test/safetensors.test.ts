import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { parseSafetensors, readSafetensors, serializeSafetensors, writeSafetensors, SafetensorsError, type Tensor } from '../src/index.ts';
import { tempDir } from './helpers/checkpoint.ts';

const tensors: Tensor[] = [
  { name: 'b', dtype: 'F32', shape: [2, 3], data: new Uint8Array(new Float32Array([1, 2, 3, 4, 5, 6]).buffer) },
  { name: 'a', dtype: 'I64', shape: [], data: new Uint8Array(new BigInt64Array([42n]).buffer) },
  { name: 'empty', dtype: 'F32', shape: [0, 4], data: new Uint8Array(0) },
];

function bytesOf(chunks: Uint8Array[]): Buffer {
  return Buffer.concat(chunks);
}

function withHeader(header: unknown, data = Buffer.alloc(0)): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const prefix = Buffer.alloc(8);
  prefix.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([prefix, json, data]);
}

test('round trip keeps names, dtypes, shapes, bytes and metadata', () => {
  const bytes = bytesOf(serializeSafetensors(tensors, { format: 'x', note: 'ünïcode' }));
  const { tensors: back, metadata } = parseSafetensors(bytes);
  assert.deepEqual(metadata, { format: 'x', note: 'ünïcode' });
  assert.deepEqual([...back.keys()].sort(), ['a', 'b', 'empty']);
  for (const t of tensors) {
    const r = back.get(t.name)!;
    assert.equal(r.dtype, t.dtype);
    assert.deepEqual(r.shape, t.shape);
    assert.deepEqual(Buffer.from(r.data), Buffer.from(t.data));
  }
  const headerLength = Number(bytes.readBigUInt64LE(0));
  assert.equal((8 + headerLength) % 8, 0, 'data section is 8-byte aligned');
});

test('malformed files are rejected with a message naming the problem', () => {
  const good = bytesOf(serializeSafetensors(tensors));
  const cases: Array<[string, Uint8Array, RegExp]> = [
    ['too short', good.subarray(0, 5), /too short/],
    ['header longer than file', good.subarray(0, 20), /exceeds/],
    ['truncated data', good.subarray(0, good.length - 4), /truncated/],
    ['not JSON', withHeader('xxxx').fill(0x7b, 8), /not UTF-8 JSON/],
    ['JSON array', withHeader([1, 2]), /not a JSON object/],
    ['unknown dtype', withHeader({ x: { dtype: 'Q7', shape: [1], data_offsets: [0, 1] } }, Buffer.alloc(1)), /unknown dtype "Q7"/],
    ['negative shape', withHeader({ x: { dtype: 'U8', shape: [-1], data_offsets: [0, 1] } }, Buffer.alloc(1)), /invalid shape/],
    ['size mismatch', withHeader({ x: { dtype: 'F32', shape: [2], data_offsets: [0, 4] } }, Buffer.alloc(8)), /needs 8/],
    ['offsets reversed', withHeader({ x: { dtype: 'U8', shape: [0], data_offsets: [4, 0] } }, Buffer.alloc(8)), /invalid data_offsets/],
    [
      'overlap',
      withHeader({ x: { dtype: 'U8', shape: [4], data_offsets: [0, 4] }, y: { dtype: 'U8', shape: [4], data_offsets: [2, 6] } }, Buffer.alloc(8)),
      /overlap/,
    ],
    ['metadata not strings', withHeader({ __metadata__: { a: 1 } }), /__metadata__\.a is not a string/],
  ];
  for (const [label, bytes, pattern] of cases) {
    assert.throws(() => parseSafetensors(bytes, 'f.safetensors'), (e: Error) => {
      assert.ok(e instanceof SafetensorsError, `${label}: ${e}`);
      assert.match(e.message, /^f\.safetensors: not a valid safetensors file: /, label);
      assert.match(e.message, pattern, label);
      return true;
    });
  }
});

test('a huge header length in an 8-byte file does not allocate or crash', () => {
  const bytes = Buffer.alloc(16);
  bytes.writeBigUInt64LE(0xffff_ffff_ffff_fff0n);
  assert.throws(() => parseSafetensors(bytes), /exceeds/);
});

test('random corruption of a valid file never crashes the parser', () => {
  const good = bytesOf(serializeSafetensors(tensors, { k: 'v' }));
  let state = 12345;
  const rand = () => ((state = (state * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let i = 0; i < 500; i++) {
    const bytes = Buffer.from(good);
    const flips = 1 + Math.floor(rand() * 4);
    for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
    const cut = rand() < 0.3 ? Math.floor(rand() * bytes.length) : bytes.length;
    try {
      parseSafetensors(bytes.subarray(0, cut));
    } catch (e) {
      assert.ok(e instanceof SafetensorsError, `unexpected ${(e as Error).name}: ${(e as Error).message}`);
    }
  }
});

test('writes are atomic: no temp file remains and an existing file is replaced whole', async () => {
  const dir = await tempDir();
  const path = join(dir, 'w.safetensors');
  await writeFile(path, 'old contents');
  await writeSafetensors(path, tensors, { v: '1' });
  assert.deepEqual(await readdir(dir), ['w.safetensors']);
  const { metadata } = await readSafetensors(path);
  assert.equal(metadata.v, '1');
  await assert.rejects(writeSafetensors(join(dir, 'missing-dir', 'x.safetensors'), tensors), /ENOENT/);
  assert.deepEqual(await readdir(dir), ['w.safetensors']);
  assert.ok((await readFile(path)).length > 8);
});

test('reading a missing file names it', async () => {
  await assert.rejects(readSafetensors('/nonexistent/m.safetensors'), /\/nonexistent\/m\.safetensors: no such checkpoint file/);
});

test('only a regular file is read, and only up to a size: a device, a FIFO or a folder is refused before any read', async () => {
  const dir = await tempDir();
  const fifo = join(dir, 'pipe.safetensors');
  execFileSync('mkfifo', [fifo]);
  const cases: Array<[string, RegExp]> = [
    ['/dev/zero', /^\/dev\/zero: is a character device, not a checkpoint file$/],
    [fifo, /pipe\.safetensors: is a FIFO \(named pipe\), not a checkpoint file$/],
    [dir, /: is a folder, not a checkpoint file$/],
  ];
  for (const [path, message] of cases) {
    // A FIFO would block open() and /dev/zero never ends: either hangs past the test's bound.
    await assert.rejects(readSafetensors(path), (e: Error) => {
      assert.ok(e instanceof SafetensorsError, String(e));
      assert.match(e.message, message);
      return true;
    });
  }
  const path = join(dir, 'w.safetensors');
  await writeSafetensors(path, tensors);
  const size = (await readFile(path)).length;
  await assert.rejects(readSafetensors(path, { maxBytes: size - 1 }), new RegExp(`w\\.safetensors: is ${size} bytes, more than the ${size - 1} a checkpoint may have$`));
  assert.equal((await readSafetensors(path, { maxBytes: size })).tensors.size, 3);
  // A link to a checkpoint (runs/latest/model.safetensors is reached through one) is followed.
  await symlink(path, join(dir, 'link.safetensors'));
  assert.equal((await readSafetensors(join(dir, 'link.safetensors'))).tensors.size, 3);
});
