// Where pull may write, and push and status may read: inside the repository,
// never into a version-control system's or DVC's own folder, never through a
// symbolic link to a folder. A .dvc file and its remote can come from someone
// else's branch, and Git checks out symbolic links as they were committed, so
// neither the paths they name nor the folders on the way are trusted:
//
// - `.git`, `.dvc` and `.hg` are refused as any segment of an output path or
//   of a listed path, compared as macOS and Windows compare names (case,
//   trailing dots and spaces, NTFS streams and 8.3 names, characters HFS+
//   ignores), as Git itself does for the paths it checks out. A pulled
//   `sub/.git/config` or `.git/hooks/*` runs commands; a pulled
//   `.dvc/config.local` redirects the next push.
// - every folder from the repository root down to a file is checked with
//   lstat (not stat) and refused when it is a symbolic link; missing folders
//   are created one at a time, each checked after it is made.
// - a symbolic link to a file is read (hashed, pushed) only when it leads to a
//   file in the repository outside .git, .dvc and .hg, or to an object of the
//   cache, as DVC's `cache.type = symlink` workspaces do. A branch could
//   commit `data/x.jpg -> ~/.ssh/id_rsa` (or `-> ../.dvc/config.local`, where
//   credentials live) and a remote of its own; push would send the file there.
//   Refused rather than skipped: a skipped file would make a different version
//   that push records and uploads as if it were the folder, and the library
//   has no one to warn.
import { lstat, mkdir, readlink, realpath } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { writeError } from './errors.js';

export type ReservedName = '.git' | '.dvc' | '.hg';

const WHY: Record<ReservedName, string> = {
  '.git': "Git's own folder, where a hook or a config setting runs commands",
  '.dvc': "DVC's own folder, whose config decides where later commands read and send data",
  '.hg': "Mercurial's own folder, where a config setting runs commands",
};

// Code points HFS+ leaves out of names (Git's is_hfs_dotgit list): ".g\u200cit" opens .git on a Mac.
const HFS_IGNORED = /[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]/g;

/**
 * The reserved folder that `segment` (one path component) opens on some file
 * system: `.git`, `.GIT`, `.git.`, `.git ` and `git~1` are all `.git` on
 * macOS or Windows.
 */
export function reservedName(segment: string): ReservedName | undefined {
  let name = segment.replace(HFS_IGNORED, '').toLowerCase();
  // NTFS: ".git::$INDEX_ALLOCATION" is a stream of the folder .git, i.e. the folder.
  const colon = name.indexOf(':');
  if (colon >= 0) name = name.slice(0, colon);
  // Windows drops trailing dots and spaces.
  name = name.replace(/[. ]+$/, '');
  if (name === '.git' || name === 'git~1') return '.git';
  if (name === '.dvc' || name === 'dvc~1') return '.dvc';
  if (name === '.hg' || name === 'hg~1') return '.hg';
  return undefined;
}

/** Why `path` ('/'-separated) may not be pulled or pushed, naming the segment; undefined when it may. */
export function reservedPathReason(path: string): string | undefined {
  for (const segment of path.split('/')) {
    const name = reservedName(segment);
    if (!name) continue;
    const what = segment === name ? `'${name}'` : `${JSON.stringify(segment)} (the same name as ${name} on macOS or Windows)`;
    return `${what} is ${WHY[name]}; DVC never tracks .git, .dvc or .hg folders`;
  }
  return undefined;
}

export interface FolderProblem {
  /** The offending component, relative to the root, '/'-separated. */
  path: string;
  /** What is there instead of a real folder. */
  found: 'symlink' | 'file';
  /** A symbolic link's target, as stored. */
  target?: string;
}

/** The sentence for a problem: "data/sub is a symbolic link (to ../.git)". */
export function describeProblem(problem: FolderProblem): string {
  if (problem.found === 'file') return `${problem.path} is a file, not a folder`;
  const to = problem.target === undefined ? '' : ` (to ${problem.target})`;
  return `${problem.path} is a symbolic link${to}; torchdog does not read or write through a symlinked folder, which could lead anywhere (replace it with a real folder)`;
}

async function lstatOrUndefined(path: string) {
  try {
    return await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

async function problemAt(abs: string, segments: readonly string[], i: number, info: Awaited<ReturnType<typeof lstat>>): Promise<FolderProblem | undefined> {
  const path = segments.slice(0, i + 1).join('/');
  if (info.isSymbolicLink()) {
    const target = await readlink(abs).catch(() => undefined);
    return { path, found: 'symlink', ...(target === undefined ? {} : { target }) };
  }
  if (!info.isDirectory()) return { path, found: 'file' };
  return undefined;
}

/**
 * Walks the folders `root`/segments[0], `root`/segments[0]/segments[1], …:
 * the first that is a symbolic link or not a folder is the problem. Without
 * `create`, the walk ends at the first missing one (nothing below exists);
 * with it, missing folders are made, one level at a time, and checked again
 * once made (mkdir never follows a link it finds at the name: EEXIST).
 */
export async function folderProblem(root: string, segments: readonly string[], create = false): Promise<FolderProblem | undefined> {
  let abs = root;
  for (let i = 0; i < segments.length; i++) {
    abs = join(abs, segments[i]!);
    let info = await lstatOrUndefined(abs);
    if (!info) {
      if (!create) return undefined;
      await mkdir(abs).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'EEXIST') throw writeError(error, abs, 'create the folder');
      });
      info = await lstat(abs);
    }
    const problem = await problemAt(abs, segments, i, info);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * {@link folderProblem} without `create`, for many paths under one root:
 * each folder is looked at once (a listing of thousands of files in a few
 * folders costs a few lstat calls).
 */
export class FolderCheck {
  private readonly seen = new Map<string, Promise<FolderProblem | 'absent' | undefined>>();

  constructor(readonly root: string) {}

  /** The problem of the folders `segments`, or undefined when each exists as a real folder or is absent. */
  async problem(segments: readonly string[]): Promise<FolderProblem | undefined> {
    for (let i = 0; i < segments.length; i++) {
      const result = await this.check(segments, i);
      if (result === 'absent') return undefined;
      if (result) return result;
    }
    return undefined;
  }

  private check(segments: readonly string[], i: number): Promise<FolderProblem | 'absent' | undefined> {
    const key = segments.slice(0, i + 1).join('/');
    let result = this.seen.get(key);
    if (!result) {
      const abs = join(this.root, ...segments.slice(0, i + 1));
      result = lstatOrUndefined(abs).then(async (info): Promise<FolderProblem | 'absent' | undefined> => (info ? problemAt(abs, segments, i, info) : 'absent'));
      this.seen.set(key, result);
    }
    return result;
  }
}

/** The real (symlink-free) paths a followed link may lead into. */
export interface LinkBounds {
  repo: string;
  cache: string;
}

/** The repository's and the cache's real paths (a cache not made yet: as configured). */
export async function linkBounds(repoRoot: string, cacheDir: string): Promise<LinkBounds> {
  return { repo: await realpath(repoRoot), cache: await realpath(cacheDir).catch(() => resolve(cacheDir)) };
}

// A cache object's place under the cache directory: files/md5/<2>/<30> (DVC 3) or <2>/<30> (DVC 2).
const CACHE_OBJECT = /^(files\/md5\/)?[0-9a-f]{2}\/[0-9a-f]{30}(\.dir)?$/;

/** `path` relative to the folder `dir`, '/'-separated; undefined when it is not strictly inside. */
export function pathInside(dir: string, path: string): string | undefined {
  const rel = relative(dir, path);
  if (rel === '' || rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return undefined;
  return rel.split(sep).join('/');
}

/**
 * Why the file that the symbolic link `link` (named `name` in messages)
 * leads to may not be read, or undefined when it may: see the rule above.
 */
export async function linkedFileProblem(link: string, name: string, bounds: LinkBounds): Promise<string | undefined> {
  const target = await realpath(link);
  const inCache = pathInside(bounds.cache, target);
  if (inCache !== undefined && CACHE_OBJECT.test(inCache)) return undefined;
  const inRepo = pathInside(bounds.repo, target);
  const reserved = inRepo?.split('/').find((segment) => reservedName(segment));
  if (inRepo !== undefined && !reserved) return undefined;
  const where = inRepo === undefined ? `${target}, outside the repository` : `${inRepo}, inside ${reserved}`;
  return (
    `${name} is a symbolic link to ${where}; torchdog reads no file through a link that leads out of the repository or into .git, .dvc or .hg, ` +
    `since push would send it to the remote (replace the link with a copy of the file)`
  );
}
