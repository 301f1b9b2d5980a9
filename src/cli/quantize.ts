import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { decodeSet, scanImages, scanSplit, type Sample } from '../data/index.js';
import { DEFAULT_OBSERVER, OBSERVERS, readCheckpoint } from '../model/index.js';
import { calibrateCheckpoint, calibrationFields } from '../train/index.js';
import { isDirectory, Random } from '../util/index.js';
import { UsageError } from './errors.js';
import { parseChoiceFlag, parseFlags, parseIntegerFlag } from './flags.js';
import { QUANTIZE_USAGE } from './usage.js';

export async function quantizeCommand(argv: string[]): Promise<number> {
  const { values } = parseFlags({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      data: { type: 'string' },
      images: { type: 'string', default: '256' },
      out: { type: 'string' },
      observer: { type: 'string' },
      threads: { type: 'string', default: '0' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(QUANTIZE_USAGE);
    return 0;
  }
  if (!values.model) throw new UsageError('--model is required (a .safetensors checkpoint)\n\n' + QUANTIZE_USAGE);
  if (!values.data) throw new UsageError('--data is required (a folder of calibration images)\n\n' + QUANTIZE_USAGE);
  const count = parseIntegerFlag(values.images, '--images', 1, 100_000);
  const threads = parseIntegerFlag(values.threads, '--threads', 0, 1024);
  const observer = parseChoiceFlag(values.observer, '--observer', OBSERVERS, DEFAULT_OBSERVER);
  if (!(await isDirectory(values.data))) throw new UsageError(`--data: ${values.data} is not a folder`, 1);
  const started = performance.now();
  const { info } = await readCheckpoint(values.model);
  const { samples, labelled } = await calibrationSamples(values.data, info.classes);
  if (samples.length === 0) throw new UsageError(`--data: no images (.jpg, .jpeg, .png, .webp) under ${values.data}`, 1);
  // Calibration images first, then as many others (when there are) to check int8 against fp32.
  const order = new Random(0).shuffle([...samples]);
  const decode = (s: Sample[]) => decodeSet(s, {
    size: info.imageSize, workers: 4, strict: false,
    onSkip: (path, message) => process.stderr.write(`warning: skipping ${path}: ${message}\n`),
  });
  const calibrationSet = await decode(order.slice(0, count));
  if (calibrationSet.samples.length === 0) throw new UsageError(`--data: none of the images under ${values.data} could be decoded`, 1);
  const checkSet = await decode(order.slice(count, 2 * count));
  const out = values.out ?? values.model;
  const { calibration } = await calibrateCheckpoint(values.model, out, { calibrationSet, checkSet, labelled, threads, observer });
  process.stdout.write(JSON.stringify({
    out, calibration_images: calibration.images, check_images: calibration.check?.images ?? 0, labelled,
    ...calibrationFields(calibration), observer: calibration.observer, seconds: (performance.now() - started) / 1000,
  }) + '\n');
  return 0;
}

/** An ImageFolder's train/ (or its root) by the model's classes, labelled; else every image, unlabelled. */
async function calibrationSamples(dir: string, classes: readonly string[]): Promise<{ samples: Sample[]; labelled: boolean }> {
  for (const root of [join(dir, 'train'), dir]) {
    if (!existsSync(root)) continue;
    const samples = await scanSplit(root, classes);
    if (samples.length > 0) return { samples, labelled: true };
  }
  return { samples: await scanImages(dir), labelled: false };
}
