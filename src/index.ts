// torchdog's public API.
export * from './model/index.js';
export * from './image/index.js';
export { InvalidArgumentError } from './util/validate.js';
export { writeFileAtomic } from './util/atomic-write.js';
export * from './drift/index.js';
export { train, resumeConfig, TrainError } from './train/train.js';
export type { TrainSummary, TrainOptions, EpochMetrics } from './train/train.js';
export { resolveConfig, parseOverrides, loadConfigFile, DEFAULT_CONFIG, ConfigError } from './train/config.js';
export type { TrainConfig } from './train/config.js';
export { scanImageFolder, DatasetError } from './data/scan.js';
export { generateDemoData, ensureDemoData } from './data/demo.js';
export * from './dvc/index.js';
export * from './cloud/index.js';
export { createApp, startServer } from './serve/index.js';
export type { AppOptions, ServeClassifier, ShutdownResult, TorchdogApp, RunningServer, ServerOptions } from './serve/index.js';
