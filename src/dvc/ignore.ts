// .dvcignore, as DVC applies it: gitignore patterns (pathspec's
// GitWildMatchPattern) in a .dvcignore file of any folder of the repository,
// relative to that folder; deeper files' patterns come after their parents',
// and the last pattern that matches decides. .git, .hg and .dvc folders and
// nested DVC repositories are always skipped, and so is anything named like
// them on macOS or Windows (.GIT, .git., a submodule's .git file): pull
// refuses such paths, so push must not version them. Ignored files are not
// part of a tracked directory's hash, are not pushed, and pull leaves them
// alone.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DvcError } from './errors.js';
import { isDirectory } from '../util/index.js';
import { reservedName } from './paths.js';

export const DVCIGNORE = '.dvcignore';

export interface IgnoreRule {
  pattern: string;
  regex: RegExp;
  /** true: the path is ignored; false: a `!` pattern that re-includes it. */
  ignore: boolean;
}

function escapeRegex(ch: string): string {
  return /[\\^$.*+?()[\]{}|/-]/.test(ch) ? `\\${ch}` : ch;
}

// One path segment of a glob: *, ? and [...] never cross '/'.
function segmentToRegex(glob: string): string {
  let out = '';
  let escaped = false;
  for (let i = 0; i < glob.length; i++) {
    const ch = glob[i]!;
    if (escaped) {
      out += escapeRegex(ch);
      escaped = false;
    } else if (ch === '\\') {
      escaped = true;
    } else if (ch === '*') {
      out += '[^/]*';
    } else if (ch === '?') {
      out += '[^/]';
    } else if (ch === '[') {
      let j = i + 1;
      if (glob[j] === '!') j++;
      if (glob[j] === ']') j++;
      while (j < glob.length && glob[j] !== ']') j++;
      if (j >= glob.length) {
        out += '\\[';
        continue;
      }
      let k = i + 1;
      let expr = '[';
      if (glob[k] === '!') {
        expr += '^';
        k++;
      } else if (glob[k] === '^') {
        expr += '\\^';
        k++;
      }
      expr += glob.slice(k, j + 1).replaceAll('\\', '\\\\');
      out += expr;
      i = j;
    } else {
      out += escapeRegex(ch);
    }
  }
  return out;
}

/** Compiles one line of a .dvcignore; null for blank lines and comments. */
export function compileIgnorePattern(line: string): IgnoreRule | null {
  let pattern = line.trim();
  if (pattern === '' || pattern.startsWith('#') || pattern === '/') return null;
  const original = pattern;
  let ignore = true;
  if (pattern.startsWith('!')) {
    ignore = false;
    pattern = pattern.slice(1);
  }
  if (pattern.startsWith('\\')) pattern = pattern.slice(1);
  const segments = pattern.split('/');
  for (let i = segments.length - 1; i > 0; i--) {
    if (segments[i] === '**' && segments[i - 1] === '**') segments.splice(i, 1);
  }
  let override: string | undefined;
  if (segments.length === 2 && segments[0] === '**' && segments[1] === '') override = '^.+/.*$';
  if (segments[0] === '') {
    segments.shift(); // a leading '/' anchors the pattern to the .dvcignore's folder
  } else if (segments.length === 1 || (segments.length === 2 && segments[1] === '')) {
    if (segments[0] !== '**') segments.unshift('**'); // a bare name matches at any depth
  }
  if (segments.length === 0) throw new DvcError('ERR_DVC_FILE', `invalid .dvcignore pattern ${JSON.stringify(original)}`);
  if (segments.length > 1 && segments.at(-1) === '') segments[segments.length - 1] = '**';
  let source = override;
  if (source === undefined) {
    const parts = ['^'];
    let needSlash = false;
    const end = segments.length - 1;
    segments.forEach((segment, i) => {
      if (segment === '**') {
        if (i === 0 && i === end) parts.push('.+');
        else if (i === 0) {
          parts.push('(?:.+/)?');
          needSlash = false;
        } else if (i === end) parts.push('/.*');
        else {
          parts.push('(?:/.+)?');
          needSlash = true;
        }
      } else if (segment === '*') {
        if (needSlash) parts.push('/');
        parts.push('[^/]+');
        needSlash = true;
      } else {
        if (needSlash) parts.push('/');
        parts.push(segmentToRegex(segment));
        if (i === end && ignore) parts.push('(?:/.*)?');
        needSlash = true;
      }
    });
    parts.push('$');
    source = parts.join('');
  }
  return { pattern: original, regex: new RegExp(source), ignore };
}

export function parseIgnoreFile(text: string): IgnoreRule[] {
  return text.split(/\r?\n/).flatMap((line) => compileIgnorePattern(line) ?? []);
}


/**
 * Answers "does DVC see this path?" for paths inside the repository `root`,
 * reading each folder's .dvcignore once.
 */
export class IgnoreFilter {
  private readonly rules = new Map<string, Promise<IgnoreRule[]>>();

  constructor(readonly root: string) {}

  /** The rules of `dir`/.dvcignore (`dir` relative to the root, '' for the root). */
  rulesOf(dir: string): Promise<IgnoreRule[]> {
    let rules = this.rules.get(dir);
    if (!rules) {
      const file = join(this.root, dir, DVCIGNORE);
      rules = readFile(file, 'utf8').then(
        (text) => parseIgnoreFile(text),
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT' || error.code === 'ENOTDIR') return [];
          throw new DvcError('ERR_DVC_FILE', `${file}: cannot read (${error.message})`);
        },
      );
      this.rules.set(dir, rules);
    }
    return rules;
  }

  /**
   * Whether `name` in folder `dir` (both relative to the root, '/'-separated)
   * is ignored, assuming `dir` itself is not (walks check folders on the way down).
   */
  async ignoredIn(dir: string, name: string, isDir: boolean): Promise<boolean> {
    if (reservedName(name)) return true;
    if (isDir) {
      if (await isDirectory(join(this.root, dir, name, '.dvc'))) return true; // a nested DVC repository
    }
    const path = dir === '' ? name : `${dir}/${name}`;
    let ignored = false;
    // Every .dvcignore from the root down to `dir`, the deepest last.
    const parts = dir === '' ? [] : dir.split('/');
    for (let depth = 0; depth <= parts.length; depth++) {
      const base = parts.slice(0, depth).join('/');
      const rules = await this.rulesOf(base);
      if (rules.length === 0) continue;
      const rel = base === '' ? path : path.slice(base.length + 1);
      for (const rule of rules) {
        if (rule.regex.test(rel) || (isDir && rule.regex.test(`${rel}/`))) ignored = rule.ignore;
      }
    }
    return ignored;
  }

  /** Whether `path` (relative to the root) or any folder above it is ignored. */
  async ignored(path: string, isDir: boolean): Promise<boolean> {
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    for (let i = 0; i < parts.length; i++) {
      const last = i === parts.length - 1;
      if (await this.ignoredIn(parts.slice(0, i).join('/'), parts[i]!, last ? isDir : true)) return true;
    }
    return false;
  }
}
