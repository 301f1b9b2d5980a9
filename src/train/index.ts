export { train } from './train.js';
export type { TrainSummary, TrainOptions } from './train.js';
export { resumeConfig } from './run-dir.js';
export { TrainError } from './errors.js';
export type {
  TrainEvent,
  TrainEventListener,
  EpochMetrics,
  DataEvent,
  PretrainedEvent,
  RunStartedEvent,
  StepEvent,
  EpochEndEvent,
  CheckpointEvent,
  EarlyStopEvent,
  InterruptedEvent,
  UploadedEvent,
  WarningEvent,
} from './events.js';
export { resolveConfig, parseOverrides, loadConfigFile, configToYaml, configKeysNamed, DEFAULT_CONFIG, ConfigError } from './config.js';
export type { TrainConfig } from './config.js';
export { evaluate } from './evaluate.js';
export { sweep, sweepGrid, parseSweep, splitSweepValues, sweepDirectory } from './sweep.js';
export type { SweepAxis, SweepRun, SweepRunSummary, SweepSummary, SweepOptions, SweepEvent } from './sweep.js';
export { renderSweepPage } from './sweep-page.js';
export type { SweepPageInput, SweepPageRun } from './sweep-page.js';
export type { Evaluation } from './evaluate.js';
export { calibrateCheckpoint, sampleSet, calibrationFields } from './calibrate.js';
export type { CalibrateOptions, CalibrationSummary } from './calibrate.js';
export { epochBatches, epochSteps, shardRange } from './distributed.js';
export type { DistributedOptions } from './distributed.js';
export { lrFind, renderLrFindPage } from './lr-find.js';
export type { LrFindOptions, LrFindResult } from './lr-find.js';
