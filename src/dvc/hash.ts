// DVC's hashes. DVC 3 (`hash: md5` in the .dvc file): the md5 of a file's
// bytes. A directory is a `.dir` object: the JSON list of its files'
// {"md5", "relpath"}, sorted by relpath, written by Python's
// json.dumps(..., sort_keys=True); its md5 plus ".dir" names the directory.
// DVC 2 files (no `hash:` field) hashed text files after CRLF → LF.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { DvcError } from './errors.js';
import { reservedPathReason } from './paths.js';

export interface DirEntry {
  /** Path inside the directory, '/'-separated. */
  relpath: string;
  md5: string;
}

export const MD5_HEX = /^[0-9a-f]{32}$/;
export const OID = /^[0-9a-f]{32}(\.dir)?$/;

export function md5Bytes(data: Uint8Array | string): string {
  return createHash('md5').update(data).digest('hex');
}

/** The md5 of a file's bytes, streamed. */
export async function md5File(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

// Python's json.dumps with ensure_ascii=True: ", " and ": " separators,
// every character outside printable ASCII written as a lower-case \uXXXX
// (UTF-16 surrogate pairs beyond the BMP), the usual short escapes.
const SHORT_ESCAPES: Record<string, string> = { '"': '\\"', '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\b': '\\b', '\f': '\\f' };

export function pythonJsonString(value: string): string {
  let out = '"';
  for (let i = 0; i < value.length; i++) {
    const ch = value[i]!;
    const code = value.charCodeAt(i);
    const short = SHORT_ESCAPES[ch];
    if (short) out += short;
    else if (code < 0x20 || code > 0x7e) out += `\\u${code.toString(16).padStart(4, '0')}`;
    else out += ch;
  }
  return `${out}"`;
}

// Python compares str by code point; UTF-8 byte order is the same order
// (JavaScript's < compares UTF-16 units, which differs beyond the BMP).
export function compareCodePoints(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/** The bytes of the `.dir` object for `entries` (any order). */
export function dirObjectBytes(entries: readonly DirEntry[]): Buffer {
  const sorted = [...entries].sort((a, b) => compareCodePoints(a.relpath, b.relpath));
  const items = sorted.map((e) => `{"md5": ${pythonJsonString(e.md5)}, "relpath": ${pythonJsonString(e.relpath)}}`);
  return Buffer.from(`[${items.join(', ')}]`, 'utf8');
}

/** The oid (`<md5>.dir`) of a directory with these entries. */
export function dirOid(entries: readonly DirEntry[]): string {
  return `${md5Bytes(dirObjectBytes(entries))}.dir`;
}

/**
 * A relpath DVC would write: relative, '/'-separated, no '.', '..' or empty
 * segments. Anything else in a .dir object could write outside the folder.
 */
export function isSafeRelpath(relpath: string): boolean {
  if (relpath === '' || relpath.includes('\0') || relpath.includes('\\')) return false;
  return relpath.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}

/** Parses and checks a `.dir` object; `what` names it in errors. */
export function parseDirObject(bytes: Uint8Array, what: string): DirEntry[] {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(bytes).toString('utf8'));
  } catch (error) {
    throw new DvcError('ERR_DVC_FILE', `${what}: not a DVC directory listing (invalid JSON: ${(error as Error).message})`);
  }
  if (!Array.isArray(value)) throw new DvcError('ERR_DVC_FILE', `${what}: not a DVC directory listing (expected a JSON list)`);
  const seen = new Set<string>();
  return value.map((item: unknown, i) => {
    const entry = item as Partial<DirEntry> | null;
    if (typeof entry !== 'object' || entry === null || typeof entry.md5 !== 'string' || typeof entry.relpath !== 'string') {
      throw new DvcError('ERR_DVC_FILE', `${what}: entry ${i} is not {"md5", "relpath"}`);
    }
    if (!MD5_HEX.test(entry.md5)) throw new DvcError('ERR_DVC_FILE', `${what}: entry ${i} (${entry.relpath}) has md5 ${JSON.stringify(entry.md5)}, not 32 hex digits`);
    if (!isSafeRelpath(entry.relpath)) throw new DvcError('ERR_DVC_PATH', `${what}: refusing entry ${i} with unsafe relpath ${JSON.stringify(entry.relpath)}`);
    const reserved = reservedPathReason(entry.relpath);
    if (reserved) throw new DvcError('ERR_DVC_PATH', `${what}: refusing entry ${i} ${JSON.stringify(entry.relpath)}: ${reserved}`);
    if (seen.has(entry.relpath)) throw new DvcError('ERR_DVC_FILE', `${what}: ${entry.relpath} is listed twice`);
    seen.add(entry.relpath);
    return { md5: entry.md5, relpath: entry.relpath };
  });
}

// DVC 2 ("md5-dos2unix"): a file whose first 512 bytes look like text was
// hashed with CRLF turned into LF. Kept to verify objects of old .dvc files.
const TEXT_BYTES = new Set<number>([...Array.from({ length: 95 }, (_, i) => 32 + i), 0x0a, 0x0d, 0x09, 0x0c, 0x08]);

export function isTextBlock(block: Uint8Array): boolean {
  if (block.length === 0) return true;
  let nonText = 0;
  for (const byte of block) {
    if (byte === 0) return false;
    if (!TEXT_BYTES.has(byte)) nonText++;
  }
  return nonText / block.length <= 0.3;
}

/** The DVC 2 hash of a file: plain md5 for binary files, md5 after CRLF → LF for text. */
export async function legacyMd5File(path: string): Promise<string> {
  const handle = await open(path, 'r');
  let head: Buffer;
  try {
    const buffer = Buffer.alloc(512);
    const { bytesRead } = await handle.read(buffer, 0, 512, 0);
    head = buffer.subarray(0, bytesRead);
  } finally {
    await handle.close();
  }
  if (!isTextBlock(head)) return md5File(path);
  const hash = createHash('md5');
  let pendingCr = false;
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) {
    let data = chunk as Buffer;
    if (pendingCr) {
      // A CR that ended the previous chunk: drop it when this chunk starts with LF.
      if (data[0] !== 0x0a) hash.update(Buffer.from([0x0d]));
      pendingCr = false;
    }
    if (data.at(-1) === 0x0d) {
      pendingCr = true;
      data = data.subarray(0, -1);
    }
    hash.update(Buffer.from(data.toString('latin1').replaceAll('\r\n', '\n'), 'latin1'));
  }
  if (pendingCr) hash.update(Buffer.from([0x0d]));
  return hash.digest('hex');
}
