// The torchdog command line: dispatches to one module per command. Every
// command returns its exit status; errors a user can fix print one line.
import { packageVersion } from '../util/index.js';
import { UsageError } from './errors.js';
import { unknownOptionOf } from './flags.js';
import { MAIN_USAGE } from './usage.js';

type Command = (argv: string[]) => Promise<number>;

// Loaded on demand: `data` and `drift` need neither LibTorch nor sharp, and
// start in a fraction of the time without them.
const COMMANDS: Record<string, () => Promise<Command>> = {
  train: async () => (await import('./train.js')).trainCommand,
  'lr-find': async () => (await import('./lr-find.js')).lrFindCommand,
  eval: async () => (await import('./eval.js')).evalCommand,
  predict: async () => (await import('./predict.js')).predictCommand,
  drift: async () => (await import('./drift.js')).driftCommand,
  serve: async () => (await import('./serve.js')).serveCommand,
  data: async () => (await import('./data.js')).dataCommand,
  export: async () => (await import('./export.js')).exportCommand,
  quantize: async () => (await import('./quantize.js')).quantizeCommand,
};

/** The commands `torchdog` dispatches to. */
export const COMMAND_NAMES: readonly string[] = Object.keys(COMMANDS);

const USES_IMAGES = new Set(['train', 'lr-find', 'eval', 'predict', 'serve', 'quantize']);

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(MAIN_USAGE);
    return 0;
  }
  // No command is a usage error, like an unknown one: the help goes to
  // stderr (a pipe such as `torchdog | jq` sees no stray text on stdout) and
  // the status is 2, so a script that lost its arguments does not pass.
  if (name === undefined) {
    process.stderr.write(MAIN_USAGE);
    return 2;
  }
  if (name === '--version' || name === '-v') {
    process.stdout.write(`${packageVersion()}\n`);
    return 0;
  }
  const load = COMMANDS[name];
  if (!load) {
    process.stderr.write(`torchdog: unknown command '${name}'\n\n${MAIN_USAGE}`);
    return 2;
  }
  try {
    if (USES_IMAGES.has(name)) (await import('../image/index.js')).useSingleThreadedDecodes();
    const command = await load();
    return await command(rest);
  } catch (error) {
    const e = error as Error & { code?: string; exitCode?: number };
    if (error instanceof UsageError) {
      process.stderr.write(`torchdog ${name}: ${e.message}\n`);
      return e.exitCode ?? 2;
    }
    // parseArgs reports unknown or malformed flags with these codes; its
    // advice about '--' before positional arguments is left out.
    if (e.code?.startsWith('ERR_PARSE_ARGS')) {
      const unknown = unknownOptionOf(e);
      process.stderr.write(`torchdog ${name}: ${unknown ? `unknown option '${unknown}'` : e.message}\nRun 'torchdog ${name} --help' for usage.\n`);
      return 2;
    }
    process.stderr.write(`torchdog ${name}: ${e.message}\n`);
    if (process.env.TORCHDOG_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
