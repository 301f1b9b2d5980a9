export { decodeImage, resizePixels, stackImages, useSingleThreadedDecodes, ImageDecodeError, DEFAULT_MAX_PIXELS } from './decode.js';
export type { ImageInput, DecodeOptions, ImageErrorCode } from './decode.js';
export { sniffImageFormat, isImageFormat, IMAGE_FORMATS, ACCEPTED_FORMAT_NAMES } from './formats.js';
export type { ImageFormat } from './formats.js';
