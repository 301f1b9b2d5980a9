export { Classifier, ModelOutputError } from './classifier.js';
export type { ClassifierOptions, Prediction, ScoredPrediction } from './classifier.js';
export { Model, createModel, cudaAvailable, engineCounts, setTf32, SERVING_PRECISIONS } from './model.js';
export {
  CALIBRATION_KEY, AUTO_INT8_AGREEMENT, RangeObserver, HistogramObserver, calibrate, compareInt8, serializeCalibration, parseCalibration, calibrationOf,
  percentileClip, mseClip, OBSERVERS, DEFAULT_OBSERVER, HISTOGRAM_BINS, PERCENTILE,
} from './calibration.js';
export type { Calibration, AgreementCount, LabelledBatch, Observer, Histogram } from './calibration.js';
export { PRECISIONS, PrecisionError, applyPrecision, choosePrecision, cpuFeatures, featuresOf } from './precision.js';
export type { Precision, PrecisionChoice, CpuFeatures } from './precision.js';
export type { ActivationRange, ActivationHistogram, ServingPrecision, ModelOptions, OptimizerOptions, ImageBatch, Normalization, ForwardResult, StepResult, EvalResult, TorchScriptExportOptions, TorchScriptRun, TrainRecipe, TrainStepOptions } from './model.js';
export {
  readCheckpoint, saveCheckpoint, loadWeights, checkTensorValues, checkpointMetadata, parseCheckpointMetadata, maxBatchForMemory,
  CheckpointError, CHECKPOINT_FORMAT, MAX_IMAGE_SIZE, BATCH_MEMORY_BYTES,
} from './checkpoint.js';
export type { Checkpoint, CheckpointInfo } from './checkpoint.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, SafetensorsError, DTYPE_SIZES, MAX_SAFETENSORS_BYTES } from './safetensors.js';
export type { Tensor, SafetensorsContent, Dtype, ReadSafetensorsOptions } from './safetensors.js';
export { distributedAvailable } from './process-group.js';
export type { ProcessGroupOptions } from './process-group.js';
