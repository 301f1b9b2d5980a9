// Numbers as the reports (training, drift) show them to people: short, and
// never a misleading digit string for NaN, infinities or extreme magnitudes.

/**
 * Integers exactly (epochs, counts); other values to four significant digits;
 * magnitudes of 1e5 and above or below 1e-3 in exponent form with at most
 * three significant digits (`1e-4`, `2.35e+5`); NaN as `NaN`, infinities as
 * `∞` and `−∞`.
 */
export function formatNumber(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (!Number.isFinite(v)) return v > 0 ? '∞' : '−∞';
  const magnitude = Math.abs(v);
  if (Number.isInteger(v) && magnitude < 1e15) return String(v);
  if (magnitude >= 1e5 || magnitude < 1e-3) return Number(v.toPrecision(3)).toExponential();
  return String(Number(v.toPrecision(4)));
}

/** A share as a percentage with `digits` decimals (`0.25` → `25.0%`); non-finite values as {@link formatNumber} writes them. */
export function formatPercent(share: number, digits = 1): string {
  if (!Number.isFinite(share)) return formatNumber(share);
  return `${(share * 100).toFixed(digits)}%`;
}
