// A .dvc file (DVC 3.x), e.g. data.dvc:
//
//   outs:
//   - md5: f771f326c8d821e1ae42fee5af57e90d.dir
//     size: 278219247
//     nfiles: 3909
//     hash: md5
//     path: data
//
// Read with the YAML document kept, so rewriting one after a push changes the
// hash fields and keeps everything else (comments, desc, meta, other keys).
import { readFile } from 'node:fs/promises';
import { Document, parseDocument, isMap, isScalar, isSeq, type YAMLMap } from 'yaml';
import { writeFileAtomic } from '../util/index.js';
import { DvcError } from './errors.js';
import { OID } from './hash.js';

export interface DvcOut {
  /** Position in `outs`. */
  index: number;
  /** As written: relative to the .dvc file's folder, '/'-separated. */
  path: string;
  /** `<md5>` for a file, `<md5>.dir` for a directory; absent until first committed. */
  md5?: string;
  size?: number;
  nfiles?: number;
  /** 'md5' in DVC 3 files; absent in DVC 2 files, whose text files were hashed after CRLF → LF. */
  hash?: 'md5';
  /** `cache: false` outputs are tracked by Git, not by the cache or remotes. */
  cache: boolean;
  /** `push: false` outputs stay out of remotes. */
  push: boolean;
  /** A per-output remote name, over core.remote. */
  remote?: string;
}

export interface DvcFile {
  /** Absolute path of the .dvc file. */
  file: string;
  outs: DvcOut[];
  doc: Document;
}

function fail(file: string, message: string): never {
  throw new DvcError('ERR_DVC_FILE', `${file}: ${message}`);
}

function describeValue(value: unknown): string {
  return value === undefined ? 'nothing' : JSON.stringify(value);
}

/**
 * A mapping's own fields, without a prototype: a field the file does not have
 * reads as undefined even if something has set it on Object.prototype, and a
 * `__proto__` key is just an (unknown) field.
 */
function ownFields(value: object): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, value);
}

/** The document as plain values; yaml refuses aliases that expand without bound (a "billion laughs"), and the file is named. */
function documentValue(doc: Document, file: string): unknown {
  try {
    return doc.toJS() as unknown;
  } catch (error) {
    fail(file, `not usable YAML (${(error as Error).message}); DVC writes no anchors or aliases`);
  }
}

export function parseDvcFile(text: string, file: string): DvcFile {
  const doc = parseDocument(text, { prettyErrors: false });
  if (doc.errors.length > 0) fail(file, `not valid YAML (${doc.errors[0]!.message.split('\n')[0]})`);
  const root = documentValue(doc, file);
  if (typeof root !== 'object' || root === null || Array.isArray(root)) fail(file, 'expected a mapping with an outs list');
  const outs = ownFields(root).outs;
  if (!Array.isArray(outs) || outs.length === 0) fail(file, `expected outs to be a non-empty list but found ${describeValue(outs)}`);
  return {
    file,
    doc,
    outs: outs.map((raw: unknown, index): DvcOut => {
      const at = `outs[${index}]`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(file, `${at}: expected a mapping with md5 and path`);
      const o = ownFields(raw);
      if (typeof o.path !== 'string' || o.path === '') fail(file, `${at}.path: expected a non-empty string but found ${describeValue(o.path)}`);
      if (o.md5 !== undefined && (typeof o.md5 !== 'string' || !OID.test(o.md5))) {
        fail(file, `${at}.md5: expected 32 hex digits, with .dir for a directory, but found ${describeValue(o.md5)}`);
      }
      if (o.hash !== undefined && o.hash !== 'md5') fail(file, `${at}.hash: only 'md5' (DVC 3) is supported but found ${describeValue(o.hash)}`);
      for (const key of ['size', 'nfiles'] as const) {
        if (o[key] !== undefined && (typeof o[key] !== 'number' || !Number.isInteger(o[key]) || (o[key] as number) < 0)) {
          fail(file, `${at}.${key}: expected a non-negative integer but found ${describeValue(o[key])}`);
        }
      }
      if (o.remote !== undefined && typeof o.remote !== 'string') fail(file, `${at}.remote: expected a remote name but found ${describeValue(o.remote)}`);
      return {
        index,
        path: o.path,
        ...(typeof o.md5 === 'string' ? { md5: o.md5 } : {}),
        ...(typeof o.size === 'number' ? { size: o.size } : {}),
        ...(typeof o.nfiles === 'number' ? { nfiles: o.nfiles } : {}),
        ...(o.hash === 'md5' ? { hash: 'md5' as const } : {}),
        cache: o.cache !== false,
        push: o.push !== false,
        ...(typeof o.remote === 'string' ? { remote: o.remote } : {}),
      };
    }),
  };
}

export async function readDvcFile(file: string): Promise<DvcFile> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw new DvcError('ERR_DVC_FILE', e.code === 'ENOENT' ? `${file}: no such .dvc file` : `${file}: cannot read (${e.message})`);
  }
  return parseDvcFile(text, file);
}

/** A new .dvc file tracking `path` (relative to the file's folder), not yet hashed. */
export function createDvcFile(file: string, path: string): DvcFile {
  return { file, doc: new Document({ outs: [{ path }] }), outs: [{ index: 0, path, cache: true, push: true }] };
}

// DVC's order for an output's fields; other fields follow, in their order.
const FIELD_ORDER = ['md5', 'size', 'nfiles', 'isexec', 'hash', 'path'];

function fieldRank(key: unknown): number {
  const name = isScalar(key) ? key.value : key;
  const i = FIELD_ORDER.indexOf(String(name));
  return i < 0 ? FIELD_ORDER.length : i;
}

export interface OutHash {
  md5: string;
  size: number;
  /** Directories only. */
  nfiles?: number;
}

/** Sets an output's hash fields (DVC 3: `hash: md5`); returns whether anything changed. */
export function setOutHash(dvc: DvcFile, index: number, value: OutHash): boolean {
  const out = dvc.outs[index];
  const outs = dvc.doc.get('outs', true);
  const node = isSeq(outs) ? outs.get(index, true) : undefined;
  if (!out || !isMap(node)) throw new DvcError('ERR_DVC_FILE', `${dvc.file}: no outs[${index}]`);
  const map = node as YAMLMap;
  const changed = out.md5 !== value.md5 || out.size !== value.size || out.nfiles !== value.nfiles || out.hash !== 'md5';
  if (!changed) return false;
  map.set('md5', value.md5);
  map.set('size', value.size);
  if (value.nfiles === undefined) map.delete('nfiles');
  else map.set('nfiles', value.nfiles);
  map.set('hash', 'md5');
  map.items.sort((a, b) => fieldRank(a.key) - fieldRank(b.key));
  Object.assign(out, { md5: value.md5, size: value.size, hash: 'md5' });
  if (value.nfiles === undefined) delete out.nfiles;
  else out.nfiles = value.nfiles;
  return true;
}

export function serializeDvcFile(dvc: DvcFile): string {
  // DVC writes list items flush with their key ("outs:\n- md5: ...").
  return dvc.doc.toString({ indentSeq: false, lineWidth: 0 });
}

export async function writeDvcFile(dvc: DvcFile): Promise<void> {
  await writeFileAtomic(dvc.file, serializeDvcFile(dvc));
}
