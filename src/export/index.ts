// Export: a torchdog checkpoint as ONNX or TorchScript, for other runtimes.
export { exportModel, defaultExportPath, EXPORT_FORMATS, EXPORT_EXTENSIONS, TORCHSCRIPT_METADATA_FILE } from './export.js';
export type { ExportFormat, ExportOptions, ExportSummary } from './export.js';
export { onnxModel, ONNX_OPSETS } from './onnx.js';
export type { OnnxOptions } from './onnx.js';
export { ExportError } from './resnet18.js';
