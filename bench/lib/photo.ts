// The request body the serving benchmarks post: a deterministic, photo-like
// 640x480 JPEG (or a file of the caller's), wrapped as the seed's clients send
// it (multipart/form-data, field `data`).
import sharp from 'sharp';

/** A photo-like 640x480 JPEG: smooth light, a few shapes and fine texture, the same bytes every run. */
export async function syntheticPhoto(): Promise<Buffer> {
  const width = 640;
  const height = 480;
  const pixels = Buffer.alloc(width * height * 3);
  let state = 0x9e3779b9;
  const noise = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return ((state >>> 0) / 2 ** 32 - 0.5) * 18;
  };
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const sky = y < height * 0.45;
      const dx = x - 400;
      const dy = y - 300;
      const bun = (dx * dx) / (200 * 200) + (dy * dy) / (60 * 60) < 1;
      const sausage = (dx * dx) / (230 * 230) + ((dy + 10) * (dy + 10)) / (28 * 28) < 1;
      const shade = 0.75 + 0.25 * Math.sin(x / 53) * Math.cos(y / 41);
      const [r, g, b] = sausage ? [150, 60, 40] : bun ? [215, 160, 90] : sky ? [120, 170, 225] : [70, 120, 60];
      pixels[i] = Math.max(0, Math.min(255, r * shade + noise()));
      pixels[i + 1] = Math.max(0, Math.min(255, g * shade + noise()));
      pixels[i + 2] = Math.max(0, Math.min(255, b * shade + noise()));
    }
  }
  return sharp(pixels, { raw: { width, height, channels: 3 } }).jpeg({ quality: 85 }).toBuffer();
}

export interface Upload {
  body: Buffer;
  contentType: string;
}

/** One image as multipart/form-data under `field` (default `data`, as the seed's clients post it). */
export function multipart(image: Buffer, field = 'data'): Upload {
  const boundary = 'torchdogbench7MA4YWxkTrZu0gW';
  const head = `--${boundary}\r\nContent-Disposition: form-data; name="${field}"; filename="photo.jpg"\r\nContent-Type: image/jpeg\r\n\r\n`;
  return {
    body: Buffer.concat([Buffer.from(head), image, Buffer.from(`\r\n--${boundary}--\r\n`)]),
    contentType: `multipart/form-data; boundary=${boundary}`,
  };
}
