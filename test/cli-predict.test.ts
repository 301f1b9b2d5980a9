import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { Classifier } from '../src/index.ts';
import { encodeImage } from './helpers/images.ts';
import { cli } from './helpers/built-cli.ts';
import { tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';

test('predict prints one JSON line per image, matching the library', async () => {
  const dir = await tempDir();
  const model = join(dir, 'model.safetensors');
  await writeRandomCheckpoint(model);
  const files = [join(dir, 'a.jpg'), join(dir, 'b.png'), join(dir, 'c.webp')];
  await writeFile(files[0]!, await encodeImage('jpeg', 120, 90, 1));
  await writeFile(files[1]!, await encodeImage('png', 64, 64, 2));
  await writeFile(files[2]!, await encodeImage('webp', 200, 150, 3));

  const { code, stdout, stderr } = await cli(['predict', '--model', model, '--device', 'cpu', ...files]);
  assert.equal(code, 0, stderr);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 3);
  const classifier = await Classifier.load(model, { device: 'cpu', threads: 1 });
  const expected = await classifier.predictMany(files);
  await classifier.dispose();
  lines.forEach((line, i) => {
    assert.equal(line.file, files[i]);
    assert.ok(['hotdog', 'nothotdog'].includes(line.category));
    const sum = Object.values(line.probabilities as Record<string, number>).reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5);
    assert.equal(line.category, expected[i]!.category);
    assert.ok(Math.abs(line.probability - expected[i]!.probability) < 1e-5);
    assert.equal(line.probability, line.probabilities[line.category]);
  });
});

test('predict reports unreadable images per file and exits 1 after the others', async () => {
  const dir = await tempDir();
  const model = join(dir, 'model.safetensors');
  await writeRandomCheckpoint(model);
  const good = join(dir, 'good.png');
  const text = join(dir, 'notes.jpg');
  const truncated = join(dir, 'cut.jpg');
  await writeFile(good, await encodeImage('png', 32, 32));
  await writeFile(text, 'this is not an image');
  await writeFile(truncated, (await encodeImage('jpeg', 64, 64)).subarray(0, 200));
  const { code, stdout } = await cli(['predict', '-m', model, '--device', 'cpu', good, text, truncated, join(dir, 'missing.png')]);
  assert.equal(code, 1);
  const lines = stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(lines.length, 4);
  assert.ok(lines[0].category);
  assert.equal(lines[1].error.code, 'ERR_IMAGE_UNSUPPORTED');
  assert.match(lines[1].error.message, /notes\.jpg/);
  assert.equal(lines[2].error.code, 'ERR_IMAGE_UNREADABLE');
  assert.equal(lines[3].error.code, 'ERR_IMAGE_NOT_FOUND');
});

test('usage errors name the problem and exit 2; --help exits 0', async () => {
  let r = await cli(['predict', 'x.jpg']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--model is required/);
  r = await cli(['predict', '--model', 'm', '--batch', 'zero', 'x.jpg']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--batch: expected an integer between 1 and 4096 but received "zero"/);
  r = await cli(['predict', '--colour', 'x']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown option '--colour'/i);
  r = await cli(['frobnicate']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /unknown command 'frobnicate'/);
  r = await cli(['predict', '--model', '/nonexistent.safetensors', 'x.jpg']);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\/nonexistent\.safetensors: no such checkpoint file/);
  for (const args of [['--help'], ['predict', '--help']]) {
    r = await cli(args);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /Usage: torchdog/);
  }
});

test('predict --model refuses a device, a FIFO or a folder at once, saying what it is', async () => {
  const dir = await tempDir();
  const image = join(dir, 'x.png');
  await writeFile(image, await encodeImage('png', 32, 32));
  const fifo = join(dir, 'pipe.safetensors');
  execFileSync('mkfifo', [fifo]);
  for (const [model, what] of [['/dev/zero', 'a character device'], [fifo, 'a FIFO \\(named pipe\\)'], [dir, 'a folder']] as const) {
    const started = performance.now();
    const r = await cli(['predict', '--model', model, '--device', 'cpu', image]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`${model.replace(/[.]/g, '\\.')}: is ${what}, not a checkpoint file`));
    assert.ok(performance.now() - started < 30_000, 'refused before reading');
  }
});
