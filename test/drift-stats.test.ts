// The drift statistics agree with SciPy 1.10 / NumPy: every number here was
// computed by scripts/make-drift-stats-fixture.py from samples that this test
// rebuilds with the same arithmetic (test/fixtures/drift-stats.json).
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  chiSquaredSf,
  chiSquareTest,
  erfc,
  gammaP,
  gammaQ,
  histogramCounts,
  jensenShannonDistance,
  kolmogorovSf,
  ks2Samp,
  logGamma,
  normalSf,
  outerProbInside,
  populationStd,
  probOutsideSquare,
  smirnovSf,
  sturgesEdges,
  twoProportionZTest,
  wassersteinDistance,
} from '../src/drift/stats.ts';
import { testColumn } from '../src/drift/index.ts';

interface SampleSpec { seed: number; n: number; scale: number; offset: number; levels: number }
interface CategorySpec { seed: number; n: number; names: string[]; weights: number[] }

const fixture = JSON.parse(readFileSync(new URL('./fixtures/drift-stats.json', import.meta.url), 'utf8')) as {
  generator_version: number;
  ks_2samp: { name: string; a: SampleSpec; b: SampleSpec; statistic: number; pvalue: number; method: string }[];
  kstwo_sf: [number, number, number][];
  smirnov: [number, number, number][];
  prob_outside_square: [number, number, number][];
  outer_prob_inside: [number, number, number, number, number][];
  chi2_sf: [number, number, number][];
  norm_sf: [number, number][];
  wasserstein: { name: string; a: SampleSpec; b: SampleSpec; distance: number; std_a: number }[];
  jensenshannon: { p: number[]; q: number[]; distance: number }[];
  chisquare: { observed: number[]; expected: number[]; statistic: number; pvalue: number }[];
  ztest: { successes1: number; n1: number; successes2: number; n2: number; z: number; pvalue: number }[];
  sturges: { sample: SampleSpec; edges: number[]; counts: number[] }[];
  evidently: ({ name: string; test: string; statistic: number | null; p_value?: number; distance?: number; drift: boolean } & (
    | { type: 'num'; reference: SampleSpec; current: SampleSpec }
    | { type: 'cat'; reference: CategorySpec; current: CategorySpec }
  ))[];
};

const kGeneratorVersion = 1;
const kModulus = 2 ** 31 - 1;
/** The agreement asked of every p-value, distance and statistic. */
const kRelativeTolerance = 1e-6;

/** The fixture's Park–Miller samples (mirrors sample() in the script). */
function sample({ seed, n, scale, offset, levels }: SampleSpec): number[] {
  const out: number[] = [];
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 48271) % kModulus;
    const u = x / kModulus;
    out.push(offset + scale * (levels ? Math.floor(u * levels) / levels : u));
  }
  return out;
}

/** Mirrors categories() in the script. */
function categories({ seed, n, names, weights }: CategorySpec): string[] {
  const total = weights.reduce((a, b) => a + b, 0);
  let running = 0;
  const cumulative = weights.map((w) => (running += w) / total);
  return sample({ seed, n, scale: 1, offset: 0, levels: 0 }).map((u) => {
    const index = cumulative.filter((c) => c <= u).length;
    return names[Math.min(index, names.length - 1)]!;
  });
}

function assertClose(actual: number, expected: number, what: string, tolerance = kRelativeTolerance): void {
  const ok = actual === expected || Math.abs(actual - expected) <= tolerance * Math.abs(expected);
  assert.ok(ok, `${what}: got ${actual}, SciPy ${expected} (relative error ${Math.abs(actual - expected) / Math.abs(expected)})`);
}

test('fixture matches the generator this test mirrors', () => {
  assert.equal(fixture.generator_version, kGeneratorVersion);
  // Park–Miller's published check: 10 000 steps from seed 1 with multiplier 48271.
  let x = 1;
  for (let i = 0; i < 10_000; i++) x = (x * 48271) % kModulus;
  assert.equal(x, 399268537);
});

test('ks2Samp matches scipy.stats.ks_2samp (method auto): exact and asymptotic', () => {
  const methods = new Set<string>();
  for (const c of fixture.ks_2samp) {
    const r = ks2Samp(sample(c.a), sample(c.b));
    assert.equal(r.method, c.method, `${c.name}: method`);
    assertClose(r.statistic, c.statistic, `${c.name}: statistic`, 1e-12);
    assertClose(r.pValue, c.pvalue, `${c.name}: p-value`);
    methods.add(r.method);
  }
  assert.deepEqual([...methods].sort(), ['asymp', 'exact']);
});

test('kolmogorovSf matches scipy.stats.kstwo.sf on every branch', () => {
  for (const [n, x, p] of fixture.kstwo_sf) assertClose(kolmogorovSf(n, x), p, `kstwo.sf(${x}, ${n})`);
});

test('smirnovSf matches scipy.special.smirnov', () => {
  for (const [n, x, p] of fixture.smirnov) assertClose(smirnovSf(n, x), p, `smirnov(${n}, ${x})`);
});

test('the exact two-sample path counts match SciPy\'s helpers', () => {
  for (const [n, h, p] of fixture.prob_outside_square) assertClose(probOutsideSquare(n, h), p, `outside square (${n}, ${h})`);
  for (const [m, n, g, h, p] of fixture.outer_prob_inside) assertClose(outerProbInside(m, n, g, h), p, `inside method (${m}, ${n}, ${g}, ${h})`);
});

test('chi-squared and normal tails match scipy.stats.chi2.sf and norm.sf', () => {
  for (const [x, df, p] of fixture.chi2_sf) assertClose(chiSquaredSf(x, df), p, `chi2.sf(${x}, ${df})`);
  for (const [z, p] of fixture.norm_sf) assertClose(normalSf(z), p, `norm.sf(${z})`);
});

test('special functions hold their identities', () => {
  // Γ(n) = (n − 1)!, Γ(1/2) = √π, far and near.
  for (const [x, expected] of [[5, Math.log(24)], [0.5, Math.log(Math.sqrt(Math.PI))], [10.5, 13.940625219403763], [171, 706.5730622457874]] as const) {
    assertClose(logGamma(x), expected, `lgamma(${x})`, 1e-13);
  }
  assert.equal(erfc(0), 1);
  assertClose(erfc(1), 0.15729920705028516, 'erfc(1)', 1e-13);
  assertClose(erfc(-1), 1.8427007929497148, 'erfc(-1)', 1e-13);
  assertClose(gammaP(3, 2) + gammaQ(3, 2), 1, 'P + Q', 1e-15);
  assert.equal(chiSquaredSf(Infinity, 3), 0);
  assert.equal(chiSquaredSf(0, 3), 1);
  assert.ok(Number.isNaN(chiSquaredSf(1, 0)));
});

test('wassersteinDistance and populationStd match scipy.stats.wasserstein_distance and numpy.std', () => {
  for (const c of fixture.wasserstein) {
    const a = sample(c.a);
    assertClose(wassersteinDistance(a, sample(c.b)), c.distance, `${c.name}: distance`);
    assertClose(populationStd(a), c.std_a, `${c.name}: std`);
  }
});

test('jensenShannonDistance matches scipy.spatial.distance.jensenshannon (natural log)', () => {
  for (const c of fixture.jensenshannon) {
    assertClose(jensenShannonDistance(c.p, c.q), c.distance, `JS(${c.p}; ${c.q})`);
  }
  assert.throws(() => jensenShannonDistance([1], [0.5, 0.5]), /p has 1 entries but q has 2/);
});

test('chiSquareTest matches scipy.stats.chisquare', () => {
  for (const c of fixture.chisquare) {
    const r = chiSquareTest(c.observed, c.expected);
    assertClose(r.statistic, c.statistic, `chisquare(${c.observed}) statistic`);
    assertClose(r.pValue, c.pvalue, `chisquare(${c.observed}) p-value`);
  }
  const unseen = chiSquareTest([5, 3], [8, 0]);
  assert.equal(unseen.statistic, Infinity);
  assert.equal(unseen.pValue, 0);
});

test('twoProportionZTest matches the pooled two-sided z-test', () => {
  for (const c of fixture.ztest) {
    const r = twoProportionZTest(c.successes1, c.n1, c.successes2, c.n2);
    assertClose(r.statistic, c.z, `z(${c.successes1}/${c.n1} vs ${c.successes2}/${c.n2})`);
    assertClose(r.pValue, c.pvalue, `p(${c.successes1}/${c.n1} vs ${c.successes2}/${c.n2})`);
  }
});

test('sturgesEdges and histogramCounts match numpy.histogram_bin_edges(bins="sturges") and numpy.histogram', () => {
  for (const c of fixture.sturges) {
    const values = sample(c.sample);
    const edges = sturgesEdges(values);
    assert.equal(edges.length, c.edges.length, `${JSON.stringify(c.sample)}: number of edges`);
    edges.forEach((e, i) => assertClose(e, c.edges[i]!, `edge ${i}`, 1e-12));
    assert.deepEqual(histogramCounts(values, c.edges), c.counts);
  }
});

test('testColumn picks Evidently\'s default test and agrees with it', () => {
  const tests = new Set<string>();
  for (const c of fixture.evidently) {
    const r = c.type === 'num'
      ? testColumn('num', sample(c.reference), sample(c.current))
      : testColumn('cat', categories(c.reference), categories(c.current));
    assert.equal(r.test, c.test, `${c.name}: test`);
    assert.equal(r.drift, c.drift, `${c.name}: drift`);
    if (c.statistic === null) assert.equal(r.statistic, Infinity, `${c.name}: statistic`);
    else assertClose(r.statistic, c.statistic, `${c.name}: statistic`);
    if (c.p_value !== undefined) assertClose(r.p_value!, c.p_value, `${c.name}: p-value`);
    if (c.distance !== undefined) assertClose(r.distance!, c.distance, `${c.name}: distance`);
    tests.add(r.test);
  }
  assert.deepEqual([...tests].sort(), ['chisquare', 'jensenshannon', 'ks', 'wasserstein', 'z']);
});

test('bad samples are refused with the name of what is wrong', () => {
  assert.throws(() => ks2Samp([], [1]), /a: expected a non-empty sample/);
  assert.throws(() => wassersteinDistance([1, Number.NaN], [1]), /u\[1\]: expected a finite number but received NaN/);
  assert.throws(() => testColumn('num', [1, 2], ['x'] as unknown as number[]), /Expected a finite number for current\[0\] but received string "x"/);
  assert.throws(() => testColumn('cat', [], ['x']), /Expected a non-empty array of strings for reference/);
});
