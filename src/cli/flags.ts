import { UsageError } from './errors.js';

export function parseIntegerFlag(text: string | undefined, flag: string, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || !/^-?\d+$/.test(text.trim()) || value < min || value > max) {
    throw new UsageError(`${flag}: expected an integer between ${min} and ${max} but received ${JSON.stringify(text)}`);
  }
  return value;
}
