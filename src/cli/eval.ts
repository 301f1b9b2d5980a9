import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { applyPrecision, readCheckpoint, loadWeights, maxBatchForMemory } from '../model/index.js';
import { createModel } from '../model/index.js';
import { scanSplit } from '../data/index.js';
import { decodeSet } from '../data/index.js';
import { evaluate } from '../train/index.js';
import { EVAL_USAGE } from './usage.js';
import { UsageError } from './errors.js';
import { parseIntegerFlag, parsePrecisionFlag } from './flags.js';

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      data: { type: 'string' },
      split: { type: 'string', default: 'test' },
      device: { type: 'string', default: 'auto' },
      threads: { type: 'string', default: '0' },
      batch: { type: 'string', default: '32' },
      precision: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(EVAL_USAGE);
    return 0;
  }
  if (!values.model) throw new UsageError('--model is required\n\n' + EVAL_USAGE);
  if (!values.data) throw new UsageError('--data is required (an ImageFolder root)\n\n' + EVAL_USAGE);
  const batchSize = parseIntegerFlag(values.batch, '--batch', 1, 4096);
  const requested = parsePrecisionFlag(values.precision, 'fp32');
  const splitDir = join(values.data, values.split);
  if (!existsSync(splitDir)) throw new UsageError(`--data/--split: ${splitDir} does not exist`, 1);

  const { info, tensors } = await readCheckpoint(values.model);
  const samples = await scanSplit(splitDir, info.classes);
  if (samples.length === 0) throw new UsageError(`${splitDir}: no images in folders named after the model's classes (${info.classes.join(', ')})`, 1);
  const set = await decodeSet(samples, {
    size: info.imageSize, workers: 4, strict: false,
    onSkip: (path, message) => process.stderr.write(`warning: skipping ${path}: ${message}\n`),
  });
  const model = await createModel({ numClasses: info.classes.length, device: values.device, threads: parseIntegerFlag(values.threads, '--threads', 0, 1024) });
  try {
    await loadWeights(model, tensors, values.model);
    await model.setTraining(false);
    const { precision } = await applyPrecision(model, info, requested, values.model);
    // The checkpoint's image_size sets what one image costs in a forward pass.
    const result = await evaluate(model, set, { batchSize: Math.min(batchSize, maxBatchForMemory(info.imageSize)), normalization: info, classes: info.classes.length, serving: precision !== 'fp32' });
    // Row c of the confusion matrix holds the images of class c; its diagonal cell, the right ones.
    const perClass = Object.fromEntries(
      info.classes.map((name, c) => {
        const row = result.confusion[c]!;
        const total = row.reduce((a, b) => a + b, 0);
        return [name, { accuracy: total ? row[c]! / total : null, n: total }];
      }),
    );
    const { accuracy, loss, n } = result; // NaN for an empty set prints as null
    process.stdout.write(JSON.stringify({ accuracy, loss, n, per_class: perClass, skipped: set.skipped.length, precision }) + '\n');
    return 0;
  } finally {
    await model.dispose();
  }
}
