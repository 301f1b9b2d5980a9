// Chart axes for the self-contained HTML pages (training report, drift report).

export interface Axis {
  lo: number;
  hi: number;
  ticks: number[];
  /** Decimals that show every tick exactly and alike (0.0, 0.5, 1.0). */
  digits: number;
}

/** The 1, 2 or 5 × 10^k step at or above `raw`. */
export function niceStep(raw: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / magnitude;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * magnitude;
}

/** A 1-2-5 axis covering [lo, hi] with about `target` intervals. */
export function niceAxis(lo: number, hi: number, target: number): Axis {
  if (hi - lo < 1e-12 * Math.max(1, Math.abs(hi))) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const step = niceStep((hi - lo) / target);
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.ceil(hi / step - 1e-9);
  const digits = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const ticks: number[] = [];
  for (let i = first; i <= last; i++) ticks.push(Number((i * step).toFixed(Math.min(20, digits + 2))));
  return { lo: first * step, hi: last * step, ticks, digits };
}
