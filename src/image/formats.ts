// The image formats torchdog takes, written once: their names, how messages
// name them, and how to tell them from their first bytes. The decoder checks
// what sharp found against this list; the service sniffs uploads with it,
// because clients' declared types and file names are hints at best.

/** A format torchdog takes, by the name sharp's metadata gives it. */
export type ImageFormat = 'jpeg' | 'png' | 'webp' | 'gif' | 'tiff' | 'avif' | 'heif';

// ISO base media files (AVIF, HEIF) say what they are in the ftyp box's major brand.
const ISO_BMFF_BRANDS: Readonly<Record<string, ImageFormat>> = {
  avif: 'avif', avis: 'avif',
  heic: 'heif', heix: 'heif', heim: 'heif', heis: 'heif', hevc: 'heif', hevx: 'heif', mif1: 'heif', msf1: 'heif',
};

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return bytes.length >= end ? String.fromCharCode(...bytes.subarray(start, end)) : '';
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

interface FormatSpec {
  /** How error messages name it; null for one taken but not advertised. */
  readonly label: string | null;
  /** Whether the bytes begin as this format's files do. */
  readonly sniff: (bytes: Uint8Array) => boolean;
}

const FORMATS: Readonly<Record<ImageFormat, FormatSpec>> = {
  jpeg: { label: 'JPEG', sniff: (b) => startsWith(b, [0xff, 0xd8, 0xff]) },
  png: { label: 'PNG', sniff: (b) => startsWith(b, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]) },
  webp: { label: 'WebP', sniff: (b) => ascii(b, 0, 4) === 'RIFF' && ascii(b, 8, 12) === 'WEBP' },
  gif: { label: 'GIF', sniff: (b) => ascii(b, 0, 6) === 'GIF87a' || ascii(b, 0, 6) === 'GIF89a' },
  tiff: { label: 'TIFF', sniff: (b) => startsWith(b, [0x49, 0x49, 0x2a, 0x00]) || startsWith(b, [0x4d, 0x4d, 0x00, 0x2a]) },
  avif: { label: 'AVIF', sniff: (b) => isoBrand(b) === 'avif' },
  // sharp reports AVIF files as 'heif'; HEIC itself decodes only where
  // libheif has an HEVC decoder (not sharp's prebuilt one), so no message offers it.
  heif: { label: null, sniff: (b) => isoBrand(b) === 'heif' },
};

function isoBrand(bytes: Uint8Array): ImageFormat | undefined {
  return ascii(bytes, 4, 8) === 'ftyp' ? ISO_BMFF_BRANDS[ascii(bytes, 8, 12)] : undefined;
}

/** Every format taken, in the order messages list them. */
export const IMAGE_FORMATS = Object.keys(FORMATS) as readonly ImageFormat[];

/** The accepted formats as error messages name them: "JPEG, PNG, WebP, GIF, TIFF, AVIF". */
export const ACCEPTED_FORMAT_NAMES = IMAGE_FORMATS.map((f) => FORMATS[f].label).filter((l) => l !== null).join(', ');

/** Whether `name` (a format as sharp names it) is one torchdog takes. */
export function isImageFormat(name: string | undefined): name is ImageFormat {
  return name !== undefined && Object.hasOwn(FORMATS, name);
}

/** The image format the bytes announce, or null for anything torchdog does not take. */
export function sniffImageFormat(bytes: Uint8Array): ImageFormat | null {
  return IMAGE_FORMATS.find((f) => FORMATS[f].sniff(bytes)) ?? null;
}
