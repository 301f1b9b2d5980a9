import { parseArgs, type ParseArgsConfig } from 'node:util';
import { PRECISIONS, type Precision } from '../model/index.js';
import { UsageError } from './errors.js';

export function parseIntegerFlag(text: string | undefined, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || !/^-?\d+$/.test(text.trim()) || value < min || value > max) {
    throw new UsageError(`${flag}: expected an integer between ${min} and ${max} but received ${JSON.stringify(text)}`);
  }
  return value;
}

/** A flag's value: one of `choices` (undefined: `fallback`). */
export function parseChoiceFlag<T extends string>(text: string | undefined, flag: string, choices: readonly T[], fallback: T): T {
  if (text === undefined) return fallback;
  if (!(choices as readonly string[]).includes(text)) {
    throw new UsageError(`${flag}: expected one of ${choices.join(', ')} but received ${JSON.stringify(text)}`);
  }
  return text as T;
}

/** --precision's value: one of PRECISIONS (undefined: `fallback`). */
export function parsePrecisionFlag(text: string | undefined, fallback: Precision): Precision {
  return parseChoiceFlag(text, '--precision', PRECISIONS, fallback);
}

/**
 * What to suggest for an unknown option: given its name as typed (`--epochs`)
 * and the value that followed it, if any, a sentence, or undefined for none.
 */
export type OptionHint = (option: string, value: string | undefined) => string | undefined;

/**
 * parseArgs, with an unknown option reported as a UsageError that names it
 * (and, through `hint`, what was probably meant) instead of Node's text about
 * positional arguments after '--'.
 */
export function parseFlags<T extends ParseArgsConfig & { args: string[] }>(config: T, hint?: OptionHint): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (error) {
    const option = unknownOptionOf(error);
    if (option === undefined) throw error;
    const suggestion = hint?.(option, optionValue(config.args, option));
    throw new UsageError(`unknown option '${option}'${suggestion ? `; ${suggestion}` : ''}`);
  }
}

/** The option parseArgs did not know (`--epochs`), when that is what `error` reports. */
export function unknownOptionOf(error: unknown): string | undefined {
  const e = error as Error & { code?: string };
  return e?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ? /^Unknown option '([^']+)'/.exec(e.message)?.[1] : undefined;
}

/** The value typed with `option`: `--name=value`, or the next argument when it is not an option itself. */
function optionValue(args: readonly string[], option: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') return undefined;
    if (arg.startsWith(`${option}=`)) return arg.slice(option.length + 1);
    if (arg === option) {
      const next = args[i + 1];
      return next !== undefined && !next.startsWith('-') ? next : undefined;
    }
  }
  return undefined;
}
