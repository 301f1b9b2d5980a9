// The drift report page: one self-contained HTML file (inline CSS and SVG, no
// script, nothing fetched), in the look of the training report, so it opens
// from disk or a bucket and a hostile class name cannot run code. Per column:
// reference and current distributions overlaid, the test and its verdict.
import { escapeHtml, htmlPage } from '../util/index.js';
import { classOf, STAT_TESTS, type ColumnDrift, type DriftColumn, type DriftReport, type FeatureRecord } from './detect.js';
import { invalid } from '../util/index.js';
import { niceAxis } from '../util/index.js';
import { formatNumber, formatPercent } from '../util/index.js';

export interface DriftPageInput {
  /** What {@link detectDrift} returned for these records. */
  report: DriftReport;
  reference: readonly FeatureRecord[];
  /** The current records the report compared (after any window). */
  current: readonly FeatureRecord[];
  title?: string;
  /** Where the records came from (paths), shown in the header. */
  referenceSource?: string;
  currentSource?: string;
  /** The window the current records were cut to, if any. */
  window?: number;
  /** Shown in the header; default now. */
  generatedAt?: Date;
}

const kFeatureNames: Record<string, string> = {
  avg_brightness: 'Average brightness',
  contrast: 'Contrast',
  sharpness: 'Sharpness',
  class: 'Class',
};

const kFeatureNotes: Record<string, string> = {
  avg_brightness: 'mean of the 128×128 RGB image, values in [0, 1]',
  contrast: 'standard deviation of the same values',
  sharpness: 'mean |gradient| over channels, rows and columns',
  class: 'predicted class (current) against the training label (reference)',
};

/**
 * Renders the drift report page. Every piece of text is escaped. Throws an
 * InvalidArgumentError when `report` or the record arrays are missing.
 */
export function renderDriftReport(input: DriftPageInput): string {
  if (typeof input !== 'object' || input === null) throw invalid('input', 'an object', input);
  if (typeof input.report !== 'object' || input.report === null) throw invalid('report', 'a drift report from detectDrift()', input.report);
  if (!Array.isArray(input.reference)) throw invalid('reference', 'an array of feature records', input.reference);
  if (!Array.isArray(input.current)) throw invalid('current', 'an array of feature records', input.current);
  const { report } = input;
  const title = input.title ?? 'Drift report';
  const generated = input.generatedAt ?? new Date();
  const entries = Object.entries(report.columns) as [DriftColumn, ColumnDrift][];

  const cards = entries.map(([column, result]) => {
    const chart = column === 'class'
      ? classChart(input.reference, input.current)
      : histogramChart(column, input.reference.map((r) => r[column]), input.current.map((r) => r[column]));
    return columnCard(column, result, chart);
  });

  return htmlPage(title, kStyle, `<header>
<h1>${escapeHtml(title)}</h1>
<dl class="facts">${headerFacts(input, generated).map(([k, v]) => `<dt>${k}</dt><dd>${v}</dd>`).join('')}</dl>
</header>
${verdictBanner(report)}
<section>
<h2>Columns</h2>
${summaryTable(entries)}
${skippedNote(report)}
</section>
<section class="cards">
${cards.join('\n')}
</section>
<section class="method">
<h2>How to read this</h2>
<p>Each column is compared with the test <a href="https://docs.evidentlyai.com/">Evidently</a> picks by default for its type,
the size of the reference and its number of distinct values: for numbers, the two-sample Kolmogorov–Smirnov test when the
reference has at most 1000 rows (drift when p ≤ 0.05) and the Wasserstein distance in units of the reference's standard
deviation above that (drift when ≥ 0.1); for classes, and numbers with at most 5 distinct values, the chi-squared test
(the z-test for two values; drift when p &lt; 0.05) or, above 1000 reference rows, the Jensen–Shannon distance (drift when ≥ 0.1).
The dataset drifts when at least ${escapeHtml(formatPercent(report.drift_share, 0))} of the columns do.
Histograms show each sample's share per bin, so samples of different sizes compare directly; dashed lines mark the means.</p>
</section>
`);
}

const kStyle = `
:root { --ref: #2563eb; --cur: #ea580c; --drift: #b91c1c; --drift-bg: #fef2f2; --ok: #15803d; --ok-bg: #f0fdf4; }
.facts { margin: 6px 0 0; display: grid; grid-template-columns: max-content 1fr; gap: 1px 14px; color: var(--muted); }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; color: var(--ink); overflow-wrap: anywhere; }
.facts code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; color: var(--ink); }
.verdict { margin-top: 20px; padding: 14px 18px; border-radius: 6px; border: 1px solid; display: flex; align-items: baseline; gap: 14px; flex-wrap: wrap; }
.verdict strong { font-size: 18px; }
.verdict.drift { background: var(--drift-bg); border-color: #fecaca; color: var(--drift); }
.verdict.ok { background: var(--ok-bg); border-color: #bbf7d0; color: var(--ok); }
.verdict span { color: var(--ink); }
.badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 12px; font-weight: 600; white-space: nowrap; }
.badge.drift { background: #fee2e2; color: var(--drift); }
.badge.ok { background: #dcfce7; color: var(--ok); }
th, td { padding: 4px 10px; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(520px, 1fr)); gap: 16px; margin-top: 24px; }
figure.card { padding: 12px 12px 6px; }
figure.card.drift { border-color: #fca5a5; box-shadow: inset 3px 0 0 var(--drift); }
figure.card figcaption { display: flex; align-items: baseline; gap: 10px; margin: 0 0 2px 4px; }
figure.card figcaption b { font-size: 15px; }
figure.card .note { margin: 0 0 4px 4px; color: var(--muted); font-size: 12px; }
figure.card .test { margin: 0 0 6px 4px; font-size: 13px; }
svg rect.ref { fill: var(--ref); fill-opacity: 0.28; }
svg rect.cur { fill: var(--cur); fill-opacity: 0.28; }
svg path.ref, svg line.ref { fill: none; stroke: var(--ref); stroke-width: 1.6; }
svg path.cur, svg line.cur { fill: none; stroke: var(--cur); stroke-width: 1.6; }
svg line.mean { stroke-dasharray: 4 3; }
table.counts { margin: 8px 0 4px 4px; font-size: 13px; }
table.counts th, table.counts td { padding: 3px 10px; }
.method p { color: var(--muted); max-width: 900px; }
.method a { color: inherit; }
`;

/** [label, HTML] pairs for the header. */
function headerFacts(input: DriftPageInput, generated: Date): [string, string][] {
  const { report } = input;
  const source = (path: string | undefined): string => (path ? `<code>${escapeHtml(path)}</code> · ` : '');
  const count = (n: number): string => `${escapeHtml(formatCount(n))} record${n === 1 ? '' : 's'}`;
  const windowed = input.window !== undefined && input.window <= report.current_size;
  const facts: [string, string][] = [
    ['Reference', `${source(input.referenceSource)}${count(report.reference_size)}`],
    ['Current', `${source(input.currentSource)}${windowed ? `the last ${count(report.current_size)}` : count(report.current_size)}`],
  ];
  const times = input.current.map((r) => r.time).filter((t): t is string => typeof t === 'string').sort();
  if (times.length > 0) facts.push(['Period', `${escapeHtml(formatTime(times[0]!))} – ${escapeHtml(formatTime(times[times.length - 1]!))}`]);
  facts.push(['Generated', escapeHtml(formatTime(generated.toISOString()))]);
  return facts;
}

/** An ISO time as "2026-11-26 10:01:40Z"; anything else as it is. */
function formatTime(text: string): string {
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(?:\.\d+)?(Z|[+-]\d{2}:?\d{2})$/.exec(text);
  return m ? `${m[1]} ${m[2]}${m[3] === 'Z' ? ' UTC' : m[3]}` : text;
}

function verdictBanner(report: DriftReport): string {
  const cls = report.dataset_drift ? 'drift' : 'ok';
  const head = report.dataset_drift ? 'Dataset drift detected' : 'No dataset drift';
  const detail = `${report.number_of_drifted_columns} of ${report.number_of_columns} column${report.number_of_columns === 1 ? '' : 's'} drifted `
    + `(${formatPercent(report.share_of_drifted_columns, 0)}); the dataset drifts at ${formatPercent(report.drift_share, 0)} or more.`;
  return `<div class="verdict ${cls}"><strong>${escapeHtml(head)}</strong><span>${escapeHtml(detail)}</span></div>`;
}

function summaryTable(entries: [DriftColumn, ColumnDrift][]): string {
  if (entries.length === 0) return '<p class="empty">No columns compared.</p>';
  const rows = entries.map(([column, c]) => {
    const score = c.p_value !== undefined ? `p = ${formatP(c.p_value)}` : `${formatNumber(c.distance ?? c.statistic)}`;
    const rule = ruleText(c);
    return `<tr><td class="name">${escapeHtml(column)}</td><td class="name">${escapeHtml(c.type === 'num' ? 'numerical' : 'categorical')}</td>`
      + `<td class="name">${escapeHtml(c.test_name)}</td><td>${escapeHtml(formatStatistic(c))}</td><td>${escapeHtml(score)}</td>`
      + `<td>${escapeHtml(rule)}</td><td>${escapeHtml(formatCount(c.reference_size))} / ${escapeHtml(formatCount(c.current_size))}</td>`
      + `<td class="name">${badge(c.drift)}</td></tr>`;
  });
  return `<div class="scroll"><table><thead><tr><th class="name">column</th><th class="name">type</th><th class="name">test</th>`
    + `<th>statistic</th><th>score</th><th>drift when</th><th>reference / current</th><th class="name">verdict</th></tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table></div>`;
}

function skippedNote(report: DriftReport): string {
  const skipped = Object.entries(report.skipped_columns);
  if (skipped.length === 0) return '';
  return skipped.map(([column, why]) => `<p class="legend-note">${escapeHtml(column)} not compared: ${escapeHtml(why ?? '')}.</p>`).join('');
}

function badge(drift: boolean): string {
  return drift ? '<span class="badge drift">drift</span>' : '<span class="badge ok">no drift</span>';
}

function ruleText(c: ColumnDrift): string {
  const kind = STAT_TESTS[c.test].kind;
  if (kind === 'distance') return `distance ≥ ${formatNumber(c.threshold)}`;
  return `p ${c.test === 'ks' ? '≤' : '<'} ${formatNumber(c.threshold)}`;
}

function formatStatistic(c: ColumnDrift): string {
  const name = { ks: 'D', wasserstein: 'W₁', chisquare: 'χ²', z: 'z', jensenshannon: 'JS' }[c.test];
  return `${name} = ${formatNumber(c.statistic)}`;
}

function columnCard(column: DriftColumn, c: ColumnDrift, chart: string): string {
  const score = c.p_value !== undefined
    ? `p = ${formatP(c.p_value)}${c.method ? ` (${c.method === 'exact' ? 'exact' : 'asymptotic'})` : ''}`
    : `distance ${formatNumber(c.distance ?? c.statistic)}`;
  const line = `${c.test_name}: ${formatStatistic(c)}, ${score}; drift when ${ruleText(c)}.`;
  return `<figure class="card${c.drift ? ' drift' : ''}"><figcaption><b>${escapeHtml(kFeatureNames[column] ?? column)}</b> ${badge(c.drift)}</figcaption>
<p class="note">${escapeHtml(`${column}: ${kFeatureNotes[column] ?? ''}`)}</p>
<p class="test">${escapeHtml(line)}</p>
${chart}
</figure>`;
}

// ---------------------------------------------------------------- charts

const kChart = { width: 560, height: 250, left: 52, right: 14, top: 30, bottom: 34 };
const kMinBins = 12;
const kMaxBins = 40;

/** Overlaid histograms of one numerical column, as shares of each sample, on common bins. */
function histogramChart(column: string, reference: number[], current: number[]): string {
  const { width, height, left, right, top, bottom } = kChart;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const total = reference.length + current.length;
  let lo = Infinity;
  let hi = -Infinity;
  for (const values of [reference, current]) {
    for (const v of values) {
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  }
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
    const pad = lo === 0 ? 0.5 : Math.abs(lo) * 0.05;
    lo -= pad;
    hi += pad;
  }
  // Sturges' rule on the pooled sample, kept readable.
  const bins = Math.min(kMaxBins, Math.max(kMinBins, Math.ceil(Math.log2(total) + 1)));
  const step = (hi - lo) / bins;
  const share = (values: number[]): number[] => {
    const counts = new Array<number>(bins).fill(0);
    for (const v of values) counts[Math.min(bins - 1, Math.floor((v - lo) / step))]!++;
    return counts.map((c) => c / values.length);
  };
  const ref = share(reference);
  const cur = share(current);
  const yAxis = niceAxis(0, Math.max(...ref, ...cur), 4); // at most 2 × kMaxBins values
  const xAxis = niceAxis(lo, hi, 6);
  const px = (x: number): number => left + ((x - lo) / (hi - lo)) * plotW;
  const py = (y: number): number => top + (1 - y / yAxis.hi) * plotH;

  const label = `${column}: reference and current distributions`;
  const out: string[] = [];
  out.push(`<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(label)}"><title>${escapeHtml(label)}</title>`);
  for (const t of yAxis.ticks) {
    const y = r(py(t));
    out.push(`<line class="grid" x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}"/>`);
    out.push(`<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeHtml(formatPercent(t, yAxis.digits > 2 ? 1 : 0))}</text>`);
  }
  for (const t of xAxis.ticks) {
    if (t < lo - 1e-12 || t > hi + 1e-12) continue;
    const x = r(px(t));
    out.push(`<line class="axis" x1="${x}" x2="${x}" y1="${top + plotH}" y2="${top + plotH + 4}"/>`);
    out.push(`<text x="${x}" y="${top + plotH + 16}" text-anchor="middle">${escapeHtml(t.toFixed(xAxis.digits))}</text>`);
  }
  for (const [values, cls] of [[ref, 'ref'], [cur, 'cur']] as const) {
    values.forEach((v, i) => {
      if (v <= 0) return;
      const x0 = r(px(lo + i * step));
      const x1 = r(px(lo + (i + 1) * step));
      const y = r(py(v));
      const tip = `${cls === 'ref' ? 'reference' : 'current'} ${formatNumber(lo + i * step)}–${formatNumber(lo + (i + 1) * step)}: ${formatPercent(v, 1)}`;
      out.push(`<rect class="${cls}" x="${x0}" y="${y}" width="${r(x1 - x0)}" height="${r(top + plotH - y)}"><title>${escapeHtml(tip)}</title></rect>`);
    });
    out.push(`<path class="${cls}" d="${stepPath(values, lo, step, px, py)}"/>`);
  }
  for (const [values, cls] of [[reference, 'ref'], [current, 'cur']] as const) {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const x = r(px(mean));
    out.push(`<line class="${cls} mean" x1="${x}" x2="${x}" y1="${top}" y2="${top + plotH}"><title>${escapeHtml(`${cls === 'ref' ? 'reference' : 'current'} mean ${formatNumber(mean)}`)}</title></line>`);
  }
  out.push(`<line class="axis" x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}"/>`);
  out.push(legend(reference.length, current.length, left));
  out.push('</svg>');
  return out.join('\n');
}

/** The outline of a histogram: up and down each bar, along the top. */
function stepPath(values: number[], lo: number, step: number, px: (x: number) => number, py: (y: number) => number): string {
  let d = `M${r(px(lo))} ${r(py(0))}`;
  values.forEach((v, i) => {
    d += `V${r(py(v))}H${r(px(lo + (i + 1) * step))}`;
  });
  return `${d}V${r(py(0))}`;
}

function legend(nRef: number, nCur: number, x: number): string {
  const refText = `reference (${formatCount(nRef)})`;
  const curText = `current (${formatCount(nCur)})`;
  const x2 = x + 34 + refText.length * 6.2 + 22;
  return '<g class="legend">'
    + `<rect class="ref" x="${x}" y="9" width="22" height="10"/><line class="ref" x1="${x}" x2="${x + 22}" y1="9" y2="9"/>`
    + `<text x="${x + 28}" y="14" dominant-baseline="middle">${escapeHtml(refText)}</text>`
    + `<rect class="cur" x="${r(x2)}" y="9" width="22" height="10"/><line class="cur" x1="${r(x2)}" x2="${r(x2 + 22)}" y1="9" y2="9"/>`
    + `<text x="${r(x2 + 28)}" y="14" dominant-baseline="middle">${escapeHtml(curText)}</text>`
    + '</g>';
}

const kMaxClassesDrawn = 16;

/** Paired horizontal bars: each class's share of the reference and of the current records. */
function classChart(referenceRecords: readonly FeatureRecord[], currentRecords: readonly FeatureRecord[]): string {
  const count = (records: readonly FeatureRecord[]): { counts: Map<string, number>; total: number } => {
    const counts = new Map<string, number>();
    let total = 0;
    for (const record of records) {
      const c = classOf(record);
      if (c === undefined) continue;
      counts.set(c, (counts.get(c) ?? 0) + 1);
      total++;
    }
    return { counts, total };
  };
  const ref = count(referenceRecords);
  const cur = count(currentRecords);
  const shareOf = (side: typeof ref, key: string): number => (side.total > 0 ? (side.counts.get(key) ?? 0) / side.total : 0);
  const keys = [...new Set([...ref.counts.keys(), ...cur.counts.keys()])]
    .sort((a, b) => shareOf(ref, b) + shareOf(cur, b) - shareOf(ref, a) - shareOf(cur, a) || (a < b ? -1 : a > b ? 1 : 0));
  const drawn = keys.slice(0, kMaxClassesDrawn);

  const rowH = 30;
  const labelW = 150;
  const { width, right } = kChart;
  const top = 30;
  const plotW = width - labelW - right - 50;
  const height = top + drawn.length * rowH + 10;
  const max = Math.max(...drawn.map((k) => Math.max(shareOf(ref, k), shareOf(cur, k))), 1e-9);
  const out: string[] = [];
  out.push(`<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="class shares, reference and current"><title>class shares, reference and current</title>`);
  drawn.forEach((key, i) => {
    const y = top + i * rowH;
    const name = key.length > 22 ? `${key.slice(0, 21)}…` : key;
    out.push(`<text x="${labelW - 8}" y="${y + rowH / 2 - 2}" text-anchor="end" dominant-baseline="middle" fill="#1d2330"><title>${escapeHtml(key)}</title>${escapeHtml(name)}</text>`);
    for (const [side, cls, dy] of [[ref, 'ref', 3], [cur, 'cur', 14]] as const) {
      const s = shareOf(side, key);
      const w = r((s / max) * plotW);
      out.push(`<rect class="${cls}" x="${labelW}" y="${y + dy}" width="${w}" height="10" style="fill-opacity:0.55"><title>${escapeHtml(`${cls === 'ref' ? 'reference' : 'current'} ${key}: ${formatPercent(s, 1)} (${side.counts.get(key) ?? 0})`)}</title></rect>`);
      out.push(`<text x="${r(labelW + w + 6)}" y="${y + dy + 5}" dominant-baseline="middle">${escapeHtml(formatPercent(s, 1))}</text>`);
    }
  });
  out.push(`<line class="axis" x1="${labelW}" x2="${labelW}" y1="${top - 2}" y2="${height - 8}"/>`);
  out.push(legend(ref.total, cur.total, labelW));
  out.push('</svg>');
  if (keys.length > drawn.length) {
    out.push(`<p class="legend-note">…and ${keys.length - drawn.length} rarer classes.</p>`);
  }
  const rows = drawn.map((key) => `<tr><td class="name">${escapeHtml(key)}</td>`
    + `<td>${escapeHtml(formatCount(ref.counts.get(key) ?? 0))}</td><td>${escapeHtml(formatPercent(shareOf(ref, key), 1))}</td>`
    + `<td>${escapeHtml(formatCount(cur.counts.get(key) ?? 0))}</td><td>${escapeHtml(formatPercent(shareOf(cur, key), 1))}</td></tr>`);
  out.push(`<div class="scroll"><table class="counts"><thead><tr><th class="name">class</th><th colspan="2">reference</th><th colspan="2">current</th></tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table></div>`);
  return out.join('\n');
}

// ---------------------------------------------------------------- numbers

function formatP(p: number): string {
  if (p === 0) return '0';
  if (p < 1e-4) return p.toExponential(1);
  return Number(p.toPrecision(3)).toString();
}

function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}
