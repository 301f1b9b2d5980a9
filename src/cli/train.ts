import { parseArgs } from 'node:util';
import { existsSync } from 'node:fs';
import { loadConfigFile, parseOverrides, resolveConfig } from '../train/config.js';
import { resumeConfig, train } from '../train/train.js';
import { ProgressReporter } from '../train/progress.js';
import { TRAIN_USAGE } from './usage.js';
import { UsageError } from './errors.js';

const DEFAULT_CONFIG_FILE = 'configs/default.yaml';

export async function trainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      resume: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(TRAIN_USAGE);
    return 0;
  }
  const overrides = parseOverrides(positionals);
  let config;
  if (values.resume) {
    if (values.config) throw new UsageError('--resume uses the run\'s own config.yaml; give overrides (key=value) instead of --config');
    config = await resumeConfig(values.resume, overrides);
  } else {
    const file = values.config ?? (existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined);
    config = resolveConfig(file ? await loadConfigFile(file) : {}, overrides);
  }

  // First Ctrl-C: finish the step, write a consistent checkpoint, stop.
  // Second: leave at once (checkpoints are written atomically anyway).
  const controller = new AbortController();
  const progress = new ProgressReporter(process.stderr, config.train.log_every);
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    progress.line('stopping after this step (Ctrl-C again to quit now)…');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    const summary = await train(config, { resume: values.resume, signal: controller.signal, progress });
    process.stdout.write(JSON.stringify(summary) + '\n');
    return summary.interrupted ? 130 : 0;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
