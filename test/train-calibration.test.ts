// Every training run ends by calibrating its best checkpoint for int8 and
// measuring int8 against fp32 on the validation split: into the checkpoint's
// metadata and the summary.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { generateDemoData } from '../src/data/index.ts';
import { resolveConfig, parseOverrides, train } from '../src/train/index.ts';
import { CALIBRATION_KEY, Classifier, parseCalibration, readCheckpoint } from '../src/index.ts';
import { tempDir } from './helpers/checkpoint.ts';

test('a run calibrates its best checkpoint on training images and checks int8 on the validation split', async () => {
  const root = (await generateDemoData(join(await tempDir('torchdog-train-int8-data-'), 'demo'), { perClass: 20, size: 48 })).root;
  const out = await tempDir('torchdog-train-int8-');
  const summary = await train(resolveConfig(parseOverrides([
    `data.root=${root}`, 'data.image_size=32', 'train.batch_size=8', 'train.epochs=1', 'train.threads=1', 'train.device=cpu', `output.dir=${out}`,
  ])));
  const path = join(summary.run_dir, 'model.safetensors');
  const { info } = await readCheckpoint(path);
  const calibration = parseCalibration(info.extra![CALIBRATION_KEY]!, path);
  assert.equal(calibration.images, summary.n_train, 'fewer training images than the sample size: all of them');
  assert.equal(calibration.check?.images, summary.n_val);
  assert.equal(summary.int8_agreement, calibration.check!.agreement);
  assert.equal(summary.int8_val_acc, calibration.check!.int8Accuracy);
  // float32's accuracy is the run's own validation of its best epoch, measured again (through the
  // serving graph, whose rounding may flip at most a near-tie image).
  assert.ok(Math.abs(summary.fp32_val_acc! - summary.best_val_acc!) <= 1 / summary.n_val + 1e-9, `${summary.fp32_val_acc} vs ${summary.best_val_acc}`);
  assert.equal(info.extra!.val_acc, String(summary.best_val_acc), 'the rest of the metadata is kept');
  const classifier = await Classifier.load(path, { precision: 'int8', device: 'cpu', threads: 1 });
  assert.equal(classifier.precision, 'int8');
  await classifier.dispose();
});
