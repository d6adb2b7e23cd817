/** `udsbus durable list|info|purge|delete`: manage durable subscriptions on a running broker. */
import type { Command } from 'commander';
import { die, socketOption, brokerTrustOption } from '../common.js';

export function registerDurable(program: Command): void {
  program
    .command('durable')
    .description('list, inspect, purge or delete durable subscriptions')
    .argument('<action>', 'list | info | purge | delete')
    .argument('[name]', 'durable name (all but list)')
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .option('--json', 'print JSON')
    .addHelpText('after', `
Examples:
  udsbus durable list
  udsbus durable info audit
  udsbus durable purge audit     # drop the backlog (message ids continue)
  udsbus durable delete audit    # remove the queue and its files (no consumer may be attached)`)
    .action(async (action: string, name: string | undefined, o) => {
      if (!['list', 'info', 'purge', 'delete'].includes(action)) die(`unknown action "${action}": use list, info, purge or delete`);
      if (action !== 'list' && name === undefined) die(`"udsbus durable ${action}" needs a durable name`);
      const { connect } = await import('udsbus');
      const client = await connect({ socket: o.socket, name: 'udsbus-durable', reconnect: false }).catch((e: Error) => die(e.message, 2));
      try {
        const result = await client.request(`$SYS.req.durable.${action}`, name === undefined ? {} : { name }, { timeout: 5000 });
        if (o.json) process.stdout.write(`${JSON.stringify(result)}\n`);
        else if (action === 'list') {
          const rows = result as Array<{ name: string; pattern: string; backlog: number; bytes: number; oldestAgeMs?: number; connected: boolean }>;
          process.stdout.write(`${'NAME'.padEnd(20)} ${'PATTERN'.padEnd(28)} ${'BACKLOG'.padStart(9)} ${'BYTES'.padStart(11)} ${'OLDEST'.padStart(9)} CONSUMER\n`);
          for (const r of rows) {
            const age = r.oldestAgeMs === undefined ? '-' : `${Math.round(r.oldestAgeMs / 1000)}s`;
            process.stdout.write(`${r.name.padEnd(20)} ${r.pattern.padEnd(28)} ${String(r.backlog).padStart(9)} ${String(r.bytes).padStart(11)} ${age.padStart(9)} ${r.connected ? 'connected' : 'away'}\n`);
          }
        } else process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
      } catch (err) {
        await client.close();
        die((err as Error).message);
      }
      await client.close();
    });
}
