export { Classifier } from './classifier.js';
export type { ClassifierOptions, Prediction } from './classifier.js';
export { createModel, resolveOptimizer } from './model.js';
export type { ModelOptions, OptimizerOptions } from './model.js';
export { readCheckpoint, saveCheckpoint, loadWeights, checkpointMetadata, parseCheckpointMetadata, CheckpointError, CHECKPOINT_FORMAT } from './checkpoint.js';
export type { Checkpoint, CheckpointInfo } from './checkpoint.js';
export { readSafetensors, writeSafetensors, parseSafetensors, serializeSafetensors, SafetensorsError, DTYPE_SIZES } from './safetensors.js';
export { writeFileAtomic } from '../util/atomic-write.js';
export type { Tensor, SafetensorsContent, Dtype } from './safetensors.js';
