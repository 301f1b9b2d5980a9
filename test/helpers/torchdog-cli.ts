// The CLI from source (no build needed), for tests that spawn it:
//   node --import <tsx> test/helpers/torchdog-cli.ts <command> ...
import { main } from '../../src/cli/main.ts';

process.exitCode = await main(process.argv.slice(2));
