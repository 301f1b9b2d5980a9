// The request path around the forward pass, piece by piece: how an upload
// becomes the model's input, and what each way of doing it costs here.
//
//   node --import tsx bench/decode-path.ts [--image photo.jpg ...] [--size 128]
//        [--rounds 5] [--decodes 40] [--seconds 4] [--precision int8|fp32] [--parts decode,threads,copies]
//
// 1. decode: torchdog's decodeImage against the same pipeline with libjpeg's
//    shrink-on-load off (the full-size decode, then the resize), with sharp's
//    `fastShrinkOnLoad: false` (shrink-on-load that leaves a factor of two to
//    the resize) and without the metadata() probe before the decode; ms per
//    decode with one in flight and decodes/s with 8 in flight, the variants
//    taking turns round by round; and how far each one's pixels are from the
//    full decode + resize (mean and max |difference| in 0-255 levels).
// 2. threads: libvips threads per decode (sharp.concurrency) and libuv's pool
//    (UV_THREADPOOL_SIZE) against LibTorch's 2 intra-op threads: one child
//    process per setting decodes with 8 in flight while a batch-8 forward
//    pass runs back to back, as the service does under load; decodes/s and
//    forward img/s, together and each alone.
// 3. copies: what the copies between sharp's output and the batch cost
//    against the forward pass they feed.
//
// Photos: --image (repeatable); by default the synthetic 640x480 JPEG of the
// serving benchmarks, and a 4032x3024 JPEG made from it (a phone camera's
// size). Tables on stdout, one JSON line last.
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { decodeImage, stackImages, useSingleThreadedDecodes } from '../src/image/index.ts';
import { syntheticPhoto } from './lib/photo.ts';
import { ROOT } from './lib/services.ts';
import { integer, load1, median, positive, table } from './lib/stats.ts';

const { values } = parseArgs({
  options: {
    image: { type: 'string', multiple: true, default: [] },
    size: { type: 'string', default: '128' },
    rounds: { type: 'string', default: '5' },
    decodes: { type: 'string', default: '40' },
    seconds: { type: 'string', default: '4' },
    parts: { type: 'string', default: 'decode,threads,copies' },
    precision: { type: 'string', default: 'int8' },
    // One setting of part 2, run as a child process.
    child: { type: 'string' },
  },
});
const size = integer('size', values.size!, 8);
const precision = values.precision!;
if (!['fp32', 'int8'].includes(precision)) throw new RangeError(`--precision: expected fp32 or int8 but received '${precision}'`);
const log = (line: string) => process.stderr.write(`decode-path: ${line}\n`);

type Decode = (bytes: Uint8Array) => Promise<Uint8Array>;

/** decodeImage's pipeline, with what it asks of libjpeg made explicit. */
function pipeline(o: { preShrink: 'fast' | 'leave2' | 'off'; probe: boolean }): Decode {
  return async (bytes) => {
    const image = sharp(bytes, { failOn: 'error', sequentialRead: true });
    if (o.probe) await image.metadata();
    // A pipeline colourspace switches sharp's pre-shrink off (an sRGB JPEG
    // decodes to sRGB anyway, so nothing else changes).
    if (o.preShrink === 'off') image.pipelineColourspace('srgb');
    const data = await image
      .rotate()
      .toColourspace('srgb')
      .removeAlpha()
      .resize(size, size, { fit: 'fill', fastShrinkOnLoad: o.preShrink !== 'leave2' })
      .raw()
      .toBuffer();
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  };
}

const DECODES: Record<string, Decode> = {
  decodeImage: (bytes) => decodeImage(bytes, { size }),
  'shrink-on-load off': pipeline({ preShrink: 'off', probe: true }),
  'fastShrinkOnLoad: false': pipeline({ preShrink: 'leave2', probe: true }),
  'no metadata probe': pipeline({ preShrink: 'fast', probe: false }),
};

function difference(a: Uint8Array, b: Uint8Array): { mean: number; max: number } {
  let sum = 0;
  let max = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    sum += d;
    if (d > max) max = d;
  }
  return { mean: +(sum / a.length).toFixed(3), max };
}

async function inFlight(decode: Decode, bytes: Uint8Array, total: number, width: number): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: width }, async () => {
    while (next++ < total) await decode(bytes);
  }));
  return (total / (performance.now() - started)) * 1000;
}

async function photos(): Promise<{ name: string; bytes: Buffer }[]> {
  if (values.image!.length) return Promise.all(values.image!.map(async (p) => ({ name: basename(p), bytes: await readFile(p) })));
  const small = await syntheticPhoto();
  const large = await sharp(small).resize(4032, 3024).jpeg({ quality: 90 }).toBuffer();
  return [{ name: 'synthetic 640x480', bytes: small }, { name: 'synthetic 4032x3024', bytes: large }];
}

async function decodePart(rounds: number, decodes: number) {
  const out = [];
  for (const photo of await photos()) {
    const { width, height } = await sharp(photo.bytes).metadata();
    const reference = await DECODES['shrink-on-load off']!(photo.bytes);
    const names = Object.keys(DECODES);
    const ms = new Map<string, number[]>(names.map((n) => [n, []]));
    const rate = new Map<string, number[]>(names.map((n) => [n, []]));
    for (const n of names) await inFlight(DECODES[n]!, photo.bytes, 4, 1); // warm-up
    for (let r = 0; r < rounds; r++) {
      const order = names.map((_, i) => names[(i + r) % names.length]!);
      for (const n of order) {
        ms.get(n)!.push(1000 / (await inFlight(DECODES[n]!, photo.bytes, decodes, 1)));
        rate.get(n)!.push(await inFlight(DECODES[n]!, photo.bytes, decodes * 2, 8));
      }
    }
    const base = median(ms.get('decodeImage')!);
    for (const n of names) {
      const d = difference(await DECODES[n]!(photo.bytes), reference);
      out.push({
        image: `${photo.name} (${width}x${height}, ${photo.bytes.length} B)`, variant: n,
        ms: +median(ms.get(n)!).toFixed(3), vs_decodeImage: +(median(ms.get(n)!) / base).toFixed(3),
        per_s_8: +median(rate.get(n)!).toFixed(1), diff_mean: d.mean, diff_max: d.max,
      });
      log(`${photo.name} ${n}: ${ms.get(n)!.map((x) => x.toFixed(2)).join(' ')} ms; ${rate.get(n)!.map((x) => x.toFixed(0)).join(' ')} /s at 8`);
    }
  }
  return out;
}

/** Part 2 inside a child: decodes with 8 in flight beside back-to-back batch-8 forward passes. */
async function threadChild(concurrency: number, seconds: number): Promise<void> {
  sharp.concurrency(concurrency);
  const { createModel } = await import('../src/model/index.ts');
  const model = await createModel({ numClasses: 2, device: 'cpu', seed: 1, threads: 2 });
  await model.setTraining(false);
  const photo = (await photos())[0]!.bytes;
  const decode = (b: Uint8Array) => decodeImage(b, { size });
  const one = await decode(photo);
  const batch = stackImages(Array.from({ length: 8 }, () => one));
  const norm = { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
  const images = { data: batch, count: 8, height: size, width: size };
  if (precision === 'int8') await model.setPrecision('int8', await model.observeActivations(images, norm));
  const forward = () => model.forward(images, norm);
  await forward();
  await inFlight(decode, photo, 16, 8);
  const run = async (decoding: boolean, forwarding: boolean) => {
    let decoded = 0;
    let images = 0;
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all([
      ...(decoding ? Array.from({ length: 8 }, async () => {
        while (performance.now() < until) { await decode(photo); decoded++; }
      }) : []),
      (async () => {
        while (forwarding && performance.now() < until) { await forward(); images += 8; }
      })(),
    ]);
    const s = (performance.now() - started) / 1000;
    return { decodes_s: +(decoded / s).toFixed(1), forward_img_s: +(images / s).toFixed(1) };
  };
  const result = { decodeAlone: await run(true, false), forwardAlone: await run(false, true), together: await run(true, true) };
  await model.dispose();
  process.stdout.write(JSON.stringify(result) + '\n');
}

async function threadPart(rounds: number, seconds: number) {
  const settings = [
    { name: 'concurrency 1, pool 4 (the CLI)', concurrency: 1, pool: 4 },
    { name: 'concurrency 1, pool 2', concurrency: 1, pool: 2 },
    { name: 'concurrency 1, pool 1', concurrency: 1, pool: 1 },
    { name: 'concurrency 2, pool 4', concurrency: 2, pool: 4 },
  ];
  type R = { decodeAlone: { decodes_s: number }; forwardAlone: { forward_img_s: number }; together: { decodes_s: number; forward_img_s: number } };
  const results = new Map<string, R[]>(settings.map((s) => [s.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < settings.length; i++) {
      const s = settings[(i + r) % settings.length]!;
      const child = spawn(process.execPath, ['--import', 'tsx', 'bench/decode-path.ts', '--child', String(s.concurrency), '--seconds', String(seconds), '--precision', precision, '--size', String(size), ...values.image!.flatMap((p) => ['--image', p])], {
        cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, UV_THREADPOOL_SIZE: String(s.pool) },
      });
      let text = '';
      child.stdout.on('data', (d) => (text += d));
      await new Promise((resolve) => child.once('exit', resolve));
      const x = JSON.parse(text.trim().split('\n').pop()!) as R;
      results.get(s.name)!.push(x);
      log(`${s.name}: ${JSON.stringify(x)}, load ${load1()}`);
    }
  }
  return settings.map((s) => {
    const list = results.get(s.name)!;
    const m = (f: (x: R) => number) => +median(list.map(f)).toFixed(1);
    return {
      setting: s.name,
      decodes_alone: m((x) => x.decodeAlone.decodes_s), forward_alone: m((x) => x.forwardAlone.forward_img_s),
      decodes_together: m((x) => x.together.decodes_s), forward_together: m((x) => x.together.forward_img_s),
    };
  });
}

/**
 * Part 3: the copy in TypeScript between sharp's buffers and the batch
 * (stackImages), per batch size. A lone image now goes to the engine without
 * it (Classifier); the addon's own copy of the batch is not TypeScript's to
 * remove. An unzeroed batch (Buffer.allocUnsafeSlow) measured no better.
 */
function copyPart() {
  const each = size * size * 3;
  const images = Array.from({ length: 32 }, (_, i) => new Uint8Array(each).fill(i));
  const time = (f: () => unknown) => {
    const reps = 2000;
    for (let i = 0; i < 200; i++) f();
    const started = performance.now();
    for (let i = 0; i < reps; i++) f();
    return ((performance.now() - started) / reps) * 1000;
  };
  return [1, 8, 32].map((n) => {
    const list = images.slice(0, n);
    return { batch: n, bytes: each * n, stack_us: +median([0, 1, 2].map(() => time(() => stackImages(list)))).toFixed(2) };
  });
}

if (values.child) {
  await threadChild(integer('child', values.child, 1), positive('seconds', values.seconds!));
} else {
  useSingleThreadedDecodes();
  const parts = new Set(values.parts!.split(','));
  const rounds = integer('rounds', values.rounds!, 1);
  log(`load ${load1()}, sharp concurrency ${sharp.concurrency()}, ${size} px`);
  const decode = parts.has('decode') ? await decodePart(rounds, integer('decodes', values.decodes!, 1)) : null;
  if (decode) {
    process.stdout.write('\n1. decode (median of rounds; diff: |pixels - full decode + resize|, 0-255)\n');
    process.stdout.write(table(['image', 'variant', 'ms/decode', 'x decodeImage', '/s at 8', 'diff mean', 'diff max'], decode.map((d) => [d.image, d.variant, d.ms.toFixed(2), d.vs_decodeImage.toFixed(2), d.per_s_8.toFixed(0), d.diff_mean.toFixed(2), d.diff_max])));
  }
  const threads = parts.has('threads') ? await threadPart(Math.min(rounds, 3), positive('seconds', values.seconds!)) : null;
  if (threads) {
    process.stdout.write(`\n2. decodes (8 in flight) beside batch-8 forward passes, 2 LibTorch threads, ${precision}\n`);
    process.stdout.write(table(['setting', 'decodes/s alone', 'forward img/s alone', 'decodes/s together', 'forward img/s together'], threads.map((t) => [t.setting, t.decodes_alone, t.forward_alone, t.decodes_together, t.forward_together])));
  }
  const copies = parts.has('copies') ? copyPart() : null;
  if (copies) {
    process.stdout.write('\n3. stackImages, the copy from sharp\'s outputs into the batch (none now for a lone image), us per batch\n');
    process.stdout.write(table(['batch', 'bytes', 'us'], copies.map((c) => [c.batch, c.bytes, c.stack_us])));
  }
  process.stdout.write(JSON.stringify({ bench: 'decode-path', size, load1: load1(), decode, threads, copies }) + '\n');
}
