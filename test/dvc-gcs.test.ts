// gs:// for data versioning and the shared Cloud Storage helpers, against the
// local emulator (test/helpers/gcs-emulator.ts) through the client's
// documented endpoint settings: apiEndpoint, and STORAGE_EMULATOR_HOST for the CLI.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { CRC32C } from '@google-cloud/storage';
import {
  createStorage,
  gcsDownload,
  gcsExists,
  gcsList,
  gcsReadBytes,
  gcsUploadBytes,
  gcsUploadFile,
  parseGsUri,
  type GcsError,
} from '../src/cloud/gcs.ts';
import { pull, push, status, DvcError } from '../src/dvc/index.ts';
import { IDLE_TIMEOUT, RETRY_DELAYS_MS } from '../src/dvc/transfer.ts';
import { GcsEmulator, crc32c } from './helpers/gcs-emulator.ts';
import { bytes, cloneRepo, makeRepo, md5, snapshot, tempFiles, torchdog, type Files } from './helpers/dvc.ts';
import { tempDir } from './helpers/checkpoint.ts';

RETRY_DELAYS_MS.splice(0, RETRY_DELAYS_MS.length, 5, 5);
// The client library never notices a connection cut mid-body; the stall timer does.
IDLE_TIMEOUT.ms = 300;

const BUCKET = 'mlops-group-project';
let gcs: GcsEmulator;
let client: { apiEndpoint: string };

before(async () => {
  gcs = await GcsEmulator.start({ buckets: [BUCKET, 'models'] });
  client = { apiEndpoint: gcs.endpoint };
});

after(async () => {
  await gcs.close();
});

async function rejectsWith<T extends Error & { code: string }>(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<T> {
  let caught: unknown;
  await promise.catch((e: unknown) => (caught = e));
  assert.ok(caught instanceof Error, `expected ${code} but nothing was thrown`);
  assert.equal((caught as T).code, code, (caught as Error).message);
  assert.match((caught as Error).message, pattern);
  return caught as T;
}

test('gs:// helpers: URIs, uploads (single-request and resumable), downloads, existence, listing, errors', async () => {
  assert.deepEqual(parseGsUri('gs://mlops-group-project'), { bucket: BUCKET, path: '' });
  assert.deepEqual(parseGsUri('gs://models/runs/1/model.safetensors'), { bucket: 'models', path: 'runs/1/model.safetensors' });
  assert.throws(() => parseGsUri('s3://x/y', '--model'), /--model: expected gs:\/\/BUCKET\[\/PATH\] but received "s3:\/\/x\/y"/);

  const storage = await createStorage(client);
  await gcsUploadBytes(storage, { bucket: 'models', path: 'notes.txt' }, 'hello', { md5: md5('hello'), contentType: 'text/plain' });
  assert.equal(gcs.get('models', 'notes.txt')?.toString(), 'hello');
  assert.equal(gcs.object('models', 'notes.txt')?.contentType, 'text/plain');
  await rejectsWith<GcsError>(
    gcsUploadBytes(storage, { bucket: 'models', path: 'bad.txt' }, 'hello', { md5: md5('other') }),
    'ERR_GCS',
    /gs:\/\/models\/bad\.txt: Provided MD5 hash .* doesn't match calculated MD5 hash/,
  );
  assert.equal(gcs.get('models', 'bad.txt'), undefined, 'the server refuses bytes whose md5 is not the declared one');

  const dir = await tempDir('torchdog-gcs-');
  const big = bytes(9, 9 * 1024 * 1024 + 3);
  await writeFile(join(dir, 'big.bin'), big);
  const before = gcs.requests.length;
  await gcsUploadFile(storage, { bucket: 'models', path: 'runs/1/model.safetensors' }, join(dir, 'big.bin'), big.length);
  assert.deepEqual(gcs.requests.slice(before).map((r) => r.op), ['upload.resumable.start', 'upload.resumable.put'], 'large files go up resumably');
  assert.ok(gcs.get('models', 'runs/1/model.safetensors')?.equals(big));
  await gcsUploadFile(storage, { bucket: 'models', path: 'runs/1/small.json' }, join(dir, 'big.bin'), big.length, { resumable: false });
  assert.equal(gcs.requests.at(-1)?.op, 'upload.multipart');
  await rejectsWith<GcsError>(
    gcsUploadBytes(storage, { bucket: 'models', path: 'notes.txt' }, 'again', { ifAbsent: true }),
    'ERR_GCS',
    /pre-conditions you specified did not hold.*HTTP 412/,
  );

  await gcsDownload(storage, { bucket: 'models', path: 'runs/1/model.safetensors' }, join(dir, 'model.safetensors'));
  assert.ok((await readFile(join(dir, 'model.safetensors'))).equals(big));
  assert.equal(await gcsExists(storage, { bucket: 'models', path: 'notes.txt' }), true);
  assert.equal(await gcsExists(storage, { bucket: 'models', path: 'nope' }), false);
  for (let i = 0; i < 1005; i++) gcs.put('models', `many/${String(i).padStart(4, '0')}`, 'x');
  const listed = await gcsList(storage, { bucket: 'models', path: 'many/' });
  assert.equal(listed.length, 1005, 'every page');
  assert.deepEqual(listed[0], { name: 'many/0000', size: 1 });

  await rejectsWith<GcsError>(gcsDownload(storage, { bucket: 'models', path: 'nope' }, join(dir, 'nope')), 'ERR_GCS_NOT_FOUND', /^gs:\/\/models\/nope: no such object$/);
  const cut = gcs.fault({ match: (r) => r.op === 'object.media' && r.object === 'runs/1/model.safetensors', cutAfterBytes: 100_000, times: 1 });
  await rejectsWith<GcsError>(
    gcsDownload(storage, { bucket: 'models', path: 'runs/1/model.safetensors' }, join(dir, 'cut.safetensors'), { idleTimeoutMs: 200 }),
    'ERR_GCS',
    /gs:\/\/models\/runs\/1\/model\.safetensors: no data received for 0\.2 s; the connection stalled/,
  );
  assert.equal(cut.hits, 1);
  assert.deepEqual((await readdir(dir)).sort(), ['big.bin', 'model.safetensors'], 'a failed download leaves nothing');
  await rejectsWith<GcsError>(gcsReadBytes(storage, { bucket: 'no-such-bucket', path: 'x' }), 'ERR_GCS_NO_BUCKET', /gs:\/\/no-such-bucket\/x: the bucket does not exist/);
  const denied = gcs.fault({ match: (r) => r.object === 'notes.txt', status: 403, message: 'caller does not have storage.objects.get access' });
  await rejectsWith<GcsError>(gcsReadBytes(storage, { bucket: 'models', path: 'notes.txt' }), 'ERR_GCS_PERMISSION', /permission denied \(caller does not have storage\.objects\.get access\)/);
  denied.remove();
  const unauthenticated = gcs.fault({ match: (r) => r.object === 'notes.txt', status: 401, times: 1 });
  await rejectsWith<GcsError>(gcsReadBytes(storage, { bucket: 'models', path: 'notes.txt' }), 'ERR_GCS_NO_CREDENTIALS', /gcloud auth application-default login/);
  assert.equal(unauthenticated.hits, 1);
});

test("the emulator's CRC32C is the client library's", () => {
  for (const data of ['', 'data', 'The quick brown fox', bytes(1, 10_000)]) {
    const reference = new CRC32C();
    reference.update(Buffer.from(data));
    assert.equal(crc32c(Buffer.from(data)), reference.toString());
  }
});

const DATA: Files = {
  'data/train/hotdog/1.jpg': bytes(1, 40_000),
  'data/train/nothotdog/1.jpg': bytes(2, 30_000),
  'data/test/hotdog/1.jpg': bytes(3, 20_000),
  'data/test/nothotdog/1.jpg': bytes(4, 10_000),
  'data/test/nothotdog/2.jpg': bytes(5, 5_000),
};

function keysUnder(prefix: string): string[] {
  return gcs.names(BUCKET, prefix);
}

test('push to gs:// then pull into a clean clone: byte for byte, DVC 3 keys, md5 declared on upload', async () => {
  const prefix = `dvc-${Date.now()}`;
  const { root } = await makeRepo(DATA, `gs://${BUCKET}/${prefix}`);
  const start = gcs.requests.length;
  const pushed = await push({ cwd: root, targets: ['data'], gcs: client });
  const oid = pushed.outs[0]!.md5;
  const expectedKeys = [...Object.values(DATA).map((c) => md5(c)), oid].map((h) => `${prefix}/files/md5/${h.slice(0, 2)}/${h.slice(2)}`).sort();
  assert.deepEqual(keysUnder(`${prefix}/`), expectedKeys);
  const uploads = gcs.requests.slice(start).filter((r) => r.op.startsWith('upload'));
  assert.equal(uploads.length, 6);
  assert.ok(uploads.every((r) => r.op === 'upload.multipart'));
  assert.equal(uploads.at(-1)?.object, `${prefix}/files/md5/${oid.slice(0, 2)}/${oid.slice(2)}`, 'the listing goes up last');

  const clone = await cloneRepo(root);
  const pulled = await pull({ cwd: clone, gcs: client });
  assert.deepEqual(pulled.outs.map((o) => [o.files, o.downloaded, o.remote]), [[5, 5, 'storage']]);
  assert.deepEqual(await snapshot(join(clone, 'data')), await snapshot(join(root, 'data')));
  const s = await status({ cwd: clone, cloud: true, gcs: client });
  assert.deepEqual([s.clean, s.outs[0]!.remote?.present], [true, 5]);
});

test('gs:// failures: corrupt object, cut connection (retried, then resumed), no access', async () => {
  const prefix = `dvc-fail-${Date.now()}`;
  const { root } = await makeRepo(DATA, `gs://${BUCKET}/${prefix}`);
  await push({ cwd: root, targets: ['data'], gcs: client });
  const key = (content: string | Uint8Array) => `${prefix}/files/md5/${md5(content).slice(0, 2)}/${md5(content).slice(2)}`;

  // Stored bytes that are not what DVC hashed: the client's CRC32C check passes, ours does not.
  const victim = key(DATA['data/test/hotdog/1.jpg']!);
  const good = gcs.get(BUCKET, victim)!;
  gcs.put(BUCKET, victim, Buffer.concat([good.subarray(0, -1), Buffer.from([good.at(-1)! ^ 1])]));
  const clone = await cloneRepo(root);
  await rejectsWith<DvcError>(pull({ cwd: clone, gcs: client }), 'ERR_DVC_MD5_MISMATCH', /data\/test\/hotdog\/1\.jpg: md5 mismatch: the object files\/md5\/\S+ in remote 'storage' \(gs:\/\//);
  assert.equal((await snapshot(join(clone, 'data')))['test/hotdog/1.jpg'], undefined);
  assert.deepEqual(await tempFiles(clone), []);
  gcs.put(BUCKET, victim, good);

  // A connection cut once mid-object is retried; one cut every time fails that file only.
  const flaky = key(DATA['data/train/hotdog/1.jpg']!);
  const once = gcs.fault({ match: (r) => r.op === 'object.media' && r.object === flaky, cutAfterBytes: 1000, times: 1 });
  const clone2 = await cloneRepo(root);
  await pull({ cwd: clone2, gcs: client });
  assert.equal(once.hits, 1);
  assert.deepEqual(await snapshot(join(clone2, 'data')), await snapshot(join(root, 'data')));

  const always = gcs.fault({ match: (r) => r.op === 'object.media' && r.object === flaky, cutAfterBytes: 1000 });
  const clone3 = await cloneRepo(root);
  await rejectsWith<DvcError>(pull({ cwd: clone3, gcs: client }), 'ERR_DVC_TRANSFER', /1 of 5 files could not be pulled:\n  data\/train\/hotdog\/1\.jpg: remote 'storage' sent nothing for 0\.3 s \(files\/md5\/\S+\); the connection stalled\n/);
  assert.equal(always.hits, 3, 'tried three times');
  assert.equal(Object.keys(await snapshot(join(clone3, 'data'))).length, 4);
  assert.deepEqual(await tempFiles(clone3), []);
  always.remove();
  const mediaBefore = gcs.requests.filter((r) => r.op === 'object.media').length;
  const resumed = await pull({ cwd: clone3, gcs: client });
  assert.deepEqual(resumed.outs.map((o) => [o.downloaded, o.unchanged]), [[1, 4]]);
  assert.equal(gcs.requests.filter((r) => r.op === 'object.media').length - mediaBefore, 1, 'only the missing file is downloaded again');
  assert.deepEqual(await snapshot(join(clone3, 'data')), await snapshot(join(root, 'data')));

  // No access: one clear error, and the run stops instead of failing file after file.
  const denied = gcs.fault({ match: (r) => r.op === 'object.media', status: 403, message: 'mlops@example.iam.gserviceaccount.com does not have storage.objects.get access' });
  const clone4 = await cloneRepo(root);
  await rejectsWith<DvcError>(pull({ cwd: clone4, gcs: client, jobs: 1 }), 'ERR_DVC_REMOTE_ACCESS', /remote 'storage': gs:\/\/.*: permission denied \(mlops@example/);
  assert.equal(denied.hits, 1);
  denied.remove();
});

test('the CLI reaches gs:// through STORAGE_EMULATOR_HOST; Ctrl-C stops cleanly and a rerun finishes', async () => {
  const prefix = `dvc-cli-${Date.now()}`;
  const files: Files = {};
  for (let i = 0; i < 16; i++) files[`data/${i}.jpg`] = bytes(50 + i, 8_000 + i);
  const { root } = await makeRepo(files, `gs://${BUCKET}/${prefix}`);
  const env = { STORAGE_EMULATOR_HOST: gcs.endpoint };
  const pushed = await torchdog(['data', 'push', 'data'], root, env);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.equal(keysUnder(`${prefix}/`).length, 17);

  const clone = await cloneRepo(root);
  // Ctrl-C as the fifth download starts (the listing, then two files at a time): two files are
  // in place by then. (Off a terminal no progress line can time it: one comes every 5 s, and
  // this pull takes about one.)
  let pull: ChildProcess | undefined;
  let downloads = 0;
  const slow = gcs.fault({
    match: (r) => {
      if (r.op !== 'object.media') return false;
      if (++downloads === 5) pull?.kill('SIGINT');
      return true;
    },
    delayMs: 150,
  });
  const stopped = await torchdog(['data', 'pull', '--jobs', '2'], clone, env, { onSpawn: (child) => (pull = child) });
  slow.remove();
  assert.equal(stopped.code, 130, stopped.stderr);
  assert.match(stopped.stderr, /stopping: finishing the transfers in flight/);
  assert.match(stopped.stderr, /torchdog data: pull: interrupted after \d+ of 16 files; what was transferred is complete and in place\. Run 'torchdog data pull' again to continue/);
  const partial = await snapshot(join(clone, 'data'));
  assert.ok(Object.keys(partial).length >= 2 && Object.keys(partial).length < 16, `${Object.keys(partial).length} files in place`);
  for (const [name, hash] of Object.entries(partial)) assert.equal(hash, md5(files[`data/${name}`]!));
  assert.deepEqual(await tempFiles(clone), []);

  const finished = await torchdog(['data', 'pull'], clone, env);
  assert.equal(finished.code, 0, finished.stderr);
  assert.deepEqual(await snapshot(join(clone, 'data')), await snapshot(join(root, 'data')));
});
