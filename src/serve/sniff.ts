// What an upload is, from its first bytes: clients' declared types and file
// names are hints at best, so only the magic numbers decide (415 otherwise).

export type SniffedType = 'jpeg' | 'png' | 'gif' | 'webp' | 'tiff' | 'avif' | 'heif';

const ISO_BMFF_BRANDS: Record<string, SniffedType> = {
  avif: 'avif', avis: 'avif',
  heic: 'heif', heix: 'heif', heim: 'heif', heis: 'heif', hevc: 'heif', hevx: 'heif', mif1: 'heif', msf1: 'heif',
};

function ascii(bytes: Uint8Array, start: number, end: number): string {
  return String.fromCharCode(...bytes.subarray(start, end));
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((b, i) => bytes[i] === b);
}

/** The image format the bytes announce, or null for anything we do not take. */
export function sniffImageType(bytes: Uint8Array): SniffedType | null {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (bytes.length >= 6 && (ascii(bytes, 0, 6) === 'GIF87a' || ascii(bytes, 0, 6) === 'GIF89a')) return 'gif';
  if (bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP') return 'webp';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (bytes.length >= 12 && ascii(bytes, 4, 8) === 'ftyp') return ISO_BMFF_BRANDS[ascii(bytes, 8, 12)] ?? null;
  return null;
}
