import { parseArgs } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { createStorage, gcsDownload, isGsUri, parseGsUri } from '../cloud/index.js';
import { EXPORT_FORMATS, ONNX_OPSETS, defaultExportPath, exportModel, type ExportFormat } from '../export/index.js';
import { UsageError } from './errors.js';
import { parseIntegerFlag } from './flags.js';
import { EXPORT_USAGE } from './usage.js';

export async function exportCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string', short: 'm' },
      format: { type: 'string', short: 'f' },
      out: { type: 'string', short: 'o' },
      opset: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(EXPORT_USAGE);
    return 0;
  }
  if (!values.model) throw new UsageError(`--model is required (a .safetensors checkpoint or gs://BUCKET/PATH)\n\n${EXPORT_USAGE}`);
  const format = parseFormat(values.format);
  if (values.opset !== undefined && format !== 'onnx') throw new UsageError('--opset applies to --format onnx only');
  const opset = values.opset === undefined ? undefined : parseIntegerFlag(values.opset, '--opset', ONNX_OPSETS.min, ONNX_OPSETS.max);
  const summary = await withLocalCheckpoint(values.model, format, (path, defaultOut) =>
    exportModel(path, { format, out: values.out ?? defaultOut, ...(opset !== undefined ? { opset } : {}) }),
  );
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  return 0;
}

function parseFormat(text: string | undefined): ExportFormat {
  if (text === undefined) throw new UsageError(`--format is required: ${EXPORT_FORMATS.join(' or ')}\n\n${EXPORT_USAGE}`);
  if (!(EXPORT_FORMATS as readonly string[]).includes(text)) {
    throw new UsageError(`--format: expected ${EXPORT_FORMATS.join(' or ')} but received ${JSON.stringify(text)}`);
  }
  return text as ExportFormat;
}

/**
 * Runs `use` on a local copy of the checkpoint: the path itself, or a gs://
 * object downloaded to a temporary folder (removed after), whose export goes
 * by default to the current folder.
 */
async function withLocalCheckpoint<T>(model: string, format: ExportFormat, use: (path: string, defaultOut: string) => Promise<T>): Promise<T> {
  if (!isGsUri(model)) return use(model, defaultExportPath(model, format));
  const location = parseGsUri(model, '--model');
  if (!location.path || location.path.endsWith('/')) throw new UsageError(`--model: ${model} names a folder, not a checkpoint object`);
  const dir = await mkdtemp(join(tmpdir(), 'torchdog-export-'));
  try {
    const file = join(dir, basename(location.path));
    await gcsDownload(await createStorage(), location, file);
    return await use(file, defaultExportPath(basename(location.path), format));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
