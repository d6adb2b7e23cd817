/** `udsbus bridge --config F`: the same as `udsbus run bridge --config F` (docs/bridge.md). */
import type { Command } from 'commander';
import { socketOption, brokerTrustOption } from '../common.js';

export function registerBridge(program: Command): void {
  program
    .command('bridge')
    .description('MQTT bridge (same as "udsbus run bridge"): bus patterns out, MQTT topics in, Home Assistant discovery')
    .requiredOption('-c, --config <file>', 'configuration file (JSON; see examples/bridge.config.json and docs/bridge.md); secrets are read from files it names')
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .option('--log-level <level>', 'fatal, error, warn, info, debug or trace (env UDSBUS_LOG_LEVEL; default info)')
    .addHelpText('after', '\nExamples:\n  udsbus bridge --config /etc/udsbus/bridge.json\n  udsbus run bridge --config examples/bridge.config.json --log-level debug\n\nExit codes:\n  0  stopped by SIGINT/SIGTERM\n  1  a failure\n  2  cannot connect to the broker\n  7  invalid config (file:line: /path: reason)')
    .action(async (o: { config: string; socket: string; logLevel?: string }, cmd: Command) => {
      const fromUser = cmd.getOptionValueSource('socket') !== 'default' || process.env['UDSBUS_SOCKET'] !== undefined;
      const { runBridge } = await import('../../subscribers/bridge/run.js');
      await runBridge(o.config, { socket: fromUser ? o.socket : undefined, logLevel: o.logLevel });
    });
}
