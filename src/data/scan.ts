// ImageFolder scanning (DESIGN.md): ROOT/{train,test}/<class>/*.{jpg,jpeg,png,webp};
// classes are the sorted folder names of train/; a seeded val_fraction of
// train/ (per class) is always held out for model selection, and test/, when
// present, is only evaluated, never chosen on. Symbolic links to images
// and to folders are followed, as torchvision's ImageFolder does.
import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Random } from '../util/index.js';
import { isDirectory } from '../util/index.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp'];

export interface Sample {
  path: string;
  label: number;
}

export interface ImageFolder {
  root: string;
  classes: string[];
  train: Sample[];
  /** The held-out part of train/ (what model selection looks at); empty when valFraction is 0. */
  val: Sample[];
  valSource: 'split' | 'none';
  /** test/'s images; empty without test/. */
  test: Sample[];
}

export class DatasetError extends Error {
  readonly code = 'ERR_TORCHDOG_DATASET';
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * What an entry of a folder is, following a symbolic link to what it names
 * (as torchvision's ImageFolder and DVC's symlink workspaces expect). A link
 * to nothing is 'dangling': an image name there is still listed, so that
 * decoding reports it as unreadable by name rather than it vanishing.
 */
async function entryKind(dir: string, entry: Dirent): Promise<'file' | 'dir' | 'dangling' | 'other'> {
  if (entry.isFile()) return 'file';
  if (entry.isDirectory()) return 'dir';
  if (!entry.isSymbolicLink()) return 'other';
  const info = await stat(join(dir, entry.name)).catch(() => null);
  if (!info) return 'dangling';
  return info.isFile() ? 'file' : info.isDirectory() ? 'dir' : 'other';
}

async function listClassDirs(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names: string[] = [];
  for (const e of entries) {
    if (!e.name.startsWith('.') && (await entryKind(dir, e)) === 'dir') names.push(e.name);
  }
  return names.sort(byName);
}

function isImageName(name: string): boolean {
  const lower = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((ext) => lower.endsWith(ext));
}

/**
 * The images under a class folder, in its subfolders too, symbolic links
 * followed; a folder reached a second time (a link back up, two links to one
 * place) is not walked again, so a loop ends and no image counts twice.
 */
async function listImages(classDir: string): Promise<string[]> {
  const images: string[] = [];
  const seen = new Set<string>();
  const walk = async (dir: string): Promise<void> => {
    const info = await stat(dir);
    const id = `${info.dev}:${info.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const kind = await entryKind(dir, entry);
      if ((kind === 'file' || kind === 'dangling') && isImageName(entry.name)) images.push(join(dir, entry.name));
      else if (kind === 'dir') await walk(join(dir, entry.name));
    }
  };
  await walk(classDir);
  return images.sort(byName);
}

export async function scanSplit(dir: string, classes: readonly string[]): Promise<Sample[]> {
  const samples: Sample[] = [];
  for (const [label, name] of classes.entries()) {
    const classDir = join(dir, name);
    if (!(await isDirectory(classDir))) continue;
    for (const path of await listImages(classDir)) samples.push({ path, label });
  }
  return samples;
}

/** Every image under `dir` (subfolders too), unlabelled (label 0): a flat folder of calibration images. */
export async function scanImages(dir: string): Promise<Sample[]> {
  return (await listImages(dir)).map((path) => ({ path, label: 0 }));
}

export async function scanImageFolder(root: string, options: { valFraction: number; seed: number }): Promise<ImageFolder> {
  const trainDir = join(root, 'train');
  if (!(await isDirectory(root))) throw new DatasetError(`data.root ${root}: no such directory`);
  if (!(await isDirectory(trainDir))) {
    throw new DatasetError(`data.root ${root}: expected an ImageFolder with ${trainDir}/<class>/*.jpg (and optionally test/)`);
  }
  const classes = await listClassDirs(trainDir);
  if (classes.length < 2) {
    throw new DatasetError(`${trainDir}: found ${classes.length} class folder(s) (${classes.join(', ') || 'none'}); need at least 2`);
  }
  const all = await scanSplit(trainDir, classes);
  for (const [label, name] of classes.entries()) {
    if (!all.some((s) => s.label === label)) throw new DatasetError(`${join(trainDir, name)}: no images (${IMAGE_EXTENSIONS.join(', ')})`);
  }
  const testDir = join(root, 'test');
  let test: Sample[] = [];
  if (await isDirectory(testDir)) {
    const extra = (await listClassDirs(testDir)).filter((c) => !classes.includes(c));
    if (extra.length > 0) throw new DatasetError(`${testDir}: class folder(s) ${extra.join(', ')} not in train/`);
    test = await scanSplit(testDir, classes);
  }
  if (options.valFraction === 0) return { root, classes, train: all, val: [], valSource: 'none', test };
  // Per-class seeded split, so every class is represented in validation.
  const random = new Random(options.seed ^ 0x5eed);
  const train: Sample[] = [];
  const val: Sample[] = [];
  for (const label of classes.keys()) {
    const items = random.shuffle(all.filter((s) => s.label === label));
    const held = Math.min(items.length - 1, Math.round(items.length * options.valFraction));
    val.push(...items.slice(0, held));
    train.push(...items.slice(held));
  }
  const order = (a: Sample, b: Sample) => byName(a.path, b.path);
  return { root, classes, train: train.sort(order), val: val.sort(order), valSource: 'split', test };
}
