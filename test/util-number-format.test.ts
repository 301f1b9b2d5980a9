// The one number format of the HTML reports (training and drift).
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { formatNumber, formatPercent } from '../src/util/number-format.ts';

test('formatNumber: integers exactly, four significant digits, exponents at the extremes, symbols for non-finite', () => {
  const cases: [number, string][] = [
    [0, '0'], [-0, '0'], [4, '4'], [-12, '-12'], [12345, '12345'], [123456789, '123456789'],
    [0.85, '0.85'], [1 / 3, '0.3333'], [2 / 3, '0.6667'], [0.001, '0.001'], [-0.05, '-0.05'],
    [150.123, '150.1'], [1234.567, '1235'], [99999.4, '100000'],
    [123456.78, '1.23e+5'], [-23456789.5, '-2.35e+7'], [-2.345678e7, '-23456780'], [1e21, '1e+21'], [2 ** 60, '1.15e+18'],
    [0.0001, '1e-4'], [3e-4, '3e-4'], [0.000012345, '1.23e-5'], [-9.999e-4, '-1e-3'], [5e-324, '5e-324'],
    [NaN, 'NaN'], [Infinity, '∞'], [-Infinity, '−∞'],
  ];
  for (const [value, expected] of cases) assert.equal(formatNumber(value), expected, `formatNumber(${value})`);
});

test('formatPercent: a share with the decimals asked for; non-finite as formatNumber writes it', () => {
  assert.equal(formatPercent(0.25), '25.0%');
  assert.equal(formatPercent(0.8567, 0), '86%');
  assert.equal(formatPercent(1, 0), '100%');
  assert.equal(formatPercent(0.12345, 2), '12.35%');
  assert.equal(formatPercent(0), '0.0%');
  assert.equal(formatPercent(NaN), 'NaN');
  assert.equal(formatPercent(Infinity), '∞');
  assert.equal(formatPercent(-Infinity, 0), '−∞');
});
