// The package as a user gets it: packed, installed into a fresh project
// (the install script builds the addon there), imported from TypeScript and
// from plain ESM JavaScript, classifying an image.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from './helpers/checkpoint.ts';
import { encodeImage } from './helpers/images.ts';

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

test('npm pack → install in a new project → import from TypeScript and ESM → classify', { timeout: 15 * 60_000 }, async () => {
  const dir = await tempDir('torchdog-pack-');
  await exec('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: ROOT, maxBuffer: 1 << 24 });
  const tarball = (await readdir(dir)).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack produced a tarball');

  const app = join(dir, 'app');
  await mkdir(app);
  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  await exec('npm', ['install', '--no-audit', '--no-fund', '--loglevel=error', join(dir, tarball), '@types/node@20'], {
    cwd: app,
    maxBuffer: 1 << 26,
  });

  await writeFile(
    join(app, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, lib: ['ES2022', 'ESNext.Disposable'], types: ['node'], outDir: 'out' },
      files: ['usage.ts'],
    }),
  );
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
