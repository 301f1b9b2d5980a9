import { readFileSync } from 'node:fs';

let version: string | undefined;

/** The package's version, from its own package.json (src/util/ and dist/util/ are both two folders down). */
export function packageVersion(): string {
  version ??= (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
