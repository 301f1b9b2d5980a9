#!/usr/bin/python3
"""Writes test/fixtures/drift-features.json: the seed's drift features, as
NumPy computes them, for a few closed-form images, so
test/drift-features.test.ts can check src/drift/features.ts against NumPy.

Run with Debian's interpreter, which has numpy:

    /usr/bin/python3 scripts/make-drift-fixture.py

The fixture stores each image's formula, not its pixels; the test rebuilds the
pixels from the same formula (change both together and bump FORMULA_VERSION):

    v(y, x, c) = scale * ((k0 + kx*x + ky*y + kc*c + kxy*x*y + kxx*x*x + kyy*y*y) % modulus)

then each [y, x, c, value] in `set` overrides one byte. Pixels are HWC uint8
RGB, like sharp's raw output; features are taken on the CHW float64 image x/255.

np.gradient raises on an axis of length 1. torchdog defines the gradient along
such an axis as 0 (see src/drift/features.ts); the cases that rely on it are
marked `"numpy_gradient": false` and their sharpness is computed here with
zeros standing in for that axis.
"""
import json
import os

import numpy as np

FORMULA_VERSION = 1
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'drift-features.json')

# name, height, width, formula, overrides
CASES = [
    ('quadratic-128', 128, 128,
     dict(k0=17, kx=7, ky=13, kc=101, kxy=3, kxx=5, kyy=11, modulus=256, scale=1), []),
    ('smooth-ramp-128', 128, 128,
     dict(k0=0, kx=1, ky=1, kc=40, kxy=0, kxx=0, kyy=0, modulus=256, scale=1), []),
    ('checkerboard-128', 128, 128,
     dict(k0=0, kx=1, ky=1, kc=0, kxy=0, kxx=0, kyy=0, modulus=2, scale=255), []),
    ('constant-128', 128, 128,
     dict(k0=128, kx=0, ky=0, kc=0, kxy=0, kxx=0, kyy=0, modulus=256, scale=1), []),
    # One byte off a flat image: contrast ~ 0.018% of brightness, the case
    # where E[x^2] - E[x]^2 in floating point loses the answer.
    ('one-bright-byte-128', 128, 128,
     dict(k0=200, kx=0, ky=0, kc=0, kxy=0, kxx=0, kyy=0, modulus=256, scale=1), [[64, 31, 1, 201]]),
    ('hashy-2x3', 2, 3,
     dict(k0=9, kx=77, ky=151, kc=31, kxy=19, kxx=23, kyy=29, modulus=256, scale=1), []),
    ('hashy-3x2', 3, 2,
     dict(k0=250, kx=91, ky=37, kc=113, kxy=7, kxx=3, kyy=61, modulus=256, scale=1), []),
    ('hashy-2x2', 2, 2,
     dict(k0=1, kx=200, ky=100, kc=50, kxy=0, kxx=0, kyy=0, modulus=256, scale=1), []),
    ('odd-7x5', 7, 5,
     dict(k0=3, kx=41, ky=59, kc=83, kxy=13, kxx=17, kyy=5, modulus=256, scale=1), []),
    ('odd-33x17', 33, 17,
     dict(k0=0, kx=9, ky=4, kc=85, kxy=1, kxx=2, kyy=3, modulus=251, scale=1), []),
    ('single-pixel-1x1', 1, 1,
     dict(k0=10, kx=0, ky=0, kc=100, kxy=0, kxx=0, kyy=0, modulus=256, scale=1), []),
    ('single-row-1x6', 1, 6,
     dict(k0=5, kx=43, ky=0, kc=70, kxy=0, kxx=9, kyy=0, modulus=256, scale=1), []),
    ('single-column-5x1', 5, 1,
     dict(k0=60, kx=0, ky=37, kc=11, kxy=0, kxx=0, kyy=7, modulus=256, scale=1), []),
]


def pixels(height, width, f, overrides):
    y, x, c = np.meshgrid(np.arange(height), np.arange(width), np.arange(3), indexing='ij')
    poly = f['k0'] + f['kx'] * x + f['ky'] * y + f['kc'] * c + f['kxy'] * x * y + f['kxx'] * x * x + f['kyy'] * y * y
    values = f['scale'] * (poly % f['modulus'])
    assert values.min() >= 0 and values.max() <= 255
    hwc = values.astype(np.uint8)
    for yy, xx, cc, v in overrides:
        hwc[yy, xx, cc] = v
    return hwc


def gradients(img):
    """np.gradient(img), with zeros along an axis np.gradient refuses (length 1)."""
    if min(img.shape) >= 2:
        return np.gradient(img), True
    try:
        np.gradient(img)
        raise AssertionError('np.gradient accepted a length-1 axis; revisit the convention')
    except ValueError:
        pass
    out = []
    for axis, n in enumerate(img.shape):
        out.append(np.zeros_like(img) if n < 2 else np.gradient(img, axis=axis))
    return out, False


def features(hwc):
    img = hwc.transpose(2, 0, 1).astype(np.float64) / 255.0  # CHW in [0, 1]
    grads, numpy_gradient = gradients(img)
    return {
        'avg_brightness': float(np.mean(img)),
        'contrast': float(np.std(img)),
        'sharpness': float(np.mean([np.mean(np.abs(g)) for g in grads])),
    }, numpy_gradient


def main():
    cases = []
    for name, height, width, formula, overrides in CASES:
        hwc = pixels(height, width, formula, overrides)
        feats, numpy_gradient = features(hwc)
        cases.append({
            'name': name,
            'height': height,
            'width': width,
            'formula': formula,
            'set': overrides,
            'numpy_gradient': numpy_gradient,
            'byte_sum': int(hwc.astype(np.int64).sum()),
            'features': feats,
        })
    doc = {
        'generator': 'scripts/make-drift-fixture.py',
        'formula_version': FORMULA_VERSION,
        'numpy': np.__version__,
        'cases': cases,
    }
    with open(OUT, 'w') as fh:
        json.dump(doc, fh, indent=1)
        fh.write('\n')
    print(f'wrote {os.path.relpath(OUT)} ({len(cases)} cases)')


if __name__ == '__main__':
    main()
