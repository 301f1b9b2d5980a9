// Test images made on the fly, so no binary fixtures live in git.
import sharp from 'sharp';

/** Deterministic RGB pixels: a gradient plus a coloured square whose place depends on `seed`. */
export function patternPixels(width: number, height: number, seed: number): Buffer {
  const pixels = Buffer.alloc(width * height * 3);
  const sx = (seed * 37) % Math.max(1, width - width / 3);
  const sy = (seed * 53) % Math.max(1, height - height / 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const inSquare = x >= sx && x < sx + width / 3 && y >= sy && y < sy + height / 3;
      pixels[i] = inSquare ? 220 : (x * 255) / width;
      pixels[i + 1] = inSquare ? (seed * 40) % 256 : (y * 255) / height;
      pixels[i + 2] = inSquare ? 30 : ((x + y + seed * 10) * 255) / (width + height);
    }
  }
  return pixels;
}

export async function encodeImage(format: 'jpeg' | 'png' | 'webp', width: number, height: number, seed = 0): Promise<Buffer> {
  const image = sharp(patternPixels(width, height, seed), { raw: { width, height, channels: 3 } });
  return image.toFormat(format).toBuffer();
}

/** Uniform random uint8 NHWC pixels from a seeded generator. */
export function randomPixels(count: number, size: number, seed: number): Uint8Array {
  let state = seed >>> 0 || 1;
  const out = new Uint8Array(count * size * size * 3);
  for (let i = 0; i < out.length; i++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}
