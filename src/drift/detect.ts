// Drift detection as Evidently's DataDriftPreset decides it with its default
// options: one statistical test per column, picked by the column's type, the
// size of the reference and the number of distinct values; a column drifts
// when its test says so; the dataset drifts when at least half the columns do.
//
// Evidently (src/evidently/calculations/stattests/registry.py,
// _get_default_stattest), with n = reference rows and u = distinct values of
// reference and current together (missing values dropped):
//
//   numerical,   n ≤ 1000: u > 5 → ks, 2 < u ≤ 5 → chisquare, u ≤ 2 → z
//   numerical,   n > 1000: u > 5 → wasserstein, u ≤ 5 → jensenshannon
//   categorical, n ≤ 1000: u > 2 → chisquare, u ≤ 2 → z
//   categorical, n > 1000: jensenshannon
//
// and the tests (stattests/*.py) with their default thresholds:
//
//   ks             scipy ks_2samp(reference, current) two-sided, method 'auto';
//                  drift when p ≤ 0.05
//   wasserstein    scipy wasserstein_distance(reference, current) divided by
//                  max(np.std(reference), 0.001) (population std); drift when ≥ 0.1
//   chisquare      keys = union of values; expected = reference count × (current
//                  rows / reference rows), observed = current count, 0 for a
//                  missing key; scipy chisquare(observed, expected), k − 1 degrees
//                  of freedom; drift when p < 0.05. A value the reference never had
//                  has expected count 0: statistic ∞, p = 0, drift.
//   z              two-proportion z-test on "is not the first value in sorted
//                  order", pooled variance, two-sided, p = 2(1 − Φ(|z|)); p = 1 when
//                  both samples hold the same single value; drift when p < 0.05
//   jensenshannon  per-key shares (count / rows) of reference and current over the
//                  union of keys (Evidently bins a numerical column with more than
//                  20 reference values into Sturges bins instead; the default
//                  selection only sends columns with ≤ 5 values here), then
//                  scipy.spatial.distance.jensenshannon with the natural log (base
//                  None, as in current Evidently; some older releases passed
//                  base 2); drift when ≥ 0.1
//
// Dataset drift: drifted columns / columns ≥ 0.5 (DataDriftPreset drift_share).
import {
  chiSquareTest,
  jensenShannonDistance,
  ks2Samp,
  populationStd,
  twoProportionZTest,
  wassersteinDistance,
  type KsMethod,
} from './stats.js';
import { expectInteger, expectKnownKeys, expectNumber, invalid } from '../util/index.js';

/** The drift features every record carries, in report order. */
export const FEATURE_COLUMNS = ['avg_brightness', 'contrast', 'sharpness'] as const;
export type FeatureColumn = (typeof FEATURE_COLUMNS)[number];
/** The categorical column: a record's class (see {@link classOf}). */
export const CLASS_COLUMN = 'class';
export type DriftColumn = FeatureColumn | typeof CLASS_COLUMN;
export const DRIFT_COLUMNS: readonly DriftColumn[] = [...FEATURE_COLUMNS, CLASS_COLUMN];

/**
 * One line of a feature file: what `torchdog train` writes to reference.jsonl
 * (`label` = the image's folder) and what the service logs per prediction
 * (`category` = the predicted class, `time`). Other fields are ignored.
 */
export interface FeatureRecord {
  avg_brightness: number;
  contrast: number;
  sharpness: number;
  category?: string;
  prediction?: string;
  label?: string;
  time?: string;
  [key: string]: unknown;
}

export type StatTestName = 'ks' | 'wasserstein' | 'chisquare' | 'z' | 'jensenshannon';

/** Evidently's names and default thresholds; `kind` says what the score is. */
export const STAT_TESTS: Readonly<Record<StatTestName, { displayName: string; kind: 'p_value' | 'distance'; threshold: number }>> = {
  ks: { displayName: 'K-S p_value', kind: 'p_value', threshold: 0.05 },
  wasserstein: { displayName: 'Wasserstein distance (normed)', kind: 'distance', threshold: 0.1 },
  chisquare: { displayName: 'chi-square p_value', kind: 'p_value', threshold: 0.05 },
  z: { displayName: 'Z-test p_value', kind: 'p_value', threshold: 0.05 },
  jensenshannon: { displayName: 'Jensen-Shannon distance', kind: 'distance', threshold: 0.1 },
};

export interface DriftOptions {
  /** Share of drifted columns at which the dataset counts as drifted. Default 0.5. */
  driftShare?: number;
  /** Per-test thresholds in place of Evidently's defaults (0.05 for p-values, 0.1 for distances). */
  thresholds?: Partial<Record<StatTestName, number>>;
  /** Compare only the `window` most recent current records (the last ones in the array). */
  window?: number;
  /** Columns to compare. Default: the three features, plus `class` when both sides carry classes. */
  columns?: readonly DriftColumn[];
}

export interface ColumnDrift {
  /** `num` or `cat`, as Evidently types the column. */
  type: 'num' | 'cat';
  test: StatTestName;
  /** Evidently's display name, for example "K-S p_value". */
  test_name: string;
  /**
   * The test statistic: D for ks, the raw Wasserstein-1 distance for
   * wasserstein, χ² for chisquare (∞, which JSON writes as null, when the
   * current data has a value the reference lacks), z for z, the distance for
   * jensenshannon.
   */
  statistic: number;
  /** For ks, chisquare and z. */
  p_value?: number;
  /** For wasserstein (normed by the reference's std) and jensenshannon. */
  distance?: number;
  /** For ks: whether the p-value is exact or asymptotic (SciPy's method 'auto'). */
  method?: KsMethod;
  threshold: number;
  drift: boolean;
  reference_size: number;
  current_size: number;
  /** Distinct values in reference and current together (what picked the test). */
  unique_values: number;
}

export interface DriftReport {
  dataset_drift: boolean;
  /** The threshold on the share of drifted columns. */
  drift_share: number;
  share_of_drifted_columns: number;
  number_of_columns: number;
  number_of_drifted_columns: number;
  reference_size: number;
  current_size: number;
  columns: Partial<Record<DriftColumn, ColumnDrift>>;
  /** Columns asked for (or expected) but not compared, with the reason. */
  skipped_columns: Partial<Record<DriftColumn, string>>;
}

const kDefaults = { driftShare: 0.5 } as const;
const kEvidentlyLargeReference = 1000;
const kEvidentlyFewValues = 5;

/**
 * Compares current records with reference records, column by column, with
 * Evidently's default tests (see the top of this file), and returns the
 * verdict as a JSON-ready object. `reference` and `current` are arrays of
 * {@link FeatureRecord}: the lines of reference.jsonl and of the prediction
 * log, parsed (see `parseFeatureLines`). Throws an InvalidArgumentError naming
 * the record and field for malformed input, or when either side is empty.
 */
export function detectDrift(
  reference: readonly FeatureRecord[],
  current: readonly FeatureRecord[],
  options: DriftOptions = {},
): DriftReport {
  const settings = checkOptions(options);
  checkRecords(reference, 'reference');
  checkRecords(current, 'current');
  const recent = settings.window !== undefined && settings.window < current.length
    ? current.slice(current.length - settings.window)
    : current;
  if (reference.length === 0) throw invalid('reference', 'a non-empty array of feature records', reference);
  if (recent.length === 0) throw invalid('current', 'a non-empty array of feature records', current);

  const columns: Partial<Record<DriftColumn, ColumnDrift>> = {};
  const skipped: Partial<Record<DriftColumn, string>> = {};
  const wanted = settings.columns ?? DRIFT_COLUMNS;
  for (const column of wanted) {
    if (column === CLASS_COLUMN) {
      const ref = classesOf(reference);
      const cur = classesOf(recent);
      if (ref.length === 0 || cur.length === 0) {
        // Only worth a note when someone asked for it or one side has classes.
        if (settings.columns || ref.length + cur.length > 0) {
          skipped[column] = `no class (category, prediction or label) in the ${ref.length === 0 ? 'reference' : 'current'} records`;
        }
        continue;
      }
      columns[column] = compareCategorical(ref, cur, 'cat', settings.thresholds);
    } else {
      columns[column] = compareNumerical(reference.map((r) => r[column]), recent.map((r) => r[column]), settings.thresholds);
    }
  }

  const results = Object.values(columns);
  const drifted = results.filter((c) => c.drift).length;
  const share = results.length > 0 ? drifted / results.length : 0;
  return {
    dataset_drift: results.length > 0 && share >= settings.driftShare,
    drift_share: settings.driftShare,
    share_of_drifted_columns: share,
    number_of_columns: results.length,
    number_of_drifted_columns: drifted,
    reference_size: reference.length,
    current_size: recent.length,
    columns,
    skipped_columns: skipped,
  };
}

/** A record's class: `category` (the service's prediction), else `prediction`, else `label` (reference.jsonl). */
export function classOf(record: FeatureRecord): string | undefined {
  return record.category ?? record.prediction ?? record.label;
}

/** The test Evidently picks by default (see the top of this file). */
export function defaultStatTest(type: 'num' | 'cat', referenceSize: number, uniqueValues: number): StatTestName {
  if (referenceSize <= kEvidentlyLargeReference) {
    if (type === 'num' && uniqueValues > kEvidentlyFewValues) return 'ks';
    return uniqueValues > 2 ? 'chisquare' : 'z';
  }
  return type === 'num' && uniqueValues > kEvidentlyFewValues ? 'wasserstein' : 'jensenshannon';
}

/**
 * Runs Evidently's default test on one column: `num` columns are numbers,
 * `cat` columns strings. This is what {@link detectDrift} does per column;
 * exported for callers with columns of their own.
 */
export function testColumn(
  type: 'num' | 'cat',
  reference: readonly number[] | readonly string[],
  current: readonly number[] | readonly string[],
  thresholds: Partial<Record<StatTestName, number>> = {},
): ColumnDrift {
  const name = type === 'num' ? 'a finite number' : 'a string';
  for (const [side, values] of [['reference', reference], ['current', current]] as const) {
    if (!Array.isArray(values) || values.length === 0) throw invalid(side, `a non-empty array of ${type === 'num' ? 'numbers' : 'strings'}`, values);
    values.forEach((v: unknown, i: number) => {
      if (type === 'num' ? typeof v !== 'number' || !Number.isFinite(v) : typeof v !== 'string') throw invalid(`${side}[${i}]`, name, v);
    });
  }
  return type === 'num'
    ? compareNumerical(reference as number[], current as number[], thresholds)
    : compareCategorical(reference as string[], current as string[], 'cat', thresholds);
}

function compareNumerical(reference: readonly number[], current: readonly number[], thresholds: Partial<Record<StatTestName, number>>): ColumnDrift {
  const unique = new Set<number>(reference);
  for (const v of current) unique.add(v);
  const test = defaultStatTest('num', reference.length, unique.size);
  if (test !== 'ks' && test !== 'wasserstein') {
    // Few distinct numbers: Evidently treats them like categories. String()
    // is the shortest round-trip form, so distinct numbers stay distinct.
    return compareCategorical(reference.map(String), current.map(String), 'num', thresholds, (a, b) => Number(a) - Number(b));
  }
  const base = { type: 'num' as const, test, test_name: STAT_TESTS[test].displayName };
  const sizes = { reference_size: reference.length, current_size: current.length, unique_values: unique.size };
  const threshold = thresholds[test] ?? STAT_TESTS[test].threshold;
  if (test === 'ks') {
    const r = ks2Samp(reference, current);
    return { ...base, statistic: r.statistic, p_value: r.pValue, method: r.method, threshold, drift: r.pValue <= threshold, ...sizes };
  }
  const raw = wassersteinDistance(reference, current);
  const distance = raw / Math.max(populationStd(reference), 0.001);
  return { ...base, statistic: raw, distance, threshold, drift: distance >= threshold, ...sizes };
}

function compareCategorical(
  reference: readonly string[],
  current: readonly string[],
  type: 'num' | 'cat',
  thresholds: Partial<Record<StatTestName, number>>,
  order?: (a: string, b: string) => number,
): ColumnDrift {
  const refCounts = countValues(reference);
  const curCounts = countValues(current);
  const keys = [...new Set([...refCounts.keys(), ...curCounts.keys()])].sort(order);
  const test = defaultStatTest(type, reference.length, keys.length);
  const base = { type, test, test_name: STAT_TESTS[test].displayName };
  const sizes = { reference_size: reference.length, current_size: current.length, unique_values: keys.length };
  const threshold = thresholds[test] ?? STAT_TESTS[test].threshold;
  const ref = keys.map((k) => refCounts.get(k) ?? 0);
  const cur = keys.map((k) => curCounts.get(k) ?? 0);

  if (test === 'chisquare') {
    const scale = current.length / reference.length;
    const r = chiSquareTest(cur, ref.map((c) => c * scale));
    return { ...base, statistic: r.statistic, p_value: r.pValue, threshold, drift: r.pValue < threshold, ...sizes };
  }
  if (test === 'z') {
    // Evidently codes the first key (in sorted order) 0 and everything else 1.
    const r = twoProportionZTest(reference.length - ref[0]!, reference.length, current.length - cur[0]!, current.length);
    return { ...base, statistic: r.statistic, p_value: r.pValue, threshold, drift: r.pValue < threshold, ...sizes };
  }
  const distance = jensenShannonDistance(ref.map((c) => c / reference.length), cur.map((c) => c / current.length));
  return { ...base, statistic: distance, distance, threshold, drift: distance >= threshold, ...sizes };
}

function countValues(values: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

function classesOf(records: readonly FeatureRecord[]): string[] {
  const out: string[] = [];
  for (const r of records) {
    const c = classOf(r);
    if (c !== undefined) out.push(c);
  }
  return out;
}

interface Settings {
  driftShare: number;
  thresholds: Partial<Record<StatTestName, number>>;
  window: number | undefined;
  columns: readonly DriftColumn[] | undefined;
}

function checkOptions(options: DriftOptions): Settings {
  if (typeof options !== 'object' || options === null) throw invalid('options', 'an object', options);
  expectKnownKeys(options, 'options', ['driftShare', 'thresholds', 'window', 'columns']);
  const driftShare = options.driftShare === undefined ? kDefaults.driftShare : expectNumber(options.driftShare, 'options.driftShare', 0, 1);
  const thresholds: Partial<Record<StatTestName, number>> = {};
  if (options.thresholds !== undefined) {
    if (typeof options.thresholds !== 'object' || options.thresholds === null) throw invalid('options.thresholds', 'an object', options.thresholds);
    expectKnownKeys(options.thresholds, 'options.thresholds', Object.keys(STAT_TESTS));
    for (const [name, value] of Object.entries(options.thresholds)) {
      if (value !== undefined) thresholds[name as StatTestName] = expectNumber(value, `options.thresholds.${name}`, 0);
    }
  }
  const window = options.window === undefined ? undefined : expectInteger(options.window, 'options.window', 1);
  let columns: readonly DriftColumn[] | undefined;
  if (options.columns !== undefined) {
    if (!Array.isArray(options.columns) || options.columns.length === 0) throw invalid('options.columns', `a non-empty array of ${DRIFT_COLUMNS.join(', ')}`, options.columns);
    for (const [i, c] of options.columns.entries()) {
      if (!DRIFT_COLUMNS.includes(c)) throw invalid(`options.columns[${i}]`, `one of ${DRIFT_COLUMNS.map((n) => `'${n}'`).join(', ')}`, c);
    }
    columns = [...new Set(options.columns)];
  }
  return { driftShare, thresholds, window, columns };
}

function checkRecords(records: readonly FeatureRecord[], name: string): void {
  if (!Array.isArray(records)) throw invalid(name, 'an array of feature records', records);
  records.forEach((record, i) => {
    if (typeof record !== 'object' || record === null || Array.isArray(record)) throw invalid(`${name}[${i}]`, 'a feature record object', record);
    for (const key of FEATURE_COLUMNS) {
      const v = record[key];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${name}[${i}].${key}`, 'a finite number', v);
    }
    for (const key of ['category', 'prediction', 'label'] as const) {
      const v = record[key];
      if (v !== undefined && v !== null && (typeof v !== 'string' || v.length === 0)) throw invalid(`${name}[${i}].${key}`, 'a non-empty string or null', v);
    }
  });
}
