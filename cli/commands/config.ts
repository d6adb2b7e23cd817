/** `udsbus config check FILE`: validate a broker config file and show the settings it gives. */
import type { Command } from 'commander';
import { BROKER_SETTINGS, envName } from '../../ops/broker-config.js';
import { Exit } from '../exit-codes.js';

export function registerConfig(program: Command): void {
  const config = program.command('config').description('work with config files');
  config
    .command('check')
    .description('validate a broker config file (JSON with comments); print the effective settings, or every problem as file:line:column')
    .argument('<file>', 'the config file')
    .option('--no-env', 'ignore UDSBUS_* variables (by default they are applied, as the broker would)')
    .option('--json', 'print the effective settings as JSON')
    .addHelpText(
      'after',
      `
Exit status 0 when the file is valid, 7 (invalid configuration) with one line per problem on
stderr otherwise.

Examples:
  udsbus config check /etc/udsbus/broker.jsonc
  udsbus config check --json broker.jsonc | jq .maxConnections`,
    )
    .action(async (file: string, o: { env: boolean; json?: boolean }) => {
      const { resolveSettings } = await import('../../ops/broker-service.js');
      const r = await resolveSettings({ configFile: file, cli: {}, env: o.env ? process.env : {} });
      if (!r.ok) {
        process.stderr.write(`udsbus: ${r.message}\n`);
        process.exit(Exit.CONFIG);
      }
      if (o.json) {
        process.stdout.write(`${JSON.stringify(r.settings)}\n`);
        return;
      }
      const set = r.settings as Record<string, unknown>;
      const from = (key: string) => (o.env && process.env[envName(key)] ? ` (from ${envName(key)})` : '');
      const lines = BROKER_SETTINGS.filter((s) => set[s.key] !== undefined).map((s) => `  ${s.key} = ${JSON.stringify(set[s.key])}${from(s.key)}`);
      process.stdout.write(`${file}: ok${lines.length === 0 ? ' (every setting at its default)' : ''}\n${lines.join('\n')}${lines.length > 0 ? '\n' : ''}`);
    });
}
