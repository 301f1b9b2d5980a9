// DVC repositories for the data-versioning tests: a workspace with a config
// and files, a clean clone of its Git-tracked part, and snapshots to compare.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, relative, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { tempDir } from './checkpoint.ts';

export type Files = Record<string, string | Uint8Array>;

export async function writeFiles(root: string, files: Files): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    const full = join(root, ...path.split('/'));
    await mkdir(dirname(full), { recursive: true });
    await writeFile(full, content);
  }
}

/** A repository whose default remote `storage` is `remoteUrl` (default: a fresh folder). */
export async function makeRepo(files: Files = {}, remoteUrl?: string): Promise<{ root: string; remote: string }> {
  const root = await tempDir('torchdog-dvc-repo-');
  const remote = remoteUrl ?? (await tempDir('torchdog-dvc-remote-'));
  await mkdir(join(root, '.dvc'));
  await writeFile(join(root, '.dvc', 'config'), `[core]\n    remote = storage\n['remote "storage"']\n    url = ${remote}\n`);
  await writeFiles(root, files);
  return { root, remote };
}

/** What Git would carry: the .dvc directory's config, .dvc files, .dvcignore files. */
export async function cloneRepo(root: string): Promise<string> {
  const clone = await tempDir('torchdog-dvc-clone-');
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await readdir(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      const rel = relative(root, path);
      if (entry.isDirectory()) {
        if (rel === join('.dvc', 'cache') || rel === join('.dvc', 'tmp')) continue;
        await walk(path);
      } else if (entry.name.endsWith('.dvc') || entry.name === '.dvcignore' || rel === join('.dvc', 'config')) {
        await mkdir(dirname(join(clone, rel)), { recursive: true });
        await copyFile(path, join(clone, rel));
      }
    }
  };
  await walk(root);
  return clone;
}

/** Every file under `dir` (relative path → md5 of its bytes), hidden ones included. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string): Promise<void> => {
    const entries = await readdir(d, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const path = join(d, entry.name);
      if (entry.isDirectory()) await walk(path);
      else out[relative(dir, path).split(sep).join('/')] = createHash('md5').update(await readFile(path)).digest('hex');
    }
  };
  await walk(dir);
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/** Temporary files anywhere under `dir` (none may survive a failed transfer). */
export async function tempFiles(dir: string): Promise<string[]> {
  return Object.keys(await snapshot(dir)).filter((p) => p.endsWith('.tmp'));
}

/** Deterministic pseudo-random bytes. */
export function bytes(seed: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

export function md5(data: string | Uint8Array): string {
  return createHash('md5').update(data).digest('hex');
}

const ROOT = join(import.meta.dirname, '..', '..');
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
const ENTRY = join(ROOT, 'test', 'helpers', 'torchdog-cli.ts');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface CliHooks {
  /** Sees stderr as it arrives. */
  onStderr?: (text: string, child: ChildProcess) => void;
  /** Gets the child as soon as it is started (to signal it at a chosen moment). */
  onSpawn?: (child: ChildProcess) => void;
  /** Run as this user (the test must be root to switch). */
  user?: { uid: number; gid: number };
  /** A command that runs it: `['unshare', '-m', …]`; torchdog's command line follows. */
  prefix?: string[];
}

/** Runs `torchdog ARGS` from source in `cwd`. */
export function torchdog(args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, hooks: CliHooks = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, ...rest] = [...(hooks.prefix ?? []), process.execPath, '--import', TSX, ENTRY, ...args];
    const child = spawn(command!, rest, {
      cwd,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(hooks.user ?? {}),
    });
    hooks.onSpawn?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
      hooks.onStderr?.(stderr, child);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/**
 * Stores `files` (relpath → content) in the local remote folder `remote` as
 * DVC 3 objects with their `.dir` listing, whatever the relpaths say (the
 * hostile remotes of the security tests); returns the listing's oid.
 */
export async function publishListing(remote: string, files: Files): Promise<{ oid: string; size: number; nfiles: number }> {
  const entries = Object.entries(files).map(([relpath, content]) => ({ relpath, md5: md5(content) }));
  for (const [, content] of Object.entries(files)) await publishObject(remote, content);
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.relpath), Buffer.from(b.relpath)));
  const listing = Buffer.from(`[${entries.map((e) => `{"md5": "${e.md5}", "relpath": ${JSON.stringify(e.relpath)}}`).join(', ')}]`);
  const oid = `${md5(listing)}.dir`;
  await writeFiles(remote, { [`files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`]: listing });
  return { oid, size: Object.values(files).reduce((n, c) => n + Buffer.byteLength(c), 0), nfiles: entries.length };
}

/** Stores one DVC 3 object in the local remote folder `remote`; returns its md5. */
export async function publishObject(remote: string, content: string | Uint8Array): Promise<string> {
  const hash = md5(content);
  await writeFiles(remote, { [`files/md5/${hash.slice(0, 2)}/${hash.slice(2)}`]: content });
  return hash;
}
