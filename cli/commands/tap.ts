/** `udsbus tap`: print messages as they pass. */
import type { Command } from 'commander';
import { merge } from 'rxjs';
import { connect, type Message } from '../../bus/client/client.js';
import { die, parseIntOption, socketOption } from '../common.js';

export function registerTap(program: Command): void {
  program
    .command('tap')
    .description('watch messages on the bus')
    .argument('[patterns...]', 'topic patterns (default ">")')
    .addOption(socketOption())
    .option('--json', 'one JSON object per message per line')
    .option('--count <n>', 'exit 0 after n messages', parseIntOption('--count'))
    .addHelpText('after', `
Examples:
  udsbus tap                          # everything
  udsbus tap 'camera.event.*.motion'  # motion from every camera
  udsbus tap --json --count 5 'camera.>' | jq .payload`)
    .action(async (patterns: string[], o) => {
      const client = await connect({ socket: o.socket, name: 'udsbus-tap' }).catch((e: Error) => die(e.message));
      const list = patterns.length > 0 ? patterns : ['>'];
      let n = 0;
      client.on('disconnect', () => process.stderr.write('udsbus tap: disconnected, reconnecting\n'));
      client.on('reconnect', () => process.stderr.write('udsbus tap: reconnected\n'));
      client.on('loss', (l) => process.stderr.write(`udsbus tap: ${l.lost} messages lost on "${l.pattern}"\n`));
      merge(...list.map((p) => client.subscribe(p))).subscribe({
        next: (m: Message) => {
          if (o.json) process.stdout.write(`${JSON.stringify({ topic: m.topic, payload: toJson(m.payload), seq: m.seq, retained: m.retained, time: new Date().toISOString() })}\n`);
          else process.stdout.write(`${new Date().toISOString()} ${m.topic} ${JSON.stringify(toJson(m.payload))}\n`);
          if (o.count !== undefined && ++n >= o.count) {
            void client.close().then(() => process.exit(0));
          }
        },
        error: (e: Error) => die(e.message),
      });
    });
}

/** Byte strings are shown as {"$bytes": "<hex>"}. */
export function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(toJson);
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  if (typeof v === 'bigint') return v.toString();
  return v;
}
