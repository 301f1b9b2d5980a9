// The statistics behind drift detection, each a port of what Evidently calls
// in SciPy (1.10) and NumPy, so that torchdog's verdicts are Evidently's:
// two-sample Kolmogorov–Smirnov (scipy.stats.ks_2samp, method 'auto'),
// Wasserstein-1 (scipy.stats.wasserstein_distance), Jensen–Shannon
// (scipy.spatial.distance.jensenshannon), Pearson's chi-squared
// (scipy.stats.chisquare), the two-proportion z-test, Sturges histograms
// (numpy.histogram_bin_edges), and the special functions they need.
// test/fixtures/drift-stats.json (scripts/make-drift-stats-fixture.py) holds
// SciPy's answers; test/drift-stats.test.ts checks these ports against them.
//
// Everything here is synchronous and allocation-light: a drift check over a
// few thousand records takes milliseconds.

// ---------------------------------------------------------------- special functions

const kEpsilon = 2.220446049250313e-16;
const kTiny = 1e-300;
const kMaxIterations = 100_000;

// Lanczos approximation, g = 671/128 with 14 terms (Numerical Recipes, 3rd
// ed., §6.1 gammln): relative error below 1e-15 for x > 0.
const kLanczos = [
  57.1562356658629235, -59.5979603554754912, 14.1360979747417471, -0.491913816097620199,
  0.339946499848118887e-4, 0.465236289270485756e-4, -0.983744753048795646e-4, 0.158088703224912494e-3,
  -0.210264441724104883e-3, 0.217439618115212643e-3, -0.164318106536763890e-3, 0.844182239838527433e-4,
  -0.261908384015814087e-4, 0.368991826595316234e-5,
];

/** ln Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (!(x > 0)) return Number.NaN;
  if (x === 1 || x === 2) return 0;
  if (x === 0.5) return 0.5723649429247001; // ln √π, exactly rounded
  let y = x;
  const t = x + 5.2421875;
  const head = (x + 0.5) * Math.log(t) - t;
  let series = 0.999999999999997092;
  for (const c of kLanczos) series += c / ++y;
  return head + Math.log((2.5066282746310005 * series) / x);
}

/**
 * The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a)
 * (SciPy's `gammaincc`), for a > 0, x ≥ 0. Below x = a + 1 it is 1 − P(a, x)
 * with P from its power series; above, the continued fraction for Q itself,
 * evaluated with the modified Lentz method (Numerical Recipes §6.2), so a
 * small Q keeps its relative precision.
 */
export function gammaQ(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 1;
  if (x === Infinity) return 0;
  return x < a + 1 ? 1 - gammaSeries(a, x) : gammaContinuedFraction(a, x);
}

/** The regularized lower incomplete gamma function P(a, x) = 1 − Q(a, x). */
export function gammaP(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 0;
  if (x === Infinity) return 1;
  return x < a + 1 ? gammaSeries(a, x) : 1 - gammaContinuedFraction(a, x);
}

/** e^{−x} x^a / Γ(a), the common factor of both expansions, kept in logs so it does not overflow. */
function gammaPrefactor(a: number, x: number): number {
  return Math.exp(a * Math.log(x) - x - logGamma(a));
}

function gammaSeries(a: number, x: number): number {
  let ap = a;
  let term = 1 / a;
  let sum = term;
  for (let i = 0; i < kMaxIterations; i++) {
    ap += 1;
    term *= x / ap;
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * kEpsilon) return sum * gammaPrefactor(a, x);
  }
  throw new Error(`incomplete gamma series did not converge for a=${a}, x=${x}`);
}

function gammaContinuedFraction(a: number, x: number): number {
  let b = x + 1 - a;
  let c = 1 / kTiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < kMaxIterations; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (Math.abs(c) < kTiny) c = kTiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < kEpsilon) return gammaPrefactor(a, x) * h;
  }
  throw new Error(`incomplete gamma continued fraction did not converge for a=${a}, x=${x}`);
}

/** Survival function of the chi-squared distribution, `scipy.stats.chi2.sf(x, df)` = Q(df/2, x/2). */
export function chiSquaredSf(x: number, df: number): number {
  if (!(df > 0) || Number.isNaN(x)) return Number.NaN;
  if (x <= 0) return 1;
  return gammaQ(df / 2, x / 2);
}

/** The complementary error function, erfc(x) = Q(1/2, x²) for x ≥ 0. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return Number.NaN;
  return x >= 0 ? gammaQ(0.5, x * x) : 1 + gammaP(0.5, x * x);
}

/** Survival function of the standard normal distribution, `scipy.stats.norm.sf(z)`. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

// ---------------------------------------------------------------- Kolmogorov–Smirnov distributions

/**
 * `scipy.special.smirnov(n, x)`: P(D⁺ₙ ≥ x), the one-sided one-sample
 * Kolmogorov–Smirnov survival function, exactly, by the Birnbaum–Tingey sum
 *
 *     x · Σ_{v=0}^{⌊n(1−x)⌋} C(n, v) (x + v/n)^{v−1} (1 − x − v/n)^{n−v}
 *
 * whose terms are all positive, each taken in logarithms (so neither the
 * binomial nor the powers overflow) — good to about 1e-12 relative. SciPy
 * computes the same sum in double-double arithmetic; it switches to its
 * alternating "upper" sum only for x ≤ 0.5/√n, where callers here never go.
 * (A term with x + v/n = 1 exactly is left out, like SciPy does; it is 0.)
 */
export function smirnovSf(n: number, x: number): number {
  if (!(Number.isInteger(n) && n > 0) || !(x >= 0 && x <= 1)) return Number.NaN;
  if (n === 1) return x === 0 ? 1 : 1 - x;
  if (x === 0) return 1;
  if (x === 1) return 0;
  const nx = n * x;
  if (nx <= 1) {
    // P(D⁺ₙ < x) = x (1 + x)^{n−1} for x ≤ 1/n.
    return 1 - x * Math.pow(1 + x, n - 1);
  }
  if (-2 * n * x * x < -708.3964185322641) return 0;
  if (Math.floor(nx) >= n - 1) return Math.pow(1 - x, n);
  const logFactorialN = logGamma(n + 1);
  let sum = 0;
  // v runs to ⌊n(1 − x)⌋: while 1 − x − v/n stays positive.
  for (let v = 0; v < n; v++) {
    const low = (n - v) / n - x; // 1 − x − v/n, with the cancellation done once
    if (!(low > 0)) break;
    const high = x + v / n;
    const logTerm = logFactorialN - logGamma(v + 1) - logGamma(n - v + 1) + (v - 1) * Math.log(high) + (n - v) * Math.log(low);
    sum += Math.exp(logTerm);
  }
  return clip01(sum * x);
}

/**
 * `scipy.stats.kstwo.sf(x, n)`: P(Dₙ ≥ x) for the two-sided one-sample
 * Kolmogorov–Smirnov statistic Dₙ. A port of SciPy 1.10's
 * `scipy/stats/_ksstats.py::_kolmogn(n, x, cdf=False)`, which picks among
 * exact and approximate methods by n and nx² (Simard & L'Ecuyer 2011):
 * Ruben–Gambino closed forms at the ends, 2·smirnov where the two tails
 * cannot overlap (x ≥ 1/2) or barely do, Durbin's matrix (Marsaglia–Tsang–
 * Wang), Pomeranz's recursion, and the Pelz–Good expansion for large n.
 * The branches and thresholds are SciPy's, so the answers agree to rounding.
 */
export function kolmogorovSf(n: number, x: number): number {
  if (!(Number.isInteger(n) && n > 0) || Number.isNaN(x)) return Number.NaN;
  if (x >= 1) return 0;
  if (x <= 0) return 1;
  const t = n * x;
  if (t <= 1) {
    if (t <= 0.5) return 1;
    let cdf: number;
    if (n <= 140) {
      cdf = 1;
      for (let i = 1; i <= n; i++) cdf *= i * (1 / n) * (2 * t - 1);
    } else {
      cdf = Math.exp(logFactorialOverPower(n) + n * Math.log(2 * t - 1));
    }
    return clip01(1 - cdf);
  }
  if (t >= n - 1) return clip01(2 * Math.pow(1 - x, n));
  if (x >= 0.5) return clip01(2 * smirnovSf(n, x));

  const nxSquared = t * x;
  if (n <= 140) {
    if (nxSquared <= 0.754693) return clip01(1 - kolmogorovCdfDurbin(n, x));
    if (nxSquared <= 4) return clip01(1 - kolmogorovCdfPomeranz(n, x));
    return clip01(2 * smirnovSf(n, x));
  }
  if (nxSquared >= 370) return 0;
  if (nxSquared >= 2.2) return clip01(2 * smirnovSf(n, x));
  const cdf = n <= 100_000 && n * Math.pow(x, 1.5) <= 1.4 ? kolmogorovCdfDurbin(n, x) : kolmogorovCdfPelzGood(n, x);
  return clip01(1 - cdf);
}

// B_{2j} / (2j (2j − 1)) for j = 8 … 1, highest first (SciPy's _STIRLING_COEFFS).
const kStirling = [
  -2.955065359477124183e-2, 6.4102564102564102564e-3, -1.9175269175269175269e-3, 8.4175084175084175084e-4,
  -5.952380952380952381e-4, 7.9365079365079365079e-4, -2.7777777777777777778e-3, 8.3333333333333333333e-2,
];

/** ln(n! / nⁿ) by Stirling's series, with n ln n removed up front (no cancellation). */
function logFactorialOverPower(n: number): number {
  const rn = 1 / n;
  const z = rn / n;
  let poly = 0;
  for (const c of kStirling) poly = poly * z + c;
  return Math.log(n) / 2 - n + Math.log(2 * Math.PI) / 2 + rn * poly;
}

const kScaleExponent = 128;
const kScaleUp = 2 ** kScaleExponent;
const kScaleDown = 2 ** -kScaleExponent;

/** P(Dₙ ≤ d) by Durbin's matrix method as Marsaglia, Tsang and Wang (2003) compute it (SciPy's _kolmogn_DMTW). */
function kolmogorovCdfDurbin(n: number, d: number): number {
  if (d >= 1) return 1;
  const nd = n * d;
  if (nd <= 0.5) return 0;
  const k = Math.ceil(nd);
  const h = k - nd;
  const m = 2 * k - 1;

  // H[i][j], row-major m×m.
  let H: Float64Array = new Float64Array(m * m);
  const v = new Float64Array(m);
  const w = new Float64Array(m);
  let factorial = 1;
  for (let j = 1; j <= m; j++) {
    w[j - 1] = factorial;
    factorial /= j;
    v[j - 1] = (1 - h ** j) * factorial;
  }
  const tt = Math.max(2 * h - 1, 0) ** m - 2 * h ** m;
  v[m - 1] = (1 + tt) * factorial;
  for (let i = 1; i < m; i++) {
    for (let r = i - 1; r < m; r++) H[r * m + i] = w[r - i + 1]!;
  }
  for (let r = 0; r < m; r++) H[r * m] = v[r]!;
  for (let c = 0; c < m; c++) H[(m - 1) * m + c] = v[m - 1 - c]!;

  let power: Float64Array = identity(m);
  let remaining = n;
  let exponent = 0;
  let hExponent = 0;
  while (remaining > 0) {
    if (remaining % 2 === 1) {
      power = matmul(power, H, m);
      exponent += hExponent;
    }
    H = matmul(H, H, m);
    hExponent *= 2;
    if (Math.abs(H[(k - 1) * m + (k - 1)]!) > kScaleUp) {
      for (let i = 0; i < H.length; i++) H[i]! /= kScaleUp;
      hExponent += kScaleExponent;
    }
    remaining = Math.floor(remaining / 2);
  }
  let p = power[(k - 1) * m + (k - 1)]!;
  for (let i = 1; i <= n; i++) {
    p = (i * p) / n;
    if (Math.abs(p) < kScaleDown) {
      p *= kScaleUp;
      exponent -= kScaleExponent;
    }
  }
  if (exponent !== 0) p *= 2 ** exponent;
  return clip01(p);
}

function identity(m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) out[i * m + i] = 1;
  return out;
}

function matmul(a: Float64Array, b: Float64Array, m: number): Float64Array {
  const out = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let k = 0; k < m; k++) {
      const aik = a[i * m + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < m; j++) out[i * m + j]! += aik * b[k * m + j]!;
    }
  }
  return out;
}

/** The column interval of row i of Pomeranz's recursion (SciPy's _pomeranz_compute_j1j2). */
function pomeranzBounds(i: number, n: number, ll: number, ceilf: number, roundf: number): [number, number] {
  let j1: number;
  let j2: number;
  if (i === 0) {
    j1 = -ll - ceilf - 1;
    j2 = ll + ceilf - 1;
  } else {
    const half = Math.floor((i + 1) / 2);
    if ((i + 1) % 2 === 0) {
      if (half === n + 1) {
        j1 = n - ll - ceilf - 1;
        j2 = n + ll + ceilf - 1;
      } else {
        j1 = half - 1 - ll - roundf - 1;
        j2 = half + ll - 1 + ceilf - 1;
      }
    } else {
      j1 = half - 1 - ll - 1;
      j2 = half + ll + roundf - 1;
    }
  }
  return [Math.max(j1 + 2, 0), Math.min(j2, n)];
}

/** P(Dₙ ≤ x) by Pomeranz's (1974) recursion (SciPy's _kolmogn_Pomeranz). */
function kolmogorovCdfPomeranz(n: number, x: number): number {
  const t = n * x;
  const ll = Math.floor(t);
  const f = t - ll;
  const g = Math.min(f, 1 - f);
  const ceilf = f > 0 ? 1 : 0;
  const roundf = f > 0.5 ? 1 : 0;
  const npwrs = 2 * (ll + 1);
  // (g/n)^m/m!, (2g/n)^m/m!, ((1−2g)/n)^m/m!: Poisson probabilities short of their normalising factor.
  const gPower = new Float64Array(npwrs);
  const twoGPower = new Float64Array(npwrs);
  const oneMinusTwoGPower = new Float64Array(npwrs);
  gPower[0] = 1;
  twoGPower[0] = 1;
  oneMinusTwoGPower[0] = 1;
  const gOverN = g / n;
  const twoGOverN = (2 * g) / n;
  const oneMinusTwoGOverN = (1 - 2 * g) / n;
  for (let m = 1; m < npwrs; m++) {
    gPower[m] = (gPower[m - 1]! * gOverN) / m;
    twoGPower[m] = (twoGPower[m - 1]! * twoGOverN) / m;
    oneMinusTwoGPower[m] = (oneMinusTwoGPower[m - 1]! * oneMinusTwoGOverN) / m;
  }

  let V0 = new Float64Array(npwrs);
  let V1 = new Float64Array(npwrs);
  V1[0] = 1;
  let V0s = 0;
  let V1s = 0;
  let exponent = 0;
  let [j1, j2] = pomeranzBounds(0, n, ll, ceilf, roundf);
  for (let i = 1; i < 2 * n + 2; i++) {
    const k1 = j1;
    [V0, V1] = [V1, V0];
    [V0s, V1s] = [V1s, V0s];
    V1.fill(0);
    [j1, j2] = pomeranzBounds(i, n, ll, ceilf, roundf);
    const powers = i === 1 || i === 2 * n + 1 ? gPower : i % 2 === 1 ? twoGPower : oneMinusTwoGPower;
    const length = j2 - k1 + 1;
    if (length > 0) {
      // The full convolution of V0[k1 − V0s ..][:length] with powers[:length], entries j1 − k1 ….
      const offset = k1 - V0s;
      const start = j1 - k1;
      const count = j2 - j1 + 1;
      const aLength = Math.min(length, npwrs - offset);
      const bLength = Math.min(length, npwrs);
      let max = 0;
      for (let c = 0; c < count; c++) {
        const index = start + c;
        let s = 0;
        for (let a = Math.max(0, index - bLength + 1); a <= Math.min(index, aLength - 1); a++) {
          s += V0[offset + a]! * powers[index - a]!;
        }
        V1[c] = s;
        if (s > max) max = s;
      }
      if (max > 0 && max < kScaleDown) {
        for (let c = 0; c < npwrs; c++) V1[c]! *= kScaleUp;
        exponent -= kScaleExponent;
      }
      V1s = V0s + j1 - k1;
    }
  }
  let answer = V1[n - V1s]!;
  for (let m = 1; m <= n; m++) {
    if (Math.abs(answer) > kScaleUp) {
      answer *= kScaleDown;
      exponent += kScaleExponent;
    }
    answer *= m;
  }
  if (exponent !== 0) answer *= 2 ** exponent;
  return clip01(answer);
}

/** P(Dₙ ≤ x) by the Pelz–Good (1976) expansion (SciPy's _kolmogn_PelzGood). */
function kolmogorovCdfPelzGood(n: number, x: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const piSquared = Math.PI ** 2;
  const piFour = Math.PI ** 4;
  const piSix = Math.PI ** 6;
  const sqrt2Pi = Math.sqrt(2 * Math.PI);
  const z = Math.sqrt(n) * x;
  const z2 = z ** 2;
  const z3 = z ** 3;
  const z4 = z ** 4;
  const z6 = z ** 6;
  const qlog = -piSquared / 8 / z2;
  if (qlog < -708) return 0;
  let q = Math.exp(qlog);

  const k1a = -z2;
  const k1b = piSquared / 4;
  const k2a = 6 * z6 + 2 * z4;
  const k2b = ((2 * z4 - 5 * z2) * piSquared) / 4;
  const k2c = (piFour * (1 - 2 * z2)) / 16;
  const k3d = (piSix * (5 - 30 * z2)) / 64;
  const k3c = (piFour * (-60 * z2 + 212 * z4)) / 16;
  const k3b = (piSquared * (135 * z4 - 96 * z6)) / 4;
  const k3a = -30 * z6 - 90 * z ** 8;

  const K = [0, 0, 0, 0];
  const maxk = Math.ceil((16 * z) / Math.PI);
  for (let k = maxk; k > 0; k--) {
    const m = 2 * k - 1;
    const m2 = m ** 2;
    const m4 = m ** 4;
    const m6 = m ** 6;
    const qpower = Math.pow(q, 8 * k);
    const coeffs = [1, k1a + k1b * m2, k2a + k2b * m2 + k2c * m4, k3a + k3b * m2 + k3c * m4 + k3d * m6];
    for (let i = 0; i < 4; i++) K[i] = K[i]! * qpower + coeffs[i]!;
  }
  const divisors = [z, 6 * z4, 72 * z ** 7, 6480 * z ** 10];
  for (let i = 0; i < 4; i++) K[i] = (K[i]! * q * sqrt2Pi) / divisors[i]!;

  q = Math.exp(-piSquared / 2 / z2);
  let k2extra = 0;
  let k3extra = 0;
  const sqrt3z = Math.sqrt(3) * z;
  for (let k = maxk; k > 0; k--) {
    const k2 = k * k;
    const qp = Math.pow(q, k2);
    k2extra += k2 * qp;
    const kpi = Math.PI * k;
    k3extra += (sqrt3z + kpi) * (sqrt3z - kpi) * k2 * qp;
  }
  K[2] = K[2]! + (k2extra * piSquared * sqrt2Pi) / (-36 * z3);
  K[3] = K[3]! + (k3extra * piSquared * sqrt2Pi) / (216 * z6);
  let sum = 0;
  for (let i = 0; i < 4; i++) sum += K[i]! / Math.pow(n, i / 2);
  return sum;
}

// ---------------------------------------------------------------- two-sample Kolmogorov–Smirnov

/** Which p-value ks_2samp computed: the exact null distribution, or Kolmogorov's for n·m/(n+m) samples. */
export type KsMethod = 'exact' | 'asymp';

export interface KsResult {
  /** sup |F_ref − F_cur| over the pooled sample; in exact mode, rounded to a multiple of 1/lcm(n₁, n₂) as SciPy does. */
  statistic: number;
  pValue: number;
  method: KsMethod;
}

/** Above this size of either sample, method 'auto' goes asymptotic (SciPy's MAX_AUTO_N). */
const kKsMaxExactN = 10_000;

/**
 * `scipy.stats.ks_2samp(a, b)` — two-sided, method 'auto' — as SciPy 1.10
 * computes it. D is the largest gap between the two empirical CDFs over the
 * pooled sample (ties handled with right-continuous CDFs). If both samples
 * have at most 10 000 values the p-value is exact: with g = gcd(n₁, n₂) and
 * h = round(D · lcm), P(D ≥ h/lcm) by counting lattice paths — Hodges' "outside
 * the square" series when n₁ = n₂, otherwise the Viehmann (2021) form of the
 * inside method that yields 1 − p directly; should that fail numerically (a
 * result outside [0, 1]) it falls back like SciPy does. Otherwise the
 * p-value is `kstwo.sf(D, round(n₁n₂/(n₁+n₂)))`.
 */
export function ks2Samp(a: ArrayLike<number>, b: ArrayLike<number>): KsResult {
  const x = sortedCopy(a, 'a');
  const y = sortedCopy(b, 'b');
  const n1 = x.length;
  const n2 = y.length;
  // Walk the pooled values in order; at each distinct value both CDFs have
  // taken every sample ≤ it (searchsorted side='right').
  let i = 0;
  let j = 0;
  let maxPositive = -Infinity; // max of cdf1 − cdf2
  let maxNegative = -Infinity; // max of cdf2 − cdf1
  while (i < n1 || j < n2) {
    const value = j >= n2 || (i < n1 && x[i]! <= y[j]!) ? x[i]! : y[j]!;
    while (i < n1 && x[i]! <= value) i++;
    while (j < n2 && y[j]! <= value) j++;
    const diff = i / n1 - j / n2;
    if (diff > maxPositive) maxPositive = diff;
    if (-diff > maxNegative) maxNegative = -diff;
  }
  const minS = Math.min(Math.max(maxNegative, 0), 1);
  let d = minS > maxPositive ? minS : maxPositive;

  const g = gcd(n1, n2);
  if (Math.max(n1, n2) <= kKsMaxExactN) {
    const lcm = (n1 / g) * n2;
    const h = Math.round(d * lcm);
    d = h / lcm;
    if (h === 0) return { statistic: d, pValue: 1, method: 'exact' };
    const p = n1 === n2 ? probOutsideSquare(n1, h) : outerProbInside(n1, n2, g, h);
    if (p >= 0 && p <= 1) return { statistic: d, pValue: p, method: 'exact' };
  }
  const [m, n] = n1 >= n2 ? [n1, n2] : [n2, n1];
  const en = (m * n) / (m + n);
  return { statistic: d, pValue: clip01(kolmogorovSf(roundHalfEven(en), d)), method: 'asymp' };
}

/**
 * P(D_{n,n} ≥ h/n): the share of lattice paths leaving the band |x − y| < h,
 * 2·Σ_k (−1)^{k−1} C(2n, n−kh)/C(2n, n), in SciPy's Horner-like form without
 * cancellation (_compute_prob_outside_square).
 */
export function probOutsideSquare(n: number, h: number): number {
  let p = 0;
  for (let k = Math.floor(n / h); k >= 0; k--) {
    let p1 = 1;
    for (let j = 0; j < h; j++) p1 = ((n - k * h - j) * p1) / (n + k * h + j + 1);
    p = p1 * (1 - p);
  }
  return 2 * p;
}

/**
 * P(D_{m,n} ≥ h/lcm(m, n)) for m ≠ n: the share of monotone lattice paths
 * from (0, 0) to (m, n) that do not stay strictly inside |x/m − y/n| < h/lcm,
 * by the inside method rewritten to carry the complement column by column
 * (Viehmann 2021), so it needs neither huge binomials nor a final subtraction.
 * A port of SciPy's _compute_outer_prob_inside_method.
 */
export function outerProbInside(m0: number, n0: number, g: number, h: number): number {
  const [m, n] = m0 >= n0 ? [m0, n0] : [n0, m0];
  const mg = m / g;
  const ng = n / g;
  let minj = 0;
  let maxj = Math.min(Math.ceil(h / mg), n + 1);
  let curlen = maxj - minj;
  const lenA = Math.min(2 * maxj + 2, n + 1);
  const A = new Float64Array(lenA).fill(1);
  A.fill(0, minj, maxj);
  for (let i = 1; i <= m; i++) {
    const lastminj = minj;
    const lastlen = curlen;
    minj = Math.min(Math.max(Math.floor((ng * i - h) / mg) + 1, 0), n);
    maxj = Math.min(Math.ceil((ng * i + h) / mg), n + 1);
    if (maxj <= minj) return 1;
    let val = minj === 0 ? 0 : 1;
    for (let jj = 0; jj < maxj - minj; jj++) {
      const j = jj + minj;
      val = (A[jj + minj - lastminj]! * i + val * j) / (i + j);
      A[jj] = val;
    }
    curlen = maxj - minj;
    if (lastlen > curlen) A.fill(1, maxj - minj, Math.min(lenA, maxj - minj + (lastlen - curlen)));
  }
  return A[maxj - minj - 1]!;
}

// ---------------------------------------------------------------- distances

/**
 * `scipy.stats.wasserstein_distance(u, v)`: the first Wasserstein distance
 * between the two empirical distributions, ∫ |F_u − F_v|, summed over the
 * gaps of the pooled, sorted sample.
 */
export function wassersteinDistance(u: ArrayLike<number>, v: ArrayLike<number>): number {
  const a = sortedCopy(u, 'u');
  const b = sortedCopy(v, 'v');
  const all = new Float64Array(a.length + b.length);
  all.set(a);
  all.set(b, a.length);
  all.sort();
  let i = 0;
  let j = 0;
  let sum = 0;
  for (let k = 0; k < all.length - 1; k++) {
    const value = all[k]!;
    while (i < a.length && a[i]! <= value) i++;
    while (j < b.length && b[j]! <= value) j++;
    sum += Math.abs(i / a.length - j / b.length) * (all[k + 1]! - value);
  }
  return sum;
}

/** `numpy.std(x)`: the population standard deviation (ddof 0), from the mean's deviations. */
export function populationStd(values: ArrayLike<number>): number {
  const n = values.length;
  if (n === 0) return Number.NaN;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += values[i]!;
  const mean = sum / n;
  let squares = 0;
  for (let i = 0; i < n; i++) squares += (values[i]! - mean) ** 2;
  return Math.sqrt(squares / n);
}

/**
 * `scipy.spatial.distance.jensenshannon(p, q)` with the natural logarithm
 * (base None): both vectors are normalised to sum 1, m = (p + q)/2, and the
 * distance is √((KL(p‖m) + KL(q‖m)) / 2), with 0·ln 0 = 0. It lies in
 * [0, √ln 2 ≈ 0.833].
 */
export function jensenShannonDistance(p: ArrayLike<number>, q: ArrayLike<number>): number {
  if (p.length !== q.length) throw new RangeError(`jensenShannonDistance: p has ${p.length} entries but q has ${q.length}`);
  let sp = 0;
  let sq = 0;
  for (let i = 0; i < p.length; i++) {
    sp += p[i]!;
    sq += q[i]!;
  }
  let left = 0;
  let right = 0;
  for (let i = 0; i < p.length; i++) {
    const pi = p[i]! / sp;
    const qi = q[i]! / sq;
    const mi = (pi + qi) / 2;
    left += relativeEntropy(pi, mi);
    right += relativeEntropy(qi, mi);
  }
  return Math.sqrt((left + right) / 2);
}

/** `scipy.special.rel_entr(x, y)`. */
function relativeEntropy(x: number, y: number): number {
  if (x > 0 && y > 0) return x * Math.log(x / y);
  if (x === 0 && y >= 0) return 0;
  return Infinity;
}

// ---------------------------------------------------------------- tests on counts

export interface TestResult {
  statistic: number;
  pValue: number;
}

/**
 * `scipy.stats.chisquare(observed, expected)`: Pearson's statistic
 * Σ (O − E)² / E and its chi-squared p-value with k − 1 degrees of freedom.
 * An expected count of 0 against an observed one makes the statistic ∞ and
 * the p-value 0, as in SciPy.
 */
export function chiSquareTest(observed: ArrayLike<number>, expected: ArrayLike<number>): TestResult {
  if (observed.length !== expected.length) {
    throw new RangeError(`chiSquareTest: ${observed.length} observed counts but ${expected.length} expected`);
  }
  if (observed.length < 2) throw new RangeError('chiSquareTest: needs at least 2 categories');
  let statistic = 0;
  for (let i = 0; i < observed.length; i++) {
    const o = observed[i]!;
    const e = expected[i]!;
    const d = o - e;
    statistic += d === 0 ? 0 : (d * d) / e;
  }
  return { statistic, pValue: chiSquaredSf(statistic, observed.length - 1) };
}

/**
 * The two-sided two-proportion z-test Evidently's z-test runs (pooled
 * variance): with s₁ of n₁ and s₂ of n₂ "successes",
 * z = (p₁ − p₂) / √(P(1 − P)(1/n₁ + 1/n₂)), P = (s₁ + s₂)/(n₁ + n₂), and
 * p = 2·(1 − Φ(|z|)) — here computed as erfc(|z|/√2), which is the same
 * number without the cancellation once p drops below ~1e-10.
 * If both samples are all one outcome (P is 0 or 1) the proportions are
 * equal and p = 1.
 */
export function twoProportionZTest(successes1: number, n1: number, successes2: number, n2: number): TestResult {
  const p1 = successes1 / n1;
  const p2 = successes2 / n2;
  const pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
  if (pooled === 0 || pooled === 1) return { statistic: 0, pValue: 1 };
  const z = (p1 - p2) / Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return { statistic: z, pValue: erfc(Math.abs(z) / Math.SQRT2) };
}

// ---------------------------------------------------------------- histograms

/**
 * `numpy.histogram_bin_edges(values, bins='sturges')`: ⌈range / width⌉
 * equal bins with width = range / (log₂ n + 1) over [min, max] (widened by
 * ±0.5 when all values are equal), edges from `numpy.linspace`.
 */
export function sturgesEdges(values: ArrayLike<number>): number[] {
  if (values.length === 0) return [0, 1];
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  const ptp = hi - lo;
  if (lo === hi) {
    lo -= 0.5;
    hi += 0.5;
  }
  const width = ptp / (Math.log2(values.length) + 1);
  const bins = width ? Math.ceil((hi - lo) / width) : 1;
  return linspace(lo, hi, bins + 1);
}

/** `numpy.linspace(start, stop, num)` (endpoint included, the last edge exactly `stop`). */
export function linspace(start: number, stop: number, num: number): number[] {
  const div = num - 1;
  const step = (stop - start) / div;
  const out: number[] = [];
  for (let i = 0; i < num; i++) out.push(i * step + start);
  if (num > 1) out[num - 1] = stop;
  return out;
}

/**
 * `numpy.histogram(values, edges)[0]`: counts per bin [e_i, e_{i+1}), the
 * last bin closed; values outside [e_0, e_last] are not counted.
 */
export function histogramCounts(values: ArrayLike<number>, edges: readonly number[]): number[] {
  const sorted = sortedCopy(values, 'values');
  const below = edges.map((e, i) => (i === edges.length - 1 ? upperBound(sorted, e) : lowerBound(sorted, e)));
  const counts: number[] = [];
  for (let i = 0; i + 1 < below.length; i++) counts.push(below[i + 1]! - below[i]!);
  return counts;
}

// ---------------------------------------------------------------- helpers

function sortedCopy(values: ArrayLike<number>, name: string): Float64Array {
  if (values.length === 0) throw new RangeError(`${name}: expected a non-empty sample`);
  const out = Float64Array.from(values as ArrayLike<number>);
  for (let i = 0; i < out.length; i++) {
    if (!Number.isFinite(out[i]!)) throw new RangeError(`${name}[${i}]: expected a finite number but received ${out[i]}`);
  }
  return out.sort();
}

/** First index with sorted[i] ≥ value. */
function lowerBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** First index with sorted[i] > value. */
function upperBound(sorted: Float64Array, value: number): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! <= value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function gcd(a: number, b: number): number {
  while (b !== 0) [a, b] = [b, a % b];
  return a;
}

/** `numpy.round`: halves go to the even neighbour. */
function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

function clip01(p: number): number {
  return p < 0 ? 0 : p > 1 ? 1 : p;
}
