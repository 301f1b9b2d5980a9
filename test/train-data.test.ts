// What train() is given to learn from: a class it cannot read a single image
// of is an error after decoding, as a class with no images is one after
// scanning, rather than a run that trains on the other classes and exits 0.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readdir, writeFile } from 'node:fs/promises';
import { generateDemoData } from '../src/data/index.ts';
import { parseOverrides, resolveConfig, train, TrainError } from '../src/train/index.ts';
import { tempDir } from './helpers/checkpoint.ts';

test('a class whose every image is unreadable stops the run after decoding, naming the folder', async () => {
  const root = (await generateDemoData(join(await tempDir('torchdog-train-data-'), 'demo'), { perClass: 6, size: 32 })).root;
  const broken = join(root, 'train', 'nothotdog');
  const names = await readdir(broken);
  for (const name of names) await writeFile(join(broken, name), 'not an image');
  const config = resolveConfig(parseOverrides([
    `data.root=${root}`, 'data.image_size=16', 'train.batch_size=4', 'train.epochs=1', 'train.threads=1', 'train.device=cpu', `output.dir=${await tempDir()}`,
  ]));
  // data.val_fraction of the class is held out for validation; the rest is the training part.
  const training = names.length - Math.round(names.length * config.data.val_fraction);
  await assert.rejects(train(config), (error: unknown) => {
    assert.ok(error instanceof TrainError, String(error));
    assert.equal(error.message, `${broken}: no readable training images (${training} unreadable skipped)`);
    return true;
  });
});
