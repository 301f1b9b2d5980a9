// driftFeatures computes what the seed's NumPy code computed: closed-form
// images on both sides, values compared with the fixture that
// scripts/make-drift-fixture.py wrote from np.mean / np.std / np.gradient.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { driftFeatures, type DriftFeatures } from '../src/drift/index.ts';

interface Formula {
  k0: number; kx: number; ky: number; kc: number; kxy: number; kxx: number; kyy: number;
  modulus: number; scale: number;
}

interface FixtureCase {
  name: string;
  height: number;
  width: number;
  formula: Formula;
  set: [number, number, number, number][];
  numpy_gradient: boolean;
  byte_sum: number;
  features: DriftFeatures;
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/drift-features.json', import.meta.url), 'utf8'),
) as { formula_version: number; cases: FixtureCase[] };

const kFormulaVersion = 1;
const kRelativeTolerance = 1e-6;
const kKeys = ['avg_brightness', 'contrast', 'sharpness'] as const;

/** The fixture's formula, HWC uint8 (mirrors pixels() in the script). */
function casePixels({ height, width, formula: f, set }: FixtureCase): Uint8Array {
  const out = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      for (let c = 0; c < 3; c++) {
        const poly = f.k0 + f.kx * x + f.ky * y + f.kc * c + f.kxy * x * y + f.kxx * x * x + f.kyy * y * y;
        out[(y * width + x) * 3 + c] = f.scale * (poly % f.modulus);
      }
    }
  }
  for (const [y, x, c, v] of set) out[(y * width + x) * 3 + c] = v;
  return out;
}

/** Names of the features that differ from the expected ones by more than the tolerance. */
function mismatches(actual: DriftFeatures, expected: DriftFeatures): string[] {
  return kKeys.filter((key) => {
    const a = actual[key];
    const e = expected[key];
    // The floor only matters where NumPy's answer is exactly 0.
    return !(Math.abs(a - e) <= kRelativeTolerance * Math.abs(e) + 1e-15);
  });
}

test('fixture matches the formula this test mirrors', () => {
  assert.equal(fixture.formula_version, kFormulaVersion);
  assert.ok(fixture.cases.length >= 10);
  for (const c of fixture.cases) {
    const bytes = casePixels(c);
    assert.equal(bytes.reduce((s, v) => s + v, 0), c.byte_sum, `${c.name}: pixels differ from the script's`);
  }
});

for (const c of fixture.cases) {
  test(`matches NumPy: ${c.name} (${c.height}x${c.width})${c.numpy_gradient ? '' : ' [length-1 axis convention]'}`, () => {
    const actual = driftFeatures(casePixels(c), c.width, c.height);
    assert.deepEqual(mismatches(actual, c.features), [], `actual ${JSON.stringify(actual)} expected ${JSON.stringify(c.features)}`);
  });
}

test('the comparison fails for a wrong image or a wrong definition', () => {
  const c = fixture.cases.find((k) => k.name === 'quadratic-128');
  assert.ok(c);
  const pixels = casePixels(c);
  assert.deepEqual(mismatches(driftFeatures(pixels, c.width, c.height), c.features), []);

  // One byte moved by 100 of 49152 shifts every feature past 1e-6.
  const moved = Uint8Array.from(pixels);
  moved[1000] = (moved[1000]! + 100) % 256;
  assert.deepEqual(mismatches(driftFeatures(moved, c.width, c.height), c.features), [...kKeys]);

  // The sample standard deviation (ddof 1) instead of the population one.
  const good = driftFeatures(pixels, c.width, c.height);
  const n = pixels.length;
  assert.deepEqual(mismatches({ ...good, contrast: good.contrast * Math.sqrt(n / (n - 1)) }, c.features), ['contrast']);

  // Transposed width and height read the same bytes as another image.
  const oblong = fixture.cases.find((k) => k.name === 'hashy-2x3');
  assert.ok(oblong);
  const transposed = driftFeatures(casePixels(oblong), oblong.height, oblong.width);
  assert.deepEqual(mismatches(transposed, oblong.features), ['sharpness']);
});

test('edges use one-sided differences, the inside central ones', () => {
  // A checkerboard has zero central differences inside; only the edge rows
  // and columns (one-sided, |255|) contribute: 2 of 128 rows on each spatial axis.
  const c = fixture.cases.find((k) => k.name === 'checkerboard-128');
  assert.ok(c);
  const { sharpness } = driftFeatures(casePixels(c), 128, 128);
  assert.ok(Math.abs(sharpness - (2 * (2 / 128)) / 3) < 1e-15, String(sharpness));
});

test('takes a Buffer (sharp raw output) and checks its arguments', () => {
  const buffer = Buffer.alloc(4 * 2 * 3, 7);
  assert.deepEqual(driftFeatures(buffer, 4, 2), { avg_brightness: 7 / 255, contrast: 0, sharpness: 0 });
  assert.throws(() => driftFeatures(buffer, 4, 3), {
    name: 'TypeError',
    message: 'Expected 36 bytes (width 4 x height 3 x 3 channels) for pixels but received a Buffer of 24 bytes',
  });
  assert.throws(() => driftFeatures(buffer, 0, 2), { message: 'Expected an integer >= 1 for width but received number 0' });
  assert.throws(() => driftFeatures(buffer, 4, 2.5), { message: 'Expected an integer >= 1 for height but received number 2.5' });
  assert.throws(() => driftFeatures(new Float32Array(24) as unknown as Uint8Array, 4, 2), {
    message: 'Expected a Uint8Array of HWC RGB bytes for pixels but received a Float32Array of 96 bytes',
  });
});

test('128x128 takes well under a millisecond', () => {
  const c = fixture.cases.find((k) => k.name === 'quadratic-128');
  assert.ok(c);
  const pixels = casePixels(c);
  for (let i = 0; i < 200; i++) driftFeatures(pixels, 128, 128);
  const runs = 500;
  const start = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) driftFeatures(pixels, 128, 128);
  const perCallMs = Number(process.hrtime.bigint() - start) / 1e6 / runs;
  // Generous against slow CI machines; typically ~0.1 ms.
  assert.ok(perCallMs < 1, `${perCallMs.toFixed(3)} ms per 128x128 image`);
});
