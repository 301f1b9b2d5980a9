// The learning-rate range test (Smith 2015; fastai's lr_find): a fresh model
// trains for up to `steps` batches while the learning rate grows
// exponentially from startLr to endLr; the loss is smoothed (an EMA with bias
// correction) and the test stops once it diverges (above 4× its lowest). The
// suggestion is the rate where the smoothed loss falls fastest. Nothing is
// written but the page asked for: no run directory, no checkpoint, and the
// model is a new one (the config's seed), so no run's weights change.
import { batchIndices, decodeSet, makeBatch } from '../data/index.js';
import { createModel } from '../model/index.js';
import { escapeHtml, formatNumber, htmlPage, Random, deriveSeed } from '../util/index.js';
import { lineChart } from './chart.js';
import type { TrainConfig } from './config.js';
import { TrainError } from './errors.js';
import type { TrainEventListener } from './events.js';
import { configureTraining, decodeOptions, scanData } from './train.js';

export interface LrFindOptions {
  startLr?: number;
  endLr?: number;
  steps?: number;
  /** Smoothing of the loss, fastai's beta. */
  beta?: number;
  signal?: AbortSignal;
  onEvent?: TrainEventListener;
  onStep?: (step: number, lr: number, loss: number) => void;
}

export interface LrFindResult {
  suggested_lr: number | null;
  /** The rate of the lowest smoothed loss; a tenth of it is fastai's older rule. */
  min_loss_lr: number | null;
  steps: number;
  stopped: 'diverged' | 'end' | 'interrupted';
  lrs: number[];
  losses: number[];
  smoothed: number[];
}

export async function lrFind(config: TrainConfig, options: LrFindOptions = {}): Promise<LrFindResult> {
  const { startLr = 1e-7, endLr = 10, steps = 100, beta = 0.98 } = options;
  if (!(startLr > 0 && endLr > startLr)) throw new TrainError(`lr-find: expected 0 < start lr < end lr, got ${startLr} and ${endLr}`);
  if (!Number.isInteger(steps) || steps < 5) throw new TrainError(`lr-find: expected at least 5 steps, got ${steps}`);
  const emit = options.onEvent ?? (() => {});
  const folder = await scanData(config, emit);
  const trainSet = await decodeSet(folder.train, decodeOptions(config, emit));
  if (trainSet.samples.length === 0) throw new TrainError(`${folder.root}: no readable training images`);
  const model = await createModel({ numClasses: folder.classes.length, device: config.train.device, seed: config.train.seed, threads: config.train.threads });
  const result: LrFindResult = { suggested_lr: null, min_loss_lr: null, steps: 0, stopped: 'end', lrs: [], losses: [], smoothed: [] };
  try {
    // Each step here is an optimizer step: no accumulation (nor its loss scale).
    await configureTraining(model, { ...config, train: { ...config.train, grad_accum_steps: 1 } });
    const a = config.train.augment;
    const augment = { hflip: a.hflip, cropScale: a.crop_scale, cropRatio: a.crop_ratio };
    let average = 0;
    let best = Infinity;
    let batches: number[][] = [];
    for (let step = 0; step < steps; step++) {
      if (options.signal?.aborted) {
        result.stopped = 'interrupted';
        break;
      }
      // As many passes over the data as the steps need, each in a seeded order.
      if (batches.length === 0 || step % batches.length === 0) {
        const order = new Random(deriveSeed(config.train.seed, step, 4)).shuffle([...trainSet.samples.keys()]);
        batches = batchIndices(order, config.train.batch_size);
      }
      const lr = startLr * (endLr / startLr) ** (step / (steps - 1));
      await model.setLearningRate(lr);
      const batch = makeBatch(trainSet, batches[step % batches.length]!, { options: augment, random: new Random(deriveSeed(config.train.seed, step, 5)) });
      const { loss } = await model.trainStep(batch, batch.labels, config.data);
      result.steps = step + 1;
      if (!Number.isFinite(loss)) {
        result.stopped = 'diverged';
        break;
      }
      average = beta * average + (1 - beta) * loss;
      const smoothed = average / (1 - beta ** (step + 1));
      result.lrs.push(lr);
      result.losses.push(loss);
      result.smoothed.push(smoothed);
      options.onStep?.(step + 1, lr, smoothed);
      best = Math.min(best, smoothed);
      if (step > 0 && smoothed > 4 * best) {
        result.stopped = 'diverged';
        break;
      }
    }
  } finally {
    await model.dispose();
  }
  Object.assign(result, suggest(result.lrs, result.smoothed));
  return result;
}

/**
 * The steepest fall of the smoothed loss against log(lr) before its minimum
 * (fastai's 'steep'), measured over a window of ~5% of the points after the
 * first 10% (the EMA's start is noise). A curve that hardly falls (under 5%)
 * has no steep part: then a tenth of the lowest loss's rate (fastai's older rule).
 */
export function suggest(lrs: readonly number[], smoothed: readonly number[]): Pick<LrFindResult, 'suggested_lr' | 'min_loss_lr'> {
  const n = smoothed.length;
  if (n < 3) return { suggested_lr: null, min_loss_lr: null };
  const skip = Math.floor(n * 0.1);
  let low = skip;
  for (let i = skip; i < n; i++) if (smoothed[i]! < smoothed[low]!) low = i;
  const minLossLr = lrs[low]!;
  const window = Math.max(1, Math.round(n / 20));
  let steepest: number | null = null;
  let slope = 0;
  for (let i = skip + window; i <= low; i++) {
    const s = (smoothed[i]! - smoothed[i - window]!) / (Math.log(lrs[i]!) - Math.log(lrs[i - window]!));
    if (s < slope) {
      slope = s;
      steepest = i;
    }
  }
  const falls = smoothed[skip]! - smoothed[low]! > 0.05 * Math.abs(smoothed[skip]!);
  return { suggested_lr: steepest !== null && falls ? lrs[steepest]! : minLossLr / 10, min_loss_lr: minLossLr };
}

/** The curve (smoothed and raw loss against log10 lr) on a small self-contained page. */
export function renderLrFindPage(result: LrFindResult, title: string): string {
  const xs = result.lrs.map((lr) => Math.log10(lr));
  // A diverging loss would flatten the rest of the curve: values above the stop line are left out.
  const cap = 4 * Math.min(...result.smoothed);
  const shown = (values: number[]) => values.map((v) => (v <= cap ? v : null));
  const chart = lineChart({
    title: 'Loss by learning rate', yLabel: 'loss', xs, bestEpoch: null,
    series: [
      { label: 'smoothed', className: 'val', values: shown(result.smoothed) },
      { label: 'raw', className: 'train', values: shown(result.losses) },
    ],
    format: formatNumber, x: { label: 'learning rate', tickFormat: (v) => formatNumber(10 ** v) },
  });
  const facts = [
    `suggested lr ${result.suggested_lr === null ? '—' : formatNumber(result.suggested_lr)}`,
    `lowest loss at ${result.min_loss_lr === null ? '—' : formatNumber(result.min_loss_lr)}`,
    `${result.steps} steps, ${result.stopped}`,
  ];
  return htmlPage(title, kStyle, `<h1>${escapeHtml(title)}</h1>\n<p class="facts">${facts.map(escapeHtml).join(' · ')}</p>\n<section class="charts">${chart}</section>\n`);
}

const kStyle = `
:root { --train: #9aa1ae; --val: #2563eb; }
.facts { margin: 0; color: var(--muted); }
.charts { margin-top: 20px; max-width: 760px; }
figure.chart { padding: 12px 12px 4px; }
figure.chart figcaption { font-weight: 600; margin: 0 0 2px 4px; }
svg .line { fill: none; stroke-width: 2; stroke-linejoin: round; }
svg .line.train { stroke: var(--train); stroke-width: 1; }
svg .line.val { stroke: var(--val); }
svg circle.train { fill: var(--train); }
svg circle.val { fill: var(--val); }
`;
