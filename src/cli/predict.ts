import { parseArgs } from 'node:util';
import { Classifier, maxBatchForMemory } from '../model/index.js';
import { ImageDecodeError } from '../image/index.js';
import { UsageError } from './errors.js';
import { PREDICT_USAGE } from './usage.js';
import { parseIntegerFlag, parsePrecisionFlag } from './flags.js';

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: 'string', short: 'm' },
      device: { type: 'string', default: 'auto' },
      threads: { type: 'string', default: '0' },
      batch: { type: 'string', default: '32' },
      precision: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(PREDICT_USAGE);
    return 0;
  }
  if (!values.model) throw new UsageError('--model is required (a .safetensors checkpoint)\n\n' + PREDICT_USAGE);
  if (positionals.length === 0) throw new UsageError('give at least one IMAGE file\n\n' + PREDICT_USAGE);
  const requested = parseIntegerFlag(values.batch, '--batch', 1, 4096);
  const classifier = await Classifier.load(values.model, {
    device: values.device,
    threads: parseIntegerFlag(values.threads, '--threads', 0, 1024),
    maxBatch: requested,
    precision: parsePrecisionFlag(values.precision, 'fp32'),
  });
  // The checkpoint's image_size sets what one image costs in a forward pass.
  const batch = Math.min(requested, maxBatchForMemory(classifier.imageSize));
  let failures = 0;
  try {
    for (let i = 0; i < positionals.length; i += batch) {
      const files = positionals.slice(i, i + batch);
      // Decode each file on its own so one unreadable image does not hide the others' results.
      const decoded = await Promise.all(
        files.map((file) => classifier.decode(file).then((pixels) => ({ file, pixels }), (error: Error) => ({ file, error }))),
      );
      const good = decoded.filter((d): d is { file: string; pixels: Uint8Array } => 'pixels' in d);
      const predictions = await classifier.predictPixels(good.map((d) => d.pixels));
      const byFile = new Map(good.map((d, j) => [d, predictions[j]!]));
      for (const d of decoded) {
        if ('error' in d) {
          failures++;
          const code = d.error instanceof ImageDecodeError ? d.error.code : 'ERR_IMAGE_UNREADABLE';
          process.stdout.write(JSON.stringify({ file: d.file, error: { code, message: d.error.message } }) + '\n');
        } else {
          process.stdout.write(JSON.stringify({ file: d.file, ...byFile.get(d) }) + '\n');
        }
      }
    }
  } finally {
    await classifier.dispose();
  }
  return failures > 0 ? 1 : 0;
}
