// Preprocessing shared by training, prediction and serving (DESIGN.md):
// decode, apply EXIF rotation, convert to sRGB, drop alpha, resize to a
// square. Scaling to [0,1] and mean/std normalisation happen natively.
import sharp from 'sharp';
import { ACCEPTED_FORMAT_NAMES, isImageFormat } from './formats.js';

export type ImageInput = string | Uint8Array;

export interface DecodeOptions {
  /** Output side in pixels. */
  size: number;
  /** Largest accepted width*height of the encoded image (sharp's limitInputPixels). */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 40_000_000;

export type ImageErrorCode = 'ERR_IMAGE_UNREADABLE' | 'ERR_IMAGE_TOO_LARGE' | 'ERR_IMAGE_UNSUPPORTED' | 'ERR_IMAGE_NOT_FOUND';

export class ImageDecodeError extends Error {
  constructor(
    message: string,
    readonly code: ImageErrorCode,
  ) {
    super(message);
  }
}

/**
 * Gives each libvips operation one thread: torchdog decodes many small images
 * at once, which scales better than few decodes with many threads each. The
 * CLI calls this; a library user decides for their own process.
 */
export function useSingleThreadedDecodes(): void {
  sharp.concurrency(1);
}

function describeInput(input: ImageInput): string {
  return typeof input === 'string' ? input : `image of ${input.byteLength} bytes`;
}

function classify(error: Error, input: ImageInput): ImageDecodeError {
  const what = describeInput(input);
  const message = error.message;
  if ((error as NodeJS.ErrnoException).code === 'ENOENT' || /Input file is missing/.test(message)) {
    return new ImageDecodeError(`${what}: no such file`, 'ERR_IMAGE_NOT_FOUND');
  }
  if (/pixel limit/i.test(message)) {
    return new ImageDecodeError(`${what}: image dimensions exceed the pixel limit`, 'ERR_IMAGE_TOO_LARGE');
  }
  if (/unsupported image format/i.test(message)) {
    return new ImageDecodeError(`${what}: not an image format torchdog reads (${ACCEPTED_FORMAT_NAMES})`, 'ERR_IMAGE_UNSUPPORTED');
  }
  return new ImageDecodeError(`${what}: cannot decode image (${message})`, 'ERR_IMAGE_UNREADABLE');
}

/** Decodes one image to `size`×`size`×3 uint8 RGB (HWC). */
export async function decodeImage(input: ImageInput, options: DecodeOptions): Promise<Uint8Array> {
  const { size, maxPixels = DEFAULT_MAX_PIXELS } = options;
  try {
    const image = sharp(input, { limitInputPixels: maxPixels, failOn: 'error', sequentialRead: true });
    const { format } = await image.metadata();
    // Formats sharp decodes but torchdog does not take (SVG, PDF, raw pixel
    // dumps, …) are refused before decoding.
    if (!isImageFormat(format)) {
      throw new ImageDecodeError(
        `${describeInput(input)}: format '${format ?? 'unknown'}' is not accepted (${ACCEPTED_FORMAT_NAMES})`,
        'ERR_IMAGE_UNSUPPORTED',
      );
    }
    const { data, info } = await image
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .resize(size, size, { fit: 'fill' })
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3 || info.width !== size || info.height !== size) {
      throw new Error(`unexpected decode result ${info.width}x${info.height}x${info.channels}`);
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw classify(error as Error, input);
  }
}

/** Resizes `size`×`size`×3 RGB pixels (HWC) to `to`×`to`, as decodeImage resizes. */
export async function resizePixels(pixels: Uint8Array, size: number, to: number): Promise<Uint8Array> {
  if (pixels.byteLength !== size * size * 3) throw new RangeError(`pixels: ${pixels.byteLength} bytes is not ${size}x${size}x3`);
  const data = await sharp(pixels, { raw: { width: size, height: size, channels: 3 } }).resize(to, to, { fit: 'fill' }).raw().toBuffer();
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Concatenates equally sized HWC images into one NHWC batch. */
export function stackImages(images: readonly Uint8Array[]): Uint8Array {
  const each = images[0]?.byteLength ?? 0;
  const batch = new Uint8Array(each * images.length);
  images.forEach((image, i) => {
    if (image.byteLength !== each) throw new RangeError(`image ${i} has ${image.byteLength} bytes, expected ${each}`);
    batch.set(image, i * each);
  });
  return batch;
}
