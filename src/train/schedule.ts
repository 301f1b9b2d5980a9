import type { TrainConfig } from './config.js';

/**
 * Learning rate at a fractional epoch `t` (epoch + step/stepsPerEpoch):
 * optional linear warm-up, then constant, step decay or cosine to min_lr.
 */
export function learningRate(optim: TrainConfig['optim'], epochs: number, t: number): number {
  let lr: number;
  switch (optim.schedule) {
    case 'none':
      lr = optim.lr;
      break;
    case 'step':
      lr = optim.lr * optim.gamma ** Math.floor(t / optim.step_size);
      break;
    case 'cosine': {
      const progress = Math.min(1, Math.max(0, (t - optim.warmup_epochs) / Math.max(1e-9, epochs - optim.warmup_epochs)));
      lr = optim.min_lr + (optim.lr - optim.min_lr) * 0.5 * (1 + Math.cos(Math.PI * progress));
      break;
    }
  }
  if (optim.warmup_epochs > 0 && t < optim.warmup_epochs) lr *= Math.max(t, 1e-3) / optim.warmup_epochs;
  return lr;
}
