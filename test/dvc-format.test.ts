// DVC's formats, byte for byte: hashes and .dir listings, .dvc files,
// .dvc/config, .dvcignore patterns.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dirObjectBytes, dirOid, parseDirObject, pythonJsonString, legacyMd5File, md5Bytes } from '../src/dvc/hash.ts';
import { compileIgnorePattern, IgnoreFilter } from '../src/dvc/ignore.ts';
import { parseDvcConfig, readDvcConfig, remoteConfig, resolveConfigPath } from '../src/dvc/config.ts';
import { createDvcFile, parseDvcFile, serializeDvcFile, setOutHash } from '../src/dvc/dvcfile.ts';
import { DvcError } from '../src/dvc/errors.ts';
import { tempDir } from './helpers/checkpoint.ts';

test("DVC's directory hash test vector: foo, bar, sub_dir/baz → 55d05978954d1b2cd7b06aedda9b9e43.dir", () => {
  const entries = [
    { relpath: 'foo', md5: md5Bytes('foo') },
    { relpath: 'sub_dir/baz', md5: md5Bytes('sub_dir/baz') },
    { relpath: 'bar', md5: md5Bytes('bar') },
  ];
  assert.equal(
    dirObjectBytes(entries).toString(),
    '[{"md5": "37b51d194a7513e45b56f6524f2d51f2", "relpath": "bar"}, {"md5": "acbd18db4cc2f85cedef654fccc4a4d8", "relpath": "foo"}, ' +
      '{"md5": "88cbf4a58949e81e8caf3b814c70947f", "relpath": "sub_dir/baz"}]',
  );
  assert.equal(dirOid(entries), '55d05978954d1b2cd7b06aedda9b9e43.dir');
  assert.equal(dirOid([]), `${md5Bytes('[]')}.dir`);
});

test("listings are written like Python's json.dumps: \\uXXXX for non-ASCII, code-point order", () => {
  assert.equal(pythonJsonString('é/😀\x7f\t"\\\n'), '"\\u00e9/\\ud83d\\ude00\\u007f\\t\\"\\\\\\n"');
  assert.equal(pythonJsonString('plain name.jpg'), '"plain name.jpg"');
  // U+FF5E sorts before U+1F600 by code point, after it by UTF-16 unit.
  const bytes = dirObjectBytes([
    { relpath: '😀', md5: 'a'.repeat(32) },
    { relpath: '～', md5: 'b'.repeat(32) },
  ]).toString();
  assert.ok(bytes.indexOf('\\uff5e') < bytes.indexOf('\\ud83d'), bytes);
  assert.deepEqual(parseDirObject(Buffer.from(bytes), 'x').map((e) => e.relpath), ['～', '😀']);
});

test('a .dir listing that would write outside its folder is refused', () => {
  for (const relpath of ['../escape', 'a/../../b', '/abs', 'a//b', './a', 'a\\b', '']) {
    const listing = Buffer.from(JSON.stringify([{ md5: 'a'.repeat(32), relpath }]));
    assert.throws(() => parseDirObject(listing, 'data.dvc'), (e: DvcError) => e.code === 'ERR_DVC_PATH' && e.message.includes('unsafe relpath'), relpath);
  }
  assert.throws(() => parseDirObject(Buffer.from('{"md5": 1}'), 'L'), /L: not a DVC directory listing \(expected a JSON list\)/);
  assert.throws(() => parseDirObject(Buffer.from('[{"md5": "xyz", "relpath": "a"}]'), 'L'), /L: entry 0 \(a\) has md5 "xyz", not 32 hex digits/);
});

test("DVC 2 hashes text files after CRLF → LF and binary files as they are", async () => {
  const dir = await tempDir('torchdog-dvc-');
  await writeFile(join(dir, 'crlf.txt'), 'a\r\nb\r\n');
  await writeFile(join(dir, 'bin'), Buffer.from([0, 13, 10, 255]));
  assert.equal(await legacyMd5File(join(dir, 'crlf.txt')), md5Bytes('a\nb\n'));
  assert.equal(await legacyMd5File(join(dir, 'bin')), md5Bytes(Buffer.from([0, 13, 10, 255])));
});

test('.dvcignore patterns follow gitignore (pathspec) semantics', () => {
  const cases: [string, string, boolean, boolean][] = [
    // pattern, path, isDir, ignored
    ['demo/', 'demo', true, true],
    ['demo/', 'data/demo', true, true],
    ['demo/', 'data/demo', false, false],
    ['/data/demo/', 'data/demo', true, true],
    ['/data/demo/', 'x/data/demo', true, false],
    ['data/data1', 'data/data1', false, true],
    ['data/data1', 'x/data/data1', false, false],
    ['*.tmp', 'a.tmp', false, true],
    ['*.tmp', 'x/y/a.tmp', false, true],
    ['*.tmp', 'a.tmpx', false, false],
    ['/data/.demo.*', 'data/.demo.partial-1-ab', true, true],
    ['/data/.demo.*', 'data/demo', true, false],
    ['**/cache', 'a/b/cache', true, true],
    ['a/**/b', 'a/b', false, true],
    ['a/**/b', 'a/x/y/b', false, true],
    ['?.txt', 'a.txt', false, true],
    ['?.txt', 'ab.txt', false, false],
    ['[ab].txt', 'b.txt', false, true],
    ['[!ab].txt', 'b.txt', false, false],
    ['\\#hash', '#hash', false, true],
  ];
  for (const [pattern, path, isDir, ignored] of cases) {
    const rule = compileIgnorePattern(pattern)!;
    const hit = rule.regex.test(path) || (isDir && rule.regex.test(`${path}/`));
    assert.equal(hit && rule.ignore, ignored, `${pattern} vs ${path}${isDir ? '/' : ''}`);
  }
  assert.equal(compileIgnorePattern('# comment'), null);
  assert.equal(compileIgnorePattern('   '), null);
  assert.equal(compileIgnorePattern('!keep.tmp')!.ignore, false);
});

test('.dvcignore files apply to their folder and below, the deepest and last pattern winning', async () => {
  const root = await tempDir('torchdog-dvc-');
  await mkdir(join(root, 'sub', 'deep'), { recursive: true });
  await mkdir(join(root, 'sub', '.git'), { recursive: true });
  await mkdir(join(root, 'nested', '.dvc'), { recursive: true });
  await writeFile(join(root, '.dvcignore'), '*.tmp\n!keep.tmp\n');
  await writeFile(join(root, 'sub', '.dvcignore'), '*.log\n/only-here\n!again.tmp\n');
  const filter = new IgnoreFilter(root);
  assert.equal(await filter.ignored('a.tmp', false), true);
  assert.equal(await filter.ignored('keep.tmp', false), false);
  assert.equal(await filter.ignored('a.log', false), false);
  assert.equal(await filter.ignored('sub/a.log', false), true);
  assert.equal(await filter.ignored('sub/deep/a.log', false), true);
  assert.equal(await filter.ignored('sub/only-here', false), true);
  assert.equal(await filter.ignored('sub/deep/only-here', false), false);
  assert.equal(await filter.ignored('sub/again.tmp', false), false);
  assert.equal(await filter.ignored('sub/.git', true), true);
  assert.equal(await filter.ignored('nested', true), true, 'a nested DVC repository is skipped');
});

test('.dvc/config: sections as DVC writes them, config.local over config, local paths relative to .dvc/', async () => {
  const sections = parseDvcConfig(
    "[core]\n    remote = gcs  # default\n['remote \"gcs\"']\n    url = gs://mlops-group-project\n[remote \"local\"]\n    url = '../storage'\n",
    'config',
  );
  assert.equal(sections.get('core')?.get('remote'), 'gcs');
  assert.equal(sections.get('remote "gcs"')?.get('url'), 'gs://mlops-group-project');
  assert.equal(sections.get('remote "local"')?.get('url'), '../storage');
  assert.throws(() => parseDvcConfig('url = x\n', '.dvc/config'), /\.dvc\/config:1: 'url' comes before any \[section\]/);
  assert.throws(() => parseDvcConfig('[core]\nremote\n', '.dvc/config'), /\.dvc\/config:2: expected 'key = value'/);

  const root = await tempDir('torchdog-dvc-');
  await mkdir(join(root, '.dvc'));
  await writeFile(join(root, '.dvc', 'config'), "[core]\n    remote = gcs\n['remote \"gcs\"']\n    url = gs://mlops-group-project\n");
  await writeFile(join(root, '.dvc', 'config.local'), "[core]\n    remote = mine\n['remote \"mine\"']\n    url = ../../storage\n");
  const config = await readDvcConfig(join(root, '.dvc'));
  const remote = remoteConfig(config);
  assert.equal(remote.name, 'mine');
  assert.equal(resolveConfigPath(config, remote.url), join(root, '..', 'storage'));
  assert.equal(remoteConfig(config, 'gcs').url, 'gs://mlops-group-project');
  assert.throws(
    () => remoteConfig(config, 'nope'),
    (e: DvcError) => e.code === 'ERR_DVC_UNKNOWN_REMOTE' && /unknown remote 'nope'.*defined: 'gcs', 'mine'/.test(e.message),
  );
});

test('.dvc files: read, checked field by field, rewritten with DVC 3 fields and everything else kept', () => {
  const text = '# the photos\nouts:\n- md5: f771f326c8d821e1ae42fee5af57e90d.dir\n  size: 278219247\n  nfiles: 3909\n  hash: md5\n  path: data\n  desc: hotdogs # kept\n';
  const dvc = parseDvcFile(text, 'data.dvc');
  assert.deepEqual(dvc.outs[0], {
    index: 0,
    path: 'data',
    md5: 'f771f326c8d821e1ae42fee5af57e90d.dir',
    size: 278219247,
    nfiles: 3909,
    hash: 'md5',
    cache: true,
    push: true,
  });
  assert.equal(serializeDvcFile(dvc), text);
  assert.equal(setOutHash(dvc, 0, { md5: 'f771f326c8d821e1ae42fee5af57e90d.dir', size: 278219247, nfiles: 3909 }), false);
  assert.equal(setOutHash(dvc, 0, { md5: '55d05978954d1b2cd7b06aedda9b9e43.dir', size: 17, nfiles: 3 }), true);
  assert.equal(serializeDvcFile(dvc), '# the photos\nouts:\n- md5: 55d05978954d1b2cd7b06aedda9b9e43.dir\n  size: 17\n  nfiles: 3\n  hash: md5\n  path: data\n  desc: hotdogs # kept\n');

  // A DVC 2 file gains `hash: md5` in DVC's place.
  const legacy = parseDvcFile('outs:\n- md5: 0123456789abcdef0123456789abcdef.dir\n  path: data\n  size: 5\n  nfiles: 1\n', 'old.dvc');
  assert.equal(legacy.outs[0]!.hash, undefined);
  setOutHash(legacy, 0, { md5: '55d05978954d1b2cd7b06aedda9b9e43.dir', size: 17, nfiles: 3 });
  assert.equal(serializeDvcFile(legacy), 'outs:\n- md5: 55d05978954d1b2cd7b06aedda9b9e43.dir\n  size: 17\n  nfiles: 3\n  hash: md5\n  path: data\n');

  const fresh = createDvcFile('new.dvc', 'images');
  setOutHash(fresh, 0, { md5: 'acbd18db4cc2f85cedef654fccc4a4d8', size: 3 });
  assert.equal(serializeDvcFile(fresh), 'outs:\n- md5: acbd18db4cc2f85cedef654fccc4a4d8\n  size: 3\n  hash: md5\n  path: images\n');

  assert.throws(() => parseDvcFile('outs:\n- md5: nope\n  path: data\n', 'data.dvc'), /data\.dvc: outs\[0\]\.md5: expected 32 hex digits, with \.dir for a directory, but found "nope"/);
  assert.throws(() => parseDvcFile('outs: []\n', 'data.dvc'), /data\.dvc: expected outs to be a non-empty list/);
  assert.throws(() => parseDvcFile('outs:\n- md5: acbd18db4cc2f85cedef654fccc4a4d8\n', 'x.dvc'), /x\.dvc: outs\[0\]\.path: expected a non-empty string but found nothing/);
  assert.throws(() => parseDvcFile('outs:\n- path: a\n  hash: sha256\n', 'x.dvc'), /outs\[0\]\.hash: only 'md5' \(DVC 3\) is supported/);
  assert.throws(() => parseDvcFile('outs: [\n', 'x.dvc'), /x\.dvc: not valid YAML/);
});

test('a .dir listing with .git, .dvc or .hg (any spelling) in a relpath is refused, naming the entry and why', () => {
  const cases: Array<[string, string]> = [
    ['sub/.git/config', "'.git' is Git's own folder"],
    ['.dvc/config.local', "'.dvc' is DVC's own folder"],
    ['a/.Hg/hgrc', '".Hg" (the same name as .hg on macOS or Windows) is Mercurial\'s own folder'],
    ['x/.git', "'.git' is Git's own folder"],
    ['x/.git ./hooks/post-checkout', '".git ." (the same name as .git on macOS or Windows)'],
  ];
  for (const [relpath, why] of cases) {
    const listing = Buffer.from(JSON.stringify([{ md5: 'a'.repeat(32), relpath: 'ok.jpg' }, { md5: 'b'.repeat(32), relpath }]));
    assert.throws(
      () => parseDirObject(listing, 'data.dvc (data) (x.dir)'),
      (e: DvcError) => e.code === 'ERR_DVC_PATH' && e.message.startsWith(`data.dvc (data) (x.dir): refusing entry 1 ${JSON.stringify(relpath)}: ${why}`),
      relpath,
    );
  }
  const fine = Buffer.from(JSON.stringify([{ md5: 'a'.repeat(32), relpath: '.github/x' }, { md5: 'a'.repeat(32), relpath: 'a/.gitignore' }]));
  assert.deepEqual(parseDirObject(fine, 'L').map((e) => e.relpath), ['.github/x', 'a/.gitignore']);
});
