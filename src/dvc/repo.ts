// The repository: found like DVC finds it (the nearest folder, from the
// working directory up, that holds a .dvc directory), with its config, cache
// and .dvcignore rules, and the .dvc files a command works on.
import { lstat, readdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { cacheDir, readDvcConfig, type DvcConfig } from './config.js';
import { createDvcFile, readDvcFile, type DvcFile, type DvcOut } from './dvcfile.js';
import { DvcError } from './errors.js';
import { IgnoreFilter } from './ignore.js';
import { ObjectCache } from './objects.js';
import { describeProblem, folderProblem, pathInside, reservedName, reservedPathReason } from './paths.js';
import { isDirectory, isFile, pathExists } from '../util/index.js';

export interface DvcRepo {
  root: string;
  /** `root`/.dvc */
  dvcDir: string;
  config: DvcConfig;
  cache: ObjectCache;
  ignore: IgnoreFilter;
}


/** The repository holding `cwd` (default: the process's working directory). */
export async function openRepo(cwd: string = process.cwd()): Promise<DvcRepo> {
  const start = resolve(cwd);
  for (let dir = start; ; dir = dirname(dir)) {
    if (await isDirectory(join(dir, '.dvc'))) {
      const dvcDir = join(dir, '.dvc');
      const config = await readDvcConfig(dvcDir);
      return { root: dir, dvcDir, config, cache: new ObjectCache(cacheDir(config)), ignore: new IgnoreFilter(dir) };
    }
    if (dirname(dir) === dir) break;
  }
  throw new DvcError(
    'ERR_DVC_NOT_A_REPO',
    `${start} is not inside a DVC repository: no .dvc directory there or in any folder above. ` +
      `Run the command from the repository (where data.dvc and .dvc/config are), or create .dvc/config (see 'dvc init')`,
  );
}

/** A path relative to the repository root, '/'-separated ('' for the root). */
export function repoRelative(repo: DvcRepo, path: string): string {
  return relative(repo.root, path).split(sep).join('/');
}

/**
 * The absolute workspace path of an output; refuses paths outside the
 * repository and paths into .git, .dvc or .hg (any case or spelling that opens
 * one on macOS or Windows).
 */
export function outPath(repo: DvcRepo, dvc: DvcFile, out: DvcOut): string {
  const path = resolve(dirname(dvc.file), ...out.path.split('/'));
  const inRepo = pathInside(repo.root, path);
  if (isAbsolute(out.path) || inRepo === undefined) {
    throw new DvcError('ERR_DVC_PATH', `${dvc.file}: outs[${out.index}].path ${JSON.stringify(out.path)} is outside the repository ${repo.root}`);
  }
  const why = reservedPathReason(inRepo);
  if (why) {
    const resolved = inRepo === out.path ? '' : ` (${inRepo} in the repository)`;
    throw new DvcError('ERR_DVC_PATH', `${repoRelative(repo, dvc.file)}: refusing outs[${out.index}].path ${JSON.stringify(out.path)}${resolved}: ${why}`);
  }
  return path;
}

/**
 * Refuses an output that is reached through a symbolic link to a folder, or
 * is one: pull would write, and push and status read, wherever it leads.
 * (A link to a file as the output itself is replaced by pull, not followed.)
 */
export async function checkOutputFolders(repo: DvcRepo, dvc: DvcFile, out: DvcOut, root: string): Promise<void> {
  const segments = repoRelative(repo, root).split('/');
  const refuse = (problem: string) =>
    new DvcError('ERR_DVC_PATH', `${repoRelative(repo, dvc.file)}: refusing outs[${out.index}].path ${JSON.stringify(out.path)}: ${problem}`);
  const parents = await folderProblem(repo.root, segments.slice(0, -1));
  if (parents?.found === 'symlink') throw refuse(describeProblem(parents));
  const info = await lstat(root).catch(() => undefined);
  if (info?.isSymbolicLink() && (await stat(root).catch(() => undefined))?.isDirectory()) {
    const problem = await folderProblem(repo.root, segments);
    if (problem) throw refuse(describeProblem(problem));
  }
}

/** An output of a .dvc file, located in the workspace and checked: what pull, push and status work on. */
export interface ResolvedOut {
  dvc: DvcFile;
  out: DvcOut;
  /** The .dvc file, relative to the repository root (for messages). */
  dvcName: string;
  /** The workspace path, absolute. */
  root: string;
  /** The workspace path, relative to the repository root. */
  target: string;
  /** The .dvc version is DVC 2's: text files were hashed after CRLF → LF. */
  legacy: boolean;
  /** The .dvc version is a folder (`<md5>.dir`). */
  isDir: boolean;
}

/** Locates an output, refusing paths outside the repository, into .git, .dvc or .hg, or through a symlinked folder. */
export async function resolveOut(repo: DvcRepo, dvc: DvcFile, out: DvcOut): Promise<ResolvedOut> {
  const dvcName = repoRelative(repo, dvc.file);
  const root = outPath(repo, dvc, out);
  await checkOutputFolders(repo, dvc, out, root);
  return {
    dvc,
    out,
    dvcName,
    root,
    target: repoRelative(repo, root),
    legacy: out.md5 !== undefined && out.hash !== 'md5',
    isDir: out.md5?.endsWith('.dir') ?? false,
  };
}

/** A listed file's name for messages: `data/sub/a.jpg` (the output's own name for a file output). */
export function entryName(target: string, relpath: string): string {
  return relpath ? `${target}/${relpath}` : target;
}

// Folders never searched for .dvc files: DVC's own, VCS metadata, packages.
const SKIPPED = new Set(['.git', '.hg', '.dvc', 'node_modules']);

/** Every .dvc file in the repository not hidden by .dvcignore, in path order. */
export async function findDvcFiles(repo: DvcRepo): Promise<string[]> {
  const found: string[] = [];
  const visit = async (dir: string): Promise<void> => {
    const rel = repoRelative(repo, dir);
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      const isDir = entry.isDirectory();
      if (isDir && (SKIPPED.has(entry.name) || reservedName(entry.name))) continue;
      if (!isDir && !(entry.isFile() && entry.name.endsWith('.dvc'))) continue;
      if (await repo.ignore.ignoredIn(rel, entry.name, isDir)) continue;
      if (isDir) await visit(join(dir, entry.name));
      else found.push(join(dir, entry.name));
    }
  };
  await visit(repo.root);
  return found;
}

/** The repository holding `options.cwd` (default: the working directory) and the .dvc files its `targets` name; see {@link selectDvcFiles}. */
export async function openTargets(options: { cwd?: string; targets?: readonly string[] }, create = false): Promise<{ repo: DvcRepo; files: DvcFile[] }> {
  const cwd = options.cwd ?? process.cwd();
  const repo = await openRepo(cwd);
  return { repo, files: await selectDvcFiles(repo, options.targets, cwd, create) };
}

/**
 * The .dvc files named by `targets` (paths relative to `cwd`: `data.dvc`, or
 * the tracked path `data`), or every .dvc file of the repository. With
 * `create`, a tracked path without a .dvc file gets a new one (push: the
 * first version of a folder).
 */
export async function selectDvcFiles(repo: DvcRepo, targets: readonly string[] | undefined, cwd: string, create = false): Promise<DvcFile[]> {
  if (!targets || targets.length === 0) {
    const files = await findDvcFiles(repo);
    if (files.length === 0) throw new DvcError('ERR_DVC_FILE', `no .dvc files in ${repo.root}; name a folder to start tracking it ('torchdog data push FOLDER')`);
    return Promise.all(files.map((f) => readDvcFile(f)));
  }
  const selected: DvcFile[] = [];
  for (const target of targets) {
    const path = resolve(cwd, target);
    const rel = relative(repo.root, path);
    if (rel.startsWith('..') || isAbsolute(rel)) throw new DvcError('ERR_DVC_PATH', `${target} is outside the repository ${repo.root}`);
    if (path.endsWith('.dvc')) {
      selected.push(await readDvcFile(path));
      continue;
    }
    const dvcPath = `${path.replace(/[\\/]+$/, '')}.dvc`;
    if (await isFile(dvcPath)) {
      selected.push(await readDvcFile(dvcPath));
    } else if (create && (await pathExists(path))) {
      selected.push(createDvcFile(dvcPath, relative(dirname(dvcPath), path).split(sep).join('/')));
    } else {
      throw new DvcError('ERR_DVC_FILE', `${target}: neither a .dvc file nor a path tracked by one (no ${relative(cwd, dvcPath) || dvcPath})`);
    }
  }
  return selected;
}
