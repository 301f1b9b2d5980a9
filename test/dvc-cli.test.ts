// `torchdog data …` as users run it: from any folder inside a repository,
// JSON summaries on stdout, progress on stderr, exit statuses.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytes, cloneRepo, makeRepo, publishListing, snapshot, torchdog } from './helpers/dvc.ts';
import { tempDir } from './helpers/checkpoint.ts';

test('data push, then data pull from a subfolder of a clean clone; status as text and JSON', async () => {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 12; i++) files[`images/class-${i % 3}/${i}.jpg`] = bytes(i, 3000 + i);
  const { root } = await makeRepo(files);

  const pushed = await torchdog(['data', 'push', 'images'], root);
  assert.equal(pushed.code, 0, pushed.stderr);
  const summary = JSON.parse(pushed.stdout.trim().split('\n').at(-1)!);
  assert.equal(summary.command, 'push');
  assert.deepEqual(
    summary.outs.map((o: Record<string, unknown>) => [o.dvc_file, o.path, o.nfiles, o.uploaded, o.changed]),
    [['images.dvc', 'images', 12, 13, true]],
  );
  assert.match(pushed.stderr, /^hashing images: 0\/12 files/m, 'plain progress lines when stderr is not a terminal');
  assert.match(pushed.stderr, /^pushing images: 13\/13 objects/m);
  assert.match(pushed.stderr, /images → images\.dvc updated: \w{32}\.dir \(12 files, .*\); 13 objects uploaded .* to 'storage', 0 already there/);
  assert.match(await readFile(join(root, 'images.dvc'), 'utf8'), /^outs:\n- md5: \w{32}\.dir\n  size: 36066\n  nfiles: 12\n  hash: md5\n  path: images\n$/);

  const clone = await cloneRepo(root);
  await mkdir(join(clone, 'somewhere', 'deeper'), { recursive: true });
  const missing = await torchdog(['data', 'status'], join(clone, 'somewhere'));
  assert.equal(missing.code, 0, missing.stderr);
  assert.match(missing.stdout, /^images\.dvc  images\n  version    \w{32}\.dir  12 files  35\.2 KiB\n  workspace  missing: 'torchdog data pull' fetches it\n/);

  const pulled = await torchdog(['data', 'pull', '-j', '4'], join(clone, 'somewhere', 'deeper'));
  assert.equal(pulled.code, 0, pulled.stderr);
  const result = JSON.parse(pulled.stdout.trim());
  assert.deepEqual(
    result.outs.map((o: Record<string, unknown>) => [o.dvc_file, o.files, o.downloaded, o.unchanged, o.extra]),
    [['images.dvc', 12, 12, 0, 0]],
  );
  assert.match(pulled.stderr, /images\.dvc → images: 12 files; 12 downloaded \(35\.2 KiB\) from 'storage', 0 from the cache, 0 already in place/);
  assert.deepEqual(await snapshot(join(clone, 'images')), await snapshot(join(root, 'images')));

  const clean = await torchdog(['data', 'status', '--json', 'images.dvc'], clone);
  assert.equal(clean.code, 0, clean.stderr);
  const s = JSON.parse(clean.stdout);
  assert.equal(s.clean, true);
  assert.equal(s.outs[0].workspace, 'unchanged');
});

test('data commands fail with one clear line and a non-zero status', async () => {
  const { root } = await makeRepo({ 'data/a': 'a' });
  const noRepo = await tempDir('torchdog-dvc-none-');

  const outside = await torchdog(['data', 'pull'], noRepo);
  assert.equal(outside.code, 1);
  assert.match(outside.stderr, /^torchdog data: pull: .* is not inside a DVC repository: no \.dvc directory there or in any folder above/);

  const pushed = await torchdog(['data', 'push', 'data'], root);
  assert.equal(pushed.code, 0, pushed.stderr);
  const unknown = await torchdog(['data', 'pull', '--remote', 'elsewhere'], root);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /^torchdog data: pull: unknown remote 'elsewhere'/m);
  assert.doesNotMatch(unknown.stderr, /\n\s+at /, 'no stack trace');

  const usage = await torchdog(['data', 'frobnicate'], root);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /unknown subcommand 'frobnicate' \(expected pull, status or push\)/);
  const badJobs = await torchdog(['data', 'pull', '--jobs', '0'], root);
  assert.equal(badJobs.code, 2);
  assert.match(badJobs.stderr, /--jobs: expected an integer between 1 and 256 but received "0"/);
  const help = await torchdog(['data', '--help'], root);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: torchdog data <pull\|status\|push>/);
  const main = await torchdog(['--help'], root);
  assert.match(main.stdout, /data pull\|status\|push/);
});

test('data pull refuses a .dvc file that names .git/hooks: one line naming the file, the entry and why, exit 1', async () => {
  const { root, remote } = await makeRepo({ '.git/hooks/README': 'sample hooks\n' });
  const hook = '#!/bin/sh\ntouch pwned\n';
  const { oid } = await publishListing(remote, { 'pre-commit': hook });
  await writeFile(join(root, 'data.dvc'), `outs:\n- md5: ${oid}\n  hash: md5\n  path: .git/hooks\n`);
  const pulled = await torchdog(['data', 'pull'], root);
  assert.equal(pulled.code, 1, pulled.stderr);
  assert.equal(
    pulled.stderr,
    `torchdog data: pull: data.dvc: refusing outs[0].path ".git/hooks": '.git' is Git's own folder, where a hook or a config setting runs commands; DVC never tracks .git, .dvc or .hg folders\n`,
  );
  assert.deepEqual(Object.keys(await snapshot(join(root, '.git'))), ['hooks/README']);
});
