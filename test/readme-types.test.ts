// Every TypeScript example in the README compiles, with --strict, in a fresh
// project that imports the package by its name (through package.json's
// exports map and the declarations in dist/, as a user's project does).
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdir, mkdtemp, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { typescriptBlocks } from './helpers/readme.ts';

const exec = promisify(execFile);
const ROOT = join(import.meta.dirname, '..');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

/** Type-checks `files` (name → source) as a strict NodeNext project; returns tsc's diagnostics ('' when clean). */
async function typeCheck(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'torchdog-readme-types-'));
  await mkdir(join(dir, 'node_modules'));
  await symlink(ROOT, join(dir, 'node_modules', 'torchdog'), 'dir');
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'readme-examples', private: true, type: 'module' }));
  await writeFile(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noEmit: true,
        lib: ['ES2022', 'ESNext.Disposable'], types: ['node'], typeRoots: [join(ROOT, 'node_modules', '@types')], skipLibCheck: false,
      },
      files: Object.keys(files),
    }),
  );
  for (const [name, source] of Object.entries(files)) await writeFile(join(dir, name), `${source}\nexport {};\n`);
  try {
    await exec(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: dir, maxBuffer: 1 << 24 });
    return '';
  } catch (error) {
    return String((error as { stdout?: string }).stdout || error);
  }
}

test('every TypeScript example of the README compiles against the package with --strict', { timeout: 5 * 60_000 }, async () => {
  const blocks = typescriptBlocks(await readFile(join(ROOT, 'README.md'), 'utf8'));
  assert.ok(blocks.length >= 3, `README has ${blocks.length} TypeScript examples`);
  assert.ok(blocks.some((b) => /\bcreateApp\b/.test(b) && /\bstartServer\b/.test(b)), 'the README shows the serving API');
  const files = Object.fromEntries(blocks.map((b, i) => [`example-${i + 1}.ts`, b]));
  const diagnostics = await typeCheck(files);
  assert.equal(diagnostics, '', `README examples do not compile:\n${diagnostics}`);
});

test('the type check fails on what the package does not export', { timeout: 5 * 60_000 }, async () => {
  const deepPath = ['torchdog', 'dist', 'native.js'].join('/'); // spelled apart: no file of ours imports it
  const diagnostics = await typeCheck({ 'deep.ts': `import { loadNative } from '${deepPath}';\nimport { native } from 'torchdog';\nconsole.log(loadNative, native);` });
  assert.match(diagnostics, /deep\.ts.*TS2307|deep\.ts.*Cannot find module 'torchdog\/dist\/native\.js'/);
  assert.match(diagnostics, /deep\.ts.*TS2305.*native/);
});
