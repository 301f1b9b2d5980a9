// Training configuration: YAML files in configs/, Hydra-style dotted
// overrides (`optim.lr=3e-4`), one schema that fills defaults and names the
// key and expected type in every error.
import { readFile } from 'node:fs/promises';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

export interface TrainConfig {
  data: {
    root: string;
    image_size: number;
    mean: [number, number, number];
    std: [number, number, number];
    val_fraction: number;
    /** Concurrent image decodes. */
    workers: number;
    /** Fail on an unreadable image instead of skipping it with a warning. */
    strict: boolean;
  };
  model: { arch: 'resnet18'; pretrained: string | null };
  optim: {
    name: 'adam' | 'adamw' | 'sgd';
    lr: number;
    weight_decay: number;
    momentum: number;
    nesterov: boolean;
    betas: [number, number];
    schedule: 'none' | 'step' | 'cosine';
    warmup_epochs: number;
    step_size: number;
    gamma: number;
    min_lr: number;
  };
  train: {
    epochs: number;
    batch_size: number;
    seed: number;
    device: string;
    threads: number;
    /** bf16 autocast for training and evaluation steps; 'auto': where it pays (CUDA, CPUs with AVX512-BF16 or AMX). */
    amp: boolean | 'auto';
    /** Cross-entropy's label smoothing. */
    label_smoothing: number;
    /** Decay of an exponential moving average of the weights, evaluated and saved instead of them; 0 = none. */
    ema: number;
    /** Batches whose gradients add up to one optimizer step (effective batch: batch_size × this). */
    grad_accum_steps: number;
    /** Largest L2 norm of all gradients together before a step; null = no clipping. */
    clip_grad_norm: number | null;
    augment: {
      hflip: boolean;
      crop_scale: [number, number] | null;
      crop_ratio: [number, number];
      /** Batch mixing (timm's Mixup): Beta(alpha, alpha) weights, applied to a batch with probability `prob`; alpha 0 = off. */
      mixup: { alpha: number; prob: number };
      cutmix: { alpha: number; prob: number };
    };
    early_stopping: { patience: number | null; min_delta: number };
    log_every: number;
  };
  output: { dir: string; name: string | null; gcs: string | null };
}

type Spec =
  | { kind: 'int'; min?: number; max?: number; nullable?: boolean }
  | { kind: 'number'; min?: number; max?: number; nullable?: boolean }
  | { kind: 'string'; nullable?: boolean; pattern?: RegExp; hint?: string }
  | { kind: 'bool' }
  | { kind: 'bool-or-auto' }
  | { kind: 'enum'; values: readonly string[] }
  | { kind: 'numbers'; length: number; min?: number; max?: number; nullable?: boolean; increasing?: boolean };

type Schema = { [key: string]: Spec | Schema };

const SCHEMA: Schema = {
  data: {
    root: { kind: 'string' },
    image_size: { kind: 'int', min: 16, max: 1024 },
    mean: { kind: 'numbers', length: 3, min: -10, max: 10 },
    std: { kind: 'numbers', length: 3, min: 1e-6, max: 10 },
    val_fraction: { kind: 'number', min: 0, max: 0.9 },
    workers: { kind: 'int', min: 1, max: 64 },
    strict: { kind: 'bool' },
  },
  model: {
    arch: { kind: 'enum', values: ['resnet18'] },
    pretrained: { kind: 'string', nullable: true },
  },
  optim: {
    name: { kind: 'enum', values: ['adam', 'adamw', 'sgd'] },
    lr: { kind: 'number', min: 0, max: 10 },
    weight_decay: { kind: 'number', min: 0, max: 10 },
    momentum: { kind: 'number', min: 0, max: 1 },
    nesterov: { kind: 'bool' },
    betas: { kind: 'numbers', length: 2, min: 0, max: 0.999999999 },
    schedule: { kind: 'enum', values: ['none', 'step', 'cosine'] },
    warmup_epochs: { kind: 'number', min: 0, max: 1000 },
    step_size: { kind: 'int', min: 1, max: 100000 },
    gamma: { kind: 'number', min: 0, max: 1 },
    min_lr: { kind: 'number', min: 0, max: 10 },
  },
  train: {
    epochs: { kind: 'int', min: 1, max: 100000 },
    batch_size: { kind: 'int', min: 1, max: 4096 },
    seed: { kind: 'int', min: 0, max: 2 ** 31 - 1 },
    device: { kind: 'string', pattern: /^(cpu|auto|cuda(:\d+)?)$/, hint: "'cpu', 'cuda', 'cuda:N' or 'auto'" },
    threads: { kind: 'int', min: 0, max: 1024 },
    amp: { kind: 'bool-or-auto' },
    label_smoothing: { kind: 'number', min: 0, max: 0.99 },
    ema: { kind: 'number', min: 0, max: 0.999999 },
    grad_accum_steps: { kind: 'int', min: 1, max: 1024 },
    clip_grad_norm: { kind: 'number', min: 1e-6, max: 1e6, nullable: true },
    augment: {
      hflip: { kind: 'bool' },
      crop_scale: { kind: 'numbers', length: 2, min: 0.01, max: 1, nullable: true, increasing: true },
      crop_ratio: { kind: 'numbers', length: 2, min: 0.1, max: 10, increasing: true },
      mixup: { alpha: { kind: 'number', min: 0, max: 100 }, prob: { kind: 'number', min: 0, max: 1 } },
      cutmix: { alpha: { kind: 'number', min: 0, max: 100 }, prob: { kind: 'number', min: 0, max: 1 } },
    },
    early_stopping: {
      patience: { kind: 'int', min: 1, max: 100000, nullable: true },
      min_delta: { kind: 'number', min: 0, max: 1 },
    },
    log_every: { kind: 'int', min: 1, max: 100000 },
  },
  output: {
    dir: { kind: 'string' },
    name: { kind: 'string', nullable: true, pattern: /^[\w.-]+$/, hint: 'letters, digits, _ . -' },
    gcs: { kind: 'string', nullable: true, pattern: /^gs:\/\/[a-z0-9][a-z0-9._-]{1,220}(\/.*)?$/, hint: 'gs://bucket/prefix' },
  },
};

/**
 * The one default recipe: what `torchdog train` trains with no --config (it
 * reads the package's configs/default.yaml, which writes these same values
 * out; a test holds them equal) and what resolveConfig() starts from. Tuned
 * for the demo set, from scratch: 8 epochs, a cosine schedule, flips and
 * random resized crops.
 */
export const DEFAULT_CONFIG: TrainConfig = {
  data: { root: 'data/demo', image_size: 128, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], val_fraction: 0.2, workers: 4, strict: false },
  model: { arch: 'resnet18', pretrained: null },
  optim: {
    name: 'adam', lr: 0.001, weight_decay: 0, momentum: 0.9, nesterov: false, betas: [0.9, 0.999],
    schedule: 'cosine', warmup_epochs: 0, step_size: 1, gamma: 0.1, min_lr: 0,
  },
  train: {
    epochs: 8, batch_size: 32, seed: 0, device: 'auto', threads: 0, amp: 'auto',
    label_smoothing: 0, ema: 0, grad_accum_steps: 1, clip_grad_norm: null,
    augment: {
      hflip: true, crop_scale: [0.6, 1], crop_ratio: [0.75, 1.3333333333333333],
      mixup: { alpha: 0, prob: 1 }, cutmix: { alpha: 0, prob: 1 },
    },
    early_stopping: { patience: null, min_delta: 0 },
    log_every: 10,
  },
  output: { dir: 'runs', name: null, gcs: null },
};

export class ConfigError extends Error {
  readonly code = 'ERR_TORCHDOG_CONFIG';
}

function isSpec(node: Spec | Schema): node is Spec {
  return typeof (node as Spec).kind === 'string';
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return `a list ${JSON.stringify(value)}`;
  if (typeof value === 'object') return 'a mapping';
  return `${typeof value} ${JSON.stringify(value)}`;
}

function checkValue(spec: Spec, value: unknown, key: string): unknown {
  const fail = (expected: string): never => {
    throw new ConfigError(`config key '${key}': expected ${expected} but got ${typeName(value)}`);
  };
  if (value === null && 'nullable' in spec && spec.nullable) return null;
  const range = (s: { min?: number; max?: number }) =>
    s.min !== undefined && s.max !== undefined ? ` in [${s.min}, ${s.max}]` : s.min !== undefined ? ` >= ${s.min}` : '';
  const orNull = 'nullable' in spec && spec.nullable ? ' or null' : '';
  switch (spec.kind) {
    case 'int':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < (spec.min ?? -Infinity) || value > (spec.max ?? Infinity)) {
        fail(`an integer${range(spec)}${orNull}`);
      }
      return value;
    case 'number':
      if (typeof value !== 'number' || !Number.isFinite(value) || value < (spec.min ?? -Infinity) || value > (spec.max ?? Infinity)) {
        fail(`a number${range(spec)}${orNull}`);
      }
      return value;
    case 'string':
      if (typeof value !== 'string' || value.length === 0 || (spec.pattern && !spec.pattern.test(value))) {
        fail(`${spec.hint ? `a string (${spec.hint})` : 'a non-empty string'}${orNull}`);
      }
      return value;
    case 'bool':
      if (typeof value !== 'boolean') fail('true or false');
      return value;
    case 'bool-or-auto':
      if (typeof value !== 'boolean' && value !== 'auto') fail('true, false or auto');
      return value;
    case 'enum':
      if (typeof value !== 'string' || !spec.values.includes(value)) fail(`one of ${spec.values.join(', ')}`);
      return value;
    case 'numbers': {
      const ok =
        Array.isArray(value) && value.length === spec.length &&
        value.every((v) => typeof v === 'number' && Number.isFinite(v) && v >= (spec.min ?? -Infinity) && v <= (spec.max ?? Infinity)) &&
        (!spec.increasing || (value as number[]).every((v, i, a) => i === 0 || v >= a[i - 1]!));
      if (!ok) fail(`a list of ${spec.length} numbers${range(spec)}${spec.increasing ? ', in increasing order' : ''}${orNull}`);
      return [...(value as number[])];
    }
  }
}

/**
 * Names that are never config keys: as keys of a plain object they reach
 * Object.prototype (`__proto__.x=1` would set `x` on every object) or the
 * Object function, so they are refused wherever a user names a key.
 */
const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** The schema's entry for `key`: its own keys only, never what a plain object inherits. */
function schemaEntry(schema: Schema, key: string): Spec | Schema | undefined {
  return Object.hasOwn(schema, key) && !FORBIDDEN_KEYS.has(key) ? schema[key] : undefined;
}

function unknownKey(schema: Schema, prefix: string, key: string): ConfigError {
  const path = prefix ? `${prefix}.${key}` : key;
  const known = Object.keys(schema).map((k) => (prefix ? `${prefix}.${k}` : k));
  return new ConfigError(`unknown config key '${path}' (known here: ${known.join(', ')})`);
}

/** Merges `layer` onto `base` following the schema; unknown keys and wrong types throw, naming the key. */
function merge(schema: Schema, base: Record<string, unknown>, layer: unknown, prefix: string): Record<string, unknown> {
  if (layer === undefined || layer === null) return base;
  if (typeof layer !== 'object' || Array.isArray(layer)) {
    throw new ConfigError(`config key '${prefix || '(root)'}': expected a mapping but got ${typeName(layer)}`);
  }
  // Only the schema's keys are ever set on `out` (checked before the assignment).
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(layer as Record<string, unknown>)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const node = schemaEntry(schema, key);
    if (!node) throw unknownKey(schema, prefix, key);
    out[key] = isSpec(node) ? checkValue(node, value, path) : merge(node, base[key] as Record<string, unknown>, value, path);
  }
  return out;
}

/** Refuses a dotted key with a segment that is never a config key, naming the first unknown segment as resolveConfig would. */
function checkOverrideKey(parts: readonly string[]): void {
  if (!parts.some((p) => FORBIDDEN_KEYS.has(p))) return;
  let schema: Schema = SCHEMA;
  for (let i = 0; i < parts.length; i++) {
    const node = schemaEntry(schema, parts[i]!);
    const prefix = parts.slice(0, i).join('.');
    if (!node) throw unknownKey(schema, prefix, parts[i]!);
    if (isSpec(node)) {
      // A value's key followed by more segments: resolveConfig's own error is about the value's type.
      return;
    }
    schema = node;
  }
}

/**
 * The dotted config keys a command-line flag probably meant: `--epochs` and
 * `--train.epochs` → train.epochs, `--batch-size` → train.batch_size, `--name`
 * → optim.name and output.name. Empty when no key has that name.
 */
export function configKeysNamed(flag: string): string[] {
  const name = flag.replace(/^-+/, '').replace(/-/g, '_');
  const leaves: string[] = [];
  const walk = (schema: Schema, prefix: string) => {
    for (const [key, node] of Object.entries(schema)) {
      const path = prefix ? `${prefix}.${key}` : key;
      if (isSpec(node)) leaves.push(path);
      else walk(node, path);
    }
  };
  walk(SCHEMA, '');
  if (leaves.includes(name)) return [name];
  return leaves.filter((path) => path.endsWith(`.${name}`));
}

/** Turns `a.b.c=value` strings into a nested object; values are YAML scalars or flow lists (`[1, 2]`). */
export function parseOverrides(overrides: readonly string[]): Record<string, unknown> {
  // Dictionaries keyed by what the user typed have no prototype to reach through.
  const root: Record<string, unknown> = Object.create(null);
  for (const text of overrides) {
    const eq = text.indexOf('=');
    if (eq <= 0) throw new ConfigError(`override '${text}': expected key=value, e.g. train.epochs=5`);
    const key = text.slice(0, eq).trim();
    const raw = text.slice(eq + 1);
    if (!/^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$/.test(key)) throw new ConfigError(`override '${text}': '${key}' is not a dotted key`);
    let value: unknown;
    try {
      value = raw.trim() === '' ? null : parseYaml(raw);
    } catch (error) {
      throw new ConfigError(`override '${text}': cannot parse value (${(error as Error).message.split('\n')[0]})`);
    }
    const parts = key.split('.');
    checkOverrideKey(parts);
    let node = root;
    for (const part of parts.slice(0, -1)) {
      const next = Object.hasOwn(node, part) ? node[part] : undefined;
      if (next !== undefined && (typeof next !== 'object' || next === null)) {
        throw new ConfigError(`override '${text}': '${part}' was already given a value`);
      }
      node = (node[part] ??= Object.create(null)) as Record<string, unknown>;
    }
    node[parts.at(-1)!] = value;
  }
  return root;
}

/** Resolves defaults ← each layer in order (files, then overrides), validating every key. */
export function resolveConfig(...layers: unknown[]): TrainConfig {
  let config = structuredClone(DEFAULT_CONFIG) as unknown as Record<string, unknown>;
  for (const layer of layers) config = merge(SCHEMA, config, layer, '');
  return config as unknown as TrainConfig;
}

export async function loadConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`config file ${path}: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not found' : (error as Error).message}`);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (error) {
    throw new ConfigError(`config file ${path}: invalid YAML (${(error as Error).message.split('\n')[0]})`);
  }
}

export function configToYaml(config: TrainConfig): string {
  return stringifyYaml(config, { flowCollectionPadding: false });
}
