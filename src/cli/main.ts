// The torchdog command line: dispatches to one module per command. Every
// command returns its exit status; errors a user can fix print one line.
import { UsageError } from './errors.js';
import { MAIN_USAGE } from './usage.js';

type Command = (argv: string[]) => Promise<number>;

// Loaded on demand: `data` and `drift` need neither LibTorch nor sharp, and
// start in a fraction of the time without them.
const COMMANDS: Record<string, () => Promise<Command>> = {
  train: async () => (await import('./train.js')).trainCommand,
  eval: async () => (await import('./eval.js')).evalCommand,
  predict: async () => (await import('./predict.js')).predictCommand,
  drift: async () => (await import('./drift.js')).driftCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  data: async () => (await import('./data.js')).dataCommand,
};

const USES_IMAGES = new Set(['train', 'eval', 'predict', 'serve']);

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_USAGE);
    return name === undefined ? 2 : 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`torchdog: unknown command '${name}'\n\n${MAIN_USAGE}`);
    return 2;
  }
  try {
    if (USES_IMAGES.has(name)) (await import('../image/decode.js')).useSingleThreadedDecodes();
    const command = await load();
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
