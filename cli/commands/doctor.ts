/** `udsbus doctor`: is the bus reachable from here, and if not, what to do — one line per check. */
import { Option, type Command } from 'commander';
import { brokerTrustOption, die } from '../common.js';
import { Exit } from '../exit-codes.js';
import { secondsOption } from '../options.js';
import { lookupDefaultSocket, socketCandidates } from 'udsbus/paths';

export function registerDoctor(program: Command): void {
  program
    .command('doctor')
    .description('check the socket path, mode, owner, your group membership, the broker and its version, the data directory and the native addon; one line each, with what to do')
    .addOption(new Option('-s, --socket <path>', 'broker socket path (default: as every command finds it)'))
    .addOption(brokerTrustOption())
    .option('-c, --config <file>', "the broker's config file: its socket and data directory are checked")
    .option('--data <dir>', "the broker's data directory (durable subscriptions)")
    .option('--group <group>', 'the group that should own the socket', 'udsbus')
    .option('--json', 'one JSON object per check')
    .addOption(secondsOption('-t, --timeout <seconds>', 'how long to wait for the broker to answer', 3000))
    .addHelpText(
      'after',
      `
Exit codes:
  0  no check failed (warnings allowed)
  1  a check failed

Examples:
  udsbus doctor
  udsbus doctor --config /etc/udsbus/broker.jsonc
  udsbus doctor --json | jq 'select(.status != "ok")'`,
    )
    .action(async (o: { socket?: string; config?: string; data?: string; group: string; json?: boolean; timeout: number }) => {
      let file: { socket?: string; data?: string } = {};
      if (o.config !== undefined) {
        const { readBrokerConfig } = await import('../../ops/config-file.js');
        const r = readBrokerConfig(o.config);
        if (!r.ok) die(r.message);
        file = r.settings;
      }
      const socket = o.socket ?? file.socket ?? lookupDefaultSocket();
      const source = o.socket !== undefined ? '--socket' : file.socket !== undefined ? o.config! : process.env['UDSBUS_SOCKET'] ? 'UDSBUS_SOCKET' : `default; tried ${socketCandidates().join(', ')}`;
      const { formatCheck, runChecks } = await import('../../ops/doctor.js');
      const checks = await runChecks({ socket, socketSource: source, data: o.data ?? file.data ?? process.env['UDSBUS_DATA'], group: o.group, timeoutMs: o.timeout });
      for (const c of checks) process.stdout.write(`${o.json ? JSON.stringify(c) : formatCheck(c)}\n`);
      process.exitCode = checks.some((c) => c.status === 'fail') ? Exit.ERROR : Exit.OK;
    });
}
