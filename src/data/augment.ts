// Training-time augmentation on decoded uint8 HWC RGB images, seeded:
// horizontal flip and torchvision's RandomResizedCrop (area scale and
// aspect ratio ranges, 10 tries then a centre crop), resized back bilinearly.
import type { Random } from '../util/index.js';

export interface AugmentOptions {
  hflip: boolean;
  /** Range of the crop's area as a fraction of the image; null = no crop. */
  cropScale: readonly [number, number] | null;
  cropRatio: readonly [number, number];
}

interface Box {
  top: number;
  left: number;
  height: number;
  width: number;
}

export function sampleCrop(size: number, scale: readonly [number, number], ratio: readonly [number, number], random: Random): Box {
  const area = size * size;
  const logRatio = [Math.log(ratio[0]), Math.log(ratio[1])] as const;
  for (let attempt = 0; attempt < 10; attempt++) {
    const target = area * random.uniform(scale[0], scale[1]);
    const aspect = Math.exp(random.uniform(logRatio[0], logRatio[1]));
    const width = Math.round(Math.sqrt(target * aspect));
    const height = Math.round(Math.sqrt(target / aspect));
    if (width > 0 && width <= size && height > 0 && height <= size) {
      return { top: random.int(size - height + 1), left: random.int(size - width + 1), height, width };
    }
  }
  return { top: 0, left: 0, height: size, width: size };
}

/** Bilinear resize of a crop of `src` (size×size×3) into `dst` (size×size×3), optionally mirrored. */
function resample(src: Uint8Array, dst: Uint8Array, size: number, box: Box, mirror: boolean): void {
  const sy = box.height / size;
  const sx = box.width / size;
  for (let y = 0; y < size; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), box.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, box.height - 1);
    const wy = fy - y0;
    const row0 = (box.top + y0) * size;
    const row1 = (box.top + y1) * size;
    for (let x = 0; x < size; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), box.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, box.width - 1);
      const wx = fx - x0;
      const a = (row0 + box.left + x0) * 3;
      const b = (row0 + box.left + x1) * 3;
      const c = (row1 + box.left + x0) * 3;
      const d = (row1 + box.left + x1) * 3;
      const out = (y * size + (mirror ? size - 1 - x : x)) * 3;
      for (let ch = 0; ch < 3; ch++) {
        const top = src[a + ch]! + (src[b + ch]! - src[a + ch]!) * wx;
        const bottom = src[c + ch]! + (src[d + ch]! - src[c + ch]!) * wx;
        dst[out + ch] = Math.round(top + (bottom - top) * wy);
      }
    }
  }
}

function mirrorInto(src: Uint8Array, dst: Uint8Array, size: number): void {
  for (let y = 0; y < size; y++) {
    const row = y * size * 3;
    for (let x = 0; x < size; x++) {
      const from = row + x * 3;
      const to = row + (size - 1 - x) * 3;
      dst[to] = src[from]!;
      dst[to + 1] = src[from + 1]!;
      dst[to + 2] = src[from + 2]!;
    }
  }
}

/** Writes an augmented copy of `src` into `dst` (both size×size×3). */
export function augmentInto(src: Uint8Array, dst: Uint8Array, size: number, options: AugmentOptions, random: Random): void {
  const mirror = options.hflip && random.next() < 0.5;
  if (options.cropScale) {
    resample(src, dst, size, sampleCrop(size, options.cropScale, options.cropRatio, random), mirror);
  } else if (mirror) {
    mirrorInto(src, dst, size);
  } else {
    dst.set(src);
  }
}
