// Per-image drift features, the seed's three numbers, computed straight from
// sharp's raw HWC bytes without building the float CHW tensor.
import { expectInteger, invalid } from '../util/index.js';

/** The side of the square image the seed computed drift features on (training and serving alike). */
export const DRIFT_IMAGE_SIZE = 128;

/** The seed's per-image drift features; see {@link driftFeatures}. */
export interface DriftFeatures {
  avg_brightness: number;
  contrast: number;
  sharpness: number;
}

/**
 * Computes the drift features of one RGB image, as the seed computed them from
 * the CHW float image `img` (shape `[3, height, width]`, values `x / 255`):
 *
 * - `avg_brightness` = `np.mean(img)`
 * - `contrast` = `np.std(img)` (population standard deviation, ddof 0)
 * - `sharpness` = `np.mean([np.mean(np.abs(g)) for g in np.gradient(img)])`:
 *   `np.gradient` differentiates along all three axes (channel, row, column)
 *   with central differences `(f[i+1] - f[i-1]) / 2` inside and one-sided
 *   first differences `f[1] - f[0]`, `f[n-1] - f[n-2]` at the two edges.
 *
 * One deliberate extension: NumPy refuses an axis of length 1 (it needs two
 * samples), while here the gradient along such an axis is 0 — nothing varies
 * along it — and still counts as one of the three averaged axes. So a 1×N
 * image has a sharpness, where the seed would have raised. Callers resize to
 * the training image size first (128×128 in the seed), where the question
 * does not arise.
 *
 * `pixels` is HWC-interleaved uint8 RGB (sharp's `raw()` output with 3
 * channels), `width * height * 3` bytes. Every sum is over integers and so is
 * exact in float64; the variance is formed from exact integer moments, so a
 * nearly flat image does not lose its contrast to cancellation.
 */
export function driftFeatures(pixels: Uint8Array, width: number, height: number): DriftFeatures {
  expectInteger(width, 'width', 1);
  expectInteger(height, 'height', 1);
  if (!(pixels instanceof Uint8Array)) throw invalid('pixels', 'a Uint8Array of HWC RGB bytes', pixels);
  const count = width * height * 3;
  if (pixels.length !== count) {
    throw invalid('pixels', `${count} bytes (width ${width} x height ${height} x 3 channels)`, pixels);
  }

  const stride = width * 3;
  let sum = 0;
  let sumSquares = 0;
  // Gradient sums are kept doubled, 2 * sum(|g|), so that both the halved
  // central differences and the whole edge differences stay integers.
  let channel2 = 0;
  let row2 = 0;
  let column2 = 0;

  for (let y = 0; y < height; y++) {
    const row = y * stride;
    // Clamping the neighbours to the image gives the one-sided difference at
    // an edge, and 0 along a length-1 axis.
    const above = y > 0 ? row - stride : row;
    const below = y < height - 1 ? row + stride : row;
    const rowWeight = y > 0 && y < height - 1 ? 1 : 2;

    // Channel gradient, row gradient and the moments in one sweep of the row.
    let rowSum = 0;
    for (let i = row, end = row + stride; i < end; i += 3) {
      const r = pixels[i]!;
      const g = pixels[i + 1]!;
      const b = pixels[i + 2]!;
      sum += r + g + b;
      sumSquares += r * r + g * g + b * b;
      channel2 += 2 * Math.abs(g - r) + Math.abs(b - r) + 2 * Math.abs(b - g);
      const up = i - row + above;
      const down = i - row + below;
      rowSum += Math.abs(pixels[down]! - pixels[up]!)
        + Math.abs(pixels[down + 1]! - pixels[up + 1]!)
        + Math.abs(pixels[down + 2]! - pixels[up + 2]!);
    }
    row2 += rowWeight * rowSum;

    if (width > 1) {
      let inner = 0;
      for (let i = row + 3, end = row + stride - 3; i < end; i++) {
        inner += Math.abs(pixels[i + 3]! - pixels[i - 3]!);
      }
      let edges = 0;
      for (let c = 0; c < 3; c++) {
        edges += Math.abs(pixels[row + 3 + c]! - pixels[row + c]!);
        edges += Math.abs(pixels[row + stride - 3 + c]! - pixels[row + stride - 6 + c]!);
      }
      column2 += inner + 2 * edges;
    }
  }

  const scale = 255;
  // count * sumSquares - sum^2 is an exact integer but can pass 2^53 for
  // large images; BigInt keeps it exact for two operations per image.
  const spread = Number(BigInt(count) * BigInt(sumSquares) - BigInt(sum) * BigInt(sum));
  return {
    avg_brightness: sum / count / scale,
    contrast: Math.sqrt(spread) / count / scale,
    sharpness: (channel2 + row2 + column2) / (2 * 3 * count * scale),
  };
}
