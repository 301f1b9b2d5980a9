// Structured logs: one JSON object per line on stderr, with the `severity`,
// `message` and `httpRequest` fields that Cloud Logging understands.

export type Severity = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR';

export interface LogEntry {
  severity: Severity;
  message: string;
  [field: string]: unknown;
}

export type Logger = (entry: LogEntry) => void;

/** Writes each entry as a JSON line (with `time`) to `stream`, stderr by default. */
export function jsonLineLogger(stream: NodeJS.WritableStream = process.stderr): Logger {
  return (entry) => {
    stream.write(JSON.stringify({ time: new Date().toISOString(), ...entry }) + '\n');
  };
}

export const silentLogger: Logger = () => {};
