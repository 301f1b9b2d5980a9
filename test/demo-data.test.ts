import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import sharp from 'sharp';
import { DEMO_MARKER, ensureDemoData, generateDemoData, renderDemoImage } from '../src/data/index.ts';
import { InvalidArgumentError } from '../src/util/validate.ts';
import { tempDir } from './helpers/checkpoint.ts';

const SMALL = { perClass: 10, size: 48, seed: 3, testFraction: 0.2 };

async function listFiles(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

async function hashTree(root: string): Promise<string> {
  const hash = createHash('sha256');
  for (const path of await listFiles(root)) {
    hash.update(`${path}\0`);
    hash.update(await readFile(join(root, path)));
  }
  return hash.digest('hex');
}

test('the same options give byte-identical trees; another seed gives another tree', async () => {
  const dir = await tempDir();
  try {
    await generateDemoData(join(dir, 'a'), SMALL);
    await generateDemoData(join(dir, 'b'), SMALL);
    await generateDemoData(join(dir, 'c'), { ...SMALL, seed: 4 });
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((name) => hashTree(join(dir, name))));
    assert.equal(a, b);
    assert.notEqual(a, c);
    assert.deepEqual(renderDemoImage('hotdog', 32, 7), renderDemoImage('hotdog', 32, 7));
    assert.notDeepEqual(renderDemoImage('hotdog', 32, 7), renderDemoImage('nothotdog', 32, 7));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the drawing is pinned: a change to it must bump PAINTER_VERSION', async () => {
  // Raw pixels, before JPEG, so the pin does not depend on the libjpeg build.
  const hash = createHash('sha256');
  for (let seed = 0; seed < 32; seed++) for (const label of ['hotdog', 'nothotdog'] as const) hash.update(renderDemoImage(label, 32, seed));
  assert.equal(
    hash.digest('hex'),
    '18b97c0da094618de1ec4f5b570bd10073707d2a4fc406b48c0b3713394d709f',
    'the demo images changed: bump PAINTER_VERSION in src/data/demo-painter.ts (so existing sets are regenerated), then update this hash',
  );
});

test('layout and counts: an ImageFolder of size×size JPEGs, the marker, nothing left beside it', async () => {
  const dir = await tempDir();
  try {
    const root = join(dir, 'demo');
    const { root: returned, counts } = await generateDemoData(root, SMALL);
    assert.equal(returned, root);
    assert.deepEqual(counts, { 'train/hotdog': 8, 'train/nothotdog': 8, 'test/hotdog': 2, 'test/nothotdog': 2 });
    assert.deepEqual(await readdir(dir), ['demo'], 'the staging folder is gone');
    assert.deepEqual((await readdir(root)).sort(), [DEMO_MARKER, 'test', 'train']);
    for (const [key, n] of Object.entries(counts)) {
      const cls = key.split('/')[1]!;
      const names = (await readdir(join(root, key))).sort();
      assert.equal(names.length, n, key);
      for (const name of names) assert.match(name, new RegExp(`^${cls}-\\d{4}\\.jpg$`));
    }
    assert.deepEqual(await readdir(join(root, 'test', 'hotdog')), ['hotdog-0008.jpg', 'hotdog-0009.jpg']);
    const meta = await sharp(join(root, 'train', 'nothotdog', 'nothotdog-0000.jpg')).metadata();
    assert.equal(meta.format, 'jpeg');
    assert.equal(meta.width, 48);
    assert.equal(meta.height, 48);
    assert.equal(meta.channels, 3);
    const marker = JSON.parse(await readFile(join(root, DEMO_MARKER), 'utf8'));
    assert.deepEqual(marker.options, SMALL);
    assert.deepEqual(marker.counts, counts);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('an image does not depend on the split it lands in; testFraction 0 writes no test/', async () => {
  const dir = await tempDir();
  try {
    await generateDemoData(join(dir, 'a'), { ...SMALL, testFraction: 0.5 });
    const { counts } = await generateDemoData(join(dir, 'b'), { ...SMALL, testFraction: 0 });
    assert.deepEqual(counts, { 'train/hotdog': 10, 'train/nothotdog': 10, 'test/hotdog': 0, 'test/nothotdog': 0 });
    assert.deepEqual((await readdir(join(dir, 'b'))).sort(), [DEMO_MARKER, 'train']);
    assert.deepEqual(await readFile(join(dir, 'a', 'test', 'hotdog', 'hotdog-0007.jpg')), await readFile(join(dir, 'b', 'train', 'hotdog', 'hotdog-0007.jpg')));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('ensureDemoData keeps a complete set and regenerates a set without its marker or with other options', async () => {
  const dir = await tempDir();
  try {
    const root = join(dir, 'demo');
    const first = await ensureDemoData(root, SMALL);
    const probe = join(root, 'train', 'hotdog', 'hotdog-0000.jpg');
    const before = await stat(probe);

    const started = performance.now();
    const again = await ensureDemoData(root, SMALL);
    assert.ok(performance.now() - started < 500, 'a complete set is recognised quickly');
    assert.deepEqual(again, first);
    assert.equal((await stat(probe)).ino, before.ino, 'a complete set is not rewritten');

    const hash = await hashTree(root);
    await rm(join(root, DEMO_MARKER));
    await ensureDemoData(root, SMALL);
    assert.notEqual((await stat(probe)).ino, before.ino, 'a set without its marker is regenerated');
    assert.equal(await hashTree(root), hash, 'to the same bytes, marker included');

    await rm(join(root, 'test', 'nothotdog', 'nothotdog-0009.jpg'));
    await ensureDemoData(root, SMALL);
    await stat(join(root, 'test', 'nothotdog', 'nothotdog-0009.jpg'));

    const other = await ensureDemoData(root, { ...SMALL, perClass: 5 });
    assert.equal(other.counts['train/hotdog'], 4);
    assert.equal((await readdir(join(root, 'train', 'hotdog'))).length, 4, 'no image of the old set is left');
    assert.deepEqual(await readdir(dir), ['demo']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('a folder holding anything the generator did not write is never replaced', async () => {
  const dir = await tempDir();
  try {
    const root = join(dir, 'data');
    await mkdir(join(root, 'train', 'hotdog'), { recursive: true });
    await writeFile(join(root, 'train', 'hotdog', 'my-photo.jpg'), 'not ours');
    await assert.rejects(ensureDemoData(root, SMALL), /Refusing to replace .*my-photo\.jpg/);
    await assert.rejects(generateDemoData(root, SMALL), /Refusing to replace/);
    assert.equal(await readFile(join(root, 'train', 'hotdog', 'my-photo.jpg'), 'utf8'), 'not ours');
    assert.deepEqual(await readdir(dir), ['data']);

    await writeFile(join(dir, 'file'), '');
    await assert.rejects(ensureDemoData(join(dir, 'file'), SMALL), /is a file/);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('staging folders of generators that died are cleaned up', async () => {
  const dir = await tempDir();
  try {
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    assert.ok(dead);
    const stale = join(dir, `.demo.partial-${dead}-0badf00d`);
    await mkdir(join(stale, 'train', 'hotdog'), { recursive: true });
    await ensureDemoData(join(dir, 'demo'), SMALL);
    assert.deepEqual(await readdir(dir), ['demo']);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('options are checked, naming the parameter', async () => {
  const dir = await tempDir();
  try {
    const root = join(dir, 'demo');
    await assert.rejects(generateDemoData(root, { perClass: 0 }), (error) => {
      assert.ok(error instanceof InvalidArgumentError);
      assert.equal(error.message, 'Expected an integer between 1 and 1000000 for perClass but received number 0');
      return true;
    });
    await assert.rejects(generateDemoData(root, { size: 8 }), InvalidArgumentError);
    await assert.rejects(generateDemoData(root, { seed: -1 }), /for seed/);
    await assert.rejects(generateDemoData(root, { testFraction: 1 }), /for testFraction/);
    await assert.rejects(ensureDemoData(root, { sizes: 64 } as never), /Unknown option options\.sizes/);
    await assert.rejects(ensureDemoData('', SMALL), /for root/);
    assert.deepEqual(await readdir(dir), []);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
