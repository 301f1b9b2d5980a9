// Option checking in one place, so every error names the parameter, what was
// expected and what was received (the habit of sharp's lib/is.mjs).

export class InvalidArgumentError extends TypeError {
  readonly code = 'ERR_TORCHDOG_INVALID_ARGUMENT';
}

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return `string ${JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${value.byteLength} bytes`;
  return `${typeof value === 'object' ? 'an object' : typeof value}`;
}

export function invalid(name: string, expected: string, received: unknown): InvalidArgumentError {
  return new InvalidArgumentError(`Expected ${expected} for ${name} but received ${describe(received)}`);
}

export function expectInteger(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    const range = Number.isFinite(min) && Number.isFinite(max) ? ` between ${min} and ${max}` : Number.isFinite(min) ? ` >= ${min}` : '';
    throw invalid(name, `an integer${range}`, value);
  }
  return value;
}

export function expectNumber(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) {
    const range = Number.isFinite(min) && Number.isFinite(max) ? ` between ${min} and ${max}` : Number.isFinite(min) ? ` >= ${min}` : '';
    throw invalid(name, `a finite number${range}`, value);
  }
  return value;
}

export function expectString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value.length === 0) throw invalid(name, 'a non-empty string', value);
  return value;
}

export function expectBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') throw invalid(name, 'a boolean', value);
  return value;
}

export function expectOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw invalid(name, `one of ${allowed.map((a) => `'${a}'`).join(', ')}`, value);
  }
  return value as T;
}

export function expectTriple(value: unknown, name: string, min = -Infinity): [number, number, number] {
  if (!Array.isArray(value) || value.length !== 3) throw invalid(name, 'an array of 3 numbers', value);
  return value.map((v, i) => expectNumber(v, `${name}[${i}]`, min)) as [number, number, number];
}

/** Rejects keys an options object should not have, naming them. */
export function expectKnownKeys(value: object, name: string, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidArgumentError(`Unknown option ${name}.${key} (known: ${known.join(', ')})`);
    }
  }
}

/** Drops keys whose value is undefined, so `{...defaults, ...withoutUndefined(o)}` keeps the defaults. */
export function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
