// Line charts by epoch as inline SVG, shared by the run's report and a
// sweep's comparison page: no script, every text escaped.
import { escapeHtml, niceAxis, niceStep, type Axis } from '../util/index.js';
import { formatNumber } from '../util/index.js';

export interface Series {
  label: string;
  /** The class of its line and markers (the page's CSS colours 'train' and 'val'). */
  className: string;
  /** A colour of its own, for pages with more series than classes (a sweep's runs). */
  color?: string;
  values: (number | null)[];
}

export interface ChartOptions {
  title: string;
  yLabel: string;
  xs: number[];
  series: Series[];
  bestEpoch: number | null;
  format: (v: number) => string;
  /** For axis ticks; defaults to the decimals the tick step needs. */
  tickFormat?: (v: number) => string;
  /** Always shown (accuracy's 0..1); widened if the data leave it. */
  fixedDomain?: [number, number];
  /** Another x than whole epochs (e.g. log10 of a learning rate): its label and tick text. */
  x?: { label: string; tickFormat: (v: number) => string };
}

const kChart = { width: 560, height: 300, left: 64, right: 18, top: 34, bottom: 42 };
/** Beyond this many points markers would smear into the line; isolated points keep theirs. */
const kMaxMarkedPoints = 60;

/**
 * An SVG line chart by epoch in a <figure>: nice axes, one line per series
 * (gaps where a value is null or not finite), markers with a tooltip, the
 * best epoch marked, a legend. Every piece of text is escaped.
 */
export function lineChart(options: ChartOptions): string {
  const { width, height, left, right, top, bottom } = kChart;
  const plotW = width - left - right;
  const plotH = height - top - bottom;
  const finite = options.series.flatMap((s) => s.values.filter(isFiniteNumber));
  const skipped = options.series.reduce((n, s) => n + s.values.filter((v) => v !== null && !Number.isFinite(v)).length, 0);

  let [yLo, yHi] = finite.length > 0 ? [Math.min(...finite), Math.max(...finite)] : [0, 1];
  if (options.fixedDomain) {
    yLo = Math.min(yLo, options.fixedDomain[0]);
    yHi = Math.max(yHi, options.fixedDomain[1]);
  }
  const yAxis = niceAxis(yLo, yHi, 5);
  const xAxis = options.x && options.xs.length > 1 ? niceAxis(Math.min(...options.xs), Math.max(...options.xs), 6) : epochAxis(options.xs);
  const xText = options.x ? options.x.tickFormat : formatNumber;

  const px = (x: number): number => left + ((x - xAxis.lo) / (xAxis.hi - xAxis.lo)) * plotW;
  const py = (y: number): number => top + (1 - (y - yAxis.lo) / (yAxis.hi - yAxis.lo)) * plotH;
  const out: string[] = [];
  const label = `${options.title} by ${options.x?.label ?? 'epoch'}`;
  out.push(`<figure class="chart"><figcaption>${escapeHtml(options.title)}</figcaption>`);
  out.push(`<svg viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeHtml(label)}"><title>${escapeHtml(label)}</title>`);

  for (const t of yAxis.ticks) {
    const y = r(py(t));
    out.push(`<line class="grid" x1="${left}" x2="${left + plotW}" y1="${y}" y2="${y}"/>`);
    out.push(`<text x="${left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${escapeHtml(options.tickFormat ? options.tickFormat(t) : t.toFixed(yAxis.digits))}</text>`);
  }
  for (const t of xAxis.ticks) {
    const x = r(px(t));
    out.push(`<line class="axis" x1="${x}" x2="${x}" y1="${top + plotH}" y2="${top + plotH + 5}"/>`);
    out.push(`<text x="${x}" y="${top + plotH + 18}" text-anchor="middle">${escapeHtml(xText(t))}</text>`);
  }
  out.push(`<line class="axis" x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}"/>`);
  out.push(`<line class="axis" x1="${left}" x2="${left + plotW}" y1="${top + plotH}" y2="${top + plotH}"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${height - 6}" text-anchor="middle">${escapeHtml(options.x?.label ?? 'epoch')}</text>`);
  out.push(`<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeHtml(options.yLabel)}</text>`);

  if (options.bestEpoch !== null && options.bestEpoch >= xAxis.lo && options.bestEpoch <= xAxis.hi) {
    const x = r(px(options.bestEpoch));
    out.push(`<line class="best" x1="${x}" x2="${x}" y1="${top}" y2="${top + plotH}"/>`);
    out.push(`<text x="${x}" y="${top - 5}" text-anchor="middle">best</text>`);
  }

  for (const s of options.series) {
    const points = options.xs.map((x, i) => {
      const v = s.values[i];
      return isFiniteNumber(v) ? { x, v, sx: r(px(x)), sy: r(py(v)) } : null;
    });
    // A gap (null or non-finite) ends the line; the next value starts a new one.
    let d = '';
    points.forEach((p, i) => {
      if (p) d += `${i > 0 && points[i - 1] ? 'L' : 'M'}${p.sx} ${p.sy}`;
    });
    const stroke = s.color ? ` style="stroke:${escapeHtml(s.color)}"` : '';
    const fill = s.color ? ` style="fill:${escapeHtml(s.color)}"` : '';
    if (d.includes('L')) out.push(`<path class="line ${s.className}"${stroke} d="${d}"/>`);
    const marked = points.length <= kMaxMarkedPoints;
    points.forEach((p, i) => {
      if (!p) return;
      const isolated = !points[i - 1] && !points[i + 1];
      if (!marked && !isolated) return;
      const tip = `${s.label} ${options.yLabel}, ${options.x?.label ?? 'epoch'} ${xText(p.x)}: ${options.format(p.v)}`;
      out.push(`<circle class="${s.className}"${fill} cx="${p.sx}" cy="${p.sy}" r="${marked ? 3 : 2.5}"><title>${escapeHtml(tip)}</title></circle>`);
    });
  }

  out.push('<g class="legend">');
  let lx = left + 4;
  for (const s of options.series) {
    const present = s.values.some(isFiniteNumber);
    const text = present ? s.label : `${s.label} (${s.values.every((v) => v === null) ? 'not recorded' : 'no finite values'})`;
    const stroke = s.color ? ` style="stroke:${escapeHtml(s.color)}"` : '';
    out.push(`<line class="line ${s.className}"${stroke} x1="${lx}" x2="${lx + 22}" y1="14" y2="14"${present ? '' : ' opacity="0.35"'}/>`);
    out.push(`<text x="${lx + 28}" y="14" dominant-baseline="middle"${present ? '' : ' class="absent"'}>${escapeHtml(text)}</text>`);
    lx += 28 + text.length * 6.6 + 22;
  }
  out.push('</g>');
  if (finite.length === 0) {
    out.push(`<text class="note" x="${left + plotW / 2}" y="${top + plotH / 2}" text-anchor="middle">no values recorded</text>`);
  }
  out.push('</svg>');
  if (skipped > 0) {
    out.push(`<p class="legend-note">${skipped} non-finite value${skipped === 1 ? '' : 's'} (NaN or ∞) not drawn; see the epoch table.</p>`);
  }
  out.push('</figure>');
  return out.join('\n');
}




/** Whole-epoch ticks; a single epoch sits in the middle of the axis. */
function epochAxis(xs: number[]): Axis {
  if (xs.length === 0) return { lo: 0, hi: 1, ticks: [0, 1], digits: 0 };
  const lo = Math.min(...xs);
  const hi = Math.max(...xs);
  if (hi === lo) return { lo: lo - 1, hi: hi + 1, ticks: [lo], digits: 0 };
  const step = Math.max(1, niceStep((hi - lo) / 8));
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + 1e-9; t += step) ticks.push(t);
  return { lo, hi, ticks, digits: 0 };
}

function r(v: number): number {
  return Math.round(v * 10) / 10;
}

export function isFiniteNumber(v: number | null | undefined): v is number {
  return typeof v === 'number' && Number.isFinite(v);
}
