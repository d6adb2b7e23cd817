#!/usr/bin/env node
/** The `udsbus` command: one file per subcommand under cli/commands. */
import { Command } from 'commander';
import { registerBroker } from './commands/broker.js';
import { registerPub } from './commands/pub.js';
import { registerTap } from './commands/tap.js';
import { registerDemo } from './commands/demo.js';

const program = new Command();
program
  .name('udsbus')
  .description('A local event bus for camera systems over a Unix domain socket.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)');

registerBroker(program);
registerPub(program);
registerTap(program);
registerDemo(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`udsbus: ${(err as Error).message}\n`);
  process.exit(1);
});
