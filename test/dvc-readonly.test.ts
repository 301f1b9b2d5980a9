// Pull into a place that cannot be written: a read-only folder or file system,
// the workspace or the cache. The error says so and names the path; it never
// blames the remote (a read-only cache was "permission denied" on the remote,
// and on a read-only file system "not in remote": Node's recursive mkdir says
// ENOENT there).
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, realpath, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { push } from '../src/dvc/index.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { cloneRepo, makeRepo, torchdog, type CliHooks } from './helpers/dvc.ts';

const NOBODY = { uid: 65534, gid: 65534 };
const AGAIN = "Everything else is in place; fix the cause and run 'torchdog data pull' again to continue.";

/** A pushed repository (data/a, data/sub/b) and a clone of it to pull into; both readable by `user`. */
async function pushedClone(user?: typeof NOBODY): Promise<string> {
  const { root, remote } = await makeRepo({ 'data/a': 'a', 'data/sub/b': 'b' });
  await push({ cwd: root, targets: ['data'] });
  const clone = await realpath(await cloneRepo(root));
  if (user) for (const dir of [clone, remote]) spawnSync('chown', ['-R', `${user.uid}:${user.gid}`, dir]);
  return clone;
}

async function pullFails(clone: string, hooks: CliHooks, ...lines: string[]): Promise<void> {
  const pulled = await torchdog(['data', 'pull', '--jobs', '1'], clone, {}, hooks);
  assert.equal(pulled.code, 1, pulled.stderr);
  assert.ok(pulled.stderr.endsWith(`torchdog data: pull: ${lines.join('\n')}\n`), pulled.stderr);
  assert.doesNotMatch(pulled.stderr, /remote|ENOENT/);
}

// Root writes through any mode bits: as root the pull runs as nobody.
const asUser: CliHooks = process.getuid?.() === 0 ? { user: NOBODY } : {};

test('a read-only workspace folder: each file names the file or folder it cannot write, and why', async () => {
  const clone = await pushedClone(asUser.user);
  await mkdir(join(clone, 'data'), { mode: 0o555 });
  if (asUser.user) spawnSync('chown', [`${NOBODY.uid}:${NOBODY.gid}`, join(clone, 'data')]);
  try {
    await pullFails(
      clone,
      asUser,
      '2 of 2 files could not be pulled:',
      `  data/a: cannot write ${clone}/data/a: permission denied (EACCES)`,
      `  data/sub/b: cannot create the folder ${clone}/data/sub: permission denied (EACCES)`,
      AGAIN,
    );
  } finally {
    await chmod(join(clone, 'data'), 0o755);
  }
});

test('a read-only cache is named as such, not as the remote denying access', async () => {
  const clone = await pushedClone(asUser.user);
  const cache = join(clone, '.dvc', 'cache');
  await mkdir(cache, { mode: 0o555 });
  if (asUser.user) spawnSync('chown', [`${NOBODY.uid}:${NOBODY.gid}`, cache]);
  try {
    await pullFails(clone, asUser, `data.dvc (data): the directory listing: cannot create the folder ${cache}/files: permission denied (EACCES)`);
  } finally {
    await chmod(cache, 0o755);
  }
});

/** A command prefix that runs torchdog with `dir` bind-mounted read-only, in its own mount namespace. */
function readOnly(dir: string): string[] {
  return ['unshare', '-m', 'sh', '-c', 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"', 'sh', dir];
}

// Read-only file systems need a mount: root with CAP_SYS_ADMIN and unshare(1).
const probe = await tempDir('torchdog-dvc-probe-');
const mountable = spawnSync(readOnly(probe)[0]!, [...readOnly(probe).slice(1), 'true']).status === 0;
await rm(probe, { recursive: true, force: true });
const noMount = mountable ? false : 'needs a read-only bind mount: root with CAP_SYS_ADMIN and unshare(1)';

test('a repository on a read-only file system: the cache folder it cannot create, EROFS, not "not in remote"', { skip: noMount }, async () => {
  const clone = await pushedClone();
  await pullFails(clone, { prefix: readOnly(clone) }, `data.dvc (data): the directory listing: cannot create the folder ${clone}/.dvc/cache: the file system is read-only (EROFS)`);
});

test('a workspace folder on a read-only file system, the cache writable: each file says EROFS', { skip: noMount }, async () => {
  const clone = await pushedClone();
  await mkdir(join(clone, 'data'));
  await pullFails(
    clone,
    { prefix: readOnly(join(clone, 'data')) },
    '2 of 2 files could not be pulled:',
    `  data/a: cannot write ${clone}/data/a: the file system is read-only (EROFS)`,
    `  data/sub/b: cannot create the folder ${clone}/data/sub: the file system is read-only (EROFS)`,
    AGAIN,
  );
});
