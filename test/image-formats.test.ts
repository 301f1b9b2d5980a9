// The accepted image formats, written once (src/image/formats.ts): the
// service's sniffing and the decoder's check agree on them.
import { test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import sharp from 'sharp';
import { ACCEPTED_FORMAT_NAMES, decodeImage, IMAGE_FORMATS, isImageFormat, sniffImageFormat } from '../src/image/index.ts';
import { patternPixels } from './helpers/images.ts';

const raw = () => sharp(patternPixels(16, 12, 1), { raw: { width: 16, height: 12, channels: 3 } });

/** An ISO base media file header with `brand` as its major brand. */
function ftyp(brand: string): Uint8Array {
  return Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from(`ftyp${brand}`, 'ascii'), Buffer.alloc(12)]);
}

test('each format is told by its first bytes, whatever else the bytes are', async () => {
  const encoded: [string, Buffer][] = [
    ['jpeg', await raw().jpeg().toBuffer()],
    ['png', await raw().png().toBuffer()],
    ['webp', await raw().webp().toBuffer()],
    ['gif', await raw().gif().toBuffer()],
    ['tiff', await raw().tiff().toBuffer()],
    ['avif', await raw().avif().toBuffer()],
  ];
  for (const [format, bytes] of encoded) assert.equal(sniffImageFormat(bytes), format, format);
  assert.equal(sniffImageFormat(ftyp('heic')), 'heif');
  assert.equal(sniffImageFormat(ftyp('avis')), 'avif');
  assert.equal(sniffImageFormat(Buffer.from('MM\x00\x2a', 'latin1')), 'tiff');
});

test('anything else is null: BMP, SVG, text, other ISO brands, headers cut short', () => {
  const refused = [
    Buffer.from('BM' + '\0'.repeat(60), 'latin1'),
    Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'),
    Buffer.from('just some words'),
    ftyp('isom'),
    ftyp('qt  '),
    new Uint8Array([0xff, 0xd8]),
    Buffer.from('RIFF\0\0\0\0WAVE'),
    Buffer.from('GIF8'),
    new Uint8Array(0),
  ];
  for (const bytes of refused) assert.equal(sniffImageFormat(bytes), null, Buffer.from(bytes).toString('latin1'));
});

test('one list: the names in messages, and the check of what sharp found', async () => {
  assert.deepEqual(IMAGE_FORMATS, ['jpeg', 'png', 'webp', 'gif', 'tiff', 'avif', 'heif']);
  assert.equal(ACCEPTED_FORMAT_NAMES, 'JPEG, PNG, WebP, GIF, TIFF, AVIF');
  for (const f of IMAGE_FORMATS) assert.ok(isImageFormat(f));
  for (const f of ['svg', 'pdf', 'raw', 'bmp', undefined, 'constructor', 'toString']) assert.equal(isImageFormat(f), false, String(f));
  // sharp reads SVG, torchdog does not take it: refused by name, with the list.
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><rect width="8" height="8"/></svg>');
  await assert.rejects(decodeImage(svg, { size: 8 }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_IMAGE_UNSUPPORTED');
    assert.match(e.message, /format 'svg' is not accepted \(JPEG, PNG, WebP, GIF, TIFF, AVIF\)/);
    return true;
  });
});
