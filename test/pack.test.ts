// The package as a user gets it: packed (only what a user needs), installed
// into a fresh project (the install script builds the addon there), `npx
// torchdog --version`, `npx torchdog train` on the package's default recipe
// from that project's folder, imported from TypeScript and from plain ESM
// JavaScript, classifying an image; and installed with install scripts off,
// where drift and DVC still import and work.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { tempDir, writeRandomCheckpoint } from './helpers/checkpoint.ts';
import { typescriptBlocks } from './helpers/readme.ts';
import { encodeImage } from './helpers/images.ts';
import { withoutAddonProgram, type WithoutAddonResult } from './helpers/without-addon.ts';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const USAGE_TS = `import { Classifier, createModel, saveCheckpoint, type Prediction } from 'torchdog';

const [checkpoint, image] = process.argv.slice(2) as [string, string];
const model = await createModel({ numClasses: 2, device: 'cpu', threads: 1 });
await saveCheckpoint(checkpoint, model, { arch: 'resnet18', classes: ['cat', 'dog'], imageSize: 64, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
await model.dispose();
await using classifier = await Classifier.load(checkpoint, { device: 'cpu' });
const prediction: Prediction = await classifier.predict(image);
console.log(JSON.stringify(prediction));
`;

const USAGE_MJS = `import { Classifier } from 'torchdog';
const [checkpoint, image] = process.argv.slice(2);
const classifier = await Classifier.load(checkpoint, { device: 'cpu' });
console.log(JSON.stringify(await classifier.predict(image)));
await classifier.dispose();
`;

const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const dir = await tempDir('torchdog-pack-');
let tarball = '';

/** A fresh project with the tarball (and `more` packages) installed. */
async function newProject(name: string, flags: string[] = [], more: string[] = []): Promise<string> {
  const app = join(dir, name);
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  await exec('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', ...flags, tarball, ...more], { cwd: app, maxBuffer: 1 << 26 });
  return app;
}

/** `npx torchdog ARGS` in `cwd`, as a user types it (npx's own flags, such as --no, would make npx take --version for itself). */
// A user's shell, not `npm test`'s: npm hands its children npm_config_* and
// npm_package_* variables (this repository's settings), which a user's npx never sees.
const USER_ENV = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_(config|package|lifecycle)_/i.test(k)));

async function npx(args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec('npx', ['torchdog', ...args], { cwd, env: USER_ENV, maxBuffer: 1 << 24 });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('npm pack ships what a user needs and nothing of the repository\'s own tooling', { timeout: 5 * 60_000 }, async () => {
  await exec('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: ROOT, maxBuffer: 1 << 24 });
  const name = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
  assert.ok(name, 'npm pack produced a tarball');
  tarball = join(dir, name);
  const files = (await exec('tar', ['-tzf', tarball], { maxBuffer: 1 << 24 })).stdout.trim().split('\n').map((f) => f.replace(/^package\//, ''));
  for (const needed of ['package.json', 'README.md', 'LICENSE', 'bin/torchdog.js', 'dist/index.js', 'dist/index.d.ts', 'dist/cli/main.js', 'configs/default.yaml', 'configs/hotdog.yaml', 'CMakeLists.txt', 'binding.gyp', 'native/addon.cc']) {
    assert.ok(files.includes(needed), `the tarball has ${needed}`);
  }
  const tooling = files.filter((f) => /^(scripts|test|bench|docs|deploy|build|runs|data)\//.test(f) || f === 'tsconfig.json' || f === 'Dockerfile');
  assert.deepEqual(tooling, [], 'no scripts, tests, benchmarks or build outputs');
  assert.match(await readFile(join(ROOT, 'LICENSE'), 'utf8'), /^MIT License\n\nCopyright \(c\) 2026 torchdog contributors\n/);
});

test('npm pack → install in a new project → npx torchdog --version and train → import from TypeScript and ESM → classify', { timeout: 20 * 60_000 }, async () => {
  assert.ok(tarball, 'the packing test ran first');
  const app = await newProject('app', [], ['@types/node@20']);

  const shown = await npx(['--version'], app);
  assert.deepEqual([shown.code, shown.stdout], [0, `${version}\n`], shown.stderr);

  // The package's default recipe, from the project's folder; a configs/default.yaml of the project's own is not read.
  await mkdir(join(app, 'configs'));
  await writeFile(join(app, 'configs', 'default.yaml'), 'optim:\n  schedule: none\ntrain:\n  augment:\n    crop_scale: null\n');
  const trained = await npx(['train', 'train.epochs=1', 'data.image_size=32', 'train.device=cpu', 'train.threads=2', 'train.log_every=1000'], app);
  assert.equal(trained.code, 0, trained.stderr);
  assert.match(trained.stderr, /^config: .*node_modules\/torchdog\/configs\/default\.yaml\n/);
  assert.match(trained.stderr, /data: generating the demo set in data\/demo \(first use\)/);
  const summary = JSON.parse(trained.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.epochs, 1);
  assert.ok(summary.run_dir.startsWith(join(app, 'runs')), summary.run_dir);
  const resolved = parse(await readFile(join(summary.run_dir, 'config.yaml'), 'utf8'));
  const recipe = parse(await readFile(join(app, 'node_modules', 'torchdog', 'configs', 'default.yaml'), 'utf8'));
  assert.equal(resolved.optim.schedule, recipe.optim.schedule);
  assert.equal(resolved.optim.schedule, 'cosine');
  assert.deepEqual(resolved.train.augment.crop_scale, recipe.train.augment.crop_scale);
  assert.equal(resolved.train.augment.hflip, recipe.train.augment.hflip);
  assert.equal(resolved.data.root, 'data/demo');
  await readFile(join(summary.run_dir, 'model.safetensors'));

  // Every TypeScript example of the README, with --strict, against the installed package.
  const examples = typescriptBlocks(await readFile(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(examples.length >= 3, `README has ${examples.length} TypeScript examples`);

  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, lib: ['ES2022', 'ESNext.Disposable'], types: ['node'], outDir: 'out' },
      files: ['usage.ts', ...examples.map((_, i) => `readme-${i + 1}.ts`)],
    }),
  );
  for (const [i, example] of examples.entries()) await writeFile(join(app, `readme-${i + 1}.ts`), `${example}\nexport {};\n`);
  await writeFile(join(app, 'usage.ts'), USAGE_TS);
  await writeFile(join(app, 'usage.mjs'), USAGE_MJS);
  await exec(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: app });

  const image = join(dir, 'photo.jpg');
  await writeFile(image, await encodeImage('jpeg', 100, 80, 4));
  const checkpoint = join(dir, 'm.safetensors');
  const fromTs = JSON.parse((await exec(process.execPath, ['out/usage.js', checkpoint, image], { cwd: app })).stdout);
  const fromJs = JSON.parse((await exec(process.execPath, ['usage.mjs', checkpoint, image], { cwd: app })).stdout);
  assert.ok(['cat', 'dog'].includes(fromTs.category));
  assert.deepEqual(fromJs, fromTs);
  const { stdout } = await exec(join(app, 'node_modules', '.bin', 'torchdog'), ['predict', '--device', 'cpu', '-m', checkpoint, image], { cwd: app });
  assert.equal(JSON.parse(stdout).category, fromTs.category);
});

test('installed with install scripts off: drift and DVC import and work; the engine and `npx torchdog predict` name `npm rebuild torchdog`', { timeout: 10 * 60_000 }, async () => {
  assert.ok(tarball, 'the packing test ran first');
  const app = await newProject('app-no-scripts', ['--ignore-scripts']);
  await writeFile(join(app, 'program.mjs'), withoutAddonProgram('torchdog'));
  const { stdout } = await exec(process.execPath, ['program.mjs', app], { cwd: app });
  const seen = JSON.parse(stdout) as WithoutAddonResult;
  assert.deepEqual({ ...seen, engine: undefined }, { drift: true, pushed: 4, pulled: 3, restored: ['0.jpg', '1.jpg', '2.jpg'], engine: undefined });
  assert.match(seen.engine ?? '', /native addon is not built .*Run `npm rebuild torchdog`/);

  const row = (i: number, shift: number) => JSON.stringify({ avg_brightness: 0.4 + shift + (i % 10) / 100, contrast: 0.2, sharpness: 0.05, category: 'a' });
  await writeFile(join(app, 'reference.jsonl'), Array.from({ length: 50 }, (_, i) => row(i, 0)).join('\n') + '\n');
  await writeFile(join(app, 'current.jsonl'), Array.from({ length: 50 }, (_, i) => row(i, 0.3)).join('\n') + '\n');
  const drift = await npx(['drift', '-r', 'reference.jsonl', '-c', 'current.jsonl'], app);
  assert.equal(drift.code, 0, drift.stderr);
  assert.equal(JSON.parse(drift.stdout).columns.avg_brightness.drift, true);
  const version = await npx(['--version'], app);
  assert.equal(version.code, 0, version.stderr);
  // A real checkpoint and image (written by this process, which has the addon), so predict gets as far as the engine.
  await writeRandomCheckpoint(join(app, 'model.safetensors'));
  await writeFile(join(app, 'photo.jpg'), await encodeImage('jpeg', 64, 64, 1));
  const predict = await npx(['predict', '--device', 'cpu', '-m', 'model.safetensors', 'photo.jpg'], app);
  assert.equal(predict.code, 1);
  assert.match(predict.stderr, /^torchdog predict: .*native addon is not built.*Run `npm rebuild torchdog`/m);
  assert.doesNotMatch(predict.stderr, /\n\s+at /, 'no stack trace');
});
