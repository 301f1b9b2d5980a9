export { driftFeatures } from './features.js';
export type { DriftFeatures } from './features.js';
