// What a training run reports as it goes. train() writes nothing itself: it
// hands these to `onEvent`, and the CLI (or any caller) decides how they look.
// Epochs and steps are 1-based here, as in metrics.jsonl.
import type { ReportEpoch } from './report.js';

/** One line of metrics.jsonl (what the report draws). */
export type EpochMetrics = ReportEpoch;

/** The data set was scanned: classes and how many images each split has. */
export interface DataEvent {
  type: 'data';
  root: string;
  classes: string[];
  train: number;
  val: number;
  /** Where validation images come from: a held-out `valFraction` of train/, or nowhere (valFraction 0). */
  valSource: 'split' | 'none';
  valFraction: number;
  /** test/'s images: evaluated once at the end with the best weights, never chosen on. */
  test: number;
}

/** `model.pretrained` was loaded: tensors that matched by name and shape, and those kept fresh. */
export interface PretrainedEvent {
  type: 'pretrained';
  path: string;
  loaded: number;
  fresh: string[];
}

/** The model is ready and the run directory is set; training starts (or continues) next. */
export interface RunStartedEvent {
  type: 'run-started';
  runDir: string;
  /** Where a resumed run continues (1-based epoch, steps already done in it); null for a new run. */
  resumed: { epoch: number; step: number } | null;
  epochs: number;
  stepsPerEpoch: number;
  model: { arch: 'resnet18'; parameterCount: number; device: string; threads: number; amp: boolean };
}

/** A training step finished. Cancelling (the signal) here stops before the next step. */
export interface StepEvent {
  type: 'step';
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  /** Training images per second so far in this epoch. */
  imgPerS: number;
  /** Seconds left in the run, estimated. */
  eta: number;
}

/** An epoch finished and was evaluated; `best` when it became the run's best (model.safetensors). */
export interface EpochEndEvent {
  type: 'epoch-end';
  epochs: number;
  metrics: EpochMetrics;
  best: boolean;
}

/** A checkpoint file is complete on disk: the best weights, or the resumable state (last, optimizer, state.json). */
export interface CheckpointEvent {
  type: 'checkpoint';
  kind: 'best' | 'resumable';
  path: string;
  /** For 'best': the epoch saved. For 'resumable': the epoch to run next and the steps done in it. */
  epoch: number;
  step: number;
}

/** train.early_stopping ended the run. */
export interface EarlyStopEvent {
  type: 'early-stop';
  patience: number;
  epoch: number;
}

/** The signal stopped the run; a consistent checkpoint is written and `--resume runDir` continues it. */
export interface InterruptedEvent {
  type: 'interrupted';
  runDir: string;
  epoch: number;
  step: number;
}

/** output.gcs: the run's files were uploaded. */
export interface UploadedEvent {
  type: 'uploaded';
  uri: string;
  files: number;
}

/** Something the user should know that does not stop the run. */
export interface WarningEvent {
  type: 'warning';
  code: 'image-skipped' | 'upload-failed' | 'optimizer-restarted';
  message: string;
  /** The image skipped, the gs:// destination that failed, or the run directory. */
  path: string;
}

export type TrainEvent =
  | DataEvent
  | PretrainedEvent
  | RunStartedEvent
  | StepEvent
  | EpochEndEvent
  | CheckpointEvent
  | EarlyStopEvent
  | InterruptedEvent
  | UploadedEvent
  | WarningEvent;

/** Receives every event of a run, in order, synchronously; what it throws stops the run. */
export type TrainEventListener = (event: TrainEvent) => void;
