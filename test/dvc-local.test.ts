// torchdog data push / pull / status against a local-folder remote, laid out
// as DVC 3 lays it out.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { pull, push, status, DvcError } from '../src/dvc/index.ts';
import { dirOid } from '../src/dvc/hash.ts';
import { RETRY_DELAYS_MS } from '../src/dvc/transfer.ts';
import { bytes, cloneRepo, makeRepo, md5, snapshot, tempFiles, writeFiles, type Files } from './helpers/dvc.ts';

RETRY_DELAYS_MS.splice(0, RETRY_DELAYS_MS.length, 5, 5);

const DATA: Files = {
  'data/train/hotdog/001.jpg': bytes(1, 70_000),
  'data/train/hotdog/002.jpg': bytes(2, 1_234),
  'data/train/nothotdog/001.jpg': bytes(3, 50_001),
  'data/train/nothotdog/same-as-hotdog-2.jpg': bytes(2, 1_234),
  'data/test/hotdog/é café.jpg': bytes(4, 999),
  'data/test/nothotdog/😀.png': bytes(5, 10),
  'data/empty': '',
  'data/README.txt': 'photos\r\nof hotdogs\r\n',
  // Not part of the version: torchdog's generated demo set, hidden by .dvcignore.
  'data/demo/train/hotdog/0.jpg': bytes(6, 500),
  'data/.demo.partial-1-abcd/x.jpg': bytes(7, 5),
  '.dvcignore': '/data/demo/\n/data/.demo.*\n',
};

function versioned(files: Files): Record<string, string> {
  return Object.fromEntries(
    Object.entries(files)
      .filter(([p]) => p.startsWith('data/') && !p.startsWith('data/demo/') && !p.startsWith('data/.demo.'))
      .map(([p, c]) => [p.slice('data/'.length), md5(c)] as const)
      .sort(([a], [b]) => (a < b ? -1 : 1)),
  );
}

async function rejects(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<DvcError> {
  let caught: unknown;
  await promise.catch((e: unknown) => (caught = e));
  assert.ok(caught instanceof DvcError, `expected a DvcError ${code} but got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, pattern);
  return caught;
}

test('push then pull into a clean clone reproduces the folder byte for byte, in DVC 3 layout', async () => {
  const { root, remote } = await makeRepo(DATA);
  const pushed = await push({ cwd: root, targets: ['data'] });
  const expected = versioned(DATA);
  const entries = Object.entries(expected).map(([relpath, hash]) => ({ relpath, md5: hash }));
  const oid = dirOid(entries);
  const size = Object.entries(DATA).filter(([p]) => `data/${p.slice(5)}` === p && p.slice(5) in expected).reduce((s, [, c]) => s + Buffer.byteLength(c), 0);
  assert.equal(
    await readFile(join(root, 'data.dvc'), 'utf8'),
    `outs:\n- md5: ${oid}\n  size: ${size}\n  nfiles: ${entries.length}\n  hash: md5\n  path: data\n`,
  );
  const unique = new Set(Object.values(expected));
  assert.deepEqual(pushed.outs.map((o) => [o.path, o.md5, o.nfiles, o.uploaded, o.present, o.changed]), [['data', oid, entries.length, unique.size + 1, 0, true]]);

  // DVC's layout: files/md5/<2>/<30>, in the remote and the (read-only) cache.
  const remoteFiles = await snapshot(remote);
  const keys = [...unique, oid].map((h) => `files/md5/${h.slice(0, 2)}/${h.slice(2)}`).sort();
  assert.deepEqual(Object.keys(remoteFiles), keys);
  for (const [key, hash] of Object.entries(remoteFiles)) assert.equal(key.replace(/^files\/md5\/(..)\//, '$1').replace(/\.dir$/, ''), hash);
  const cached = join(root, '.dvc', 'cache', 'files', 'md5', oid.slice(0, 2), oid.slice(2));
  assert.equal((await stat(cached)).mode & 0o777, 0o444);

  const clone = await cloneRepo(root);
  const pulled = await pull({ cwd: clone });
  assert.deepEqual(await snapshot(join(clone, 'data')), expected);
  assert.deepEqual(pulled.outs.map((o) => [o.files, o.downloaded, o.unchanged, o.extra.length]), [[entries.length, unique.size, 0, 0]]);

  const again = await pull({ cwd: clone });
  assert.deepEqual(again.outs.map((o) => [o.downloaded, o.unchanged, o.fromCache]), [[0, entries.length, 0]]);
  assert.equal((await status({ cwd: clone })).clean, true);
  assert.equal((await status({ cwd: root })).clean, true, 'the ignored demo set does not make the workspace dirty');
  const second = await push({ cwd: root });
  assert.deepEqual(second.outs.map((o) => [o.uploaded, o.present, o.changed]), [[0, unique.size + 1, false]]);
});

test("DVC's own hashes: the foo/bar/sub_dir/baz vector and the .dvcignore documentation example", async () => {
  const vector = await makeRepo({ 'data/foo': 'foo', 'data/bar': 'bar', 'data/sub_dir/baz': 'sub_dir/baz' });
  await push({ cwd: vector.root, targets: ['data'] });
  assert.equal(
    await readFile(join(vector.root, 'data.dvc'), 'utf8'),
    'outs:\n- md5: 55d05978954d1b2cd7b06aedda9b9e43.dir\n  size: 17\n  nfiles: 3\n  hash: md5\n  path: data\n',
  );
  // https://dvc.org/doc/user-guide/dvcignore: data1 ignored, only data2 cached.
  const docs = await makeRepo({ 'data/data1': '1\n', 'data/data2': '2\n', '.dvcignore': 'data/data1\n' });
  const result = await push({ cwd: docs.root, targets: ['data'] });
  assert.equal(result.outs[0]!.md5, 'ad8b0ddcf133a6e5833002ce28f97c5a.dir');
  assert.deepEqual(Object.keys(await snapshot(join(docs.root, '.dvc', 'cache'))), [
    'files/md5/26/ab0db90d72e28ad0ba1e22ee510510',
    'files/md5/ad/8b0ddcf133a6e5833002ce28f97c5a.dir',
  ]);
});

test('a corrupt object in the remote fails the pull with an md5 mismatch and leaves no corrupt file', async () => {
  const { root, remote } = await makeRepo(DATA);
  await push({ cwd: root, targets: ['data'] });
  const victim = md5(DATA['data/train/nothotdog/001.jpg']!);
  const key = join(remote, 'files', 'md5', victim.slice(0, 2), victim.slice(2));
  await rm(key);
  await writeFile(key, Buffer.concat([bytes(3, 50_000), Buffer.from('!')]));

  const clone = await cloneRepo(root);
  const error = await rejects(pull({ cwd: clone }), 'ERR_DVC_MD5_MISMATCH', /1 of 8 files could not be pulled:\n  data\/train\/nothotdog\/001\.jpg: md5 mismatch: the object files\/md5\/..\/\w+ in remote 'storage' \(.*\) has md5 \w+ but \w+ was expected; nothing was written for it\n/);
  assert.match(error.message, /Everything else is in place; fix the cause and run 'torchdog data pull' again to continue\.$/);
  const present = await snapshot(join(clone, 'data'));
  assert.equal(present['train/nothotdog/001.jpg'], undefined, 'the corrupt file is not in the workspace');
  assert.equal(Object.keys(present).length, Object.keys(versioned(DATA)).length - 1, 'every other file was pulled');
  assert.equal(await stat(join(clone, '.dvc', 'cache', 'files', 'md5', victim.slice(0, 2), victim.slice(2))).catch(() => null), null, 'nor in the cache');
  assert.deepEqual(await tempFiles(clone), []);

  // The remote repaired (by pushing from a good copy), the same command finishes.
  await push({ cwd: root, targets: ['data'] }); // objects present are not re-uploaded...
  await rm(key);
  await push({ cwd: root, targets: ['data'] }); // ...a missing one is
  await pull({ cwd: clone });
  assert.deepEqual(await snapshot(join(clone, 'data')), versioned(DATA));
});

test('a missing object, an unknown remote, an unsupported remote and no repository are clear errors', async () => {
  const { root, remote } = await makeRepo({ 'data/a': 'a', 'data/b': 'b' });
  await push({ cwd: root, targets: ['data'] });
  const clone = await cloneRepo(root);
  await rejects(pull({ cwd: clone, remote: 'nope' }), 'ERR_DVC_UNKNOWN_REMOTE', /unknown remote 'nope': .*\.dvc\/config has no \['remote "nope"'\] section \(defined: 'storage'\)/);
  await rm(join(remote, 'files', 'md5', md5('b').slice(0, 2)), { recursive: true });
  await rejects(pull({ cwd: clone }), 'ERR_DVC_MISSING_OBJECT', /1 of 2 files could not be pulled:\n  data\/b: files\/md5\/92\/\w+ is not in remote 'storage'/);
  assert.deepEqual(await snapshot(join(clone, 'data')), { a: md5('a') });

  await writeFile(join(clone, '.dvc', 'config'), "[core]\n    remote = s3\n['remote \"s3\"']\n    url = s3://bucket/path\n");
  await rejects(pull({ cwd: clone }), 'ERR_DVC_UNSUPPORTED_REMOTE', /remote 's3' is s3:\/\/bucket\/path: torchdog speaks local folders and gs:\/\/ buckets/);
  await writeFile(join(clone, '.dvc', 'config'), '[core]\n');
  await rejects(pull({ cwd: clone }), 'ERR_DVC_UNKNOWN_REMOTE', /no remote given and no default remote \(core\.remote\)/);

  const elsewhere = join(clone, '..');
  await rejects(pull({ cwd: elsewhere }), 'ERR_DVC_NOT_A_REPO', /is not inside a DVC repository/);
  await rejects(pull({ cwd: root, targets: ['nothing'] }), 'ERR_DVC_FILE', /nothing: neither a \.dvc file nor a path tracked by one/);
});

test('an interrupted pull leaves only complete, verified files, and running it again finishes the rest', async () => {
  const files: Files = {};
  for (let i = 0; i < 40; i++) files[`data/${String(i).padStart(2, '0')}.bin`] = bytes(100 + i, 20_000 + i);
  const { root } = await makeRepo(files);
  await push({ cwd: root, targets: ['data'] });
  const clone = await cloneRepo(root);
  const controller = new AbortController();
  const error = await rejects(
    pull({
      cwd: clone,
      jobs: 3,
      signal: controller.signal,
      onProgress: (e) => {
        if (e.done >= 10) controller.abort();
      },
    }),
    'ERR_DVC_INTERRUPTED',
    /interrupted after \d+ of 40 files; what was transferred is complete and in place\. Run 'torchdog data pull' again to continue/,
  );
  assert.ok(error);
  const partial = await snapshot(join(clone, 'data'));
  const expected = versioned(files);
  assert.ok(Object.keys(partial).length >= 10 && Object.keys(partial).length < 40, `${Object.keys(partial).length} files after the interruption`);
  for (const [path, hash] of Object.entries(partial)) assert.equal(hash, expected[path], `${path} is complete`);
  assert.deepEqual(await tempFiles(clone), []);

  const resumed = await pull({ cwd: clone });
  const o = resumed.outs[0]!;
  assert.equal(o.unchanged, Object.keys(partial).length);
  assert.equal(o.downloaded + o.fromCache, 40 - Object.keys(partial).length, 'only the rest is transferred');
  assert.deepEqual(await snapshot(join(clone, 'data')), expected);
});

test('pull replaces old versions but never work that exists nowhere else (unless --force)', async () => {
  const { root } = await makeRepo({ 'data/a.txt': 'version 1', 'data/b.txt': 'b' });
  await push({ cwd: root, targets: ['data'] });
  const clone = await cloneRepo(root);
  await pull({ cwd: clone });

  // A new version: the clone's old copy is in its cache, so it is replaced quietly.
  await writeFile(join(root, 'data', 'a.txt'), 'version 2');
  await push({ cwd: root });
  await writeFile(join(clone, 'data.dvc'), await readFile(join(root, 'data.dvc')));
  const switched = await pull({ cwd: clone });
  assert.equal(await readFile(join(clone, 'data', 'a.txt'), 'utf8'), 'version 2');
  assert.deepEqual(switched.outs.map((o) => [o.downloaded, o.unchanged]), [[1, 1]]);

  // Local edits are nowhere else: refused, named, left untouched.
  await writeFile(join(clone, 'data', 'a.txt'), 'my edit');
  await rejects(pull({ cwd: clone }), 'ERR_DVC_WORKSPACE_MODIFIED', /1 workspace file\(s\) differ from data\.dvc .*\n  data\/a\.txt\nVersion them with 'torchdog data push', or pull with --force/);
  assert.equal(await readFile(join(clone, 'data', 'a.txt'), 'utf8'), 'my edit');
  await pull({ cwd: clone, force: true });
  assert.equal(await readFile(join(clone, 'data', 'a.txt'), 'utf8'), 'version 2');
  assert.equal((await stat(join(clone, 'data', 'a.txt'))).mode & 0o200, 0o200, 'workspace files are writable');
});

test('status compares the workspace, the cache and the remote with the .dvc file', async () => {
  const { root, remote } = await makeRepo({ 'data/a': 'a', 'data/b': 'b', 'data/sub/c': 'c', '.dvcignore': '/data/demo/\n' });
  await push({ cwd: root, targets: ['data'] });
  const clone = await cloneRepo(root);
  await writeFiles(clone, { 'data/demo/x.jpg': 'generated' });

  let s = (await status({ cwd: clone })).outs[0]!;
  assert.equal(s.workspace, 'missing', 'a folder with only ignored files has not been pulled');
  assert.equal(s.changes, null);
  assert.equal(s.cache, null);
  s = (await status({ cwd: clone, cloud: true })).outs[0]!;
  assert.deepEqual([s.workspace, s.cache, s.remote?.present, s.remote?.total], ['missing', { present: 0, total: 3 }, 3, 3]);
  assert.deepEqual(s.changes, { added: [], modified: [], deleted: ['data/a', 'data/b', 'data/sub/c'] });

  await pull({ cwd: clone });
  await writeFile(join(clone, 'data', 'a'), 'edited');
  await writeFile(join(clone, 'data', 'new'), 'new');
  await rm(join(clone, 'data', 'sub', 'c'));
  await rm(join(remote, 'files', 'md5', md5('b').slice(0, 2)), { recursive: true });
  const result = await status({ cwd: clone, cloud: true });
  s = result.outs[0]!;
  assert.equal(result.clean, false);
  assert.equal(s.workspace, 'modified');
  assert.deepEqual(s.changes, { added: ['data/new'], modified: ['data/a'], deleted: ['data/sub/c'] });
  assert.deepEqual(s.cache, { present: 3, total: 3 });
  assert.deepEqual([s.remote?.name, s.remote?.present], ['storage', 2]);
});

test('a push that cannot upload leaves the .dvc file at the version the remote has', async () => {
  const { root, remote } = await makeRepo({ 'data/a': 'a' });
  await push({ cwd: root, targets: ['data'] });
  const before = await readFile(join(root, 'data.dvc'), 'utf8');
  await writeFile(join(root, 'data', 'b'), 'b');
  // The remote folder turns into a file: every upload fails.
  await rm(remote, { recursive: true });
  await writeFile(remote, 'not a folder');
  await chmod(remote, 0o444);
  await rejects(push({ cwd: root }), 'ERR_DVC_TRANSFER', /could not be (pushed|checked on the remote)/);
  assert.equal(await readFile(join(root, 'data.dvc'), 'utf8'), before);
  assert.deepEqual(await tempFiles(root), []);
});

test('DVC 2 .dvc files (no hash: field) pull from the old remote layout, text files checked after CRLF → LF', async () => {
  const { root, remote } = await makeRepo();
  const text = 'label,file\r\nhotdog,1.jpg\r\n';
  const image = bytes(8, 2000);
  const textMd5 = md5(text.replaceAll('\r\n', '\n'));
  const listing = Buffer.from(`[{"md5": "${md5(image)}", "relpath": "img/1.jpg"}, {"md5": "${textMd5}", "relpath": "labels.csv"}]`);
  const oid = `${md5(listing)}.dir`;
  await writeFiles(remote, {
    [`${textMd5.slice(0, 2)}/${textMd5.slice(2)}`]: text,
    [`${md5(image).slice(0, 2)}/${md5(image).slice(2)}`]: image,
    [`${oid.slice(0, 2)}/${oid.slice(2)}`]: listing,
  });
  await writeFile(join(root, 'data.dvc'), `outs:\n- md5: ${oid}\n  size: ${text.length + image.length}\n  nfiles: 2\n  path: data\n`);
  const pulled = await pull({ cwd: root });
  assert.equal(pulled.outs[0]!.downloaded, 2);
  assert.equal(await readFile(join(root, 'data', 'labels.csv'), 'utf8'), text, 'the bytes as stored, CRLF included');
  assert.ok((await readFile(join(root, 'data', 'img', '1.jpg'))).equals(image));
  assert.equal((await status({ cwd: root })).clean, true);
});

test('status without --cloud names a cached listing that fails its md5 check; with --cloud it is fetched again', async () => {
  const { root } = await makeRepo({ 'data/a': 'a', 'data/b': 'b' });
  const oid = (await push({ cwd: root, targets: ['data'] })).outs[0]!.md5;
  const cached = join(root, '.dvc', 'cache', 'files', 'md5', oid.slice(0, 2), oid.slice(2));
  await chmod(cached, 0o644);
  await writeFile(cached, '[]');
  const error = await rejects(status({ cwd: root }), 'ERR_DVC_MISSING_OBJECT', /./);
  assert.equal(error.message, `data.dvc (data): the cached directory listing ${oid} failed its md5 check and was removed; 'torchdog data status --cloud' fetches it again`);
  assert.equal((await status({ cwd: root, cloud: true })).clean, true);
  assert.equal(await readFile(cached, 'utf8').then((text) => text !== '[]'), true, 'the listing is in the cache again');
});
