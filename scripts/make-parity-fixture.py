#!/usr/bin/python3
"""Writes test/fixtures/parity.json: what torchvision's ResNet18 answers for
closed-form weights and images, so test/parity.test.ts can check that the
native engine computes the same function without shipping any weights.

Run with Debian's interpreter, which has torch and torchvision:

    /usr/bin/python3 scripts/make-parity-fixture.py

The weight and image formulas are mirrored in test/helpers/parity-weights.ts;
change both together and bump FORMULA_VERSION.

Every value is built from +, -, *, %, floor and sqrt on float64, which IEEE 754
rounds identically in Python, NumPy and JavaScript, so both sides get the same
float64 bits (no libm sin/cos whose last bit may differ) and then the same
float32 after one round-to-nearest cast.
"""
import hashlib
import json
import math
import os
import sys

import numpy as np
import torch
import torchvision

FORMULA_VERSION = 1
# Weyl-sequence steps: irrational fractions (1/phi, plastic number - 1, sqrt2 - 1).
STEP_INDEX = 0.6180339887498949
STEP_SQUARE = 0.7548776662466927
STEP_TENSOR = 0.41421356237309515
SQUARE_MODULUS = 1009

NUM_CLASSES = 3
IMAGE_COUNT = 4
IMAGE_SIZE = 128
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]
THREADS = 1

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'test', 'fixtures', 'parity.json')


def unit(numel: int, tensor_index: int) -> np.ndarray:
    """u_i = frac(i*A + ((i*i) mod P)*B + t*C), i = 0..numel-1, in [0, 1), float64."""
    i = np.arange(numel, dtype=np.int64)
    square = ((i * i) % SQUARE_MODULUS).astype(np.float64)
    s = i.astype(np.float64) * STEP_INDEX + square * STEP_SQUARE + tensor_index * STEP_TENSOR
    return s - np.floor(s)


def tensor_values(name: str, shape: list[int], tensor_index: int) -> np.ndarray:
    """The float64 value of every element, row-major, before the float32 cast."""
    numel = math.prod(shape)
    if name.endswith('num_batches_tracked'):
        return np.full(numel, 1000 + 7 * tensor_index, dtype=np.int64)
    s = 2.0 * unit(numel, tensor_index) - 1.0  # in [-1, 1), variance ~1/3
    kind = name.rsplit('.', 1)[1]
    is_bn = len(shape) == 1 and not name.startswith('fc.')
    if kind == 'weight' and len(shape) > 1:
        fan_in = math.prod(shape[1:])
        # Uniform on [-a, a] has std a/sqrt(3): a = sqrt(6/fan_in) gives He's sqrt(2/fan_in).
        # The pooled features are large and alike across images, so the classifier is
        # much smaller, keeping logits within a few units and probabilities off 0 and 1.
        gain = 0.25 if name.startswith('fc.') else 6.0
        return s * math.sqrt(gain / fan_in)
    if is_bn and kind == 'weight':
        return 1.0 + 0.2 * s
    if is_bn and kind == 'bias':
        return 0.1 * s
    if kind == 'running_mean':
        return 0.2 * s
    if kind == 'running_var':
        return 1.5 + 0.75 * s  # in [0.75, 2.25): positive, never 1 everywhere
    if name == 'fc.bias':
        return 0.05 * s
    raise ValueError(f'no formula for tensor {name} {shape}')


def images() -> np.ndarray:
    """uint8 NHWC RGB: v = (x*(3+n) + y*(5+2n) + c*(60+20n) + ((x*y*(n+1)) mod 97) + 41n) mod 256."""
    n, y, x, c = np.meshgrid(
        np.arange(IMAGE_COUNT), np.arange(IMAGE_SIZE), np.arange(IMAGE_SIZE), np.arange(3), indexing='ij')
    v = x * (3 + n) + y * (5 + 2 * n) + c * (60 + 20 * n) + (x * y * (n + 1)) % 97 + 41 * n
    return (v % 256).astype(np.uint8)


def sample_indices(numel: int) -> list[int]:
    return sorted({0, 1 % numel, numel // 2, numel - 1})


def main() -> None:
    torch.set_num_threads(THREADS)
    model = torchvision.models.resnet18(num_classes=NUM_CLASSES)
    state = model.state_dict()
    names = sorted(state.keys())
    new_state = {}
    tensors = []
    for t, name in enumerate(names):
        shape = list(state[name].shape)
        values = tensor_values(name, shape, t)
        if state[name].dtype == torch.int64:
            tensor = torch.from_numpy(values.astype(np.int64)).reshape(shape)
            flat = values.astype(np.int64)
            dtype = 'I64'
        else:
            flat = values.astype(np.float32)
            tensor = torch.from_numpy(flat.copy()).reshape(shape)
            dtype = 'F32'
        new_state[name] = tensor
        idx = sample_indices(flat.size)
        tensors.append({
            'name': name,
            'dtype': dtype,
            'shape': shape,
            # Exact values at a few indices and a hash of all bytes, so a mismatch
            # in the TS generator shows up before any forward pass is compared.
            'samples': {str(k): (int(flat[k]) if dtype == 'I64' else float(flat[k])) for k in idx},
            'sha256': hashlib.sha256(flat.astype('<i8' if dtype == 'I64' else '<f4').tobytes()).hexdigest(),
        })
    model.load_state_dict(new_state)
    model.eval()

    pixels = images()
    mean = torch.tensor(MEAN, dtype=torch.float32).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32).view(1, 3, 1, 1)
    x = (torch.from_numpy(pixels).permute(0, 3, 1, 2).float() / 255.0 - mean) / std
    with torch.no_grad():
        logits = model(x.contiguous())
        probabilities = torch.softmax(logits, dim=1)
        # The float64 twin bounds how much of any difference is float32 rounding alone.
        model64 = model.double()
        x64 = (torch.from_numpy(pixels).permute(0, 3, 1, 2).double() / 255.0 - mean.double()) / std.double()
        logits64 = model64(x64)
    f32_vs_f64 = float((logits.double() - logits64).abs().max())

    fixture = {
        'description': 'ResNet18 parity: torchvision eval-mode forward on closed-form weights and images. '
                       'Generated by scripts/make-parity-fixture.py; mirrored by test/helpers/parity-weights.ts.',
        'generator': {
            'torch': torch.__version__,
            'torchvision': torchvision.__version__,
            'threads': THREADS,
        },
        'formula': {
            'version': FORMULA_VERSION,
            'unit': 'u_i = frac(i*stepIndex + ((i*i) mod squareModulus)*stepSquare + t*stepTensor), '
                    't = index of the tensor name in the sorted state_dict names, s = 2u - 1',
            'stepIndex': STEP_INDEX,
            'stepSquare': STEP_SQUARE,
            'stepTensor': STEP_TENSOR,
            'squareModulus': SQUARE_MODULUS,
            'values': {
                'conv weight': 's * sqrt(6 / fan_in)',
                'fc.weight': 's * sqrt(0.25 / fan_in)',
                'fc.bias': '0.05 * s',
                'bn weight': '1 + 0.2 * s',
                'bn bias': '0.1 * s',
                'running_mean': '0.2 * s',
                'running_var': '1.5 + 0.75 * s',
                'num_batches_tracked': '1000 + 7 * t',
            },
            'cast': 'float64 -> float32, round to nearest even',
        },
        'images': {
            'count': IMAGE_COUNT,
            'height': IMAGE_SIZE,
            'width': IMAGE_SIZE,
            'layout': 'NHWC RGB uint8',
            'pixel': 'v = (x*(3+n) + y*(5+2n) + c*(60+20n) + ((x*y*(n+1)) mod 97) + 41n) mod 256',
            'sha256': hashlib.sha256(pixels.tobytes()).hexdigest(),
        },
        'numClasses': NUM_CLASSES,
        'normalization': {'mean': MEAN, 'std': STD},
        'float32VsFloat64MaxAbsLogit': f32_vs_f64,
        'logits': [[float(v) for v in row] for row in logits.tolist()],
        'probabilities': [[float(v) for v in row] for row in probabilities.tolist()],
        'tensors': tensors,
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(fixture, f, indent=1)
        f.write('\n')
    os.replace(tmp, OUT)
    print(f'wrote {os.path.normpath(OUT)}', file=sys.stderr)
    print('logits', logits.tolist(), file=sys.stderr)
    print('probabilities', probabilities.tolist(), file=sys.stderr)
    print(f'float32 vs float64 max |logit diff|: {f32_vs_f64:.3g}', file=sys.stderr)


if __name__ == '__main__':
    main()
