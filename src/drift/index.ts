export { driftFeatures, DRIFT_IMAGE_SIZE } from './features.js';
export type { DriftFeatures } from './features.js';
export {
  detectDrift,
  testColumn,
  defaultStatTest,
  classOf,
  FEATURE_COLUMNS,
  CLASS_COLUMN,
  DRIFT_COLUMNS,
  STAT_TESTS,
} from './detect.js';
export type {
  FeatureRecord,
  FeatureColumn,
  DriftColumn,
  DriftOptions,
  DriftReport,
  ColumnDrift,
  StatTestName,
} from './detect.js';
export { parseFeatureLines, readFeatureFile, FeatureFileError } from './jsonl.js';
export type { ParseOptions, ReadOptions } from './jsonl.js';
export { renderDriftReport } from './html.js';
export type { DriftPageInput } from './html.js';
