// `torchdog train`: resolves the config, provides the demo data when the
// default config asks for it, renders the run's events on stderr (a bar on a
// terminal, plain lines otherwise) and prints the JSON summary on stdout.
import { fileURLToPath } from 'node:url';
import { join, relative, resolve } from 'node:path';
import { DEMO_MARKER, ensureDemoData } from '../data/index.js';
import {
  DEFAULT_CONFIG, configKeysNamed, loadConfigFile, parseOverrides, parseSweep, resolveConfig, resumeConfig, sweep, sweepGrid, train,
  type StepEvent, type SweepEvent, type TrainConfig, type TrainEvent,
} from '../train/index.js';
import { isDirectory, pathExists } from '../util/index.js';
import { clock, ProgressBar, type ProgressStream } from './progress.js';
import { exitWithLauncher, launch, LAUNCH_OPTIONS, workerOptions } from './launch.js';
import { TRAIN_USAGE } from './usage.js';
import { UsageError } from './errors.js';
import { parseFlags } from './flags.js';

/**
 * The default recipe, read from the package itself (dist/cli/ and src/cli/
 * are both two folders down), so that `torchdog train` trains the same thing
 * from any working directory.
 */
export const DEFAULT_CONFIG_FILE = fileURLToPath(new URL('../../configs/default.yaml', import.meta.url));

export async function trainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      resume: { type: 'string' },
      multirun: { type: 'boolean', short: 'm' },
      help: { type: 'boolean', short: 'h' },
      ...LAUNCH_OPTIONS,
    },
  }, overrideHint);
  if (values.help) {
    process.stdout.write(TRAIN_USAGE);
    return 0;
  }
  if (values.multirun) {
    if (values.resume) throw new UsageError('--multirun resumes by itself: run the same command again (without --resume)');
    if (Object.keys(LAUNCH_OPTIONS).some((flag) => flag in values)) throw new UsageError('--multirun runs its grid in this process; --nproc and the launcher\'s flags start one run');
    return multirun(values.config, positionals);
  }
  const config = await commandConfig(values.config, values.resume, parseOverrides(positionals));
  const worker = workerOptions();
  const progress = new TrainProgress(process.stderr, config.train.log_every);
  if (!values.resume && !worker) progress.line(`config: ${shownPath(values.config ?? DEFAULT_CONFIG_FILE)}`);
  if (!worker) await provideDemoData(config, progress);
  if (worker) exitWithLauncher();
  else if (Object.keys(LAUNCH_OPTIONS).some((flag) => flag in values)) return launch(argv, values);
  // Rank 0 speaks for a distributed job; the other ranks train silently.
  const quiet = worker !== null && worker.rank !== 0;
  const onEvent = quiet ? undefined : (e: TrainEvent) => progress.render(e);
  const summary = await untilStopped(quiet ? null : progress, (signal) => train(config, { resume: values.resume, signal, onEvent, distributed: worker ?? undefined }));
  if (!quiet) process.stdout.write(JSON.stringify(summary) + '\n');
  return summary.interrupted ? 130 : 0;
}

/** `--multirun key=a,b ...`: the grid one run after another; rerunning the command continues it. */
async function multirun(file: string | undefined, overrides: string[]): Promise<number> {
  const { fixed, axes } = parseSweep(overrides);
  if (axes.length === 0) throw new UsageError('--multirun needs a swept key: key=a,b (e.g. optim.lr=1e-3,3e-4 train.batch_size=16,32)');
  const grid = sweepGrid([await loadConfigFile(file ?? DEFAULT_CONFIG_FILE)], fixed, axes);
  const progress = new TrainProgress(process.stderr, grid[0]!.config.train.log_every);
  progress.line(`config: ${shownPath(file ?? DEFAULT_CONFIG_FILE)}; sweep of ${grid.length} runs over ${axes.map((a) => a.key).join(', ')}`);
  await provideDemoData(grid[0]!.config, progress);
  const summary = await untilStopped(progress, (signal) => sweep(grid, { signal, onEvent: (e) => renderSweepEvent(progress, e) }));
  process.stdout.write(JSON.stringify(summary) + '\n');
  return summary.interrupted ? 130 : 0;
}

function renderSweepEvent(progress: TrainProgress, event: SweepEvent): void {
  if (event.type === 'run-event') return progress.render(event.event);
  const what = Object.entries(event.overrides).map(([k, v]) => `${k}=${v}`).join(' ');
  const action = event.action === 'skip' ? 'done, skipped' : event.action === 'resume' ? 'resuming' : 'starting';
  progress.line(`sweep: run ${event.n + 1}/${event.runs} (${what}): ${action}, ${event.runDir}`);
}

/**
 * Runs `work` with Ctrl-C (and SIGTERM) wired to its signal. First: finish
 * the step, write a consistent checkpoint, stop. Second: leave at once
 * (checkpoints are written atomically anyway).
 */
async function untilStopped<T>(progress: TrainProgress | null, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = () => {
    if (controller.signal.aborted) process.exit(130);
    progress?.line('stopping after this step (Ctrl-C again to quit now)…');
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await work(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

async function commandConfig(file: string | undefined, resume: string | undefined, overrides: Record<string, unknown>): Promise<TrainConfig> {
  if (resume) {
    if (file) throw new UsageError('--resume uses the run\'s own config.yaml; give overrides (key=value) instead of --config');
    return resumeConfig(resume, overrides);
  }
  return resolveConfig(await loadConfigFile(file ?? DEFAULT_CONFIG_FILE), overrides);
}

/** `--epochs 5` is a config key given as a flag: suggest the override (`train.epochs=5`). */
function overrideHint(option: string, value: string | undefined): string {
  const keys = configKeysNamed(option);
  const example = (key: string) => `${key}=${value ?? 'VALUE'}`;
  if (keys.length === 0) return "train's options are --config, --resume, --multirun, --help and the launcher's (--nproc, --nnodes, --node-rank, --master, --host, --timeout); config keys are set as key=value (e.g. train.epochs=5), see 'torchdog train --help'";
  return `config keys are set as key=value, without dashes: ${keys.map(example).join(' or ')}`;
}

/** A path relative to the working directory when it is inside it, else absolute. */
function shownPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') && !rel.startsWith('/') ? rel : resolve(path);
}

/**
 * The default data.root is the embedded demo set: generated when absent, and
 * regenerated when the one there was drawn by an older painter. A folder there
 * without the demo marker is the user's own images and is left alone.
 */
export async function provideDemoData(config: TrainConfig, progress: TrainProgress): Promise<void> {
  const root = config.data.root;
  if (resolve(root) !== resolve(DEFAULT_CONFIG.data.root)) return;
  const absent = !(await pathExists(root));
  if (!absent && (!(await isDirectory(root)) || !(await pathExists(join(root, DEMO_MARKER))))) return;
  if (absent) progress.line(`data: generating the demo set in ${root} (first use)`);
  await ensureDemoData(root);
}

/** A run's events on stderr: a bar redrawn at every step on a terminal; otherwise a step line every `logEvery` steps. */
export class TrainProgress {
  private readonly bar: ProgressBar;
  private lastStepLine = 0;

  constructor(stream: ProgressStream, private readonly logEvery: number) {
    this.bar = new ProgressBar(stream);
  }

  render(event: TrainEvent): void {
    if (event.type === 'step') return this.step(event);
    const text = describe(event);
    if (text !== null) this.line(text);
  }

  line(text: string): void {
    this.bar.line(text);
  }

  private step(e: StepEvent): void {
    const text = `epoch ${e.epoch}/${e.epochs} step ${e.step}/${e.steps} loss ${e.loss.toFixed(4)} ${e.imgPerS.toFixed(1)} img/s ETA ${clock(e.eta)}`;
    if (this.bar.tty) return this.bar.draw(e.step, e.steps, text);
    if (e.step === e.steps || e.step - this.lastStepLine >= this.logEvery || e.step < this.lastStepLine) {
      this.lastStepLine = e.step;
      this.bar.line(text);
    }
  }
}

/** The line an event prints, or null for events that print none. */
export function describe(event: Exclude<TrainEvent, StepEvent>): string | null {
  switch (event.type) {
    case 'data': {
      const held = event.valSource === 'split' ? `${event.valFraction} of train/ held out` : 'no validation';
      const test = event.test > 0 ? ` / ${event.test} test images (test/, evaluated at the end)` : '';
      return `data: ${event.root}: ${event.classes.length} classes (${event.classes.join(', ')}), ${event.train} train / ${event.val} val images (${held})${test}`;
    }
    case 'pretrained':
      return `pretrained: loaded ${event.loaded} tensors from ${event.path}` + (event.fresh.length ? `; kept fresh: ${event.fresh.join(', ')}` : '');
    case 'run-started': {
      const m = event.model;
      const model = `model: ${m.arch}, ${m.parameterCount.toLocaleString('en')} parameters, device ${m.device}, ${m.threads} thread(s)${m.amp ? ', bf16 autocast' : ''}`;
      return event.resumed ? `resume: ${event.runDir} at epoch ${event.resumed.epoch}, step ${event.resumed.step}\n${model}` : model;
    }
    case 'epoch-end': {
      const m = event.metrics;
      return (
        `epoch ${m.epoch}/${event.epochs}: train loss ${m.train_loss.toFixed(4)} acc ${m.train_acc.toFixed(4)}` +
        (m.val_loss !== null && m.val_acc !== null ? `, val loss ${m.val_loss.toFixed(4)} acc ${m.val_acc.toFixed(4)}` : '') +
        `, ${m.img_per_s.toFixed(1)} img/s, ${m.seconds.toFixed(1)} s${event.best ? ' (best)' : ''}`
      );
    }
    case 'early-stop':
      return `early stopping: no val_acc improvement for ${event.patience} epoch(s)`;
    case 'interrupted':
      return `interrupted: checkpoint written at epoch ${event.epoch}, step ${event.step}; continue with --resume ${event.runDir}`;
    case 'uploaded':
      return `uploaded ${event.files} files to ${event.uri}`;
    case 'warning':
      return `warning: ${event.message}`;
    case 'checkpoint':
      return null;
  }
}
