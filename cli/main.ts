#!/usr/bin/env node
/** The `udsbus` command: one file per subcommand under cli/commands. */
import { Command } from 'commander';
import { registerBroker } from './commands/broker.js';
import { registerPub } from './commands/pub.js';
import { registerTap } from './commands/tap.js';
import { registerDemo } from './commands/demo.js';
import { registerAudit } from './commands/audit.js';
import { registerRun } from './commands/run.js';
import { registerReq } from './commands/req.js';
import { registerStats } from './commands/stats.js';
import { registerDurable } from './commands/durable.js';
import { registerBench } from './commands/bench.js';
import { registerBridge } from './commands/bridge.js';
import { registerConfig } from './commands/config.js';
import { registerDoctor } from './commands/doctor.js';
import { registerDashboard } from './commands/dashboard.js';
import { registerRecordings } from './commands/recordings.js';
import { exitCodesHelp } from './exit-codes.js';

const program = new Command();
program
  .name('udsbus')
  .description('A local event bus for camera systems over a Unix domain socket.')
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText('after', `\nEvery command takes --socket PATH (or the UDSBUS_SOCKET environment variable) and refuses a broker\nrun by another user unless --expect-broker-uid UID|any (or UDSBUS_EXPECT_BROKER_UID) says so.\n${exitCodesHelp()}`);

// --expect-broker-uid (cli/common.ts) reaches every connection the command makes through the
// variable the library reads.
program.hook('preAction', (_root, action) => {
  const uids = action.opts()['expectBrokerUid'];
  if (typeof uids === 'string') process.env['UDSBUS_EXPECT_BROKER_UID'] = uids;
});

registerBroker(program);
registerPub(program);
registerTap(program);
registerReq(program);
registerStats(program);
registerDurable(program);
registerDemo(program);
registerAudit(program);
registerRun(program);
registerBench(program);
registerBridge(program);
registerConfig(program);
registerDoctor(program);
registerDashboard(program);
registerRecordings(program);

program.parseAsync(process.argv).catch((err: unknown) => {
  process.stderr.write(`udsbus: ${(err as Error).message}\n`);
  process.exit(1);
});
