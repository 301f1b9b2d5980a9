// `torchdog data …` as users run it: from any folder inside a repository,
// JSON summaries on stdout, progress on stderr, exit statuses.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bytes, cloneRepo, makeRepo, publishListing, snapshot, torchdog } from './helpers/dvc.ts';
import { tempDir } from './helpers/checkpoint.ts';
import { kPlainLineIntervalMs, TransferProgress } from '../src/cli/data.ts';

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
  // Off a terminal a phase this quick prints one line, when it ends.
  assert.deepEqual(
    pushed.stderr.split('\n').filter((l) => /^(hashing|checking remote|pushing) /.test(l)).map((l) => l.replace(/, [\d.]+ KiB.*/, '')),
    ['hashing images: 12/12 files', 'checking remote images: 13/13 objects', 'pushing images: 13/13 objects'],
  );
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

test('piped progress: a line every few seconds and one at the end of each phase, however many events', () => {
  let now = 0;
  const lines: string[] = [];
  const progress = new TransferProgress({ write: (text: string) => lines.push(text), isTTY: false }, () => now);
  // 400 files in 0.2 s: one line.
  for (let done = 0; done <= 400; done++) {
    now = done / 2;
    progress.update({ phase: 'downloading', target: 'data', done, total: 400, bytes: done * 1000 });
  }
  assert.deepEqual(lines, ['pulling data: 400/400 files, 390.6 KiB\n']);
  // 60 s of uploads, an event every 10 ms: a line every kPlainLineIntervalMs, then the last.
  lines.length = 0;
  const start = now;
  for (let done = 0; done <= 6000; done++) {
    now = start + done * 10;
    progress.update({ phase: 'uploading', target: 'data', done, total: 6000, bytes: 0 });
  }
  assert.equal(lines.length, 60_000 / kPlainLineIntervalMs, lines.join('')); // at 5 s, 10 s, … 55 s, and the end at 60 s
  assert.match(lines[0]!, /^pushing data: 500\/6000 objects, ETA 00:55\n$/);
  assert.equal(lines.at(-1), 'pushing data: 6000/6000 objects\n');
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
