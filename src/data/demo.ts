// Installs the embedded demo data set: the painter's (demo-painter.ts) synthetic
// "hotdog / not hotdog" images, encoded by sharp into an ImageFolder, built in
// a staging folder and swapped into place, so the same options give the same
// bytes on every run and the default config trains without downloads.
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import sharp from 'sharp';
import { mapLimit } from '../util/index.js';
import { expectInteger, expectKnownKeys, expectNumber, expectString, invalid, withoutUndefined } from '../util/index.js';
import { DEMO_CLASSES, demoImageSeed, PAINTER_VERSION, renderDemoImage, type DemoClass } from './demo-painter.js';

export { DEMO_CLASSES, renderDemoImage, type DemoClass } from './demo-painter.js';

/** Written last into a generated root; its presence (with matching options) marks a complete set. */
export const DEMO_MARKER = '.torchdog-demo.json';

export interface DemoDataOptions {
  /** Images per class, train and test together (default 300). */
  perClass?: number;
  /** Side of the square images in pixels (default 128). */
  size?: number;
  /** Seed of the generator (default 0). */
  seed?: number;
  /** Share of each class written to test/ (default 0.2); 0 writes no test/. */
  testFraction?: number;
}

export interface DemoDataSet {
  /** Absolute path of the data set. */
  root: string;
  /** Images per `split/class`, e.g. `{ 'train/hotdog': 240, 'test/hotdog': 60, ... }`. */
  counts: Record<string, number>;
}

type ResolvedOptions = Required<DemoDataOptions>;

const DEFAULTS: ResolvedOptions = { perClass: 300, size: 128, seed: 0, testFraction: 0.2 };
const OPTION_KEYS = Object.keys(DEFAULTS);
const JPEG_QUALITY = 90;
const SPLITS = ['train', 'test'] as const;
const FILE_PATTERN = /^(hotdog|nothotdog)-\d+\.jpg$/;

interface Marker {
  generator: 'torchdog-demo';
  version: number;
  options: ResolvedOptions;
  jpegQuality: number;
  counts: Record<string, number>;
}

function resolveOptions(options: DemoDataOptions | undefined): ResolvedOptions {
  if (options === undefined) return { ...DEFAULTS };
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  expectKnownKeys(options, 'options', OPTION_KEYS);
  const o = { ...DEFAULTS, ...withoutUndefined(options) };
  expectInteger(o.perClass, 'perClass', 1, 1_000_000);
  expectInteger(o.size, 'size', 16, 1024);
  expectInteger(o.seed, 'seed', 0, 0xffffffff);
  expectNumber(o.testFraction, 'testFraction', 0, 0.99);
  return o;
}

/** Test images per class: the last `testCount` indices of each class go to test/. */
function planCounts(o: ResolvedOptions): { train: number; test: number } {
  const test = Math.min(o.perClass - 1, Math.round(o.perClass * o.testFraction));
  return { train: o.perClass - test, test };
}

function countsOf(o: ResolvedOptions): Record<string, number> {
  const plan = planCounts(o);
  const counts: Record<string, number> = {};
  for (const split of SPLITS) for (const cls of DEMO_CLASSES) counts[`${split}/${cls}`] = plan[split];
  return counts;
}

/**
 * Writes the demo ImageFolder `root/{train,test}/{hotdog,nothotdog}/*.jpg`,
 * replacing a demo set already there. The set is built in a hidden sibling
 * folder and renamed into place, so `root` never holds half a set. Refuses a
 * `root` that holds files the generator did not write.
 */
export async function generateDemoData(root: string, options?: DemoDataOptions): Promise<DemoDataSet> {
  const o = resolveOptions(options);
  const target = resolve(expectString(root, 'root'));
  await assertReplaceable(target);
  return buildInPlace(target, o, false);
}

/**
 * Returns the demo set at `root`, generating it first unless `root` already
 * holds a complete set made with the same options (checked by the marker file
 * and the number of images, without decoding anything).
 */
export async function ensureDemoData(root: string, options?: DemoDataOptions): Promise<DemoDataSet> {
  const o = resolveOptions(options);
  const target = resolve(expectString(root, 'root'));
  const existing = await readCompleteSet(target, o);
  if (existing) return { root: target, counts: existing };
  await assertReplaceable(target);
  return buildInPlace(target, o, true);
}

async function buildInPlace(target: string, o: ResolvedOptions, keepConcurrentSet: boolean): Promise<DemoDataSet> {
  const parent = dirname(target);
  await mkdir(parent, { recursive: true });
  await removeAbandonedStaging(parent, basename(target));
  const staging = join(parent, `.${basename(target)}.partial-${process.pid}-${randomBytes(4).toString('hex')}`);
  try {
    const counts = await writeDemoTree(staging, o);
    // Another process may have finished the same set while we drew ours.
    const raced = keepConcurrentSet ? await readCompleteSet(target, o) : null;
    if (!raced) await swapInto(staging, target);
    return { root: target, counts };
  } finally {
    await rm(staging, { recursive: true, force: true });
  }
}

async function writeDemoTree(dir: string, o: ResolvedOptions): Promise<Record<string, number>> {
  const plan = planCounts(o);
  const digits = Math.max(4, String(o.perClass - 1).length);
  const jobs: { path: string; cls: DemoClass; seed: number }[] = [];
  for (const [classIndex, cls] of DEMO_CLASSES.entries()) {
    for (const split of SPLITS) {
      if (plan[split] > 0) await mkdir(join(dir, split, cls), { recursive: true });
    }
    for (let i = 0; i < o.perClass; i++) {
      const split = i < plan.train ? 'train' : 'test';
      const name = `${cls}-${String(i).padStart(digits, '0')}.jpg`;
      jobs.push({ path: join(dir, split, cls, name), cls, seed: demoImageSeed(o.seed, classIndex, i) });
    }
  }
  // Drawing runs on this thread; a few encodes in flight keep libuv busy meanwhile.
  const inFlight = Math.min(16, 2 * availableParallelism() + 2);
  await mapLimit(jobs, inFlight, async (job) => {
    const pixels = renderDemoImage(job.cls, o.size, job.seed);
    const jpeg = await sharp(pixels, { raw: { width: o.size, height: o.size, channels: 3 } })
      .jpeg({ quality: JPEG_QUALITY })
      .toBuffer();
    await writeFile(job.path, jpeg);
  });
  const counts = countsOf(o);
  const marker: Marker = { generator: 'torchdog-demo', version: PAINTER_VERSION, options: o, jpegQuality: JPEG_QUALITY, counts };
  await writeFile(join(dir, DEMO_MARKER), `${JSON.stringify(marker, null, 2)}\n`);
  return counts;
}

async function readCompleteSet(target: string, o: ResolvedOptions): Promise<Record<string, number> | null> {
  let marker: Partial<Marker>;
  try {
    marker = JSON.parse(await readFile(join(target, DEMO_MARKER), 'utf8')) as Partial<Marker>;
  } catch {
    return null;
  }
  const m = marker.options;
  if (marker.generator !== 'torchdog-demo' || marker.version !== PAINTER_VERSION || marker.jpegQuality !== JPEG_QUALITY) return null;
  if (!m || m.perClass !== o.perClass || m.size !== o.size || m.seed !== o.seed || m.testFraction !== o.testFraction) return null;
  const counts = countsOf(o);
  for (const [key, expected] of Object.entries(counts)) {
    if (expected === 0) continue;
    let names: string[];
    try {
      names = await readdir(join(target, key));
    } catch {
      return null;
    }
    if (names.filter((n) => FILE_PATTERN.test(n)).length !== expected) return null;
  }
  return counts;
}

/** Throws unless `target` is missing, empty or laid out like a demo set, so user data is never replaced. */
async function assertReplaceable(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return;
    if (code === 'ENOTDIR') throw new Error(`Demo data root ${target} is a file; expected a folder or a path that does not exist`);
    throw error;
  }
  const foreign = (path: string) =>
    new Error(`Refusing to replace ${target} with the demo data set: it holds ${path}, which the demo generator did not write. Point data.root elsewhere or remove the folder.`);
  for (const top of entries) {
    if (top === DEMO_MARKER) continue;
    if (!(SPLITS as readonly string[]).includes(top)) throw foreign(join(target, top));
    for (const cls of await readdir(join(target, top))) {
      if (!(DEMO_CLASSES as readonly string[]).includes(cls)) throw foreign(join(target, top, cls));
      for (const file of await readdir(join(target, top, cls))) {
        if (!FILE_PATTERN.test(file)) throw foreign(join(target, top, cls, file));
      }
    }
  }
}

async function swapInto(staging: string, target: string): Promise<void> {
  try {
    await rename(staging, target); // succeeds when target is missing or an empty folder
    return;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST' && code !== 'EPERM') throw error;
  }
  const old = join(dirname(target), `.${basename(target)}.old-${process.pid}-${randomBytes(4).toString('hex')}`);
  await rename(target, old);
  await rename(staging, target);
  await rm(old, { recursive: true, force: true });
}

/** Removes staging/old folders left by generator processes that died (by pid, so live ones are kept). */
async function removeAbandonedStaging(parent: string, base: string): Promise<void> {
  const pattern = new RegExp(`^\\.${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(?:partial|old)-(\\d+)-[0-9a-f]+$`);
  for (const name of await readdir(parent)) {
    const pid = Number(pattern.exec(name)?.[1]);
    if (!Number.isInteger(pid) || pid === process.pid || isAlive(pid)) continue;
    const path = join(parent, name);
    if ((await stat(path)).isDirectory()) await rm(path, { recursive: true, force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
