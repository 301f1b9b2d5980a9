export { decodeImage, stackImages, useSingleThreadedDecodes, ImageDecodeError, DEFAULT_MAX_PIXELS } from './decode.js';
export type { ImageInput, DecodeOptions, ImageErrorCode } from './decode.js';
