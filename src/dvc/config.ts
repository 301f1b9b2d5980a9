// .dvc/config and .dvc/config.local: the INI dialect DVC writes (configobj):
//
//   [core]
//       remote = gcs
//   ['remote "gcs"']
//       url = gs://mlops-group-project
//
// config.local (git-ignored, per machine) overrides config key by key.
import { readFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { DvcError } from './errors.js';

export type ConfigSections = Map<string, Map<string, string>>;

export interface DvcConfig {
  /** The .dvc directory; relative paths in the config are relative to it, as in DVC. */
  dir: string;
  sections: ConfigSections;
}

export interface RemoteConfig {
  name: string;
  /** As written in the config. */
  url: string;
  /** Every key of the remote's section (url, credentialpath, projectname, ...). */
  options: ReadonlyMap<string, string>;
}

function unquote(value: string): string {
  if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.at(-1) === value[0]) return value.slice(1, -1);
  return value;
}

/** Parses one config file's text; `file` names it in errors. */
export function parseDvcConfig(text: string, file: string): ConfigSections {
  const sections: ConfigSections = new Map();
  let current: Map<string, string> | undefined;
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) return;
    const where = `${file}:${i + 1}`;
    if (line.startsWith('[')) {
      if (line.startsWith('[[')) throw new DvcError('ERR_DVC_CONFIG', `${where}: nested sections are not part of DVC's config format`);
      const match = /^\[\s*(.*?)\s*\]\s*(?:[#;].*)?$/.exec(line);
      if (!match || match[1] === '') throw new DvcError('ERR_DVC_CONFIG', `${where}: expected a section header like [core] but found ${JSON.stringify(raw)}`);
      const name = unquote(match[1]!);
      current = sections.get(name) ?? new Map();
      sections.set(name, current);
      return;
    }
    const eq = line.indexOf('=');
    if (eq <= 0) throw new DvcError('ERR_DVC_CONFIG', `${where}: expected 'key = value' but found ${JSON.stringify(raw)}`);
    if (!current) throw new DvcError('ERR_DVC_CONFIG', `${where}: '${line.slice(0, eq).trim()}' comes before any [section]`);
    const key = line.slice(0, eq).trim();
    let value = line.slice(eq + 1).trim();
    if (value.startsWith('"') || value.startsWith("'")) {
      const end = value.indexOf(value[0]!, 1);
      if (end < 0) throw new DvcError('ERR_DVC_CONFIG', `${where}: unterminated quote in the value of '${key}'`);
      value = value.slice(1, end);
    } else {
      // configobj's inline comments: whitespace, then # to the end of the line.
      value = value.replace(/\s+#.*$/, '');
    }
    current.set(key, value);
  });
  return sections;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new DvcError('ERR_DVC_CONFIG', `${path}: cannot read (${(error as Error).message})`);
  }
}

/** Reads `dvcDir`/config, then `dvcDir`/config.local over it. Both may be absent. */
export async function readDvcConfig(dvcDir: string): Promise<DvcConfig> {
  const sections: ConfigSections = new Map();
  for (const name of ['config', 'config.local']) {
    const path = join(dvcDir, name);
    const text = await readOptional(path);
    if (text === undefined) continue;
    for (const [section, values] of parseDvcConfig(text, path)) {
      const merged = sections.get(section) ?? new Map<string, string>();
      for (const [k, v] of values) merged.set(k, v);
      sections.set(section, merged);
    }
  }
  return { dir: dvcDir, sections };
}

const REMOTE_SECTION = /^remote\s+"(.+)"$/;

export function remoteNames(config: DvcConfig): string[] {
  return [...config.sections.keys()].flatMap((s) => REMOTE_SECTION.exec(s)?.[1] ?? []);
}

export function defaultRemoteName(config: DvcConfig): string | undefined {
  const name = config.sections.get('core')?.get('remote');
  return name === undefined || name === '' ? undefined : name;
}

/** The remote `name` (default: core.remote); throws naming the remotes that exist. */
export function remoteConfig(config: DvcConfig, name?: string): RemoteConfig {
  const defined = remoteNames(config);
  const known = defined.length ? `defined: ${defined.map((n) => `'${n}'`).join(', ')}` : 'none is defined';
  const chosen = name ?? defaultRemoteName(config);
  if (chosen === undefined) {
    throw new DvcError(
      'ERR_DVC_UNKNOWN_REMOTE',
      `no remote given and no default remote (core.remote) in ${join(config.dir, 'config')} (${known}); ` +
        `pass --remote NAME or run 'dvc remote add -d NAME URL'`,
    );
  }
  const section = config.sections.get(`remote "${chosen}"`);
  if (!section) {
    const from = name === undefined ? ` (core.remote in ${join(config.dir, 'config')})` : '';
    throw new DvcError('ERR_DVC_UNKNOWN_REMOTE', `unknown remote '${chosen}'${from}: ${join(config.dir, 'config')} has no ['remote "${chosen}"'] section (${known})`);
  }
  const url = section.get('url');
  if (!url) throw new DvcError('ERR_DVC_CONFIG', `remote '${chosen}' in ${join(config.dir, 'config')} has no url`);
  return { name: chosen, url, options: section };
}

/** A local path from the config, resolved the way DVC does: relative to the .dvc directory. */
export function resolveConfigPath(config: DvcConfig, path: string): string {
  return isAbsolute(path) ? path : resolve(config.dir, path);
}

/** The cache directory: cache.dir if set, else .dvc/cache. */
export function cacheDir(config: DvcConfig): string {
  const dir = config.sections.get('cache')?.get('dir');
  return dir ? resolveConfigPath(config, dir) : join(config.dir, 'cache');
}
