// detectDrift on real drift features: demo images drawn by the deterministic
// generator, passed through sharp (as the service decodes them), measured by
// driftFeatures. Images from the training distribution must not drift; the
// same scenes brightened must.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { renderDemoImage, DEMO_CLASSES } from '../src/data/demo.ts';
import { detectDrift, driftFeatures, type FeatureRecord } from '../src/drift/index.ts';

const kSize = 128;

/** Features of demo images `seeds`, after `transform` (sharp's linear: a·x + b, clamped). */
async function featureRecords(
  seeds: number[],
  key: 'label' | 'category',
  transform?: { a: number; b: number },
): Promise<FeatureRecord[]> {
  return Promise.all(seeds.map(async (seed) => {
    const label = DEMO_CLASSES[seed % 2]!;
    let pixels: Uint8Array = renderDemoImage(label, kSize, seed);
    if (transform) {
      pixels = await sharp(pixels, { raw: { width: kSize, height: kSize, channels: 3 } })
        .linear(transform.a, transform.b)
        .raw()
        .toBuffer();
    }
    return { ...driftFeatures(pixels, kSize, kSize), [key]: label } as FeatureRecord;
  }));
}

const range = (start: number, count: number): number[] => Array.from({ length: count }, (_, i) => start + i);

// A training set of 200 images and three "production" batches of 150 other scenes.
const reference = await featureRecords(range(0, 200), 'label');
const sameDistribution = await featureRecords(range(5000, 150), 'category');
const brightened = await featureRecords(range(5000, 150), 'category', { a: 1, b: 40 });
const washedOut = await featureRecords(range(5000, 150), 'category', { a: 0.6, b: 80 });

test('images from the training distribution do not drift', () => {
  const report = detectDrift(reference, sameDistribution);
  assert.deepEqual(Object.keys(report.columns), ['avg_brightness', 'contrast', 'sharpness', 'class']);
  for (const [name, column] of Object.entries(report.columns)) {
    assert.equal(column.drift, false, `${name}: ${JSON.stringify(column)}`);
  }
  assert.equal(report.dataset_drift, false);
  assert.equal(report.number_of_drifted_columns, 0);
  // 200 reference rows: Evidently's small-sample tests, exact KS p-values.
  assert.equal(report.columns.avg_brightness?.test, 'ks');
  assert.equal(report.columns.avg_brightness?.method, 'exact');
  assert.equal(report.columns.class?.test, 'z');
});

test('brightened images drift in avg_brightness, and only there', async () => {
  const report = detectDrift(reference, brightened);
  const brightness = report.columns.avg_brightness!;
  assert.equal(brightness.drift, true);
  assert.ok(brightness.p_value! < 1e-9, `p = ${brightness.p_value}`);
  assert.ok(brightness.statistic > 0.3, `D = ${brightness.statistic}`);
  // Adding a constant moves the mean, not the spread or the edges (little clips at +40/255).
  assert.equal(report.columns.contrast?.drift, false);
  assert.equal(report.columns.sharpness?.drift, false);
  assert.equal(report.columns.class?.drift, false);
  // One drifted column of four is under Evidently's 50% share: no dataset drift.
  assert.equal(report.number_of_drifted_columns, 1);
  assert.equal(report.share_of_drifted_columns, 0.25);
  assert.equal(report.dataset_drift, false);
  // Darker images drift the same way.
  const darker = await featureRecords(range(5000, 150), 'category', { a: 1, b: -40 });
  assert.equal(detectDrift(reference, darker).columns.avg_brightness?.drift, true);
});

test('washed-out images (brighter, flatter) drift as a dataset', () => {
  const report = detectDrift(reference, washedOut);
  for (const name of ['avg_brightness', 'contrast', 'sharpness'] as const) {
    assert.equal(report.columns[name]?.drift, true, name);
  }
  assert.equal(report.dataset_drift, true);
  assert.equal(report.number_of_drifted_columns, 3);
});

test('window compares only the most recent current records', () => {
  // Old records from the training distribution, then 150 brightened ones.
  const log = [...sameDistribution, ...brightened];
  assert.equal(detectDrift(reference, log, { window: 150 }).columns.avg_brightness?.drift, true);
  assert.equal(detectDrift(reference, log, { window: 150 }).current_size, 150);
  assert.equal(detectDrift(reference, sameDistribution, { window: 1000 }).current_size, 150);
  const early = detectDrift(reference, [...brightened, ...sameDistribution], { window: 150 });
  assert.equal(early.columns.avg_brightness?.drift, false);
});

test('a class the training set never had drifts the class column', () => {
  const current = sameDistribution.map((r, i) => ({ ...r, category: i % 10 === 0 ? 'pizza' : r.category! }));
  const column = detectDrift(reference, current).columns.class!;
  assert.equal(column.test, 'chisquare');
  assert.equal(column.unique_values, 3);
  assert.equal(column.statistic, Infinity);
  assert.equal(column.p_value, 0);
  assert.equal(column.drift, true);
  // JSON has no ∞: the statistic is written as null.
  assert.equal(JSON.parse(JSON.stringify(column)).statistic, null);
});

test('the class column: category, then prediction, then label; skipped when one side has none', () => {
  const predictions = sameDistribution.map(({ category, ...rest }) => ({ ...rest, prediction: category }));
  assert.equal(detectDrift(reference, predictions).columns.class?.current_size, 150);
  const unlabelled = sameDistribution.map(({ category: _, ...rest }) => rest as FeatureRecord);
  const report = detectDrift(reference, unlabelled);
  assert.deepEqual(Object.keys(report.columns), ['avg_brightness', 'contrast', 'sharpness']);
  assert.match(report.skipped_columns.class!, /no class .* in the current records/);
  const noClasses = detectDrift(unlabelled, unlabelled);
  assert.deepEqual(noClasses.skipped_columns, {});
});

test('options: columns, thresholds, driftShare', () => {
  const onlyBrightness = detectDrift(reference, brightened, { columns: ['avg_brightness'] });
  assert.deepEqual(Object.keys(onlyBrightness.columns), ['avg_brightness']);
  assert.equal(onlyBrightness.dataset_drift, true);
  const lenient = detectDrift(reference, brightened, { thresholds: { ks: 1e-30 } });
  assert.equal(lenient.columns.avg_brightness?.drift, false);
  assert.equal(lenient.columns.avg_brightness?.threshold, 1e-30);
  assert.equal(detectDrift(reference, brightened, { driftShare: 0.25 }).dataset_drift, true);
});

test('the report is plain JSON with Evidently-style fields', () => {
  const report = detectDrift(reference, brightened);
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
  const column = report.columns.avg_brightness!;
  assert.deepEqual(Object.keys(column).sort(), [
    'current_size', 'drift', 'method', 'p_value', 'reference_size', 'statistic', 'test', 'test_name', 'threshold', 'type', 'unique_values',
  ]);
  assert.equal(column.test_name, 'K-S p_value');
  assert.equal(column.threshold, 0.05);
  assert.equal(report.drift_share, 0.5);
  assert.equal(report.reference_size, 200);
});

test('malformed input is refused naming the record and field', () => {
  assert.throws(() => detectDrift([], sameDistribution), /Expected a non-empty array of feature records for reference/);
  assert.throws(() => detectDrift(reference, []), /for current but received an array of length 0/);
  const bad = [...sameDistribution];
  bad[7] = { ...bad[7]!, contrast: Number.NaN };
  assert.throws(() => detectDrift(reference, bad), /Expected a finite number for current\[7\]\.contrast but received number NaN/);
  assert.throws(() => detectDrift(reference, [{ ...bad[0]!, label: 3 as unknown as string }]), /current\[0\]\.label/);
  assert.throws(() => detectDrift(reference, sameDistribution, { window: 0 }), /options\.window/);
  assert.throws(() => detectDrift(reference, sameDistribution, { thresholds: { kss: 1 } as never }), /Unknown option options\.thresholds\.kss/);
  assert.throws(() => detectDrift(reference, sameDistribution, { columns: ['hue' as never] }), /options\.columns\[0\]/);
});
