// The int8 calibration's observers: on a histogram with one far outlier,
// min/max keeps it and the histogram observers clip it; the engine's
// histograms count each quantize point's values, the outside ones in the end
// bins; old min/max calibrations still load.
//
// The histograms are built here, in whole counts, so every clip is plain
// arithmetic on them. The engine's histogram sees only pixels 0 and 255,
// which normalise to -1 and +1: no value lies near a bin edge.
import { test, before, after } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import {
  HistogramObserver,
  Model,
  OBSERVERS,
  RangeObserver,
  calibrate,
  mseClip,
  parseCalibration,
  percentileClip,
  serializeCalibration,
  type Histogram,
  type ImageBatch,
} from '../src/index.ts';

/** 1e7 values spread evenly over [0, 10) and one at 99.5: `bins` bins over [0, 100]. */
function oneOutlier(bins = 100): Histogram {
  const counts = new Float64Array(bins);
  const bulk = bins / 10;
  for (let i = 0; i < bulk; i++) counts[i] = 1e7 / bulk;
  counts[bins - 1] = 1;
  return { min: 0, max: 100, counts };
}

test('on one far outlier, min/max keeps it; percentile and mse clip it and keep the bulk', () => {
  const h = oneOutlier();
  const minmax = new RangeObserver();
  minmax.add([{ name: 'a', min: h.min, max: h.max }], 1);
  assert.deepEqual(minmax.calibration().ranges, [{ name: 'a', min: 0, max: 100 }]);
  for (const [name, clip] of [['percentile', percentileClip(h)], ['mse', mseClip(h)]] as const) {
    const [lo, hi] = clip;
    assert.equal(lo, 0, `${name}: a ReLU's low end stays 0`);
    // The bulk ends at 10: clipped to it (give or take its last bin), never out past the empty bins.
    assert.ok(hi > 9 && hi <= 10, `${name}: hi ${hi}`);
  }
});

test('a two-sided outlier is clipped on its own side; the range still holds zero', () => {
  // [-50, 50] in 100 bins: 1e6 values in each bin over [-5, 5), one at -49.5.
  const counts = new Float64Array(100);
  for (let i = 45; i < 55; i++) counts[i] = 1e6;
  counts[0] = 1;
  const h = { min: -50, max: 50, counts };
  for (const [name, [lo, hi]] of [['percentile', percentileClip(h)], ['mse', mseClip(h)]] as const) {
    assert.ok(lo >= -5 && lo < -4, `${name}: lo ${lo}`);
    assert.ok(hi > 4 && hi <= 5, `${name}: hi ${hi}`);
  }
  // All on one side of zero: the range is widened to zero, as quint8 needs.
  const positive = { min: 2, max: 4, counts: Float64Array.from([5, 5]) };
  assert.deepEqual(mseClip(positive)[0], 0);
});

test('without an outlier the observers keep (about) the whole range', () => {
  const counts = new Float64Array(100).fill(1e5);
  const h = { min: 0, max: 100, counts };
  assert.ok(percentileClip(h)[1] >= 99.99, `percentile: ${percentileClip(h)}`);
  assert.ok(mseClip(h)[1] >= 99, `mse: ${mseClip(h)}`);
  // An empty or zero-width histogram gives its range back.
  assert.deepEqual(percentileClip({ min: 0, max: 1, counts: new Float64Array(4) }), [0, 1]);
  assert.deepEqual(mseClip({ min: 3, max: 3, counts: Float64Array.from([7]) }), [3, 3]);
});

test('HistogramObserver sums batches before it clips: the outlier alone in a batch is still outvoted', () => {
  const h = oneOutlier();
  const observer = new HistogramObserver([{ name: 'a', min: 0, max: 100 }]);
  const bulk = Float64Array.from(h.counts, (c, i) => (i === 99 ? 0 : c));
  const outlier = Float64Array.from(h.counts, (_, i) => (i === 99 ? 1 : 0));
  observer.add([{ name: 'a', counts: outlier }]);
  observer.add([{ name: 'a', counts: bulk }]);
  for (const o of ['percentile', 'mse'] as const) {
    const [r] = observer.ranges(o);
    assert.ok(r!.max > 9 && r!.max <= 10, `${o}: ${JSON.stringify(r)}`);
  }
  assert.throws(() => new HistogramObserver([{ name: 'b', min: 0, max: 1 }]).ranges('mse'), /no histogram for activation 'b'/);
});

test('a calibration records its observer, and an old min/max one still loads', () => {
  assert.deepEqual(OBSERVERS, ['minmax', 'percentile', 'mse']);
  const old = '{"observer":"minmax","images":4,"ranges":{"input":[-1,1],"conv1":[0,3.5]}}';
  const parsed = parseCalibration(old, 'old.safetensors');
  assert.deepEqual(parsed, { observer: 'minmax', images: 4, ranges: [{ name: 'input', min: -1, max: 1 }, { name: 'conv1', min: 0, max: 3.5 }] });
  const percentile = { ...parsed, observer: 'percentile' as const };
  assert.deepEqual(parseCalibration(serializeCalibration(percentile), 'x'), percentile);
});

let model: Model;
const NORM = { mean: [0.5, 0.5, 0.5] as [number, number, number], std: [0.5, 0.5, 0.5] as [number, number, number] };
/** Two 32x32 images, the first all pixel 0 (normalised -1), the second all 255 (+1). */
const IMAGES: ImageBatch = { data: Uint8Array.from({ length: 2 * 32 * 32 * 3 }, (_, i) => (i < 32 * 32 * 3 ? 0 : 255)), count: 2, height: 32, width: 32 };
const INPUT_VALUES = 2 * 3 * 32 * 32;

before(async () => {
  model = await Model.create({ numClasses: 3, device: 'cpu', seed: 0, threads: 2 });
  await model.setTraining(false);
});

after(async () => {
  await model?.dispose();
});

test('histogramActivations counts every value of every quantize point, the outside ones in the end bins', async () => {
  const ranges = await model.observeActivations(IMAGES, NORM);
  const input = ranges.find((r) => r.name === 'input')!;
  assert.deepEqual([input.min, input.max], [-1, 1]);
  // The input over [-0.5, 0.5] in 2 bins: every -1 clamps into the first bin, every +1 into the last.
  const over = ranges.map((r) => (r.name === 'input' ? { ...r, min: -0.5, max: 0.5 } : r));
  const histograms = await model.histogramActivations(IMAGES, NORM, over, 2);
  assert.deepEqual(histograms.map((h) => h.name), ranges.map((r) => r.name));
  assert.deepEqual(Array.from(histograms[0]!.counts), [INPUT_VALUES / 2, INPUT_VALUES / 2]);
  // conv1 (64 channels, stride 2): 2 x 64 x 16 x 16 values, however they fall.
  const conv1 = histograms.find((h) => h.name === 'conv1')!;
  assert.equal(conv1.counts.reduce((a, b) => a + b, 0), 2 * 64 * 16 * 16);
  await assert.rejects(model.histogramActivations(IMAGES, NORM, over.slice(1), 8), /no range for activation 'input'/);
  assert.throws(() => model.histogramActivations(IMAGES, NORM, over, 0), /between 1 and 65536 for bins/);
});

test('calibrate: each observer gives one usable range per quantize point, inside the min/max ones', async () => {
  const minmax = await calibrate(model, [IMAGES], NORM, 'minmax');
  for (const observer of ['percentile', 'mse'] as const) {
    const c = await calibrate(model, [IMAGES], NORM, observer);
    assert.equal(c.observer, observer);
    assert.equal(c.images, 2);
    assert.deepEqual(c.ranges.map((r) => r.name), minmax.ranges.map((r) => r.name));
    c.ranges.forEach((r, i) => {
      const m = minmax.ranges[i]!;
      assert.ok(r.min <= r.max && r.min >= Math.min(m.min, 0) && r.max <= Math.max(m.max, 0), `${observer} ${r.name}: ${JSON.stringify(r)} vs ${JSON.stringify(m)}`);
    });
    await model.setPrecision('int8', c.ranges);
    const out = await model.forward(IMAGES, NORM);
    assert.ok(out.probabilities.every(Number.isFinite));
    await model.setPrecision('fp32');
  }
});
