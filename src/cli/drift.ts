import { parseArgs } from 'node:util';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { detectDrift, type DriftReport } from '../drift/index.js';
import { renderDriftReport } from '../drift/index.js';
import { DRIFT_USAGE } from './usage.js';
import { UsageError } from './errors.js';
import { readFeatureRecords } from './feature-file.js';
import { parseIntegerFlag } from './flags.js';
import { writeFileAtomic } from '../util/index.js';

/** Exit status with --fail-on-drift when the dataset drifted (1 stays "the command failed"). */
const kDriftExitStatus = 3;

export async function driftCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      reference: { type: 'string', short: 'r' },
      current: { type: 'string', short: 'c' },
      window: { type: 'string', short: 'w' },
      html: { type: 'string' },
      'fail-on-drift': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
  });
  if (values.help) {
    process.stdout.write(DRIFT_USAGE);
    return 0;
  }
  if (positionals.length > 0) throw new UsageError(`unexpected argument '${positionals[0]}'\n\n${DRIFT_USAGE}`);
  if (!values.reference) throw new UsageError(`--reference is required (RUN_DIR/reference.jsonl or a run directory)\n\n${DRIFT_USAGE}`);
  if (!values.current) throw new UsageError(`--current is required (the service's prediction log, a .jsonl file)\n\n${DRIFT_USAGE}`);
  const window = values.window === undefined ? undefined : parseIntegerFlag(values.window, '--window', 1, 1_000_000_000);

  const reference = await readFeatureRecords(values.reference, '--reference');
  const current = await readFeatureRecords(values.current, '--current', window);
  const report = detectDrift(reference, current);

  if (values.html) {
    const html = renderDriftReport({
      report,
      reference,
      current,
      referenceSource: values.reference,
      currentSource: values.current,
      window,
    });
    await mkdir(dirname(values.html), { recursive: true });
    await writeFileAtomic(values.html, html);
  }
  process.stdout.write(`${JSON.stringify(report)}\n`);
  process.stderr.write(`${summaryLine(report)}${values.html ? `; report written to ${values.html}` : ''}\n`);
  return values['fail-on-drift'] && report.dataset_drift ? kDriftExitStatus : 0;
}

function summaryLine(report: DriftReport): string {
  const drifted = Object.entries(report.columns).filter(([, c]) => c.drift).map(([name]) => name);
  return `drift: ${report.dataset_drift ? 'dataset drift detected' : 'no dataset drift'} `
    + `(${drifted.length} of ${report.number_of_columns} columns${drifted.length > 0 ? `: ${drifted.join(', ')}` : ''}; `
    + `${report.reference_size} reference, ${report.current_size} current records)`;
}
