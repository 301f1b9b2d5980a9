// Cloud storage helpers shared by the commands (data versioning, run upload,
// model download).
export * from './gcs.js';
