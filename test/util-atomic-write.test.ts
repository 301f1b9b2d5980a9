// Atomic replacement: the target holds the old bytes or the new, never part of
// them, and no temporary file survives a failure.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, symlink, readlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaceAtomically, tempPathBeside, TEMP_FILE, writeFileAtomic } from '../src/util/atomic-write.ts';

/** Runs `body` in a fresh temporary folder, removed afterwards. */
async function inTempFolder(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'torchdog-atomic-'));
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

test('writeFileAtomic writes text, bytes and chunks, replacing what was there', () => inTempFolder(async (dir) => {
  const path = join(dir, 'out.txt');
  await writeFileAtomic(path, 'héllo\n');
  assert.equal(await readFile(path, 'utf8'), 'héllo\n');
  await writeFileAtomic(path, new Uint8Array([1, 2, 3]));
  assert.deepEqual([...await readFile(path)], [1, 2, 3]);
  await writeFileAtomic(path, [Buffer.from('ab'), new Uint8Array(0), Buffer.from('c')]);
  assert.equal(await readFile(path, 'utf8'), 'abc');
  async function* produced(): AsyncGenerator<Uint8Array> {
    yield Buffer.from('x');
    yield Buffer.from('y');
  }
  await writeFileAtomic(path, produced());
  assert.equal(await readFile(path, 'utf8'), 'xy');
  assert.deepEqual(await readdir(dir), ['out.txt']);
}));

test('writeFileAtomic creates the file with the mode asked for (before the umask)', () => inTempFolder(async (dir) => {
  const path = join(dir, 'object');
  await writeFileAtomic(path, 'x', { mode: 0o444 });
  assert.equal((await stat(path)).mode & 0o222, 0, 'read-only');
  await writeFileAtomic(join(dir, 'plain'), 'x');
  assert.equal((await stat(join(dir, 'plain'))).mode & 0o200, 0o200, 'owner-writable by default');
}));

test('a content source that throws midway leaves the old file and no temporary file', () => inTempFolder(async (dir) => {
  const path = join(dir, 'state.json');
  await writeFile(path, 'old');
  async function* failing(): AsyncGenerator<Uint8Array> {
    yield Buffer.alloc(1 << 16, 1);
    throw new Error('source broke');
  }
  await assert.rejects(writeFileAtomic(path, failing()), /source broke/);
  assert.equal(await readFile(path, 'utf8'), 'old');
  assert.deepEqual(await readdir(dir), ['state.json']);
}));

test('writing into a folder that vanished fails with ENOENT and creates nothing', () => inTempFolder(async (dir) => {
  const gone = join(dir, 'gone');
  await mkdir(gone);
  await rm(gone, { recursive: true });
  await assert.rejects(writeFileAtomic(join(gone, 'report.html'), '<p>'), { code: 'ENOENT' });
  assert.deepEqual(await readdir(dir), []);
}));

test('a rename that fails (the target is a folder) removes the temporary file and leaves the folder', () => inTempFolder(async (dir) => {
  const target = join(dir, 'model.safetensors');
  await mkdir(target);
  await writeFile(join(target, 'inside'), 'kept');
  await assert.rejects(writeFileAtomic(target, 'bytes'), (e: NodeJS.ErrnoException) => ['EISDIR', 'ENOTEMPTY', 'EEXIST'].includes(e.code ?? ''));
  assert.deepEqual(await readdir(dir), ['model.safetensors']);
  assert.equal(await readFile(join(target, 'inside'), 'utf8'), 'kept');
}));

test('replaceAtomically renames what create made, or removes it when create fails', () => inTempFolder(async (dir) => {
  const link = join(dir, 'latest');
  assert.equal(await replaceAtomically(link, async (temp) => {
    await symlink('run-1', temp);
    return 'made';
  }), 'made');
  await replaceAtomically(link, (temp) => symlink('run-2', temp));
  assert.equal(await readlink(link), 'run-2');

  await assert.rejects(replaceAtomically(link, async (temp) => {
    await writeFile(temp, 'half');
    throw new Error('checksum mismatch');
  }), /checksum mismatch/);
  assert.equal(await readlink(link), 'run-2');
  assert.deepEqual(await readdir(dir), ['latest']);
}));

test('temporary names are hidden, beside the target, fresh each time, and match TEMP_FILE', () => {
  const a = tempPathBeside(join('runs', 'x', 'model.safetensors'));
  const b = tempPathBeside(join('runs', 'x', 'model.safetensors'));
  assert.notEqual(a, b);
  assert.match(a, /^runs[/\\]x[/\\]\.model\.safetensors\.torchdog-[0-9a-f]{8}\.tmp$/);
  assert.ok(TEMP_FILE.test(a.split(/[/\\]/).at(-1)!));
  assert.ok(!TEMP_FILE.test('model.safetensors'));
  assert.ok(!TEMP_FILE.test('notes.tmp'));
});
