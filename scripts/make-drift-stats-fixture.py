#!/usr/bin/python3
"""Writes test/fixtures/drift-stats.json: what SciPy and NumPy answer for the
statistics behind drift monitoring, so test/drift-stats.test.ts can check
src/drift/stats.ts (and src/drift/detect.ts) against them.

Run with Debian's interpreter (apt-get install python3-scipy):

    /usr/bin/python3 scripts/make-drift-stats-fixture.py

Samples are not stored, only the recipe, so large samples (the asymptotic
Kolmogorov-Smirnov branch needs more than 10 000 values) keep the fixture
small. The test rebuilds them with the same arithmetic (change both together
and bump GENERATOR_VERSION):

    x_0 = seed;  x_{k+1} = 48271 * x_k mod (2^31 - 1)      (Park-Miller, k = 1..n)
    u_k = x_k / (2^31 - 1)
    value_k = offset + scale * u_k                          (levels = 0)
    value_k = offset + scale * floor(u_k * levels) / levels (levels > 0: ties)

Every step is exact or one correctly rounded IEEE operation, so Python and
JavaScript produce the same doubles.

The `evidently` cases mirror Evidently's default column tests
(evidently/calculations/stattests: registry._get_default_stattest,
ks_stattest, wasserstein_distance_norm, chisquare_stattest, z_stattest,
jensenshannon) with NumPy in place of pandas; see src/drift/detect.ts.
"""
import json
import math
import os

import numpy as np
import scipy
import scipy.special as special
import scipy.stats as stats
from scipy.spatial import distance
from scipy.stats._stats_py import _compute_prob_outside_square
from scipy.stats._stats_pythran import _compute_outer_prob_inside_method

GENERATOR_VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'drift-stats.json')
MODULUS = 2 ** 31 - 1


def sample(seed, n, scale=1.0, offset=0.0, levels=0):
    out = []
    x = seed
    for _ in range(n):
        x = (x * 48271) % MODULUS
        u = x / MODULUS
        out.append(offset + scale * (math.floor(u * levels) / levels if levels else u))
    return np.array(out, dtype=np.float64)


def spec(seed, n, scale=1.0, offset=0.0, levels=0):
    return {'seed': seed, 'n': n, 'scale': scale, 'offset': offset, 'levels': levels}


def build(s):
    return sample(s['seed'], s['n'], s['scale'], s['offset'], s['levels'])


def f(x):
    return float(x)


# ---------------------------------------------------------------- ks_2samp

KS_CASES = [
    ('equal-40-shifted', spec(123456789, 40), spec(987654321, 40, offset=0.15)),
    ('unequal-30-47-same', spec(246813579, 30), spec(135792468, 47)),
    ('unequal-200-333-shifted', spec(11111111, 200), spec(22222222, 333, offset=0.1)),
    ('ties-150-90', spec(31415926, 150, levels=8), spec(27182818, 90, levels=8, offset=0.05)),
    ('tiny-1-1', spec(5555555, 1), spec(7777777, 1)),
    ('tiny-3-2', spec(5555555, 3), spec(7777777, 2)),
    ('equal-600-scaled', spec(161803398, 600), spec(141421356, 600, scale=1.1)),
    ('exact-1000-2500', spec(173205080, 1000), spec(223606797, 2500, offset=0.02)),
    ('exact-1000-10000', spec(264575131, 1000), spec(316227766, 10000, offset=0.03)),
    ('asymp-800-12000', spec(331662479, 800), spec(346410161, 12000, offset=0.02)),
    ('asymp-1000-20000-far', spec(360555127, 1000), spec(374165738, 20000, offset=0.1)),
    ('asymp-500-10001-same', spec(387298334, 500), spec(400000000, 10001)),
    ('identical', spec(412310562, 300), spec(412310562, 300)),
]


def ks_cases():
    out = []
    for name, a, b in KS_CASES:
        r = stats.ks_2samp(build(a), build(b))
        n1, n2 = a['n'], b['n']
        method = 'exact' if max(n1, n2) <= 10000 else 'asymp'
        out.append({'name': name, 'a': a, 'b': b, 'statistic': f(r.statistic), 'pvalue': f(r.pvalue), 'method': method})
    return out


# ---------------------------------------------------------------- distributions

# (n, x), chosen to reach every branch of scipy.stats._ksstats._kolmogn(cdf=False).
KSTWO_POINTS = [
    (5, 0.05),        # n x <= 1/2: sf = 1
    (10, 0.07),       # n x <= 1, n <= 140: Ruben-Gambino product
    (200, 0.004),     # n x <= 1, n > 140: Ruben-Gambino via Stirling
    (10, 0.95),       # n x >= n - 1
    (20, 0.6),        # x >= 1/2: 2 * smirnov
    (50, 0.1),        # n <= 140, n x^2 <= 0.754693: Durbin matrix
    (50, 0.2),        # n <= 140, n x^2 <= 4: Pomeranz
    (120, 0.13),      # Pomeranz, more rows
    (50, 0.35),       # n <= 140, n x^2 > 4: 2 * smirnov
    (140, 0.05),      # Durbin matrix at the n <= 140 edge
    (500, 0.015),     # n > 140, n x^1.5 <= 1.4: Durbin matrix
    (500, 0.03),      # n > 140: Pelz-Good
    (500, 0.08),      # n > 140, n x^2 >= 2.2: 2 * smirnov
    (1000, 0.045),    # 2 * smirnov, p ~ 3e-2
    (1000, 0.45),     # 2 * smirnov far in the tail
    (2000, 0.45),     # n x^2 >= 370: 0
    (150000, 0.003),  # Pelz-Good, large n
    (300, 1.2),       # x >= 1: 0
]

SMIRNOV_POINTS = [(1, 0.3), (7, 0.1), (7, 0.5), (50, 0.2), (140, 0.06), (500, 0.04), (1000, 0.1), (1000, 0.0005)]
CHI2_POINTS = [(0.5, 1), (3.84, 1), (12.0, 1), (2.0, 2), (7.5, 3), (0.01, 4), (40.0, 4), (25.0, 9), (300.0, 9), (95.0, 99), (160.0, 99)]
NORM_POINTS = [-3.0, -0.5, 0.0, 0.3, 1.959963984540054, 2.5, 5.0, 9.0, 20.0]


def inside_cases():
    out = []
    for m, n, h in [(30, 20, 25), (47, 30, 300), (333, 200, 3000), (10, 7, 35), (2500, 1000, 600)]:
        g = math.gcd(m, n)
        out.append([m, n, g, h, f(_compute_outer_prob_inside_method(m, n, g, h))])
    return out


# ---------------------------------------------------------------- distances and tests on counts

def wasserstein_cases():
    out = []
    for name, a, b in [
        ('uniform-shift', spec(123, 300), spec(456, 500, offset=0.2)),
        ('scale', spec(789, 1500, scale=0.3, offset=0.4), spec(1011, 700, scale=0.5, offset=0.35)),
        ('ties', spec(1213, 200, levels=5), spec(1415, 250, levels=7)),
        ('one-each', spec(1617, 1), spec(1819, 1, offset=2.0)),
    ]:
        u, v = build(a), build(b)
        out.append({'name': name, 'a': a, 'b': b, 'distance': f(stats.wasserstein_distance(u, v)), 'std_a': f(np.std(u))})
    return out


def jensenshannon_cases():
    out = []
    for p, q in [
        ([0.5, 0.5], [0.5, 0.5]),
        ([0.7, 0.3], [0.4, 0.6]),
        ([0.2, 0.3, 0.5], [0.25, 0.25, 0.5]),
        ([1.0, 0.0], [0.0, 1.0]),
        ([0.6, 0.4, 0.0], [0.3, 0.3, 0.4]),
        ([3, 1, 0, 6], [2, 2, 2, 2]),  # unnormalised counts
    ]:
        out.append({'p': p, 'q': q, 'distance': f(distance.jensenshannon(p, q))})
    return out


def chisquare_cases():
    out = []
    for obs, exp in [
        ([10, 20, 30], [20, 20, 20]),
        ([48, 52, 100], [50.5, 49.5, 100]),
        ([5, 0, 7, 8], [4.5, 1.5, 6.0, 8.0]),
        ([300, 100, 120, 80], [240.0, 150.0, 120.0, 90.0]),
    ]:
        r = stats.chisquare(obs, exp)
        out.append({'observed': obs, 'expected': exp, 'statistic': f(r.statistic), 'pvalue': f(r.pvalue)})
    return out


def ztest_cases():
    out = []
    for s1, n1, s2, n2 in [(30, 100, 45, 120), (500, 1000, 520, 1000), (3, 50, 40, 60), (0, 20, 0, 30), (12, 12, 5, 9)]:
        p1, p2 = s1 / n1, s2 / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        if pooled in (0.0, 1.0):
            z, p = 0.0, 1.0
        else:
            z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
            # Evidently writes 2 * (1 - norm.cdf(|z|)); norm.sf is the same number without the cancellation.
            p = 2 * stats.norm.sf(abs(z))
        out.append({'successes1': s1, 'n1': n1, 'successes2': s2, 'n2': n2, 'z': f(z), 'pvalue': f(p)})
    return out


def sturges_cases():
    out = []
    for s in [spec(2024, 100), spec(2025, 1000, scale=3.0, offset=-1.0), spec(2026, 64, levels=4), spec(2027, 5, scale=0.0, offset=0.25)]:
        x = build(s)
        edges = np.histogram_bin_edges(x, bins='sturges')
        counts, _ = np.histogram(x, edges)
        out.append({'sample': s, 'edges': [f(e) for e in edges], 'counts': [int(c) for c in counts]})
    return out


# ---------------------------------------------------------------- Evidently's column tests, mirrored

def evidently_default_test(ref, cur, feature_type):
    n_values = len(set(ref.tolist()) | set(cur.tolist()))
    if len(ref) <= 1000:
        if feature_type == 'num':
            return ('chisquare' if n_values > 2 else 'z') if n_values <= 5 else 'ks'
        return 'chisquare' if n_values > 2 else 'z'
    if feature_type == 'num':
        return 'jensenshannon' if n_values <= 5 else 'wasserstein'
    return 'jensenshannon'


def value_counts(values, keys):
    counts = {k: 0 for k in keys}
    for v in values.tolist():
        counts[v] += 1
    return [counts[k] for k in keys]


def evidently_column(ref, cur, feature_type):
    test = evidently_default_test(ref, cur, feature_type)
    keys = sorted(set(ref.tolist()) | set(cur.tolist()))
    if test == 'ks':
        r = stats.ks_2samp(ref, cur)
        return {'test': test, 'statistic': f(r.statistic), 'p_value': f(r.pvalue), 'drift': bool(r.pvalue <= 0.05)}
    if test == 'wasserstein':
        raw = stats.wasserstein_distance(ref, cur)
        d = raw / max(np.std(ref), 0.001)
        return {'test': test, 'statistic': f(raw), 'distance': f(d), 'drift': bool(d >= 0.1)}
    if test == 'chisquare':
        k_norm = len(cur) / len(ref)
        f_exp = [c * k_norm for c in value_counts(ref, keys)]
        f_obs = value_counts(cur, keys)
        with np.errstate(divide='ignore'):
            r = stats.chisquare(f_obs, f_exp)
        stat = f(r.statistic)
        return {'test': test, 'statistic': stat if math.isfinite(stat) else None, 'p_value': f(r.pvalue), 'drift': bool(r.pvalue < 0.05)}
    if test == 'z':
        if len(set(ref.tolist())) == 1 and len(set(cur.tolist())) == 1 and ref[0] == cur[0]:
            return {'test': test, 'statistic': 0.0, 'p_value': 1.0, 'drift': False}
        r1 = np.array([0 if v == keys[0] else 1 for v in ref.tolist()])
        c1 = np.array([0 if v == keys[0] else 1 for v in cur.tolist()])
        n1, n2 = len(r1), len(c1)
        p1, p2 = r1.sum() / n1, c1.sum() / n2
        pooled = (p1 * n1 + p2 * n2) / (n1 + n2)
        z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
        p = 2 * stats.norm.sf(abs(z))
        return {'test': test, 'statistic': f(z), 'p_value': f(p), 'drift': bool(p < 0.05)}
    ref_pct = np.array(value_counts(ref, keys)) / len(ref)
    cur_pct = np.array(value_counts(cur, keys)) / len(cur)
    d = distance.jensenshannon(ref_pct, cur_pct)
    return {'test': test, 'statistic': f(d), 'distance': f(d), 'drift': bool(d >= 0.1)}


def categories(seed, n, names, weights):
    """Classes drawn by the generator: u falls into the cumulative weights."""
    u = sample(seed, n)
    cum = np.cumsum(weights) / np.sum(weights)
    return np.array([names[min(int(np.searchsorted(cum, x, side='right')), len(names) - 1)] for x in u], dtype=object)


def evidently_cases():
    out = []
    num = [
        ('ks-no-drift', spec(9001, 400), spec(9002, 300)),
        ('ks-drift', spec(9003, 400), spec(9004, 300, offset=0.2)),
        ('wasserstein-no-drift', spec(9005, 1500), spec(9006, 3000)),
        ('wasserstein-drift', spec(9007, 1500), spec(9008, 800, offset=0.1)),
        ('num-few-values-chisquare', spec(9009, 500, levels=4), spec(9010, 300, levels=2)),
        ('num-two-values-z', spec(9011, 500, levels=2), spec(9012, 300, levels=2)),
        ('num-few-values-jensenshannon', spec(9013, 2000, levels=5), spec(9014, 900, levels=5)),
        ('num-few-values-jensenshannon-drift', spec(9015, 2000, levels=5), spec(9016, 100, levels=1)),
    ]
    for name, a, b in num:
        out.append({'name': name, 'type': 'num', 'reference': a, 'current': b, **evidently_column(build(a), build(b), 'num')})
    cat = [
        ('cat-z-no-drift', (9101, 300, ['hotdog', 'nothotdog'], [1, 1]), (9102, 200, ['hotdog', 'nothotdog'], [1, 1])),
        ('cat-z-drift', (9103, 300, ['hotdog', 'nothotdog'], [1, 1]), (9104, 200, ['hotdog', 'nothotdog'], [3, 1])),
        ('cat-chisquare', (9105, 600, ['a', 'b', 'c'], [1, 1, 1]), (9106, 250, ['a', 'b', 'c'], [1, 1, 1.5])),
        ('cat-chisquare-new-class', (9107, 600, ['a', 'b', 'c'], [1, 1, 1]), (9108, 250, ['a', 'b', 'c', 'd'], [1, 1, 1, 0.2])),
        ('cat-jensenshannon', (9109, 1200, ['a', 'b', 'c'], [1, 1, 1]), (9110, 400, ['a', 'b', 'c'], [1, 1, 2])),
        ('cat-single-value', (9111, 40, ['only'], [1]), (9112, 30, ['only'], [1])),
    ]
    for name, (s1, n1, k1, w1), (s2, n2, k2, w2) in cat:
        ref = categories(s1, n1, k1, w1)
        cur = categories(s2, n2, k2, w2)
        out.append({
            'name': name, 'type': 'cat',
            'reference': {'seed': s1, 'n': n1, 'names': k1, 'weights': w1},
            'current': {'seed': s2, 'n': n2, 'names': k2, 'weights': w2},
            **evidently_column(ref, cur, 'cat'),
        })
    return out


def main():
    fixture = {
        'generator_version': GENERATOR_VERSION,
        'scipy': scipy.__version__,
        'numpy': np.__version__,
        'ks_2samp': ks_cases(),
        'kstwo_sf': [[n, x, f(stats.kstwo.sf(x, n))] for n, x in KSTWO_POINTS],
        'smirnov': [[n, x, f(special.smirnov(n, x))] for n, x in SMIRNOV_POINTS],
        'prob_outside_square': [[n, h, f(_compute_prob_outside_square(n, h))] for n, h in [(40, 12), (600, 60), (600, 200), (7, 7)]],
        'outer_prob_inside': inside_cases(),
        'chi2_sf': [[x, df, f(stats.chi2.sf(x, df))] for x, df in CHI2_POINTS],
        'norm_sf': [[z, f(stats.norm.sf(z))] for z in NORM_POINTS],
        'wasserstein': wasserstein_cases(),
        'jensenshannon': jensenshannon_cases(),
        'chisquare': chisquare_cases(),
        'ztest': ztest_cases(),
        'sturges': sturges_cases(),
        'evidently': evidently_cases(),
    }
    with open(OUT, 'w') as out:
        json.dump(fixture, out, indent=1)
        out.write('\n')
    print(f'wrote {os.path.normpath(OUT)}')


if __name__ == '__main__':
    main()
