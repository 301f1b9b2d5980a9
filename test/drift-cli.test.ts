// `torchdog drift` end to end (a real process, exit codes and all), the
// feature-file reader's errors, and the HTML page.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { appendFile, mkdtemp, mkdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Random } from '../src/util/random.ts';
import {
  detectDrift,
  parseFeatureLines,
  readFeatureFile,
  renderDriftReport,
  FeatureFileError,
  type FeatureRecord,
} from '../src/drift/index.ts';

const run = promisify(execFile);
const dir = await mkdtemp(join(tmpdir(), 'torchdog-drift-'));
// Runs src/cli/main.ts under tsx, so the test needs no build of dist/.
const runner = join(dir, 'run.mjs');
await writeFile(runner, `import { main } from ${JSON.stringify(pathToFileURL(join(import.meta.dirname, '..', 'src', 'cli', 'main.ts')).href)};\n`
  + 'process.exitCode = await main(process.argv.slice(2));\n');

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', runner, ...args]);
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

/** Feature records with Gaussian-ish features (sum of uniforms) and a class mix; `brightness` shifts the mean. */
function records(seed: number, count: number, brightness: number, key: 'label' | 'category'): FeatureRecord[] {
  const r = new Random(seed);
  const around = (mean: number, spread: number): number => mean + spread * (r.next() + r.next() + r.next() - 1.5);
  return Array.from({ length: count }, (_, i) => ({
    avg_brightness: around(0.45 + brightness, 0.12),
    contrast: around(0.22, 0.05),
    sharpness: around(0.06, 0.02),
    [key]: r.next() < 0.5 ? 'hotdog' : 'nothotdog',
    ...(key === 'category' ? { time: new Date(Date.UTC(2026, 10, 26, 12, 0, i)).toISOString() } : {}),
  }) as FeatureRecord);
}

const toJsonl = (rows: object[]): string => rows.map((row) => JSON.stringify(row)).join('\n') + '\n';

const runDir = join(dir, 'run');
await mkdir(runDir);
const referencePath = join(runDir, 'reference.jsonl');
await writeFile(referencePath, toJsonl(records(1, 400, 0, 'label')));
// A prediction log: 300 predictions like the training set, then 200 of brighter images.
const logPath = join(dir, 'predictions.jsonl');
await writeFile(logPath, toJsonl([...records(2, 300, 0, 'category'), ...records(3, 200, 0.1, 'category')]));

test('drift prints the verdict as JSON; --window picks the most recent lines', async () => {
  const all = await cli(['drift', '--reference', referencePath, '--current', logPath]);
  assert.equal(all.code, 0, all.stderr);
  assert.match(all.stdout, /^\{[^\n]*\}\n$/, 'the verdict is one JSON line, like every command\'s output');
  const report = JSON.parse(all.stdout);
  assert.equal(report.current_size, 500);
  assert.equal(report.reference_size, 400);
  assert.deepEqual(Object.keys(report.columns), ['avg_brightness', 'contrast', 'sharpness', 'class']);
  for (const column of Object.values(report.columns) as { test: string; threshold: number; drift: boolean }[]) {
    assert.equal(typeof column.test, 'string');
    assert.equal(typeof column.threshold, 'number');
    assert.equal(typeof column.drift, 'boolean');
  }
  assert.match(all.stderr, /^drift: /);

  const recent = await cli(['drift', '--reference', runDir, '--current', logPath, '--window', '200']);
  assert.equal(recent.code, 0, recent.stderr);
  const windowed = JSON.parse(recent.stdout);
  assert.equal(windowed.current_size, 200);
  assert.equal(windowed.columns.avg_brightness.drift, true);
  assert.equal(windowed.columns.avg_brightness.test, 'ks');
  assert.ok(windowed.columns.avg_brightness.p_value < 1e-6);
  assert.equal(windowed.columns.contrast.drift, false);
  assert.equal(windowed.dataset_drift, false);
  assert.match(recent.stderr, /1 of 4 columns: avg_brightness/);

  // The library gives the same numbers.
  const library = detectDrift(await readFeatureFile(referencePath), await readFeatureFile(logPath), { window: 200 });
  assert.deepEqual(windowed, JSON.parse(JSON.stringify(library)));
});

test('drift --html writes a self-contained page; --fail-on-drift exits 3 on dataset drift', async () => {
  const html = join(dir, 'out', 'drift.html');
  const shifted = join(dir, 'shifted.jsonl');
  const rows = records(4, 200, 0.1, 'category').map((r) => ({ ...r, contrast: r.contrast + 0.05 }));
  await writeFile(shifted, toJsonl(rows));
  const result = await cli(['drift', '-r', referencePath, '-c', shifted, '--html', html, '--fail-on-drift']);
  assert.equal(result.code, 3, result.stderr);
  assert.equal(JSON.parse(result.stdout).dataset_drift, true);
  assert.match(result.stderr, /dataset drift detected .*report written to/);
  const page = await readFile(html, 'utf8');
  assert.match(page, /^<!DOCTYPE html>/);
  assert.match(page, /Dataset drift detected/);
  assert.equal((page.match(/<svg /g) ?? []).length, 4);
  assert.doesNotMatch(page, /<script|https?:\/\/(?!docs\.evidentlyai\.com)/i);

  const calm = await cli(['drift', '-r', referencePath, '-c', logPath, '-w', '300', '--fail-on-drift']);
  assert.equal(calm.code, 0, calm.stderr);
});

test('drift names the file and line of a malformed record and exits 1', async () => {
  const bad = join(dir, 'bad.jsonl');
  const lines = toJsonl(records(5, 5, 0, 'category')).split('\n');
  lines[3] = '{"avg_brightness":0.4,"contrast":"high","sharpness":0.05}';
  await writeFile(bad, lines.join('\n'));
  const result = await cli(['drift', '--reference', referencePath, '--current', bad]);
  assert.equal(result.code, 1);
  assert.equal(result.stdout, '');
  assert.equal(result.stderr, `torchdog drift: ${bad}:4: expected a finite number for "contrast" but received string "high"\n`);

  const truncated = join(dir, 'truncated.jsonl');
  await writeFile(truncated, toJsonl(records(6, 3, 0, 'category')) + '{"avg_brightness":0.4,"contr');
  const cut = await cli(['drift', '--reference', referencePath, '--current', truncated]);
  assert.equal(cut.code, 1);
  assert.match(cut.stderr, new RegExp(`${truncated.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4: not valid JSON`));
});

test('drift usage errors exit 2; missing files exit 1', async () => {
  const noCurrent = await cli(['drift', '--reference', referencePath]);
  assert.equal(noCurrent.code, 2);
  assert.match(noCurrent.stderr, /--current is required/);
  const badWindow = await cli(['drift', '-r', referencePath, '-c', logPath, '--window', 'ten']);
  assert.equal(badWindow.code, 2);
  assert.match(badWindow.stderr, /--window: expected an integer/);
  const missing = await cli(['drift', '-r', join(dir, 'nope.jsonl'), '-c', logPath]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /--reference: .*nope\.jsonl does not exist/);
  const empty = join(dir, 'empty.jsonl');
  await writeFile(empty, '\n\n');
  const nothing = await cli(['drift', '-r', referencePath, '-c', empty]);
  assert.equal(nothing.code, 1);
  assert.match(nothing.stderr, /--current: .*empty\.jsonl holds no records/);
  const help = await cli(['drift', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Usage: torchdog drift --reference R --current C/);
  const main = await cli(['--help']);
  assert.match(main.stdout, /\n {2}drift --reference R --current C/);
});

test('parseFeatureLines: blank lines, CRLF, class keys, last N, and errors with line numbers', () => {
  const text = '\uFEFF{"avg_brightness":0.1,"contrast":0.2,"sharpness":0.3,"label":"hotdog","extra":1}\r\n\r\n'
    + '{"avg_brightness":0.4,"contrast":0.5,"sharpness":0.6,"category":"nothotdog","time":"2026-11-26T12:00:00Z","probability":0.9}\n';
  const parsed = parseFeatureLines(text, 'x.jsonl');
  assert.deepEqual(parsed, [
    { avg_brightness: 0.1, contrast: 0.2, sharpness: 0.3, label: 'hotdog' },
    { avg_brightness: 0.4, contrast: 0.5, sharpness: 0.6, category: 'nothotdog', time: '2026-11-26T12:00:00Z' },
  ]);
  assert.deepEqual(parseFeatureLines(text, 'x.jsonl', { last: 1 }), [parsed[1]]);
  // Lines before the window are not read, so an old bad line does not block a recent report.
  assert.equal(parseFeatureLines(`garbage\n${text.slice(1)}`, 'x.jsonl', { last: 2 }).length, 2);

  const error = (t: string): FeatureFileError => {
    try {
      parseFeatureLines(t, 'log.jsonl');
    } catch (e) {
      assert.ok(e instanceof FeatureFileError);
      return e;
    }
    assert.fail('expected a FeatureFileError');
  };
  const missing = error('{"avg_brightness":0.1,"contrast":0.2,"sharpness":0.3}\n\n{"avg_brightness":0.1,"sharpness":0.3}');
  assert.equal(missing.message, 'log.jsonl:3: expected a finite number for "contrast" but it is missing');
  assert.equal(missing.line, 3);
  assert.equal(missing.source, 'log.jsonl');
  assert.equal(error('[1,2]').message, 'log.jsonl:1: expected a JSON object but found an array of length 2');
  assert.equal(error('{"avg_brightness":0.1,"contrast":0.2,"sharpness":0.3,"category":""}').message,
    'log.jsonl:1: expected a non-empty string for "category" but received string ""');
  assert.match(error('{"avg_brightness":1e999,"contrast":0.2,"sharpness":0.3}').message, /log\.jsonl:1: expected a finite number for "avg_brightness" but received number Infinity/);
});

test('renderDriftReport escapes every text and draws one chart per column', () => {
  const hostile = '<img src=x onerror=alert(1)>';
  const reference = records(7, 120, 0, 'label').map((r, i) => (i % 3 === 0 ? { ...r, label: hostile } : r));
  const current = records(8, 80, 0.05, 'category');
  const report = detectDrift(reference, current);
  const page = renderDriftReport({ report, reference, current, title: 'Drift <b>x</b>', referenceSource: 'a"b.jsonl', window: 80 });
  assert.ok(!page.includes(hostile));
  assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;'));
  assert.ok(page.includes('<title>Drift &lt;b&gt;x&lt;/b&gt;</title>'));
  assert.ok(page.includes('a&quot;b.jsonl'));
  assert.equal((page.match(/<svg /g) ?? []).length, 4);
  assert.match(page, /the last 80 records/);
  assert.match(page, /2026-11-26 12:00:00 UTC – 2026-11-26 12:01:19 UTC/);
  assert.throws(() => renderDriftReport({ report: undefined as never, reference, current }), /Expected a drift report from detectDrift\(\) for report/);
});

test('readFeatureFile reads a chunk at a time (lines across chunks, UTF-8, BOM, CRLF, no final newline) and, for the last N, only the tail', async () => {
  const line = (i: number, category = i % 3 ? 'hotdog' : 'nöt-hötdog 🌭') => JSON.stringify({ avg_brightness: i / 1000, contrast: 0.25, sharpness: 0.125, category });
  const body = Array.from({ length: 300 }, (_, i) => (i % 17 === 5 ? `${line(i)}\r\n\n` : `${line(i)}\n`)).join('');
  const text = `\uFEFF${body}${line(300)}`;
  const file = join(dir, 'chunks.jsonl');
  await writeFile(file, text);
  const whole = parseFeatureLines(text, file);
  assert.equal(whole.length, 301);
  for (const chunkBytes of [1, 7, 64, 1000, 1 << 20]) {
    assert.deepEqual(await readFeatureFile(file, { chunkBytes }), whole, `chunkBytes ${chunkBytes}`);
    for (const last of [1, 2, 18, 300, 301, 400]) {
      assert.deepEqual(await readFeatureFile(file, { chunkBytes, last }), parseFeatureLines(text, file, { last }), `chunkBytes ${chunkBytes}, last ${last}`);
    }
  }

  // Megabytes of garbage at the head: a window of the most recent records never reads it.
  const log = join(dir, 'garbage-head.jsonl');
  await writeFile(log, `${`${'x'.repeat(1000)}\n`.repeat(3000)}${Array.from({ length: 100 }, (_, i) => line(i)).join('\n')}\n`);
  assert.equal((await readFeatureFile(log, { last: 10, chunkBytes: 4096 })).length, 10);
  await assert.rejects(readFeatureFile(log, { chunkBytes: 4096 }), (e: Error) => e.message.startsWith(`${log}:1: not valid JSON`));
  const window = await cli(['drift', '--reference', referencePath, '--current', log, '--window', '50']);
  assert.equal(window.code, 0, window.stderr);
  assert.equal(JSON.parse(window.stdout).current_size, 50);

  // A rotated log: the window continues into FILE.1 for what FILE lacks, oldest first.
  const rotatedLog = join(dir, 'rotated.jsonl');
  await writeFile(`${rotatedLog}.1`, `${Array.from({ length: 40 }, (_, i) => line(i)).join('\n')}\n`);
  await writeFile(rotatedLog, `${Array.from({ length: 30 }, (_, i) => line(100 + i)).join('\n')}\n`);
  const spanning = await cli(['drift', '--reference', referencePath, '--current', rotatedLog, '--window', '50']);
  assert.equal(spanning.code, 0, spanning.stderr);
  assert.equal(JSON.parse(spanning.stdout).current_size, 50);
  const { readFeatureRecords } = await import('../src/cli/feature-file.ts');
  const spanned = await readFeatureRecords(rotatedLog, '--current', 50);
  assert.deepEqual(spanned.map((r) => r.avg_brightness), [...Array.from({ length: 20 }, (_, i) => (20 + i) / 1000), ...Array.from({ length: 30 }, (_, i) => (100 + i) / 1000)]);
  assert.equal((await readFeatureRecords(rotatedLog, '--current', 10)).length, 10, 'a window FILE fills alone does not open FILE.1');
  assert.equal((await readFeatureRecords(rotatedLog, '--current')).length, 30, 'without a window, only FILE');

  // A 600 MiB log (sparse: it takes no disk), past the longest string V8 makes: the window reads its end.
  const huge = join(dir, 'huge.jsonl');
  await writeFile(huge, '');
  await truncate(huge, 600 * 1024 * 1024);
  await appendFile(huge, `\n${Array.from({ length: 100 }, (_, i) => line(i)).join('\n')}\n`);
  const tail = await cli(['drift', '--reference', referencePath, '--current', huge, '--window', '100']);
  assert.equal(tail.code, 0, tail.stderr);
  assert.equal(JSON.parse(tail.stdout).current_size, 100);
  const wholeHuge = await cli(['drift', '--reference', referencePath, '--current', huge]);
  assert.equal(wholeHuge.code, 1);
  assert.match(wholeHuge.stderr, /huge\.jsonl:1: a line longer than 1048576 bytes is not a feature record/);
  await rm(huge);

  // A bad line inside the tail still names its line number, counted only then.
  const bad = join(dir, 'bad-tail.jsonl');
  await writeFile(bad, Array.from({ length: 100 }, (_, i) => (i === 94 ? '{"avg_brightness": "dim"}' : line(i))).join('\n'));
  await assert.rejects(readFeatureFile(bad, { last: 10, chunkBytes: 50 }), (e: Error) => e.message.startsWith(`${bad}:95: expected a finite number for "avg_brightness"`));
});
