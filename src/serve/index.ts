// The HTTP service: createApp() for tests and embedding, startServer() to listen.
export { createApp } from './app.js';
export type { ShutdownResult, TorchdogApp } from './app.js';
export type { AppOptions } from './options.js';
export type { ServeClassifier, ModelDescription } from './served-model.js';
export { startServer } from './server.js';
export type { RunningServer, ServerOptions } from './server.js';
export { SERVE_DEFAULTS } from './defaults.js';
export type { ServeDefaults } from './defaults.js';
export { loadModel, checkModelSource, ModelSourceError } from './model-source.js';
export type { LoadedModel } from './model-source.js';
export { PredictionLog, FileSink, GcsSink, sinkFor } from './prediction-log.js';
export type { PredictionLogOptions, PredictionLogStats, PredictionRecord, PredictionSink } from './prediction-log.js';
export { ServeError } from './errors.js';
export type { ErrorBody, ServeErrorCode } from './errors.js';
export { jsonLineLogger } from './log.js';
export type { Logger, LogEntry, Severity } from './log.js';
// The pieces the app is made of, for those who build their own routes.
export { Batcher } from './batcher.js';
export type { BatcherOptions, BatchResult } from './batcher.js';
export { Admission, admission } from './admission.js';
export type { AdmissionOptions, AdmissionMiddlewareOptions, Ticket } from './admission.js';
export { deadline, DeadlineExceeded, ClientClosed } from './deadline.js';
export type { DeadlineOptions } from './deadline.js';
export { imageBody } from './body.js';
export type { ImageBodyOptions, ImageUpload } from './body.js';
export { DriftWindow } from './drift-window.js';
export type { DriftWindowOptions, DriftVerdict } from './drift-window.js';
