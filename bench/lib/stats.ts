// Small helpers the benchmarks share: medians, tables, machine load.
import { loadavg } from 'node:os';

export function median(values: readonly number[]): number {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** A right-aligned text table: header row, then rows. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))];
  const widths = header.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  return cells.map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n') + '\n';
}

/** The 1-minute load average, for the noise notes. */
export function load1(): number {
  return +loadavg()[0]!.toFixed(2);
}

export function integer(name: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min) throw new RangeError(`--${name}: expected an integer >= ${min} but received '${text}'`);
  return n;
}

export function positive(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new RangeError(`--${name}: expected a number > 0 but received '${text}'`);
  return n;
}

/** Batch-size counters of a torchdog service's /metrics (for the mean batch of a window). */
export async function batchCounters(url: string): Promise<{ sum: number; count: number }> {
  const text = await fetch(`${url}/metrics`).then((r) => r.text(), () => '');
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { sum: value('torchdog_batch_size_sum'), count: value('torchdog_batch_size_count') };
}
