// torchdog's public API: what the README shows, reached through each
// folder's face. The addon itself is not part of it (src/model's Model is
// the one door to the engine).
export * from './model/index.js';
export * from './image/index.js';
export * from './drift/index.js';
export * from './dvc/index.js';
export * from './cloud/index.js';
export * from './export/index.js';
export { InvalidArgumentError, writeFileAtomic } from './util/index.js';
export { train, resumeConfig, TrainError, resolveConfig, parseOverrides, loadConfigFile, DEFAULT_CONFIG, ConfigError } from './train/index.js';
export type * from './train/index.js';
export { scanImageFolder, DatasetError, generateDemoData, ensureDemoData } from './data/index.js';
export { createApp, startServer, loadModel, SERVE_DEFAULTS } from './serve/index.js';
export type {
  AppOptions, ServeClassifier, ModelDescription, ModelLoad, LoadedModel, Reloaded, ShutdownResult, TorchdogApp, RunningServer, ServerOptions, ServeDefaults,
} from './serve/index.js';
