import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { scanImageFolder, decodeSet } from '../src/data/index.ts';
import { encodeImage } from './helpers/images.ts';
import { tempDir } from './helpers/checkpoint.ts';

async function folder(layout: Record<string, number>, extra: Record<string, string | Buffer> = {}): Promise<string> {
  const root = await tempDir('torchdog-data-');
  for (const [dir, count] of Object.entries(layout)) {
    await mkdir(join(root, dir), { recursive: true });
    for (let i = 0; i < count; i++) await writeFile(join(root, dir, `img${String(i).padStart(3, '0')}.png`), await encodeImage('png', 16, 16, i));
  }
  for (const [path, content] of Object.entries(extra)) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  return root;
}

test('classes are the sorted train/ folder names; validation is held out of train/ even when test/ exists', async () => {
  const root = await folder({ 'train/zebra': 2, 'train/Apple': 2, 'train/mango': 6, 'test/mango': 1, 'test/zebra': 1 }, { 'train/mango/notes.txt': 'x' });
  const f = await scanImageFolder(root, { valFraction: 0.5, seed: 0 });
  assert.deepEqual(f.classes, ['Apple', 'mango', 'zebra']);
  assert.equal(f.valSource, 'split');
  assert.equal(f.train.length + f.val.length, 10, 'non-image files are ignored');
  assert.deepEqual(f.val.map((s) => f.classes[s.label]), ['Apple', 'mango', 'mango', 'mango', 'zebra'], 'half of each class of train/');
  assert.ok(f.val.every((s) => s.path.includes('/train/')), 'validation never comes from test/');
  assert.deepEqual(f.test.map((s) => f.classes[s.label]), ['mango', 'zebra']);
  const none = await scanImageFolder(root, { valFraction: 0, seed: 0 });
  assert.deepEqual([none.valSource, none.val.length, none.train.length, none.test.length], ['none', 0, 10, 2]);
});

test('without test/, a seeded per-class fraction is held out, deterministically', async () => {
  const root = await folder({ 'train/a': 10, 'train/b': 10 });
  const one = await scanImageFolder(root, { valFraction: 0.2, seed: 1 });
  const again = await scanImageFolder(root, { valFraction: 0.2, seed: 1 });
  const other = await scanImageFolder(root, { valFraction: 0.2, seed: 2 });
  assert.equal(one.valSource, 'split');
  assert.equal(one.val.length, 4);
  assert.equal(one.val.filter((s) => s.label === 0).length, 2);
  assert.deepEqual(one, again);
  assert.notDeepEqual(one.val, other.val);
  const all = new Set([...one.train, ...one.val].map((s) => s.path));
  assert.equal(all.size, 20, 'train and val partition the images');
});

test('unusable folders give errors naming the path', async () => {
  await assert.rejects(scanImageFolder('/nonexistent/data', { valFraction: 0.2, seed: 0 }), /data\.root \/nonexistent\/data: no such directory/);
  const flat = await folder({ 'a': 1 });
  await assert.rejects(scanImageFolder(flat, { valFraction: 0.2, seed: 0 }), /expected an ImageFolder/);
  const single = await folder({ 'train/only': 2 });
  await assert.rejects(scanImageFolder(single, { valFraction: 0.2, seed: 0 }), /found 1 class folder\(s\) \(only\); need at least 2/);
  const empty = await folder({ 'train/a': 2, 'train/b': 0 });
  await assert.rejects(scanImageFolder(empty, { valFraction: 0.2, seed: 0 }), /train\/b: no images/);
  const stray = await folder({ 'train/a': 1, 'train/b': 1, 'test/c': 1 });
  await assert.rejects(scanImageFolder(stray, { valFraction: 0.2, seed: 0 }), /class folder\(s\) c not in train\//);
});

test('corrupt images are skipped with their path, or fatal when strict', async () => {
  const root = await folder({ 'train/a': 2, 'train/b': 2 }, { 'train/a/broken.jpg': 'not a jpeg', 'train/b/cut.png': (await encodeImage('png', 32, 32)).subarray(0, 40) });
  const f = await scanImageFolder(root, { valFraction: 0, seed: 0 });
  const skippedPaths: string[] = [];
  const set = await decodeSet(f.train, { size: 16, workers: 2, strict: false, onSkip: (p) => skippedPaths.push(p) });
  assert.equal(set.samples.length, 4);
  assert.deepEqual(set.skipped.map((s) => s.path).sort(), skippedPaths.sort());
  assert.equal(skippedPaths.length, 2);
  assert.ok(skippedPaths.some((p) => p.endsWith('broken.jpg')));
  await assert.rejects(decodeSet(f.train, { size: 16, workers: 2, strict: true }), /broken\.jpg|cut\.png/);
});

test('symbolic links to images and to class folders are followed; a loop ends and nothing counts twice; a dangling link is reported by decoding', async () => {
  const root = await folder({ 'train/a': 2, 'store/b': 3, 'store/extra': 1, 'elsewhere': 0 });
  await writeFile(join(root, 'elsewhere', 'linked.png'), await encodeImage('png', 16, 16, 9));
  // DVC's symlink workspaces link every file; datasets are often assembled from folders linked in.
  await symlink(join(root, 'elsewhere', 'linked.png'), join(root, 'train', 'a', 'via-link.png'));
  await symlink(join(root, 'store', 'b'), join(root, 'train', 'b'));
  await symlink(join(root, 'store', 'extra'), join(root, 'store', 'b', 'sub'));
  await symlink(join(root, 'train', 'b'), join(root, 'store', 'b', 'loop'));
  await symlink(join(root, 'store', 'extra'), join(root, 'store', 'b', 'sub-again'));
  await symlink(join(root, 'nowhere.png'), join(root, 'train', 'a', 'dangling.png'));
  const f = await scanImageFolder(root, { valFraction: 0, seed: 0 });
  assert.deepEqual(f.classes, ['a', 'b']);
  const names = (label: number) => f.train.filter((s) => s.label === label).map((s) => s.path.slice(root.length + 1));
  assert.deepEqual(names(0), ['train/a/dangling.png', 'train/a/img000.png', 'train/a/img001.png', 'train/a/via-link.png']);
  assert.deepEqual(names(1), ['train/b/img000.png', 'train/b/img001.png', 'train/b/img002.png', 'train/b/sub/img000.png']);
  const skipped: string[] = [];
  const set = await decodeSet(f.train, { size: 16, workers: 2, strict: false, onSkip: (p, m) => skipped.push(`${p}: ${m}`) });
  assert.equal(set.samples.length, 7);
  assert.deepEqual(skipped, [`${join(root, 'train/a/dangling.png')}: ${join(root, 'train/a/dangling.png')}: no such file`]);
});
