// A .dvc file from someone else's branch, with their remote: pull never writes
// into .git, .dvc or .hg, nor through a symlinked folder; push and status read
// by the same rules; what a killed transfer left is swept, and only that.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, readdir, readFile, realpath, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { pull, push, status, DvcError } from '../src/dvc/index.ts';
import { parseDvcFile } from '../src/dvc/dvcfile.ts';
import { reservedName } from '../src/dvc/paths.ts';
import { STALE_TEMP } from '../src/dvc/sweep.ts';
import { RETRY_DELAYS_MS } from '../src/dvc/transfer.ts';
import { makeRepo, md5, publishListing, publishObject, snapshot, writeFiles } from './helpers/dvc.ts';
import { tempDir } from './helpers/checkpoint.ts';

RETRY_DELAYS_MS.splice(0, RETRY_DELAYS_MS.length, 5, 5);

const GIT = "'.git' is Git's own folder, where a hook or a config setting runs commands; DVC never tracks .git, .dvc or .hg folders";
const DVC = "'.dvc' is DVC's own folder, whose config decides where later commands read and send data; DVC never tracks .git, .dvc or .hg folders";
const HOOK = '#!/bin/sh\ntouch /tmp/pwned\n';

async function caught(promise: Promise<unknown>): Promise<DvcError> {
  let error: unknown;
  await promise.then(
    () => assert.fail('expected a refusal'),
    (e: unknown) => (error = e),
  );
  assert.ok(error instanceof DvcError, String(error));
  return error;
}

async function refused(promise: Promise<unknown>, message: string): Promise<void> {
  const error = await caught(promise);
  assert.equal(error.code, 'ERR_DVC_PATH', error.message);
  assert.equal(error.message, message);
}

/** A repository with `.git/hooks` and `.dvc/config` of its own, and a remote that has `files`. */
async function victim(files: Record<string, string>) {
  const repo = await makeRepo({ '.git/hooks/README': 'sample hooks\n', '.git/config': '[core]\n' });
  const listing = await publishListing(repo.remote, files);
  return { ...repo, ...listing };
}

test('a .dvc file whose output is .git/hooks, .dvc or another spelling of them is refused by pull, push and status', async () => {
  const { root, oid, size, nfiles } = await victim({ 'pre-commit': HOOK });
  const dvcFile = (path: string) => `outs:\n- md5: ${oid}\n  size: ${size}\n  nfiles: ${nfiles}\n  hash: md5\n  path: ${path}\n`;
  const before = await snapshot(join(root, '.git'));

  const cases: Array<[string, string]> = [
    ['.git/hooks', `data.dvc: refusing outs[0].path ".git/hooks": ${GIT}`],
    ['.git', `data.dvc: refusing outs[0].path ".git": ${GIT}`],
    ['.dvc', `data.dvc: refusing outs[0].path ".dvc": ${DVC}`],
    ['.GIT/hooks', `data.dvc: refusing outs[0].path ".GIT/hooks": ".GIT" (the same name as .git on macOS or Windows) is Git's own folder, where a hook or a config setting runs commands; DVC never tracks .git, .dvc or .hg folders`],
    ['.git./hooks', `data.dvc: refusing outs[0].path ".git./hooks": ".git." (the same name as .git on macOS or Windows) is Git's own folder, where a hook or a config setting runs commands; DVC never tracks .git, .dvc or .hg folders`],
    ['sub/.Hg', `data.dvc: refusing outs[0].path "sub/.Hg": ".Hg" (the same name as .hg on macOS or Windows) is Mercurial's own folder, where a config setting runs commands; DVC never tracks .git, .dvc or .hg folders`],
    ['data/../.git/hooks', `data.dvc: refusing outs[0].path "data/../.git/hooks" (.git/hooks in the repository): ${GIT}`],
  ];
  for (const [path, message] of cases) {
    await writeFile(join(root, 'data.dvc'), dvcFile(path));
    await refused(pull({ cwd: root }), message);
    await refused(status({ cwd: root, cloud: true }), message);
    await refused(push({ cwd: root }), message);
  }
  // From a .dvc file in a subfolder, the path is resolved first.
  await writeFile(join(root, 'data.dvc'), dvcFile('data'));
  await writeFiles(root, { 'sub/hooks.dvc': dvcFile('../.git/hooks') });
  await refused(pull({ cwd: root, targets: ['sub/hooks.dvc'] }), `sub/hooks.dvc: refusing outs[0].path "../.git/hooks" (.git/hooks in the repository): ${GIT}`);
  assert.deepEqual(await snapshot(join(root, '.git')), before, '.git is untouched');
});

test('a pulled .dvc/config.local (which would redirect the next push) is refused, naming the .dvc file and the entry', async () => {
  const { root, remote } = await victim({});
  const hijack = "['remote \"storage\"']\n    url = /somewhere/else\n";
  const hash = await publishObject(remote, hijack);
  await writeFile(join(root, 'data.dvc'), `outs:\n- md5: ${hash}\n  size: ${hijack.length}\n  hash: md5\n  path: .dvc/config.local\n`);
  await refused(pull({ cwd: root }), `data.dvc: refusing outs[0].path ".dvc/config.local": ${DVC}`);
  assert.equal(await stat(join(root, '.dvc', 'config.local')).catch(() => null), null);

  // Inside a tracked folder, the listing's .dvc makes it a nested DVC repository: refused too.
  const listing = await publishListing(remote, { 'a.jpg': 'a', '.dvc/config.local': hijack });
  await writeFile(join(root, 'data.dvc'), `outs:\n- md5: ${listing.oid}\n  hash: md5\n  path: data\n`);
  await refused(pull({ cwd: root }), `data.dvc (data) (${listing.oid}): refusing entry 0 ".dvc/config.local": ${DVC}`);
  assert.equal(await stat(join(root, 'data')).catch(() => null), null, 'nothing of the listing was written');
});

test('a .dir listing with sub/.git/config (or .GIT, or a .git file) is refused before anything is written', async () => {
  const cases: Array<[string, string]> = [
    ['sub/.git/config', GIT],
    ['sub/.GIT/config', `".GIT" (the same name as .git on macOS or Windows) is Git's own folder, where a hook or a config setting runs commands; DVC never tracks .git, .dvc or .hg folders`],
    ['sub/.git', GIT],
    ['.hg/hgrc', "'.hg' is Mercurial's own folder, where a config setting runs commands; DVC never tracks .git, .dvc or .hg folders"],
  ];
  for (const [relpath, why] of cases) {
    const { root, oid } = await victim({ 'a.jpg': 'a', [relpath]: '[core]\n    fsmonitor = "touch /tmp/pwned"\n' });
    await writeFile(join(root, 'data.dvc'), `outs:\n- md5: ${oid}\n  hash: md5\n  path: data\n`);
    const index = relpath.startsWith('.') ? 0 : 1;
    const message = `data.dvc (data) (${oid}): refusing entry ${index} ${JSON.stringify(relpath)}: ${why}`;
    await refused(pull({ cwd: root }), message);
    assert.equal(await stat(join(root, 'data')).catch(() => null), null, `${relpath}: nothing was written`);
    await refused(status({ cwd: root, cloud: true }), message);
  }
});

test('the names that open .git, .dvc or .hg somewhere are all reserved; others are not', () => {
  for (const name of ['.git', '.GIT', '.Git', '.git.', '.git ', '.git. .', '.git::$INDEX_ALLOCATION', 'git~1', 'GIT~1', '.g\u200cit', '.git\ufeff']) {
    assert.equal(reservedName(name), '.git', JSON.stringify(name));
  }
  for (const name of ['.dvc', '.DVC', '.dvc.', 'DVC~1', '.hg', '.HG ', 'hg~1']) assert.notEqual(reservedName(name), undefined, name);
  for (const name of ['.github', 'git', '.gitignore', '.gitattributes', '.dvcignore', 'x.git', '.git~1', '.hgignore', 'dvc', '..', '.']) {
    assert.equal(reservedName(name), undefined, name);
  }
});

test('push never versions .git, .dvc or .hg by another spelling, so its listings are ones pull accepts', async () => {
  const { root } = await makeRepo({
    'data/a.jpg': 'a',
    'data/.GIT/config': '[core]\n',
    'data/sub/.git': 'gitdir: ../elsewhere\n',
    'data/sub/b.jpg': 'b',
    'data/.hg./hgrc': 'x',
    'data/.github/workflow.yml': 'kept: a name like .git is not .git',
  });
  const pushed = await push({ cwd: root, targets: ['data'] });
  assert.equal(pushed.outs[0]!.nfiles, 3);
  const oid = pushed.outs[0]!.md5;
  const listing = JSON.parse(await readFile(join(root, '.dvc', 'cache', 'files', 'md5', oid.slice(0, 2), oid.slice(2)), 'utf8')) as { relpath: string }[];
  assert.deepEqual(listing.map((e) => e.relpath), ['.github/workflow.yml', 'a.jpg', 'sub/b.jpg']);
  assert.equal((await status({ cwd: root })).clean, true);
});

test('pull, push and status refuse a symlinked folder in the output path or under it, naming the link', async () => {
  const outside = await tempDir('torchdog-dvc-outside-');
  const { root, oid } = await victim({ 'a.jpg': 'a', 'sub/pre-commit': HOOK });
  await writeFile(join(root, 'data.dvc'), `outs:\n- md5: ${oid}\n  hash: md5\n  path: data\n`);
  const why = (link: string, target: string) =>
    `${link} is a symbolic link (to ${target}); torchdog does not read or write through a symlinked folder, which could lead anywhere (replace it with a real folder)`;

  // A folder of the listing is a link Git checked out: data/sub → ../.git/hooks.
  await mkdir(join(root, 'data'));
  await symlink(join('..', '.git', 'hooks'), join(root, 'data', 'sub'));
  await refused(pull({ cwd: root }), `data.dvc (data): refusing entry "sub/pre-commit": ${why('data/sub', '../.git/hooks')}`);
  assert.deepEqual(await readdir(join(root, '.git', 'hooks')), ['README']);
  assert.deepEqual(await readdir(join(root, 'data')), ['sub'], 'not even a.jpg: the whole pull is refused before writing');
  await refused(pull({ cwd: root, force: true }), `data.dvc (data): refusing entry "sub/pre-commit": ${why('data/sub', '../.git/hooks')}`);

  // The output folder itself is a link.
  await rename(join(root, 'data'), join(root, 'old-data'));
  await symlink(outside, join(root, 'data'));
  const top = `data.dvc: refusing outs[0].path "data": ${why('data', outside)}`;
  await refused(pull({ cwd: root }), top);
  await refused(push({ cwd: root }), top);
  await refused(status({ cwd: root }), top);
  assert.deepEqual(await readdir(outside), []);

  // A folder above the output is a link.
  await writeFiles(root, { 'nested/data.dvc': `outs:\n- md5: ${oid}\n  hash: md5\n  path: deeper/data\n` });
  await symlink(outside, join(root, 'nested', 'deeper'));
  const above = `nested/data.dvc: refusing outs[0].path "deeper/data": ${why('nested/deeper', outside)}`;
  await refused(pull({ cwd: root, targets: ['nested/data.dvc'] }), above);
  await refused(status({ cwd: root, targets: ['nested/data.dvc'] }), above);
  assert.deepEqual(await readdir(outside), []);
});

test('a folder turned into a symbolic link while pull runs is refused when the file is written', async () => {
  const outside = await tempDir('torchdog-dvc-outside-');
  const { root, oid } = await victim({ 'a.jpg': 'a', 'sub/b.jpg': 'b' });
  await writeFile(join(root, 'data.dvc'), `outs:\n- md5: ${oid}\n  hash: md5\n  path: data\n`);
  await mkdir(join(root, 'data', 'sub'), { recursive: true });
  let swapped = false;
  const error = await caught(
    pull({
      cwd: root,
      jobs: 1,
      onProgress: () => {
        if (swapped) return;
        swapped = true; // after the checks, before the first write
        renameSync(join(root, 'data', 'sub'), join(root, 'old-sub'));
        symlinkSync(outside, join(root, 'data', 'sub'));
      },
    }),
  );
  assert.equal(error.code, 'ERR_DVC_PATH', error.message);
  assert.match(error.message, new RegExp(`^1 of 2 files could not be pulled:\\n  data/sub/b\\.jpg: refusing to write it: data/sub is a symbolic link \\(to ${outside}\\); torchdog does not read`));
  assert.deepEqual(await readdir(outside), []);
  assert.equal(await readFile(join(root, 'data', 'a.jpg'), 'utf8'), 'a', 'the other file is in place');
});

test('a __proto__ key in a .dvc file is an unknown field, and Object.prototype never fills in a missing one', async () => {
  assert.throws(
    () => parseDvcFile('__proto__:\n  outs:\n  - path: data\n', 'data.dvc'),
    /data\.dvc: expected outs to be a non-empty list but found nothing/,
  );
  assert.throws(() => parseDvcFile('outs:\n- __proto__:\n    path: .git/hooks\n', 'data.dvc'), /data\.dvc: outs\[0\]\.path: expected a non-empty string but found nothing/);
  assert.equal(({} as Record<string, unknown>).path, undefined, 'Object.prototype stays clean');
  assert.equal(({} as Record<string, unknown>).outs, undefined);

  // Were Object.prototype ever polluted elsewhere, a .dvc file still says only what it says.
  const proto = Object.prototype as Record<string, unknown>;
  proto.remote = 'attacker';
  proto.cache = false;
  try {
    const out = parseDvcFile(`outs:\n- md5: ${md5('a')}\n  path: data\n`, 'data.dvc').outs[0]!;
    assert.equal(Object.hasOwn(out, 'remote'), false, 'no remote: the inherited one is not read');
    assert.equal(out.cache, true);
  } finally {
    delete proto.remote;
    delete proto.cache;
  }
});

test('pull and push sweep stale temporary files from the cache, the outputs and beside .dvc files, and only those', async () => {
  const { root } = await makeRepo({ 'data/a.jpg': 'a', 'data/sub/b.jpg': 'b', 'data/demo/x.jpg': 'x', '.dvcignore': '/data/demo/\n' });
  await push({ cwd: root, targets: ['data'] });
  const objects = join('.dvc', 'cache', 'files', 'md5', md5('a').slice(0, 2));
  const old = (Date.now() - STALE_TEMP.ms - 60_000) / 1000;
  const recent = (Date.now() - 30_000) / 1000;
  const outside = await tempDir('torchdog-dvc-outside-');
  await writeFile(join(outside, 'precious'), 'not ours');

  const stale = [
    `${objects}/.${md5('a').slice(2)}.torchdog-0123abcd.tmp`,
    `.dvc/cache/files/md5/ff/.${'f'.repeat(30)}.dir.torchdog-89abcdef.tmp`,
    '.dvc/cache/ab/.cdef0123456789abcdef0123456789.torchdog-00000000.tmp', // DVC 2 layout
    'data/.a.jpg.torchdog-deadbeef.tmp',
    'data/sub/deeper/.c.jpg.torchdog-0badf00d.tmp',
    '.data.dvc.torchdog-cafebabe.tmp',
  ];
  const recentTemps = [
    // A transfer may be writing these right now.
    `${objects}/.${md5('a').slice(2)}.torchdog-11111111.tmp`,
    'data/.b.jpg.torchdog-22222222.tmp',
  ];
  const oldButNotOurs = [
    'data/notes.tmp', // not the writer's pattern
    'data/.a.jpg.torchdog-xyz.tmp',
    'data/.a.jpg.torchdog-0123abcd.tmp.bak',
    'data/demo/.x.jpg.torchdog-33333333.tmp', // .dvcignore'd: not a tracked folder
  ];
  const kept = [...recentTemps, ...oldButNotOurs];
  for (const path of [...stale, ...kept]) {
    await writeFiles(root, { [path]: 'partial' });
    const time = recentTemps.includes(path) ? recent : old;
    await utimes(join(root, path), time, time);
  }
  // A link named like a temporary file is not removed, nor is what it points to.
  await symlink(join(outside, 'precious'), join(root, 'data', '.d.jpg.torchdog-44444444.tmp'));

  const present = async () => Object.keys(await snapshot(root)).filter((p) => p.includes('.tmp'));
  await pull({ cwd: root });
  const afterPull = await present();
  for (const path of stale.filter((p) => !p.startsWith('.data.dvc'))) assert.ok(!afterPull.includes(path), `pull removed ${path}`);
  assert.ok(afterPull.includes('.data.dvc.torchdog-cafebabe.tmp'), 'pull writes no .dvc file, so it leaves their temporary files to push');
  for (const path of kept) assert.ok(afterPull.includes(path), `pull kept ${path}`);
  assert.equal(await readFile(join(outside, 'precious'), 'utf8'), 'not ours');

  // Push: the same, and beside the .dvc file it rewrites.
  for (const path of stale) {
    await writeFiles(root, { [path]: 'partial' });
    await utimes(join(root, path), old, old);
  }
  await push({ cwd: root });
  const afterPush = await present();
  for (const path of stale) assert.ok(!afterPush.includes(path), `push removed ${path}`);
  for (const path of kept) assert.ok(afterPush.includes(path), `push kept ${path}`);
  assert.equal((await stat(join(root, 'data', '.d.jpg.torchdog-44444444.tmp'))).isFile(), true, 'the link is still there');
  assert.equal((await status({ cwd: root })).clean, true, 'temporary files are never data');
});

test('saveVerified: a check that fails just before the rename leaves the destination as it was and no temporary file', async () => {
  const { saveVerified } = await import('../src/dvc/objects.ts');
  const { Readable } = await import('node:stream');
  const dir = await tempDir('torchdog-dvc-commit-');
  const destination = join(dir, 'file');
  await writeFile(destination, 'old');
  const error = await saveVerified(Readable.from([Buffer.from('new')]), destination, {
    md5: md5('new'),
    mode: 0o644,
    mismatch: () => new DvcError('ERR_DVC_MD5_MISMATCH', 'mismatch'),
    beforeCommit: async () => {
      throw new DvcError('ERR_DVC_PATH', 'refusing to write it: the folder became a symbolic link');
    },
  }).catch((e: unknown) => e);
  assert.ok(error instanceof DvcError && error.code === 'ERR_DVC_PATH');
  assert.equal(await readFile(destination, 'utf8'), 'old');
  assert.deepEqual(await readdir(dir), ['file']);
});

test('a .dvc file whose aliases expand without bound (a "billion laughs") is refused, naming the file', async () => {
  const { root } = await makeRepo();
  const levels = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
  for (let i = 1; i < 9; i++) levels.push(`l${i}: &l${i} [${Array(10).fill(i === 1 ? '*a' : `*l${i - 1}`).join(', ')}]`);
  await writeFile(join(root, 'data.dvc'), `${levels.join('\n')}\nouts:\n- path: data\n`);
  const why = 'not usable YAML (Excessive alias count indicates a resource exhaustion attack); DVC writes no anchors or aliases';
  for (const command of [pull, status, push]) {
    const error = await caught(command({ cwd: root }));
    assert.equal(error.code, 'ERR_DVC_FILE', error.message);
    assert.equal(error.message, `${join(root, 'data.dvc')}: ${why}`);
  }
});

test("push sweeps a local remote of the temporary files a killed push left (pull, which only reads a remote, leaves them)", async () => {
  const { root, remote } = await makeRepo({ 'data/a.jpg': 'a' });
  await push({ cwd: root, targets: ['data'] });
  const a = md5('a');
  const old = (Date.now() - STALE_TEMP.ms - 60_000) / 1000;
  const stale = [
    `files/md5/${a.slice(0, 2)}/.${a.slice(2)}.torchdog-0123abcd.tmp`,
    `files/md5/ff/.${'f'.repeat(30)}.dir.torchdog-89abcdef.tmp`,
    `ab/.${'c'.repeat(30)}.torchdog-00000000.tmp`, // DVC 2 layout
  ];
  const kept = [
    `files/md5/${a.slice(0, 2)}/.${a.slice(2)}.torchdog-11111111.tmp`, // recent: a push may be writing it
    'files/md5/ab/notes.tmp', // not the writer's pattern
  ];
  for (const path of [...stale, ...kept]) {
    await writeFiles(remote, { [path]: 'partial' });
    if (path !== kept[0]) await utimes(join(remote, path), old, old);
  }
  const temps = async () => Object.keys(await snapshot(remote)).filter((p) => p.endsWith('.tmp'));
  await pull({ cwd: root });
  await status({ cwd: root, cloud: true });
  assert.deepEqual((await temps()).sort(), [...stale, ...kept].sort(), 'pull and status leave the remote as it is');
  await push({ cwd: root });
  assert.deepEqual((await temps()).sort(), [...kept].sort());
  assert.deepEqual(await readFile(join(remote, 'files', 'md5', a.slice(0, 2), a.slice(2)), 'utf8'), 'a', 'objects stay');
});

const LINK_RULE =
  'torchdog reads no file through a link that leads out of the repository or into .git, .dvc or .hg, since push would send it to the remote (replace the link with a copy of the file)';

test('push and status refuse a file symlink that leads out of the repository or into .git/.dvc, before reading or sending anything', async () => {
  const { root, remote } = await makeRepo({ 'data/a.jpg': 'a', '.dvc/config.local': "['remote \"storage\"']\n    password = hunter2\n" });
  await push({ cwd: root, targets: ['data'] });
  const before = { remote: await snapshot(remote), cache: await snapshot(join(root, '.dvc', 'cache')), dvc: await readFile(join(root, 'data.dvc'), 'utf8') };
  const home = await realpath(await tempDir('torchdog-dvc-home-'));
  await writeFiles(home, { '.ssh/id_rsa': 'PRIVATE KEY' });
  await symlink(join(home, '.ssh', 'id_rsa'), join(root, 'hop')); // a chain ends where its last link points

  const cases: Array<[string, string]> = [
    [join(home, '.ssh', 'id_rsa'), `${home}/.ssh/id_rsa, outside the repository`],
    [join('..', 'hop'), `${home}/.ssh/id_rsa, outside the repository`],
    [join('..', '.dvc', 'config.local'), '.dvc/config.local, inside .dvc'],
    [join('..', '.dvc', 'config'), '.dvc/config, inside .dvc'],
  ];
  for (const [to, where] of cases) {
    await symlink(to, join(root, 'data', 'x.jpg'));
    const message = `data.dvc (data): refusing "x.jpg": data/x.jpg is a symbolic link to ${where}; ${LINK_RULE}`;
    await refused(push({ cwd: root }), message);
    await refused(status({ cwd: root, cloud: true }), message);
    await rm(join(root, 'data', 'x.jpg'));
  }
  assert.deepEqual(await snapshot(remote), before.remote, 'nothing was sent');
  assert.deepEqual(await snapshot(join(root, '.dvc', 'cache')), before.cache, 'nothing was cached');
  assert.equal(await readFile(join(root, 'data.dvc'), 'utf8'), before.dvc);

  // A tracked file that is itself such a link.
  await symlink(join(home, '.ssh', 'id_rsa'), join(root, 'key'));
  await refused(push({ cwd: root, targets: ['key'] }), `key.dvc: refusing outs[0].path "key": key is a symbolic link to ${home}/.ssh/id_rsa, outside the repository; ${LINK_RULE}`);
  assert.deepEqual(await snapshot(remote), before.remote);
});

test("links DVC makes (cache.type = symlink, into the cache wherever it is) and links within the repository are followed", async () => {
  const cache = await realpath(await tempDir('torchdog-dvc-shared-cache-'));
  const { root, remote } = await makeRepo({ 'data/a.jpg': 'a', 'data/b.jpg': 'b', 'labels.csv': 'a,hotdog\n' });
  for (const [config, objects] of [[undefined, join(root, '.dvc', 'cache')], [cache, cache]] as const) {
    if (config) await writeFile(join(root, '.dvc', 'config'), `[core]\n    remote = storage\n[cache]\n    dir = ${config}\n['remote "storage"']\n    url = ${remote}\n`);
    await rm(join(root, 'data'), { recursive: true, force: true });
    await writeFiles(root, { 'data/a.jpg': 'a', 'data/b.jpg': 'b' });
    await push({ cwd: root, targets: ['data'] });
    // A symlink-cache workspace: each file a link to its object.
    for (const name of ['a', 'b']) {
      const hash = md5(name);
      await rm(join(root, 'data', `${name}.jpg`));
      await symlink(join(objects, 'files', 'md5', hash.slice(0, 2), hash.slice(2)), join(root, 'data', `${name}.jpg`));
    }
    assert.equal((await status({ cwd: root, cloud: true })).clean, true, `cache ${config ?? '.dvc/cache'}`);
    assert.equal((await push({ cwd: root })).outs[0]!.changed, false);
  }
  // A link to a file elsewhere in the repository is data like any other.
  await symlink(join('..', 'labels.csv'), join(root, 'data', 'labels.csv'));
  const pushed = await push({ cwd: root });
  assert.deepEqual([pushed.outs[0]!.changed, pushed.outs[0]!.nfiles], [true, 3]);
  assert.equal((await status({ cwd: root })).clean, true);
});
