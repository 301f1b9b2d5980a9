// `torchdog quantize` and the --precision flags of predict, eval and serve:
// a calibrated checkpoint serves int8 from each, the service says which
// precision serves, and every bad request gets its error.
import { test, before, after } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CALIBRATION_KEY, createApp, loadModel, parseCalibration, readCheckpoint } from '../src/index.ts';
import { TEST_INFO, tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';
import { cli } from './helpers/built-cli.ts';

let dir: string;
let model: string;
let calibrated: string;
let folder: string;
let flat: string;
const images: string[] = [];

before(async () => {
  dir = await tempDir('torchdog-quantize-');
  model = join(dir, 'model.safetensors');
  calibrated = join(dir, 'int8.safetensors');
  await writeRandomCheckpoint(model);
  folder = join(dir, 'data');
  flat = join(dir, 'flat');
  await mkdir(flat);
  for (const [c, name] of TEST_INFO.classes.entries()) {
    await mkdir(join(folder, 'train', name), { recursive: true });
    await mkdir(join(folder, 'test', name), { recursive: true });
    for (let i = 0; i < 4; i++) {
      const bytes = await encodeImage(i % 2 ? 'png' : 'jpeg', 80, 64, 10 * c + i);
      const path = join(folder, 'train', name, `${i}.${i % 2 ? 'png' : 'jpg'}`);
      await writeFile(path, bytes);
      await writeFile(join(folder, 'test', name, `${i}.${i % 2 ? 'png' : 'jpg'}`), bytes);
      await writeFile(join(flat, `${name}-${i}.${i % 2 ? 'png' : 'jpg'}`), bytes);
      images.push(path);
    }
  }
});

after(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('quantize calibrates on an ImageFolder, checks int8 on the other images, writes --out and leaves --model alone', async () => {
  const before = await readFile(model);
  const { code, stdout, stderr } = await cli(['quantize', '--model', model, '--data', folder, '--images', '5', '--out', calibrated, '--threads', '2']);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout);
  assert.deepEqual(
    { out: summary.out, calibration_images: summary.calibration_images, check_images: summary.check_images, labelled: summary.labelled, observer: summary.observer },
    { out: calibrated, calibration_images: 5, check_images: 3, labelled: true, observer: 'percentile' },
  );
  for (const key of ['int8_agreement', 'int8_val_acc', 'fp32_val_acc']) assert.ok(summary[key] >= 0 && summary[key] <= 1, `${key}: ${summary[key]}`);
  assert.deepEqual(await readFile(model), before, '--model is not rewritten when --out is given');
  const { info, tensors } = await readCheckpoint(calibrated);
  const calibration = parseCalibration(info.extra![CALIBRATION_KEY]!, calibrated);
  assert.equal(calibration.images, 5);
  assert.equal(calibration.check?.agreement, summary.int8_agreement);
  const original = await readCheckpoint(model);
  assert.deepEqual(tensors, original.tensors, 'the weights stay the float32 ones');
});

test('quantize takes a flat folder of images: no labels, agreement only; --observer picks the observer, recorded in the checkpoint', async () => {
  const out = join(dir, 'flat.safetensors');
  const { code, stdout, stderr } = await cli(['quantize', '--model', model, '--data', flat, '--images', '4', '--out', out, '--observer', 'minmax']);
  assert.equal(code, 0, stderr);
  const summary = JSON.parse(stdout);
  assert.equal(summary.observer, 'minmax');
  assert.equal(parseCalibration((await readCheckpoint(out)).info.extra![CALIBRATION_KEY]!, out).observer, 'minmax');
  assert.equal(summary.labelled, false);
  assert.equal(summary.check_images, 4);
  assert.equal(summary.int8_val_acc, null);
  assert.ok(summary.int8_agreement >= 0 && summary.int8_agreement <= 1);
});

test('predict and eval --precision int8 serve the calibrated checkpoint and say so', async () => {
  const fp32 = await cli(['predict', '--model', calibrated, '--device', 'cpu', ...images.slice(0, 2)]);
  const int8 = await cli(['predict', '--model', calibrated, '--device', 'cpu', '--precision', 'int8', ...images.slice(0, 2)]);
  assert.equal(int8.code, 0, int8.stderr);
  const lines = int8.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.file), images.slice(0, 2));
  assert.equal(fp32.stdout.trim().split('\n').length, 2);
  const evaluated = await cli(['eval', '--model', calibrated, '--data', folder, '--device', 'cpu', '--precision', 'int8']);
  assert.equal(evaluated.code, 0, evaluated.stderr);
  const result = JSON.parse(evaluated.stdout);
  assert.equal(result.precision, 'int8');
  assert.equal(result.n, 8);
});

test('int8 on a checkpoint without calibration names torchdog quantize; an unknown precision names the flag and the choices', async () => {
  const missing = await cli(['predict', '--model', model, '--device', 'cpu', '--precision', 'int8', images[0]!]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /has no int8 calibration: run `torchdog quantize --model .*model\.safetensors --data DIR` first/);
  for (const command of [['predict', '--model', model, images[0]!], ['eval', '--model', model, '--data', folder], ['serve', '--model', model]]) {
    const r = await cli([...command, '--precision', 'fp16']);
    assert.equal(r.code, 2, `${command[0]}: ${r.stderr}`);
    assert.match(r.stderr, /--precision: expected one of fp32, bf16, int8, auto but received "fp16"/);
  }
  const badObserver = await cli(['quantize', '--model', model, '--data', folder, '--observer', 'kl']);
  assert.equal(badObserver.code, 2);
  assert.match(badObserver.stderr, /--observer: expected one of minmax, percentile, mse but received "kl"/);
  const noData = await cli(['quantize', '--model', model]);
  assert.equal(noData.code, 2);
  assert.match(noData.stderr, /--data is required/);
  const notFolder = await cli(['quantize', '--model', model, '--data', join(dir, 'nowhere')]);
  assert.equal(notFolder.code, 1);
  assert.match(notFolder.stderr, /--data: .*nowhere is not a folder/);
});

test('the service says which precision serves: /predict model, torchdog_model_info, the load log with auto\'s reason', async () => {
  const logs: { message: string; precision?: string; precision_reason?: string }[] = [];
  const app = createApp({ load: () => loadModel(calibrated, { device: 'cpu', threads: 1, precision: 'int8' }), modelName: 'm', logger: (e) => logs.push(e as never), maxWaitMs: 0 });
  await app.loaded;
  try {
    const form = new FormData();
    form.set('data', new Blob([await encodeImage('jpeg', 80, 64, 3)], { type: 'image/jpeg' }), 'x.jpg');
    const answer = await (await app.request('/predict', { method: 'POST', body: form })).json();
    assert.equal(answer.model.precision, 'int8');
    assert.equal(answer.model.metadata?.[CALIBRATION_KEY], undefined, 'the ranges are not repeated in every answer');
    assert.match(await (await app.request('/metrics')).text(), /torchdog_model_info\{[^}]*device="cpu",precision="int8"/);
    const loaded = logs.find((e) => e.message.startsWith('model loaded:'));
    assert.equal(loaded?.precision, 'int8');
    assert.match(loaded!.message, /; precision int8 \(asked for\)$/);
  } finally {
    await app.shutdown();
  }
  const auto = createApp({ load: () => loadModel(model, { device: 'cpu', threads: 1, precision: 'auto' }), modelName: 'm', logger: (e) => logs.push(e as never), maxWaitMs: 0 });
  await auto.loaded;
  await auto.shutdown();
  const chosen = logs.filter((e) => e.message.startsWith('model loaded:')).at(-1)!;
  assert.match(chosen.message, /; precision fp32 \(auto: fp32, the checkpoint has no int8 calibration\)$/);
});
