/** `udsbus broker`: run the broker until SIGTERM/SIGINT (the service logic is in ops/broker-service.ts). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { BROKER_SETTINGS, CONFIG_ENV, envName, type BrokerSettings } from '../../ops/broker-config.js';
import { Exit } from '../exit-codes.js';

/** One option per setting; each value also comes from UDSBUS_<KEY> or the config file. */
export function brokerOptions(): Option[] {
  return BROKER_SETTINGS.map((s) => {
    const o = new Option(s.flag, `${s.help} [env ${envName(s.key)}]`);
    if (!s.flag.includes('<')) return o; // a switch
    const variadic = s.flag.includes('...');
    return o.argParser((v: string, prev: unknown) => {
      let parsed: unknown;
      try {
        parsed = s.parse(v);
      } catch (err) {
        throw new InvalidArgumentError((err as Error).message);
      }
      return variadic ? [...((prev as unknown[] | undefined) ?? []), ...(parsed as unknown[])] : parsed;
    });
  });
}

export function registerBroker(program: Command): void {
  const cmd = program
    .command('broker')
    .description('run the broker on a Unix domain socket (or on the socket systemd passes it)')
    .option('-c, --config <file>', `config file (JSON with comments; docs/configuration.md) [env ${CONFIG_ENV}]`);
  for (const o of brokerOptions()) cmd.addOption(o);
  // A bad option value is the same mistake as a bad value in the file or environment: exit 7.
  cmd.exitOverride((err) => process.exit(err.code === 'commander.invalidArgument' ? Exit.CONFIG : err.exitCode));
  cmd
    .addHelpText(
      'after',
      `
Every option can also be set in the config file (same name in camelCase, e.g. "maxConnections")
or in the environment (UDSBUS_MAX_CONNECTIONS). Precedence: option > environment > file > default.
Check a file with "udsbus config check FILE". SIGHUP re-reads the file and the ACL file and applies
logLevel and logRate; other changes are reported as needing a restart.

Structured logs (JSON lines, pino) go to stdout; short notices to stderr (silenced by --quiet).
Under systemd the broker takes its socket from socket activation (LISTEN_FDS) and reports
READY/STATUS/STOPPING/WATCHDOG on $NOTIFY_SOCKET (README, "On an appliance").

Examples:
  udsbus broker --socket /tmp/bus.sock
  sudo udsbus broker --group video --mode 0660      # /run/udsbus/bus.sock, group video
  udsbus broker --config /etc/udsbus/broker.jsonc
  udsbus broker --socket /tmp/bus.sock --tcp 127.0.0.1:4222 --metrics 127.0.0.1:9464

Exit codes:
  0  stopped by SIGTERM/SIGINT after flushing
  1  usage error or other failure
  2  cannot listen: socket in use, unsafe socket directory, permission denied, metrics address taken
  7  invalid configuration: config file, option or UDSBUS_* value, or ACL file (or --acl without peer credentials)`,
    )
    .action(async (o: Record<string, unknown>, c: Command) => {
      const cli: Record<string, unknown> = {};
      for (const s of BROKER_SETTINGS) if (c.getOptionValueSource(s.key) === 'cli' && o[s.key] !== undefined) cli[s.key] = o[s.key];
      const configFile = (o['config'] as string | undefined) ?? (process.env[CONFIG_ENV] || undefined);
      // Loaded here, not at the top: every other command starts faster without the service code.
      const { runBrokerService } = await import('../../ops/broker-service.js');
      await runBrokerService({ configFile, cli: cli as BrokerSettings });
    });
}
