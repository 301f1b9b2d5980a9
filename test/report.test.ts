// report.html is one self-contained page: charts, confusion matrix, summary,
// config; everything escaped; nothing fetched; odd inputs still render.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { renderReport, type ReportEpoch, type ReportInput } from '../src/train/report.ts';

const kHostile = '<script>alert("x")</script>"><img src=x onerror=alert(1)>&amp;\'';
const kHostileEscaped = '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;&amp;amp;&#39;';

function epochs(n: number, withVal = true): ReportEpoch[] {
  return Array.from({ length: n }, (_, i) => ({
    epoch: i + 1,
    train_loss: 1 / (i + 1),
    train_acc: 0.5 + i / (2 * n),
    val_loss: withVal ? 1.2 / (i + 1) : null,
    val_acc: withVal ? 0.45 + i / (2 * n) : null,
    lr: 1e-3,
    img_per_s: 400 + i,
    seconds: 10,
  }));
}

function sample(overrides: Partial<ReportInput> = {}): ReportInput {
  return {
    title: 'run 1',
    classes: ['hotdog', 'nothotdog'],
    epochs: epochs(5),
    confusion: [[40, 10], [5, 45]],
    summary: { run_dir: 'runs/x', best_epoch: 4, best_val_acc: 0.85, gcs: null },
    config: 'data:\n  root: data/demo\n',
    ...overrides,
  };
}

const kVoid = new Set(['meta', 'link', 'br', 'hr', 'img', 'input']);

interface Tag { closing: boolean; name: string; attributes: string[]; selfClosing: boolean }

/** The page's tags; every `<` must start one, since all text is escaped. */
function tagsOf(html: string): Tag[] {
  const body = html.replace(/^<!DOCTYPE html>\n/, '');
  const matches = [...body.matchAll(/<(\/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z][a-zA-Z0-9:-]*(?:="[^"<>]*")?)*)\s*(\/?)>/g)];
  assert.equal(matches.length, body.split('<').length - 1, 'a "<" that does not start a well-formed tag');
  return matches.map(([, closing, name, attributes, selfClosing]) => ({
    closing: closing === '/',
    name: name!.toLowerCase(),
    attributes: [...attributes!.matchAll(/\s+([a-zA-Z][a-zA-Z0-9:-]*)(?:="[^"<>]*")?/g)].map((a) => a[1]!.toLowerCase()),
    selfClosing: selfClosing === '/',
  }));
}

/** Tags nest and close: a stray `<` or an unclosed element means broken markup. */
function assertWellFormed(html: string): void {
  const stack: string[] = [];
  for (const tag of tagsOf(html)) {
    if (tag.selfClosing || kVoid.has(tag.name)) continue;
    if (!tag.closing) stack.push(tag.name);
    else assert.equal(stack.pop(), tag.name, `</${tag.name}> closes <${stack.at(-1) ?? 'nothing'}>`);
  }
  assert.deepEqual(stack, [], 'unclosed elements');
}

function assertSelfContained(html: string): void {
  assert.doesNotMatch(html, /https?:|url\(|@import/i, 'no URLs');
  for (const tag of tagsOf(html)) {
    assert.ok(!['script', 'link', 'iframe', 'object', 'embed', 'img', 'image', 'use', 'a'].includes(tag.name), `<${tag.name}>`);
    for (const a of tag.attributes) assert.ok(!/^(src|href|xlink:href|on.*)$/.test(a), `${a}= on <${tag.name}>`);
  }
}

/** Coordinates the SVG would choke on. */
function assertFiniteGeometry(html: string): void {
  for (const [, attribute] of html.matchAll(/\s(?:d|cx|cy|x|y|x1|x2|y1|y2)="([^"]*)"/g)) {
    assert.doesNotMatch(attribute!, /NaN|Infinity|undefined/, attribute);
  }
}

test('one page with two charts, the confusion matrix, the summary and the config', () => {
  const html = renderReport(sample());
  assert.match(html, /^<!DOCTYPE html>\n<html lang="en">/);
  assertWellFormed(html);
  assertSelfContained(html);
  assertFiniteGeometry(html);

  const charts = [...html.matchAll(/<figure class="chart"><figcaption>(\w+)<\/figcaption>\n<svg [^>]*>([\s\S]*?)<\/svg>/g)];
  assert.deepEqual(charts.map((c) => c[1]), ['Loss', 'Accuracy']);
  assert.equal(html.match(/<svg /g)?.length, 2);
  for (const [, , svg] of charts) {
    assert.match(svg!, /<path class="line train" d="M[\d.]+ [\d.]+(L[\d.]+ [\d.]+){4}"\/>/, 'train curve through 5 epochs');
    assert.match(svg!, /<path class="line val" d="M[\d.]+ [\d.]+(L[\d.]+ [\d.]+){4}"\/>/, 'validation curve through 5 epochs');
    assert.match(svg!, /<g class="legend">[\s\S]*>train<[\s\S]*>validation</, 'legend');
    assert.match(svg!, />epoch</, 'x axis label');
    assert.ok((svg!.match(/class="grid"/g)?.length ?? 0) >= 3, 'y ticks');
    assert.match(svg!, />best</, 'best epoch marked');
  }
  assert.match(charts[1]![2]!, />100%</);

  assert.match(html, /<table class="confusion">/);
  assert.match(html, /<th class="col" title="hotdog">hotdog<\/th>/);
  assert.match(html, /title="true hotdog, predicted nothotdog: 10 \(20\.0% of the row\)">10<\/td>/);
  assert.match(html, /background:rgba\(37,99,235,0\.736\)/, 'diagonal 40/50 shaded by its row share');
  assert.match(html, /<th>best_val_acc<\/th><td>0\.85<\/td>/);
  assert.match(html, /<th>gcs<\/th><td>—<\/td>/);
  assert.match(html, /<pre class="config">data:\n {2}root: data\/demo\n<\/pre>/);
  assert.match(html, /<tr class="best" title="best epoch"><td>4<\/td>/);
});

test('escapes a hostile class name, title, summary and config everywhere', () => {
  const html = renderReport(sample({
    title: kHostile,
    classes: [kHostile, 'b'],
    summary: { [kHostile]: kHostile },
    config: kHostile,
  }));
  assertWellFormed(html);
  assertSelfContained(html);
  assert.ok(!html.includes('<img'));
  assert.ok(!html.includes('<script'));
  assert.ok(!html.includes(kHostile));
  // Title, h1, summary key and value, config, matrix column, row header, and
  // the cell tooltips of row 0 and column 0.
  assert.ok(html.split(kHostileEscaped).length - 1 >= 8, 'escaped in every place it is shown');
  assert.ok(html.includes(`<title>${kHostileEscaped}</title>`));
  assert.ok(html.includes(`<th class="col" title="${kHostileEscaped}">${kHostileEscaped}</th>`));
});

test('one epoch without validation', () => {
  const html = renderReport(sample({ epochs: epochs(1, false), confusion: [], summary: { best_epoch: null } }));
  assertWellFormed(html);
  assertFiniteGeometry(html);
  assert.equal(html.match(/<svg /g)?.length, 2);
  assert.equal(html.match(/<circle class="train"/g)?.length, 2, 'the lone point is drawn as a marker');
  assert.doesNotMatch(html, /<path class="line/, 'no line through a single point');
  assert.equal(html.match(/validation \(not recorded\)/g)?.length, 2);
  assert.match(html, /No validation set, so no confusion matrix\./);
  assert.match(html, /<text x="[\d.]+" y="[\d.]+" text-anchor="middle">1<\/text>/, 'the epoch tick');
});

test('gaps and non-finite values break the curves instead of the page', () => {
  const e = epochs(6);
  e[2] = { ...e[2]!, val_loss: null, val_acc: null };
  e[4] = { ...e[4]!, train_loss: Number.NaN };
  e[5] = { ...e[5]!, train_loss: Number.POSITIVE_INFINITY };
  const html = renderReport(sample({ epochs: e }));
  assertWellFormed(html);
  assertFiniteGeometry(html);
  assert.match(html, /<path class="line val" d="M[\d.]+ [\d.]+L[\d.]+ [\d.]+M[\d.]+ [\d.]+(L[\d.]+ [\d.]+){2}"\/>/);
  assert.match(html, /2 non-finite values \(NaN or ∞\) not drawn/);
  assert.match(html, /<td>NaN<\/td>/);
  assert.match(html, /<td>∞<\/td>/);
});

test('many classes: index-headed dense matrix, then a list of the worst confusions', () => {
  const matrix = (k: number): number[][] =>
    Array.from({ length: k }, (_, i) => Array.from({ length: k }, (_, j) => (i === j ? 10 : (i + 2 * j) % 17 === 0 ? 1 : 0)));
  const names = (k: number): string[] => Array.from({ length: k }, (_, i) => `class <${i}>`);

  const html30 = renderReport(sample({ classes: names(30), confusion: matrix(30) }));
  assertWellFormed(html30);
  assert.match(html30, /<table class="confusion dense">/);
  assert.match(html30, /<th class="col" title="class &lt;29&gt;">29<\/th>/);
  assert.match(html30, /<span class="total">29<\/span> class &lt;29&gt;<\/th>/);

  const html500 = renderReport(sample({ classes: names(500), confusion: matrix(500) }));
  assertWellFormed(html500);
  assert.doesNotMatch(html500, /<table class="confusion/);
  assert.match(html500, /500 classes are too many for a readable matrix/);
  assert.equal(html500.match(/<tr><td class="name">/g)?.length, 25);
  assert.ok(html500.length < 100_000, `${html500.length} characters`);
});

test('renders with no epochs and no summary', () => {
  const html = renderReport(sample({ epochs: [], summary: {}, config: undefined }));
  assertWellFormed(html);
  assertFiniteGeometry(html);
  assert.match(html, /No epochs recorded\./);
  assert.match(html, /Nothing recorded\./);
  assert.doesNotMatch(html, /<pre/);
});

test('is deterministic', () => {
  assert.equal(renderReport(sample()), renderReport(sample()));
});

test('names the malformed field', () => {
  assert.throws(() => renderReport(sample({ confusion: [[1, 2]] })), {
    name: 'TypeError',
    message: 'Expected [] or 2 rows, one per class for confusion but received an array of length 1',
  });
  assert.throws(() => renderReport(sample({ confusion: [[1, 2], [3]] })), {
    message: 'Expected 2 counts, one per class for confusion[1] but received an array of length 1',
  });
  assert.throws(() => renderReport(sample({ confusion: [[1, 2], [3, -1]] })), {
    message: 'Expected a finite count >= 0 for confusion[1][1] but received number -1',
  });
  const bad = epochs(2) as unknown as Record<string, unknown>[];
  bad[1] = { ...bad[1], val_acc: '0.5' };
  assert.throws(() => renderReport(sample({ epochs: bad as unknown as ReportEpoch[] })), {
    message: 'Expected a number or null for epochs[1].val_acc but received string "0.5"',
  });
  assert.throws(() => renderReport(sample({ classes: ['a', 3 as unknown as string] })), {
    message: 'Expected a string for classes[1] but received number 3',
  });
});
