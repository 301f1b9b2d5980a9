export { scanImageFolder, scanSplit, DatasetError, IMAGE_EXTENSIONS } from './scan.js';
export type { ImageFolder, Sample } from './scan.js';
export { decodeSet, makeBatch, batchIndices } from './dataset.js';
export type { DecodedSet, Batch, DecodeSetOptions } from './dataset.js';
export { augmentInto, sampleCrop } from './augment.js';
export type { AugmentOptions } from './augment.js';
