// The house's rules that the compiler does not check: one door to the
// engine (DESIGN.md "The house"), read from the sources as text.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';

const ROOT = join(import.meta.dirname, '..');

async function sources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await sources(path)));
    else if (/\.(ts|mts|js|mjs)$/.test(entry.name)) out.push(path);
  }
  return out;
}

/** Every file of src/, bin/, bench/ and test/ with its path relative to the root (POSIX separators). */
async function files(): Promise<{ path: string; text: string }[]> {
  const paths = (await Promise.all(['src', 'bin', 'bench', 'test'].map((d) => sources(join(ROOT, d))))).flat();
  return Promise.all(paths.map(async (p) => ({ path: relative(ROOT, p).split(sep).join('/'), text: await readFile(p, 'utf8') })));
}

const ADDON_LOAD = /\.node['"`]|torchdog\.node|from\s+['"][^'"]*\/native(\.js|\.ts)?['"]|import\(\s*['"][^'"]*\/native(\.js|\.ts)?['"]\s*\)/;

test('only src/native.ts loads the addon, and only src/model imports src/native.ts', async () => {
  const offenders = (await files())
    .filter(({ path }) => path !== 'src/native.ts' && !path.startsWith('src/model/') && path !== 'test/boundaries.test.ts')
    .filter(({ text }) => ADDON_LOAD.test(text.replace(/^\s*\/\/.*$/gm, '')))
    .map(({ path }) => path);
  assert.deepEqual(offenders, [], 'files that reach the addon around the Model class');
  const model = (await files()).filter(({ path }) => path.startsWith('src/model/'));
  const loaders = model.filter(({ text }) => /createRequire|\.node['"`]/.test(text)).map(({ path }) => path);
  assert.deepEqual(loaders, [], 'src/model goes through src/native.ts too');
});

test('no Native* type outside src/native.ts and src/model', async () => {
  const offenders = (await files())
    .filter(({ path }) => path !== 'src/native.ts' && !path.startsWith('src/model/') && path !== 'test/boundaries.test.ts')
    .flatMap(({ path, text }) => [...text.matchAll(/\bNative[A-Z]\w*/g)].map((m) => `${path}: ${m[0]}`));
  assert.deepEqual(offenders, []);
});

test('the Model class keeps the addon handle in a private field', async () => {
  const text = await readFile(join(ROOT, 'src/model/model.ts'), 'utf8');
  assert.match(text, /readonly #native: NativeModel;/);
  // Nothing in the model folder hands the handle out.
  const leaks = (await files()).filter(({ path }) => path.startsWith('src/model/')).filter(({ text: t }) => /return\s+this\.#native\s*;/.test(t));
  assert.deepEqual(leaks.map((f) => f.path), []);
});

test('the rule checks can fail: a deep import of the addon is caught', () => {
  assert.ok(ADDON_LOAD.test("import { loadNative } from '../native.js';"));
  assert.ok(ADDON_LOAD.test("const { loadNative } = await import('../src/native.ts');"));
  assert.ok(ADDON_LOAD.test("require('../build/Release/torchdog.node')"));
  assert.ok(!ADDON_LOAD.test("import { Model } from '../model/index.js';"));
});

/** `src/<folder>/…` → folder; top-level files of src/ have none. */
function folderOf(path: string): string | null {
  const parts = path.split('/');
  return parts[0] === 'src' && parts.length > 2 ? parts[1]! : null;
}

/** Imports between src/ folders that do not go through the target folder's index.ts. */
export function deepImports(path: string, text: string): string[] {
  const from = folderOf(path);
  const out: string[] = [];
  const specs = [
    ...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?\bfrom\s+['"](\.[^'"]+)['"]/g),
    ...text.matchAll(/\bimport\(\s*['"](\.[^'"]+)['"]\s*\)/g),
  ];
  for (const m of specs) {
    const spec = m[1]!;
    const target = join(path, '..', spec).split(sep).join('/');
    const to = folderOf(target);
    if (to === null || to === from) continue;
    if (target !== `src/${to}/index.js` && target !== `src/${to}/index.ts`) out.push(`${path}: ${spec}`);
  }
  return out;
}

test('src/ folders reach each other only through their index.ts face', async () => {
  const offenders = (await files()).filter(({ path }) => path.startsWith('src/')).flatMap(({ path, text }) => deepImports(path, text));
  assert.deepEqual(offenders, []);
});

test('the face rule can fail: a deep import between folders is caught, a face import and an import within a folder are not', () => {
  assert.deepEqual(deepImports('src/serve/app.ts', "import { decodeImage } from '../image/decode.js';"), ['src/serve/app.ts: ../image/decode.js']);
  assert.deepEqual(deepImports('src/index.ts', "export { train } from './train/train.js';"), ['src/index.ts: ./train/train.js']);
  assert.deepEqual(deepImports('src/serve/app.ts', "import type { Prediction } from '../model/index.js';\nimport { Batcher } from './batcher.js';"), []);
  assert.deepEqual(deepImports('src/model/model.ts', "import { loadNative } from '../native.js';"), []);
  assert.deepEqual(deepImports('src/cli/main.ts', "const m = await import('../image/decode.js');"), ['src/cli/main.ts: ../image/decode.js']);
  assert.deepEqual(deepImports('src/cli/main.ts', "const m = await import('./train.js');"), []);
});
