// The torchdog command line: dispatches to one module per command. Every
// command returns its exit status; errors a user can fix print one line.
import { predictCommand } from './predict.js';
import { trainCommand } from './train.js';
import { evalCommand } from './eval.js';
import { driftCommand } from './drift.js';
import { serveCommand } from './serve.js';
import { UsageError } from './errors.js';
import { MAIN_USAGE } from './usage.js';

type Command = (argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Command> = {
  train: trainCommand,
  eval: evalCommand,
  predict: predictCommand,
  drift: driftCommand,
  serve: serveCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (!command) {
    process.stderr.write(`torchdog: unknown command '${name}'\n\n${MAIN_USAGE}`);
    return 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    const e = error as Error & { code?: string; exitCode?: number };
    if (error instanceof UsageError) {
      process.stderr.write(`torchdog ${name}: ${e.message}\n`);
      return e.exitCode ?? 2;
    }
    // parseArgs reports unknown or malformed flags with these codes.
    if (e.code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`torchdog ${name}: ${e.message}\nRun 'torchdog ${name} --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`torchdog ${name}: ${e.message}\n`);
    if (process.env.TORCHDOG_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
