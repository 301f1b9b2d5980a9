// Small pieces every folder shares: atomic writes, argument checks, file
// predicates, the HTML page frame and number formats, seeded randomness.
export { STALE_TEMP_MS, TEMP_FILE, replaceAtomically, tempPathBeside, writeFileAtomic } from './atomic-write.js';
export type { FileContent } from './atomic-write.js';
export { niceAxis, niceStep } from './axis.js';
export type { Axis } from './axis.js';
export { freePort } from './free-port.js';
export { isDirectory, isFile, pathExists } from './fs.js';
export { escapeHtml, htmlPage } from './html-page.js';
export { mapLimit } from './map-limit.js';
export { packageVersion } from './package-version.js';
export { formatNumber, formatPercent } from './number-format.js';
export { Random, deriveSeed } from './random.js';
export { InvalidArgumentError, describe, expectBoolean, expectInteger, expectKnownKeys, expectNumber, expectOneOf, expectString, expectTriple, invalid, withoutUndefined } from './validate.js';
