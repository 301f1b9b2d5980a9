// decodeImage lets libjpeg decode large JPEGs at 1/2, 1/4 or 1/8 of their
// size (sharp's shrink-on-load) before the resize. Its pixels must stay those
// of the full-size decode + the same resize, up to the difference between
// libjpeg's scaled decode and the resize's filter, whatever the image's size
// or EXIF orientation; and the batch of decoded images is their concatenation.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { decodeImage, stackImages } from '../src/image/index.ts';
import { patternPixels } from './helpers/images.ts';

const SIZE = 128;

/** patternPixels with fine stripes on top, whose period shrinks to 4-8 pixels at SIZE: what a too coarse decode or resize smears. */
function texturedPixels(width: number, height: number): Buffer {
  const pixels = patternPixels(width, height, 3);
  const period = Math.min(width, height) / SIZE * 6;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const stripe = Math.sin((2 * Math.PI * (x + 0.5 * y)) / period) * 40;
      for (let c = 0; c < 3; c++) {
        const i = (y * width + x) * 3 + c;
        pixels[i] = Math.max(0, Math.min(255, pixels[i]! * 0.7 + 38 + stripe));
      }
    }
  }
  return pixels;
}

/** The full-size decode (oriented as EXIF says), then the same resize as decodeImage's. */
async function fullDecodeThenResize(jpeg: Buffer): Promise<Buffer> {
  const { data, info } = await sharp(jpeg).rotate().raw().toBuffer({ resolveWithObject: true });
  return sharp(data, { raw: { width: info.width, height: info.height, channels: 3 } }).resize(SIZE, SIZE, { fit: 'fill' }).raw().toBuffer();
}

function differences(a: Uint8Array, b: Uint8Array): { mean: number; farOff: number } {
  assert.equal(a.length, b.length);
  let sum = 0;
  let far = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > 16) far++;
  }
  return { mean: sum / a.length, farOff: far / a.length };
}

test('shrink-on-load keeps decodeImage within a few levels of the full decode + resize', async () => {
  // Shrink factors from 3.3 (a 1/2 decode) to 31 (1/8), and EXIF
  // orientations that swap the axes (6) and mirror them (8).
  for (const [width, height, orientation] of [[640, 427, 1], [1024, 768, 1], [4000, 3000, 1], [1200, 900, 6], [2000, 1000, 8]] as const) {
    const jpeg = await sharp(texturedPixels(width, height), { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .withMetadata({ orientation })
      .toBuffer();
    const what = `${width}x${height}, orientation ${orientation}`;
    const { mean, farOff } = differences(await decodeImage(jpeg, { size: SIZE }), await fullDecodeThenResize(jpeg));
    // Measured with sharp 0.34: means of 0.3-0.7 levels, 2.1 for the 1/2
    // decode of 640x427 (its stripes are near the output's resolution), and
    // 0.13% of bytes more than 16 off at most. The nearest-neighbour resize
    // is 2.7-8.8 levels off, a wrongly oriented image ~80.
    assert.ok(mean <= 3, `${what}: mean |difference| ${mean.toFixed(3)} > 3 levels`);
    assert.ok(farOff <= 0.01, `${what}: ${(farOff * 100).toFixed(2)}% of the bytes are more than 16 levels off (> 1%)`);
  }
});

test('stackImages concatenates equally sized images and names the one that differs', () => {
  const images = [1, 2, 3].map((v) => new Uint8Array(12).map((_, i) => v * 16 + i));
  const batch = stackImages(images);
  assert.deepEqual([...batch], images.flatMap((image) => [...image]));
  assert.equal(stackImages([]).byteLength, 0);
  assert.throws(() => stackImages([images[0]!, new Uint8Array(11)]), { name: 'RangeError', message: 'image 1 has 11 bytes, expected 12' });
});
