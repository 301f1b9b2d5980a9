// The HTTP service: createApp() for tests and embedding, startServer() to listen.
export { createApp } from './app.js';
export type { AppOptions, ServeClassifier, ShutdownResult, TorchdogApp } from './app.js';
export { startServer } from './server.js';
export type { RunningServer, ServerOptions } from './server.js';
export { Batcher } from './batcher.js';
export type { BatcherOptions, BatchResult } from './batcher.js';
export { PredictionLog, FileSink, GcsSink, sinkFor } from './prediction-log.js';
export type { PredictionLogOptions, PredictionLogStats, PredictionRecord, PredictionSink } from './prediction-log.js';
export { loadModel, checkModelSource, DEFAULT_MODEL, ModelSourceError } from './model-source.js';
export type { LoadedModel } from './model-source.js';
export { ServeError } from './errors.js';
export type { ErrorBody, ServeErrorCode } from './errors.js';
export { jsonLineLogger } from './log.js';
export type { Logger, LogEntry, Severity } from './log.js';
