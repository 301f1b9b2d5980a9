// Whatever a client sends, /predict answers 200 or a JSON 4xx, and the
// service still classifies a good image afterwards.
import { after, before, test } from './helpers/harness.ts';
import assert from 'node:assert/strict';
import { crc32 } from 'node:zlib';
import sharp from 'sharp';
import type { Classifier } from '../src/index.ts';
import { createApp, type TorchdogApp } from '../src/serve/index.ts';
import { encodeImage } from './helpers/images.ts';
import { form, post, testClassifier } from './helpers/serve.ts';

let classifier: Classifier;
let app: TorchdogApp;
let seeds: Buffer[];

before(async () => {
  classifier = await testClassifier();
  app = createApp({ classifier, logger: null, maxBodyBytes: 1024 * 1024, maxWaitMs: 2 });
  seeds = [
    await encodeImage('jpeg', 80, 60, 1),
    await encodeImage('jpeg', 33, 47, 2),
    await encodeImage('png', 64, 64, 3),
    await encodeImage('png', 40, 90, 4),
  ];
});

after(async () => {
  await app.shutdown();
  await classifier.dispose();
});

/** Checks one answer: a 200 prediction or a JSON 4xx error, never anything else. */
async function assertSane(response: Response, what: string): Promise<number> {
  const text = await response.text();
  const status = response.status;
  assert.ok(status === 200 || (status >= 400 && status < 500), `${what}: status ${status} ${text.slice(0, 200)}`);
  assert.match(response.headers.get('content-type') ?? '', /^application\/json/, what);
  const body = JSON.parse(text);
  if (status === 200) {
    assert.ok(typeof body.category === 'string' && typeof body.probability === 'number', what);
  } else {
    assert.deepEqual(Object.keys(body), ['error'], what);
    assert.match(body.error.code, /^ERR_[A-Z_]+$/, what);
  }
  return status;
}

async function assertStillServes(): Promise<void> {
  const res = await app.request('/predict', post(form('data', seeds[0]!)));
  assert.equal(res.status, 200);
  assert.equal((await res.json()).category, (await classifier.predict(seeds[0]!)).category);
}

/** A PNG whose IHDR claims width x height; with `complete`, an IDAT and IEND follow (else it ends after IHDR). */
function pngHeader(width: number, height: number, complete = true): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 6, 0, 0, 0], 8);
  const head = Buffer.from([0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), ihdr])), 0);
  const header = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), head, ihdr, crc]);
  if (!complete) return header;
  const idat = Buffer.from([0, 0, 0, 9, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0, 0, 0, 1, 0, 1]);
  const idatCrc = Buffer.alloc(4);
  idatCrc.writeUInt32BE(crc32(idat.subarray(4)), 0);
  const iend = Buffer.from([0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
  return Buffer.concat([header, idat, idatCrc, iend]);
}

test('named hostile inputs', async () => {
  const jpeg = seeds[0]!;
  const gifBomb = gifClaiming(await sharp(Buffer.alloc(4 * 4 * 3, 128), { raw: { width: 4, height: 4, channels: 3 } }).gif().toBuffer(), 65535, 65535);
  const cases: [string, RequestInit, number][] = [
    ['empty body', post(new Uint8Array(0)), 400],
    ['text', post('just some words', { 'content-type': 'text/plain' }), 415],
    ['text claiming to be a jpeg', post('just some words', { 'content-type': 'image/jpeg' }), 415],
    ['truncated jpeg', post(jpeg.subarray(0, jpeg.length >> 1), { 'content-type': 'image/jpeg' }), 400],
    ['jpeg magic only', post(Buffer.from([0xff, 0xd8, 0xff])), 400],
    ['png claiming 100000x100000', post(pngHeader(100_000, 100_000)), 413],
    ['png header alone claiming 100000x100000', post(pngHeader(100_000, 100_000, false)), 400],
    ['png claiming 0x0', post(pngHeader(0, 0)), 400],
    ['png claiming 2^31 wide', post(pngHeader(2 ** 31 - 1, 1)), 413],
    ['gif claiming 65535x65535', post(gifBomb), 413],
    ['oversized body', post(Buffer.alloc(2 * 1024 * 1024, 0xd8)), 413],
    ['oversized multipart', post(form('data', Buffer.alloc(2 * 1024 * 1024))), 413],
    ['missing field', post(form('picture', jpeg)), 400],
    ['multipart without boundary', post('x', { 'content-type': 'multipart/form-data' }), 400],
    ['multipart with the wrong boundary', post(`--a\r\nContent-Disposition: form-data; name="data"\r\n\r\nxx\r\n--a--\r\n`, { 'content-type': 'multipart/form-data; boundary=b' }), 400],
    ['json body', post(JSON.stringify({ image: 'aGVsbG8=' }), { 'content-type': 'application/json' }), 415],
    ['urlencoded form', post('data=%FF%D8%FF', { 'content-type': 'application/x-www-form-urlencoded' }), 415],
    ['image as a text field', post((() => { const f = new FormData(); f.append('data', jpeg.toString('latin1')); return f; })()), 415],
    ['zeros', post(Buffer.alloc(5000)), 415],
    ['html', post('<!doctype html><script>alert(1)</script>', { 'content-type': 'image/png' }), 415],
  ];
  for (const [name, init, expected] of cases) {
    const res = await app.request('/predict', init);
    const status = await assertSane(res.clone(), name);
    assert.equal(status, expected, `${name}: ${await res.text()}`);
  }
  await assertStillServes();
});

/** Rewrites a GIF's screen and first frame to claim width x height. */
function gifClaiming(gif: Buffer, width: number, height: number): Buffer {
  const b = Buffer.from(gif);
  b.writeUInt16LE(width, 6);
  b.writeUInt16LE(height, 8);
  let at = 13 + (b[10]! & 0x80 ? 3 * 2 ** ((b[10]! & 7) + 1) : 0);
  while (b[at] === 0x21) {
    at += 2;
    while (b[at]! > 0) at += b[at]! + 1;
    at++;
  }
  assert.equal(b[at], 0x2c, 'image descriptor');
  b.writeUInt16LE(width, at + 5);
  b.writeUInt16LE(height, at + 7);
  return b;
}

/** xorshift32: the same mutations on every run. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n) };
}

function mutate(source: Buffer, r: ReturnType<typeof rng>): { bytes: Buffer; how: string } {
  const b = Buffer.from(source);
  switch (r.int(7)) {
    case 0: {
      const n = 1 + r.int(20);
      for (let i = 0; i < n; i++) b[r.int(b.length)] = r.int(256);
      return { bytes: b, how: `${n} random bytes` };
    }
    case 1: {
      const n = 1 + r.int(6);
      for (let i = 0; i < n; i++) b[r.int(Math.min(b.length, 64))] = r.int(256);
      return { bytes: b, how: `${n} header bytes` };
    }
    case 2: {
      const at = r.int(b.length);
      return { bytes: b.subarray(0, at), how: `truncated at ${at}` };
    }
    case 3: {
      const at = r.int(b.length);
      const junk = Buffer.from(Array.from({ length: 1 + r.int(200) }, () => r.int(256)));
      return { bytes: Buffer.concat([b.subarray(0, at), junk, b.subarray(at)]), how: `${junk.length} bytes inserted at ${at}` };
    }
    case 4: {
      const from = r.int(b.length);
      const to = Math.min(b.length, from + 1 + r.int(500));
      return { bytes: Buffer.concat([b.subarray(0, to), b.subarray(from)]), how: `bytes ${from}..${to} repeated` };
    }
    case 5: {
      // Dimensions: PNG IHDR at 16, JPEG SOF0 wherever it is.
      const big = () => r.int(65536);
      if (b[0] === 0x89) {
        b.writeUInt32BE(big() * (1 + r.int(4)), 16);
        b.writeUInt32BE(big(), 20);
      } else {
        const sof = b.indexOf(Buffer.from([0xff, 0xc0]));
        if (sof > 0) {
          b.writeUInt16BE(big(), sof + 5);
          b.writeUInt16BE(big(), sof + 7);
        }
      }
      return { bytes: b, how: 'dimensions rewritten' };
    }
    default: {
      const other = seeds[r.int(seeds.length)]!;
      const cut = r.int(Math.min(b.length, other.length));
      return { bytes: Buffer.concat([b.subarray(0, cut), other.subarray(cut)]), how: `spliced at ${cut}` };
    }
  }
}

test('hundreds of randomly mutated JPEG and PNG files: only 200 or JSON 4xx', async () => {
  const r = rng(20240601);
  const counts = new Map<number, number>();
  const total = 320;
  const concurrency = 8;
  for (let i = 0; i < total; i += concurrency) {
    await Promise.all(
      Array.from({ length: Math.min(concurrency, total - i) }, async (_, j) => {
        const source = seeds[(i + j) % seeds.length]!;
        const { bytes, how } = mutate(source, r);
        const asMultipart = r.next() < 0.5;
        const res = await app.request('/predict', asMultipart ? post(form('data', bytes)) : post(bytes, { 'content-type': 'image/jpeg' }));
        const status = await assertSane(res, `mutation ${i + j} (${how})`);
        counts.set(status, (counts.get(status) ?? 0) + 1);
      }),
    );
  }
  // Both outcomes occur: the mutations are neither all harmless nor all fatal.
  assert.ok((counts.get(200) ?? 0) > 10, JSON.stringify([...counts]));
  assert.ok((counts.get(400) ?? 0) > 10, JSON.stringify([...counts]));
  await assertStillServes();
  const ready = await app.request('/ready');
  assert.equal(ready.status, 200);
});

test('multipart: a body of tens of thousands of empty parts is refused at the part cap, not parsed to its end; two image parts are a 400 naming them', async () => {
  const boundary = 'b0undary';
  const type = { 'content-type': `multipart/form-data; boundary=${boundary}` };
  const empty = `--${boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n\r\n`.repeat(15_000) + `--${boundary}--\r\n`;
  const many = await app.request('/predict', post(empty, type));
  assert.equal(many.status, 400);
  const manyBody = await many.json();
  assert.equal(manyBody.error.code, 'ERR_BAD_MULTIPART');
  assert.match(manyBody.error.message, /more than 64 parts/);
  const bare = `--${boundary}\r\n\r\n\r\n`.repeat(60_000) + `--${boundary}--\r\n`;
  assert.ok(bare.length < 1024 * 1024);
  const bareBody = await (await app.request('/predict', post(bare, type))).json();
  assert.equal(bareBody.error.code, 'ERR_BAD_MULTIPART', JSON.stringify(bareBody));

  const two = new FormData();
  two.append('data', new Blob([seeds[0]!]), 'a.jpg');
  two.append('data', new Blob([seeds[2]!]), 'b.png');
  const twice = await app.request('/predict', post(two));
  assert.equal(twice.status, 400);
  assert.match((await twice.json()).error.message, /2 image parts \('data', 'data'\)/);
  const both = new FormData();
  both.append('file', new Blob([seeds[0]!]), 'a.jpg');
  both.append('data', new Blob([seeds[2]!]), 'b.png');
  assert.match((await (await app.request('/predict', post(both))).json()).error.message, /2 image parts \('file', 'data'\)/);

  const longHeader = `--${boundary}\r\nContent-Disposition: form-data; name="data"\r\nX-Pad: ${'p'.repeat(9000)}\r\n\r\n` + `x\r\n--${boundary}--\r\n`;
  assert.match((await (await app.request('/predict', post(longHeader, type))).json()).error.message, /headers exceed 8192 bytes/);
  // A preamble, header case, quoting and other fields beside the image: still the image.
  const fine = Buffer.concat([
    Buffer.from(`preamble\r\n--${boundary}\r\ncontent-disposition: form-data; name="note"\r\n\r\nhello\r\n--${boundary}\r\nCONTENT-DISPOSITION: form-data; name=data; filename="a \\"b\\".jpg"\r\nContent-Type: image/jpeg\r\n\r\n`),
    seeds[0]!,
    Buffer.from(`\r\n--${boundary}--`),
  ]);
  const ok = await app.request('/predict', post(fine, type));
  assert.equal(ok.status, 200, await ok.clone().text());
  assert.equal((await ok.json()).category, (await classifier.predict(seeds[0]!)).category);
});
