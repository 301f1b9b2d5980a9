import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { DEFAULT_CONFIG, configKeysNamed, configToYaml, loadConfigFile, parseOverrides, resolveConfig } from '../src/train/config.ts';
import { tempDir } from './helpers/checkpoint.ts';

test('one default recipe: configs/default.yaml resolves to exactly DEFAULT_CONFIG (8 epochs, cosine, flips and crops)', async () => {
  const fromFile = resolveConfig(await loadConfigFile(join(import.meta.dirname, '..', 'configs', 'default.yaml')));
  assert.deepEqual(fromFile, DEFAULT_CONFIG);
  assert.deepEqual(resolveConfig(), DEFAULT_CONFIG, 'the library starts from the same recipe');
  assert.equal(DEFAULT_CONFIG.data.image_size, 128);
  assert.equal(DEFAULT_CONFIG.train.epochs, 8);
  assert.equal(DEFAULT_CONFIG.optim.name, 'adam');
  assert.equal(DEFAULT_CONFIG.optim.schedule, 'cosine');
  assert.deepEqual(DEFAULT_CONFIG.train.augment, {
    hflip: true, crop_scale: [0.6, 1], crop_ratio: [0.75, 4 / 3], mixup: { alpha: 0, prob: 1 }, cutmix: { alpha: 0, prob: 1 },
  });
  assert.equal(DEFAULT_CONFIG.train.amp, 'auto', 'bf16 where it pays, fp32 elsewhere');
  const hotdog = resolveConfig(await loadConfigFile(join(import.meta.dirname, '..', 'configs', 'hotdog.yaml')));
  assert.equal(hotdog.data.root, 'data');
});

test('configKeysNamed: the override a --flag probably meant', () => {
  assert.deepEqual(configKeysNamed('--epochs'), ['train.epochs']);
  assert.deepEqual(configKeysNamed('--train.epochs'), ['train.epochs']);
  assert.deepEqual(configKeysNamed('--batch-size'), ['train.batch_size']);
  assert.deepEqual(configKeysNamed('lr'), ['optim.lr']);
  assert.deepEqual(configKeysNamed('--hflip'), ['train.augment.hflip']);
  assert.deepEqual(configKeysNamed('--augment.hflip'), ['train.augment.hflip']);
  assert.deepEqual(configKeysNamed('--name'), ['optim.name', 'output.name']);
  assert.deepEqual(configKeysNamed('--frobnicate'), []);
  assert.deepEqual(configKeysNamed('--train'), [], 'a section is not a key');
});

test('dotted overrides are typed by YAML and applied last', () => {
  const config = resolveConfig(
    { train: { epochs: 7 } },
    parseOverrides(['train.epochs=5', 'optim.lr=3e-4', 'data.mean=[0.1, 0.2, 0.3]', 'model.pretrained=w.safetensors', 'train.augment.crop_scale=[0.5,1]', 'output.gcs=null']),
  );
  assert.equal(config.train.epochs, 5);
  assert.equal(config.optim.lr, 3e-4);
  assert.deepEqual(config.data.mean, [0.1, 0.2, 0.3]);
  assert.equal(config.model.pretrained, 'w.safetensors');
  assert.deepEqual(config.train.augment.crop_scale, [0.5, 1]);
  assert.equal(config.output.gcs, null);
  assert.equal(config.train.batch_size, 32, 'untouched keys keep defaults');
  assert.equal(DEFAULT_CONFIG.train.epochs, 8, 'defaults are not mutated');
});

test('errors name the key and the expected type', () => {
  const cases: Array<[unknown, RegExp]> = [
    [{ train: { epochs: 'five' } }, /config key 'train\.epochs': expected an integer in \[1, 100000\] but got string "five"/],
    [{ train: { epochs: 2.5 } }, /'train\.epochs': expected an integer/],
    [{ train: { epoch: 3 } }, /unknown config key 'train\.epoch' \(known here: train\.epochs, /],
    [{ colour: 1 }, /unknown config key 'colour'/],
    [{ optim: { name: 'rmsprop' } }, /'optim\.name': expected one of adam, adamw, sgd but got string "rmsprop"/],
    [{ data: { std: [1, 0, 1] } }, /'data\.std': expected a list of 3 numbers in \[0\.000001, 10\]/],
    [{ data: { mean: [0.5, 0.5] } }, /'data\.mean': expected a list of 3 numbers/],
    [{ train: { device: 'gpu' } }, /'train\.device': expected a string \('cpu', 'cuda', 'cuda:N' or 'auto'\)/],
    [{ train: { augment: { crop_scale: [1, 0.5] } } }, /increasing order/],
    [{ output: { gcs: 'http://x' } }, /'output\.gcs': expected a string \(gs:\/\/bucket\/prefix\) or null/],
    [{ data: 5 }, /config key 'data': expected a mapping but got number 5/],
    [{ train: { shuffle: true } }, /unknown config key 'train\.shuffle'/],
  ];
  for (const [layer, pattern] of cases) assert.throws(() => resolveConfig(layer), pattern);
  assert.throws(() => parseOverrides(['epochs']), /override 'epochs': expected key=value/);
  assert.throws(() => parseOverrides(['train..epochs=1']), /not a dotted key/);
  assert.throws(() => parseOverrides(['data.mean=[1, 2']), /cannot parse value/);
  assert.throws(() => resolveConfig(parseOverrides(['train.epochs=0'])), /'train\.epochs'/);
});

test('config files: missing, invalid YAML, and the resolved config round-trips', async () => {
  const dir = await tempDir();
  await assert.rejects(loadConfigFile(join(dir, 'none.yaml')), /none\.yaml: not found/);
  await writeFile(join(dir, 'bad.yaml'), 'train: [epochs: 3\n');
  await assert.rejects(loadConfigFile(join(dir, 'bad.yaml')), /bad\.yaml: invalid YAML/);
  const config = resolveConfig(parseOverrides(['optim.schedule=cosine', 'train.early_stopping.patience=2']));
  assert.deepEqual(resolveConfig(parse(configToYaml(config))), config);
});

test("__proto__, constructor and prototype are unknown keys: overrides and YAML files cannot reach Object.prototype", async () => {
  const known = 'known here: data, model, optim, train, output';
  const overrides: Array<[string, string]> = [
    ['__proto__.x=1', `unknown config key '__proto__' (${known})`],
    ['__proto__=1', `unknown config key '__proto__' (${known})`],
    ['constructor.prototype.x=1', `unknown config key 'constructor' (${known})`],
    ['train.__proto__.epochs=1', "unknown config key 'train.__proto__' (known here: train.epochs, "],
    ['train.constructor=1', "unknown config key 'train.constructor' (known here: train.epochs, "],
    ['train.augment.prototype.x=1', "unknown config key 'train.augment.prototype' (known here: train.augment.hflip, "],
    ['colour.__proto__.x=1', `unknown config key 'colour' (${known})`],
  ];
  for (const [text, message] of overrides) {
    assert.throws(() => resolveConfig(parseOverrides([text])), (e: Error) => e.message.startsWith(message), text);
    assert.equal(({} as Record<string, unknown>).x, undefined, `${text}: Object.prototype stays clean`);
  }
  // Built without a prototype, an override's dictionaries hold such a key as plain data if they ever get one.
  assert.equal(Object.getPrototypeOf(parseOverrides(['train.epochs=2'])), null);
  assert.equal(Object.getPrototypeOf(parseOverrides(['train.epochs=2']).train), null);
  assert.equal(resolveConfig(parseOverrides(['train.epochs=2'])).train.epochs, 2);
  // Inherited names of plain objects are not schema keys either (they used to reach Object's own members).
  assert.throws(() => resolveConfig({ train: { toString: 1 } }), /unknown config key 'train\.toString' \(known here: train\.epochs, /);
  assert.throws(() => resolveConfig({ hasOwnProperty: { x: 1 } }), new RegExp(`unknown config key 'hasOwnProperty' \\(${known}\\)`));

  const dir = await tempDir();
  const files: Array<[string, string]> = [
    ['__proto__:\n  x: 1\n', `unknown config key '__proto__' (${known})`],
    ['train:\n  epochs: 2\n  __proto__:\n    epochs: 5\n', "unknown config key 'train.__proto__' (known here: train.epochs, "],
    ['data:\n  constructor:\n    prototype:\n      x: 1\n', "unknown config key 'data.constructor' (known here: data.root, "],
  ];
  for (const [text, message] of files) {
    const file = join(dir, 'hostile.yaml');
    await writeFile(file, text);
    const loaded = await loadConfigFile(file);
    assert.throws(() => resolveConfig(loaded), (e: Error) => e.message.startsWith(message), text);
    assert.equal(({} as Record<string, unknown>).x, undefined, 'Object.prototype stays clean');
    assert.equal(Object.getPrototypeOf(({} as Record<string, unknown>)), Object.prototype);
  }
  assert.deepEqual(Object.keys(Object.prototype), [], 'nothing was added to Object.prototype');
  assert.equal(DEFAULT_CONFIG.train.epochs, 8, 'defaults are not mutated');
});

test('the recipe keys are validated like the rest; train.amp takes auto, true or false', () => {
  const config = resolveConfig(parseOverrides([
    'train.amp=false', 'train.label_smoothing=0.1', 'train.ema=0.999', 'train.grad_accum_steps=4', 'train.clip_grad_norm=1.5',
    'train.augment.mixup.alpha=0.2', 'train.augment.cutmix={alpha: 1, prob: 0.5}',
  ]));
  assert.equal(config.train.amp, false);
  assert.deepEqual(
    [config.train.label_smoothing, config.train.ema, config.train.grad_accum_steps, config.train.clip_grad_norm],
    [0.1, 0.999, 4, 1.5],
  );
  assert.deepEqual(config.train.augment.mixup, { alpha: 0.2, prob: 1 });
  assert.deepEqual(config.train.augment.cutmix, { alpha: 1, prob: 0.5 });
  assert.equal(resolveConfig(parseOverrides(['train.amp=true'])).train.amp, true, 'true/false as before');
  const refused: [string, RegExp][] = [
    ['train.amp=maybe', /config key 'train\.amp': expected true, false or auto but got string "maybe"/],
    ['train.label_smoothing=1', /'train\.label_smoothing': expected a number in \[0, 0\.99\]/],
    ['train.ema=1', /'train\.ema': expected a number in \[0, 0\.999999\]/],
    ['train.grad_accum_steps=0', /'train\.grad_accum_steps': expected an integer in \[1, 1024\]/],
    ['train.clip_grad_norm=0', /'train\.clip_grad_norm': expected a number in \[0\.000001, 1000000\] or null/],
    ['train.augment.mixup.prob=2', /'train\.augment\.mixup\.prob': expected a number in \[0, 1\]/],
    ['train.augment.cutmix.beta=1', /unknown config key 'train\.augment\.cutmix\.beta' \(known here: train\.augment\.cutmix\.alpha, train\.augment\.cutmix\.prob\)/],
  ];
  for (const [override, message] of refused) assert.throws(() => resolveConfig(parseOverrides([override])), message, override);
});

test('train.amp auto: bf16 on CUDA and on CPUs with AVX512-BF16 or AMX, float32 elsewhere', async () => {
  const { resolveAmp } = await import('../src/train/amp.ts');
  const avx2 = new Set(['sse4_2', 'avx2', 'fma']);
  assert.equal(resolveAmp('auto', 'cpu', avx2), false);
  assert.equal(resolveAmp('auto', 'cpu', new Set([...avx2, 'avx512f', 'avx512_bf16'])), true);
  assert.equal(resolveAmp('auto', 'cpu', new Set([...avx2, 'amx_bf16'])), true);
  assert.equal(resolveAmp('auto', 'cuda:0', avx2), true);
  assert.equal(resolveAmp(true, 'cpu', avx2), true, 'true forces it');
  assert.equal(resolveAmp(false, 'cuda:0', avx2), false, 'false forces float32');
});
