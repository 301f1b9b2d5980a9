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
import { lstat, mkdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
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
