// torchdog's public API.
export * from './model/index.js';
export * from './image/index.js';
export { native } from './native.js';
export type * from './native.js';
export { InvalidArgumentError } from './util/validate.js';
