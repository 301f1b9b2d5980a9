// A plain ESM program that uses the pure-TypeScript parts of the package
// (drift, DVC) where the native addon cannot be loaded, then asks for a model
// and expects the refusal to say how to fix it. Run it with `node FILE.mjs
// WORK_DIR`; it prints one JSON line of what it saw.

/** The program's source, importing the package as `specifier` ('torchdog', or a file URL of dist/index.js). */
export function withoutAddonProgram(specifier: string): string {
  return `import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const work = process.argv[2];
const torchdog = await import(${JSON.stringify(specifier)});

// Drift: a brighter current set against a reference.
const record = (i, shift) => ({ avg_brightness: 0.4 + shift + ((i * 37) % 100) / 1000, contrast: 0.2 + ((i * 53) % 100) / 2000, sharpness: 0.05, label: i % 2 ? 'a' : 'b' });
const reference = Array.from({ length: 200 }, (_, i) => record(i, 0));
const current = Array.from({ length: 200 }, (_, i) => ({ ...record(i, 0.2), category: i % 2 ? 'a' : 'b' }));
const report = torchdog.detectDrift(reference, current);

// DVC: push a folder to a local remote, delete it, pull it back.
const repo = join(work, 'repo');
const remote = join(work, 'remote');
await mkdir(join(repo, '.dvc'), { recursive: true });
await mkdir(remote, { recursive: true });
await writeFile(join(repo, '.dvc', 'config'), \`[core]\\n    remote = storage\\n['remote "storage"']\\n    url = \${remote}\\n\`);
await mkdir(join(repo, 'images', 'cat'), { recursive: true });
for (let i = 0; i < 3; i++) await writeFile(join(repo, 'images', 'cat', \`\${i}.jpg\`), 'not really a jpeg ' + i);
const pushed = await torchdog.push({ cwd: repo, targets: ['images'] });
await rm(join(repo, 'images'), { recursive: true });
await rm(join(repo, '.dvc', 'cache'), { recursive: true });
const pulled = await torchdog.pull({ cwd: repo });
const restored = (await readdir(join(repo, 'images', 'cat'))).sort();

// The engine: refused, with the fix named.
let engine = null;
try {
  await torchdog.Model.create({ numClasses: 2, device: 'cpu' });
  engine = 'created';
} catch (error) {
  engine = error.message;
}
console.log(JSON.stringify({
  drift: report.columns.avg_brightness.drift,
  pushed: pushed.outs[0].uploaded,
  pulled: pulled.outs[0].downloaded,
  restored,
  engine,
}));
`;
}

export interface WithoutAddonResult {
  drift: boolean;
  pushed: number;
  pulled: number;
  restored: string[];
  engine: string | null;
}
