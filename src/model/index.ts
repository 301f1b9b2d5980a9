export { Classifier, ModelOutputError } from './classifier.js';
export type { ClassifierOptions, Prediction, ScoredPrediction } from './classifier.js';
export { Model, createModel, cudaAvailable, engineCounts, setTf32 } from './model.js';
export type {
  ModelOptions, OptimizerOptions, ImageBatch, Normalization, ForwardResult, StepResult, EvalResult, TorchScriptExportOptions, TorchScriptRun, TrainRecipe, TrainStepOptions,
} from './model.js';
export {
  readCheckpoint, saveCheckpoint, loadWeights, checkTensorValues, checkpointMetadata, parseCheckpointMetadata, maxBatchForMemory,
  CheckpointError, CHECKPOINT_FORMAT, MAX_IMAGE_SIZE, BATCH_MEMORY_BYTES,
} from './checkpoint.js';
export type { Checkpoint, CheckpointInfo } from './checkpoint.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, SafetensorsError, DTYPE_SIZES, MAX_SAFETENSORS_BYTES } from './safetensors.js';
export type { Tensor, SafetensorsContent, Dtype, ReadSafetensorsOptions } from './safetensors.js';
