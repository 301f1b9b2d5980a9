// The run's report.html: one self-contained page (inline CSS and SVG, no
// script, nothing fetched) so it opens from disk, from a bucket or from a mail
// attachment and looks the same, and so a hostile class name cannot run code.
import { invalid } from '../util/index.js';
import { escapeHtml, htmlPage } from '../util/index.js';
import { lineChart } from './chart.js';
import { formatNumber, formatPercent } from '../util/index.js';

/** One line of metrics.jsonl. */
export interface ReportEpoch {
  epoch: number;
  train_loss: number;
  train_acc: number;
  val_loss: number | null;
  val_acc: number | null;
  lr: number;
  img_per_s: number;
  seconds: number;
}

export interface ReportInput {
  title: string;
  classes: string[];
  epochs: ReportEpoch[];
  /** `[true][predicted]` counts of the best epoch; `[]` when there was no validation. */
  confusion: number[][];
  /** Shown in order; a number `best_epoch` marks that epoch on the charts. */
  summary: Record<string, string | number | null>;
  /** The resolved config, shown verbatim. */
  config?: string;
}

/**
 * Renders the training report: loss and accuracy curves (train and validation)
 * as SVG line charts, the best epoch's confusion matrix shaded by row, the
 * summary, the per-epoch numbers and the resolved config, as one HTML page.
 * Every piece of text is escaped. Missing values (`null`, and non-finite
 * numbers such as a diverged loss) leave gaps in the curves instead of
 * failing. Throws an InvalidArgumentError naming the field for malformed input.
 */
export function renderReport(input: ReportInput): string {
  checkInput(input);
  const epochs = [...input.epochs].sort((a, b) => a.epoch - b.epoch);
  const bestEpoch = typeof input.summary['best_epoch'] === 'number' ? input.summary['best_epoch'] : null;
  const xs = epochs.map((e) => e.epoch);

  const lossChart = lineChart({
    title: 'Loss',
    yLabel: 'loss',
    xs,
    bestEpoch,
    series: [
      { label: 'train', className: 'train', values: epochs.map((e) => e.train_loss) },
      { label: 'validation', className: 'val', values: epochs.map((e) => e.val_loss) },
    ],
    format: formatNumber,
  });
  const accuracyChart = lineChart({
    title: 'Accuracy',
    yLabel: 'accuracy',
    xs,
    bestEpoch,
    series: [
      { label: 'train', className: 'train', values: epochs.map((e) => e.train_acc) },
      { label: 'validation', className: 'val', values: epochs.map((e) => e.val_acc) },
    ],
    fixedDomain: [0, 1],
    format: (v) => formatPercent(v, 1),
    tickFormat: (v) => formatPercent(v, 0),
  });

  const facts = [
    `${epochs.length} epoch${epochs.length === 1 ? '' : 's'}`,
    `${input.classes.length} class${input.classes.length === 1 ? '' : 'es'}`,
  ];
  if (bestEpoch !== null) facts.push(`best epoch ${formatNumber(bestEpoch)}`);

  return htmlPage(input.title, kStyle, `<header>
<h1>${escapeHtml(input.title)}</h1>
<p class="facts">${facts.map(escapeHtml).join(' · ')}</p>
</header>
<section class="charts">
${lossChart}
${accuracyChart}
</section>
<div class="columns">
<section>
<h2>Confusion matrix${bestEpoch !== null ? ` <small>(epoch ${escapeHtml(formatNumber(bestEpoch))})</small>` : ''}</h2>
${confusionSection(input.classes, input.confusion)}
</section>
<section>
<h2>Summary</h2>
${summaryTable(input.summary)}
</section>
</div>
<section>
<h2>Epochs</h2>
${epochTable(epochs, bestEpoch)}
</section>
${input.config ? `<section>\n<h2>Config</h2>\n<pre class="config">${escapeHtml(input.config)}</pre>\n</section>\n` : ''}`);
}

const kStyle = `
:root { --train: #2563eb; --val: #ea580c; }
h2 small { font-weight: normal; color: var(--muted); }
.facts { margin: 0; color: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 20px; }
figure.chart { flex: 1 1 520px; padding: 12px 12px 4px; }
figure.chart figcaption { font-weight: 600; margin: 0 0 2px 4px; }
figure.chart .legend-note { margin: 0 0 6px 4px; }
svg .best { stroke: #9aa1ae; stroke-width: 1; stroke-dasharray: 3 3; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
svg .line.train { stroke: var(--train); }
svg .line.val { stroke: var(--val); stroke-dasharray: 6 3; }
svg circle.train { fill: var(--train); }
svg circle.val { fill: var(--val); stroke: #fff; stroke-width: 1; }
svg .legend .absent { fill: var(--muted); font-style: italic; }
svg .note { font-style: italic; }
.columns { display: flex; flex-wrap: wrap; gap: 0 40px; align-items: flex-start; }
.columns > section { flex: 0 1 auto; min-width: 0; max-width: 100%; }
.kv th { text-align: left; color: var(--muted); font-weight: normal; padding-right: 20px; }
.kv td { text-align: left; white-space: normal; overflow-wrap: anywhere; }
tr.best td { background: #fff7ed; }
table.confusion td.cell { min-width: 44px; text-align: center; border: 1px solid #fff; }
table.confusion th.col { text-align: center; vertical-align: bottom; max-width: 110px; overflow: hidden; text-overflow: ellipsis; }
table.confusion th.row { max-width: 220px; overflow: hidden; text-overflow: ellipsis; text-align: left; }
table.confusion .corner { color: var(--muted); font-weight: normal; text-align: left; font-size: 12px; }
table.confusion .total, table.confusion .rate { color: var(--muted); }
table.confusion.dense { font-size: 11px; }
table.confusion.dense td.cell { min-width: 26px; padding: 2px 3px; }
table.confusion.dense th { padding: 2px 4px; }
.empty { font-style: italic; font-size: 14px; }
details summary { cursor: pointer; color: var(--muted); margin-bottom: 6px; }
pre.config { background: var(--panel); border: 1px solid var(--rule); border-radius: 6px; padding: 12px 14px;
  overflow: auto; font: 12.5px/1.5 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
`;


// ---------------------------------------------------------------- tables

/** Past this many classes, columns are headed by index to keep the table narrow. */
const kNamedColumns = 10;
/** Past this many, the matrix is shaded without zeros and smaller. */
const kDenseClasses = 20;
/** Past this many, a matrix stops being readable (and grows as k²): list the worst confusions instead. */
const kMatrixClasses = 60;
const kListedConfusions = 25;

function confusionSection(classes: string[], confusion: number[][]): string {
  if (confusion.length === 0) return '<p class="empty">No validation set, so no confusion matrix.</p>';
  const rowTotals = confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const total = rowTotals.reduce((a, b) => a + b, 0);
  const correct = confusion.reduce((a, row, i) => a + (row[i] ?? 0), 0);
  const table = classes.length <= kMatrixClasses
    ? confusionTable(classes, confusion, rowTotals, total)
    : confusionList(classes, confusion, rowTotals);
  const shading = classes.length <= kMatrixClasses
    ? 'Rows are true classes, shaded by their share of the row (blue: correct, red: confused). '
    : '';
  return `${table}<p class="legend-note">${shading}Accuracy ${total > 0 ? escapeHtml(formatPercent(correct / total)) : '—'} of ${escapeHtml(formatNumber(total))}.</p>`;
}

function confusionTable(classes: string[], confusion: number[][], rowTotals: number[], total: number): string {
  const k = classes.length;
  const colTotals = classes.map((_, j) => confusion.reduce((a, row) => a + (row[j] ?? 0), 0));
  const named = k <= kNamedColumns;
  const dense = k > kDenseClasses;

  const out: string[] = [];
  out.push('<div class="scroll">');
  out.push(`<table class="confusion${dense ? ' dense' : ''}">`);
  out.push('<thead><tr><th class="corner">true ↓ · predicted →</th>');
  classes.forEach((name, j) => {
    out.push(`<th class="col" title="${escapeHtml(name)}">${escapeHtml(named ? name : String(j))}</th>`);
  });
  out.push('<th class="total">total</th><th class="rate">recall</th></tr></thead><tbody>');
  confusion.forEach((row, i) => {
    const rowTotal = rowTotals[i] ?? 0;
    const name = classes[i] ?? '';
    out.push(`<tr><th class="row" title="${escapeHtml(name)}">${named ? '' : `<span class="total">${i}</span> `}${escapeHtml(name)}</th>`);
    row.forEach((count, j) => {
      const share = rowTotal > 0 ? count / rowTotal : 0;
      const tip = `true ${name}, predicted ${classes[j] ?? ''}: ${count} (${formatPercent(share)} of the row)`;
      const text = dense && count === 0 ? '' : escapeHtml(formatNumber(count));
      out.push(`<td class="cell" style="${cellStyle(share, i === j)}" title="${escapeHtml(tip)}">${text}</td>`);
    });
    out.push(`<td class="total">${escapeHtml(formatNumber(rowTotal))}</td>`);
    out.push(`<td class="rate">${rowTotal > 0 ? escapeHtml(formatPercent((row[i] ?? 0) / rowTotal)) : '—'}</td></tr>`);
  });
  out.push('</tbody><tfoot><tr><th class="name total">total</th>');
  for (const t of colTotals) out.push(`<td class="total cell">${escapeHtml(formatNumber(t))}</td>`);
  out.push(`<td class="total">${escapeHtml(formatNumber(total))}</td><td></td></tr>`);
  out.push('<tr><th class="name rate">precision</th>');
  colTotals.forEach((t, j) => {
    const diag = confusion[j]?.[j] ?? 0;
    out.push(`<td class="rate cell">${t > 0 ? escapeHtml(formatPercent(diag / t, 0)) : '—'}</td>`);
  });
  out.push('<td></td><td></td></tr></tfoot></table></div>');
  return out.join('');
}

/** The largest off-diagonal counts, for too many classes to draw. */
function confusionList(classes: string[], confusion: number[][], rowTotals: number[]): string {
  const pairs: { i: number; j: number; count: number }[] = [];
  confusion.forEach((row, i) => row.forEach((count, j) => {
    if (i !== j && count > 0) pairs.push({ i, j, count });
  }));
  pairs.sort((a, b) => b.count - a.count || a.i - b.i || a.j - b.j);
  const intro = `<p class="legend-note">${classes.length} classes are too many for a readable matrix; these are the most frequent confusions.</p>`;
  if (pairs.length === 0) return `${intro}<p class="empty">No confusions.</p>`;
  const rows = pairs.slice(0, kListedConfusions).map(({ i, j, count }) => {
    const share = (rowTotals[i] ?? 0) > 0 ? count / (rowTotals[i] ?? 1) : 0;
    return `<tr><td class="name">${escapeHtml(classes[i] ?? '')}</td><td class="name">${escapeHtml(classes[j] ?? '')}</td>`
      + `<td>${escapeHtml(formatNumber(count))}</td><td>${escapeHtml(formatPercent(share))}</td></tr>`;
  });
  const more = pairs.length > kListedConfusions ? `<p class="legend-note">…and ${pairs.length - kListedConfusions} more pairs.</p>` : '';
  return `${intro}<div class="scroll"><table><thead><tr><th class="name">true</th><th class="name">predicted</th><th>count</th><th>of the true class</th></tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table></div>${more}`;
}

function cellStyle(share: number, diagonal: boolean): string {
  if (share <= 0) return 'background:#fafbfc;color:#b3b9c4';
  const alpha = 0.08 + 0.82 * share;
  const rgb = diagonal ? '37,99,235' : '220,38,38';
  return `background:rgba(${rgb},${alpha.toFixed(3)});color:${alpha > 0.55 ? '#fff' : '#1d2330'}`;
}

function summaryTable(summary: Record<string, string | number | null>): string {
  const entries = Object.entries(summary);
  if (entries.length === 0) return '<p class="empty">Nothing recorded.</p>';
  const rows = entries.map(([key, value]) => {
    const text = value === null ? '—' : typeof value === 'number' ? formatNumber(value) : value;
    return `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(text)}</td></tr>`;
  });
  return `<table class="kv"><tbody>${rows.join('')}</tbody></table>`;
}

function epochTable(epochs: ReportEpoch[], bestEpoch: number | null): string {
  if (epochs.length === 0) return '<p class="empty">No epochs recorded.</p>';
  const head = ['epoch', 'train loss', 'train acc', 'val loss', 'val acc', 'lr', 'img/s', 'seconds'];
  const rows = epochs.map((e) => {
    const cells = [
      formatNumber(e.epoch), formatFixed(e.train_loss, 4), formatPercent(e.train_acc),
      e.val_loss === null ? '—' : formatFixed(e.val_loss, 4), e.val_acc === null ? '—' : formatPercent(e.val_acc),
      formatNumber(e.lr), formatFixed(e.img_per_s, 1), formatFixed(e.seconds, 1),
    ];
    return `<tr${e.epoch === bestEpoch ? ' class="best" title="best epoch"' : ''}>${cells.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`;
  });
  const table = `<div class="scroll"><table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
  return epochs.length > 30 ? `<details><summary>${epochs.length} epochs</summary>${table}</details>` : table;
}

// ---------------------------------------------------------------- text

function formatFixed(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : formatNumber(v);
}


// ---------------------------------------------------------------- input

function checkInput(input: ReportInput): void {
  if (typeof input !== 'object' || input === null) throw invalid('report input', 'an object', input);
  if (typeof input.title !== 'string') throw invalid('title', 'a string', input.title);
  if (!Array.isArray(input.classes)) throw invalid('classes', 'an array of strings', input.classes);
  input.classes.forEach((c, i) => {
    if (typeof c !== 'string') throw invalid(`classes[${i}]`, 'a string', c);
  });
  if (!Array.isArray(input.epochs)) throw invalid('epochs', 'an array', input.epochs);
  input.epochs.forEach((e, i) => {
    if (typeof e !== 'object' || e === null) throw invalid(`epochs[${i}]`, 'an object', e);
    for (const key of ['epoch', 'train_loss', 'train_acc', 'lr', 'img_per_s', 'seconds'] as const) {
      if (typeof e[key] !== 'number') throw invalid(`epochs[${i}].${key}`, 'a number', e[key]);
    }
    for (const key of ['val_loss', 'val_acc'] as const) {
      if (e[key] !== null && typeof e[key] !== 'number') throw invalid(`epochs[${i}].${key}`, 'a number or null', e[key]);
    }
    if (!Number.isFinite(e.epoch)) throw invalid(`epochs[${i}].epoch`, 'a finite number', e.epoch);
  });
  const k = input.classes.length;
  if (!Array.isArray(input.confusion) || (input.confusion.length !== 0 && input.confusion.length !== k)) {
    throw invalid('confusion', `[] or ${k} rows, one per class`, input.confusion);
  }
  input.confusion.forEach((row, i) => {
    if (!Array.isArray(row) || row.length !== k) throw invalid(`confusion[${i}]`, `${k} counts, one per class`, row);
    row.forEach((v, j) => {
      if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw invalid(`confusion[${i}][${j}]`, 'a finite count >= 0', v);
    });
  });
  if (typeof input.summary !== 'object' || input.summary === null || Array.isArray(input.summary)) {
    throw invalid('summary', 'an object of strings, numbers or nulls', input.summary);
  }
  for (const [key, v] of Object.entries(input.summary)) {
    if (v !== null && typeof v !== 'string' && typeof v !== 'number') throw invalid(`summary.${key}`, 'a string, number or null', v);
  }
  if (input.config !== undefined && typeof input.config !== 'string') throw invalid('config', 'a string', input.config);
}
