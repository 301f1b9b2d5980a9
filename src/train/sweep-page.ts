// A sweep's comparison page (OUTPUT/<sweep>/index.html): every run's
// validation curves on one chart each (accuracy, loss), and a table of the
// runs, best validation accuracy first, sortable by any column, with the
// swept config values that differ from run 0's highlighted. The charts are the
// run report's; the page's one script only sorts the table.
import { escapeHtml, formatNumber, formatPercent, htmlPage } from '../util/index.js';
import { lineChart, type Series } from './chart.js';
import type { ReportEpoch } from './report.js';

export interface SweepPageRun {
  n: number;
  overrides: Record<string, string>;
  /** null while the run has not finished. */
  summary: { best_val_acc: number | null; test_acc: number | null; best_epoch: number | null; epochs: number; train_img_per_s: number; run_dir: string } | null;
  epochs: ReportEpoch[];
}

export interface SweepPageInput {
  title: string;
  runs: SweepPageRun[];
}

// Tableau 10: distinct for the first ten runs, then repeated.
const kPalette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];

export function renderSweepPage(input: SweepPageInput): string {
  const runs = input.runs;
  const xs = [...new Set(runs.flatMap((r) => r.epochs.map((e) => e.epoch)))].sort((a, b) => a - b);
  const seriesOf = (value: (e: ReportEpoch) => number | null): Series[] => runs.filter((r) => r.epochs.length > 0).map((r) => ({
    label: `#${r.n}`, className: 'run', color: kPalette[r.n % kPalette.length]!,
    values: xs.map((x) => {
      const e = r.epochs.find((m) => m.epoch === x);
      return e ? value(e) : null;
    }),
  }));
  const accuracy = lineChart({
    title: 'Validation accuracy', yLabel: 'val accuracy', xs, bestEpoch: null, series: seriesOf((e) => e.val_acc),
    fixedDomain: [0, 1], format: (v) => formatPercent(v, 1), tickFormat: (v) => formatPercent(v, 0),
  });
  const loss = lineChart({ title: 'Validation loss', yLabel: 'val loss', xs, bestEpoch: null, series: seriesOf((e) => e.val_loss), format: formatNumber });
  const done = runs.filter((r) => r.summary).length;
  return htmlPage(input.title, kStyle, `<header>
<h1>${escapeHtml(input.title)}</h1>
<p class="facts">${escapeHtml(`${runs.length} runs, ${done} finished`)}</p>
</header>
<section class="charts">
${accuracy}
${loss}
</section>
<section>
<h2>Runs <small>(click a column to sort; highlighted: config that differs from run 0)</small></h2>
${runTable(runs)}
</section>
`, kSortScript);
}

function runTable(runs: SweepPageRun[]): string {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.overrides)))];
  const first = runs[0]?.overrides ?? {};
  const sorted = [...runs].sort((a, b) => (b.summary?.best_val_acc ?? -1) - (a.summary?.best_val_acc ?? -1) || a.n - b.n);
  const numberCell = (v: number | null | undefined, text: (v: number) => string) =>
    `<td data-v="${v ?? ''}">${escapeHtml(v === null || v === undefined ? '—' : text(v))}</td>`;
  const rows = sorted.map((r) => {
    const s = r.summary;
    const configCells = keys.map((k) => {
      const v = r.overrides[k] ?? '';
      return `<td class="name${v !== (first[k] ?? '') ? ' diff' : ''}" data-v="${escapeHtml(v)}">${escapeHtml(v)}</td>`;
    });
    return `<tr><td data-v="${r.n}" style="border-left:6px solid ${kPalette[r.n % kPalette.length]}">#${r.n}</td>${configCells.join('')}`
      + numberCell(s?.best_val_acc, (v) => formatPercent(v, 2)) + numberCell(s?.test_acc, (v) => formatPercent(v, 2))
      + numberCell(s?.best_epoch, formatNumber) + numberCell(s?.epochs, formatNumber) + numberCell(s?.train_img_per_s, (v) => v.toFixed(1))
      + `<td class="name" data-v="${s ? 'done' : 'pending'}">${s ? escapeHtml(s.run_dir) : 'not finished'}</td></tr>`;
  });
  const head = ['run', ...keys, 'best val acc', 'test acc', 'best epoch', 'epochs', 'img/s', 'run dir'];
  return `<div class="scroll"><table id="runs"><thead><tr>${head.map((h, i) => `<th data-col="${i}"${i > 0 && i <= keys.length ? ' class="name"' : ''}>${escapeHtml(h)}</th>`).join('')}</tr></thead>`
    + `<tbody>${rows.join('')}</tbody></table></div>`;
}

const kStyle = `
h2 small { font-weight: normal; color: var(--muted); }
.facts { margin: 0; color: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 16px; margin-top: 20px; }
figure.chart { flex: 1 1 520px; padding: 12px 12px 4px; }
figure.chart figcaption { font-weight: 600; margin: 0 0 2px 4px; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; stroke-linecap: round; }
td.diff { background: #fff3c4; font-weight: 600; }
th[data-col] { cursor: pointer; user-select: none; }
th[data-col]:hover { text-decoration: underline; }
`;

// Sorts #runs by the clicked column (numbers as numbers), again to reverse.
const kSortScript = `
document.querySelectorAll('#runs th[data-col]').forEach(function (th) {
  th.addEventListener('click', function () {
    var col = Number(th.dataset.col), body = document.querySelector('#runs tbody');
    var down = th.dataset.dir !== 'down';
    th.dataset.dir = down ? 'down' : 'up';
    var rows = Array.prototype.slice.call(body.rows);
    var key = function (row) { var v = row.cells[col].dataset.v; return v === '' || isNaN(Number(v)) ? v : Number(v); };
    rows.sort(function (a, b) {
      var x = key(a), y = key(b);
      if (x === y) return 0;
      if (x === '') return 1;
      if (y === '') return -1;
      return (x < y ? -1 : 1) * (down ? -1 : 1);
    });
    rows.forEach(function (row) { body.appendChild(row); });
  });
});
`;
