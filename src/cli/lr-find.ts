// `torchdog lr-find`: the learning-rate range test on the config a train
// would use; one JSON line on stdout (the suggested lr), the curve in a page.
import { resolve } from 'node:path';
import { loadConfigFile, lrFind, parseOverrides, renderLrFindPage, resolveConfig } from '../train/index.js';
import { writeFileAtomic } from '../util/index.js';
import { DEFAULT_CONFIG_FILE, provideDemoData, TrainProgress } from './train.js';
import { LR_FIND_USAGE } from './usage.js';
import { UsageError } from './errors.js';
import { parseFlags } from './flags.js';

export async function lrFindCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      html: { type: 'string', default: 'lr-find.html' },
      steps: { type: 'string', default: '100' },
      'start-lr': { type: 'string', default: '1e-7' },
      'end-lr': { type: 'string', default: '10' },
      help: { type: 'boolean', short: 'h' },
    },
  }, () => "lr-find's options are --config, --html, --steps, --start-lr, --end-lr and --help; config keys are set as key=value");
  if (values.help) {
    process.stdout.write(LR_FIND_USAGE);
    return 0;
  }
  const number = (text: string, flag: string) => {
    const v = Number(text);
    if (!Number.isFinite(v) || v <= 0) throw new UsageError(`${flag}: expected a number > 0 but got '${text}'`);
    return v;
  };
  const steps = number(values.steps, '--steps');
  if (!Number.isInteger(steps) || steps < 5 || steps > 100000) throw new UsageError(`--steps: expected an integer in [5, 100000] but got '${values.steps}'`);
  const startLr = number(values['start-lr'], '--start-lr');
  const endLr = number(values['end-lr'], '--end-lr');
  if (endLr <= startLr) throw new UsageError(`--end-lr (${endLr}) must be above --start-lr (${startLr})`);
  const config = resolveConfig(await loadConfigFile(values.config ?? DEFAULT_CONFIG_FILE), parseOverrides(positionals));
  const progress = new TrainProgress(process.stderr, config.train.log_every);
  await provideDemoData(config, progress);
  const result = await lrFind(config, {
    steps, startLr, endLr, onEvent: (e) => progress.render(e),
    onStep: (step, lr, loss) => {
      if (step % config.train.log_every === 0) progress.line(`lr-find: step ${step}/${steps} lr ${lr.toExponential(2)} smoothed loss ${loss.toFixed(4)}`);
    },
  });
  const html = resolve(values.html);
  await writeFileAtomic(html, renderLrFindPage(result, `torchdog lr-find ${config.data.root}`));
  const { suggested_lr, min_loss_lr, steps: ran, stopped } = result;
  process.stdout.write(JSON.stringify({ suggested_lr, min_loss_lr, steps: ran, stopped, html }) + '\n');
  return suggested_lr === null ? 1 : 0;
}
