/**
 * `udsbus stats`: the broker's own view ($SYS.req.stats, $SYS.req.clients) as a table or JSON,
 * once or refreshed in place with --watch.
 */
import type { Command } from 'commander';
import type { BrokerStats, ClientStats } from 'udsbus';
import type { Client } from 'udsbus';
import { NoRespondersError, TimeoutError } from 'udsbus/core';
import type { DurableBacklog } from '../../ops/metrics.js';
import { die, socketOption, brokerTrustOption } from '../common.js';
import { Exit, exitCodesHelp } from '../exit-codes.js';
import { count, secondsOption } from '../options.js';
import { colourFor, formatBytes, formatDuration, table, toJson, type Palette } from '../render.js';

export type StatsOptions = {
  socket: string;
  json?: boolean;
  prom?: boolean;
  watch?: boolean;
  interval: number;
  clients?: boolean;
  count?: number;
  timeout: number;
};

type Sample = { at: number; stats: BrokerStats; clients: ClientStats[] | undefined };

export function registerStats(program: Command): void {
  program
    .command('stats')
    .description("show the broker's counters ($SYS.req.stats) and, with --clients, every connection ($SYS.req.clients)")
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .option('--json', 'one JSON object per sample: the stats, "time", and "clients" with --clients')
    .option('--prom', 'Prometheus text format (as the broker\'s --metrics endpoint serves, less what only the broker process counts: closes by reason, ACL denials)')
    .option('-c, --clients', 'also list the connections: name, pid/uid, messages, queue, drops, subscriptions')
    .option('-w, --watch', 'refresh until Ctrl-C (in place on a terminal; one JSON line per sample with --json)')
    .addOption(secondsOption('-i, --interval <seconds>', 'with --watch: time between samples', 2000))
    .option('-n, --count <n>', `with --watch: stop after n samples (exit ${Exit.OK})`, count)
    .addOption(secondsOption('-t, --timeout <seconds>', 'how long to wait for the broker to answer', 5000))
    .addHelpText(
      'after',
      `
Rates (msgs/s) are averages since the broker started, or since the previous sample with --watch.

Examples:
  udsbus stats
  udsbus stats --clients
  udsbus stats --watch --interval 1
  udsbus stats --json | jq '.drops'
  udsbus stats --prom > /var/lib/node_exporter/textfile/udsbus.prom
  udsbus stats --json --clients | jq '.clients[] | {name, dropped}'
${exitCodesHelp([Exit.OK, Exit.ERROR, Exit.CONNECT, Exit.REQUEST_TIMEOUT])}`,
    )
    .action((o: StatsOptions) => runStats(o));
}

export async function runStats(o: StatsOptions): Promise<void> {
  if (!o.watch && o.count !== undefined) die('--count counts --watch samples; add --watch', Exit.ERROR);
  if (o.prom && (o.watch || o.json || o.clients)) die('--prom prints one sample of the broker counters; use it without --watch, --json and --clients', Exit.ERROR);
  if (o.prom) return printProm(o);
  const c = colourFor(process.stdout);
  process.stdout.on('error', () => process.exit(Exit.OK));
  const { connectOrExit } = await import('../connect.js');
  const { keepConnected } = await import('../reconnect.js');

  if (!o.watch) {
    const client = await connectOrExit(o.socket, 'udsbus-stats', { reconnect: false });
    let s: Sample;
    try {
      s = await sample(client, o);
    } catch (e) {
      await client.close();
      fail(e, o);
    }
    await client.close();
    process.stdout.write(o.json ? `${JSON.stringify(jsonOf(s))}\n` : `${render(s, undefined, o.socket, c)}\n`);
    return;
  }

  const note = (text: string) => process.stderr.write(`udsbus stats: ${text}\n`);
  const line = await keepConnected(o.socket, 'udsbus-stats', { note, attach: () => undefined });
  let prev: Sample | undefined;
  let n = 0;
  let stopping = false;
  const tty = process.stdout.isTTY === true && !o.json;
  // On a terminal, draw on the alternate screen (like top) and give the old one back at the end.
  if (tty) process.stdout.write('\x1b[?1049h');
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (tty) process.stdout.write('\x1b[?1049l');
    void line.close().finally(() => process.exit(Exit.OK));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (;;) {
    const started = Date.now();
    const client = line.current();
    if (client !== undefined) {
      try {
        const s = await sample(client, o);
        if (stopping) return;
        // Rates against a sample from an earlier broker process (counters restarted) would be nonsense.
        if (prev !== undefined && s.stats.uptimeMs < prev.stats.uptimeMs) prev = undefined;
        if (o.json) process.stdout.write(`${JSON.stringify(jsonOf(s))}\n`);
        else {
          const head = c.dim(`udsbus stats — ${o.socket} — ${new Date(s.at).toTimeString().slice(0, 8)} — every ${o.interval / 1000} s, Ctrl-C to stop`);
          const text = `${head}\n${render(s, prev, o.socket, c)}\n`;
          // Home, draw over the previous frame line by line, clear the rest: no flicker.
          process.stdout.write(tty ? `\x1b[H${text.replaceAll('\n', '\x1b[K\n')}\x1b[J` : `${text}\n`);
        }
        prev = s;
      } catch (e) {
        if (stopping) return;
        // A connection lost mid-request is already reported by keepConnected.
        if ((e as { codeName?: string }).codeName !== 'DISCONNECTED') note(describe(e, o));
      }
      if (o.count !== undefined && ++n >= o.count) return stop();
    }
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, o.interval - (Date.now() - started))));
    if (stopping) return;
  }
}

/** One Prometheus exposition: $SYS.req.stats plus the durable queues' backlog. */
async function printProm(o: StatsOptions): Promise<void> {
  const { renderMetrics } = await import('../../ops/metrics.js');
  const { connectOrExit } = await import('../connect.js');
  const client = await connectOrExit(o.socket, 'udsbus-stats', { reconnect: false });
  let text: string;
  try {
    const stats = await client.request<BrokerStats>('$SYS.req.stats', undefined, { timeout: o.timeout });
    // A broker without a data directory (or rules that refuse it) has no durable list: leave it out.
    const durables = await client.request<DurableBacklog[]>('$SYS.req.durable.list', undefined, { timeout: o.timeout }).catch(() => undefined);
    text = renderMetrics({ stats, durables: Array.isArray(durables) ? durables : undefined });
  } catch (e) {
    await client.close();
    fail(e, o);
  }
  await client.close();
  process.stdout.write(text);
}

async function sample(client: Client, o: StatsOptions): Promise<Sample> {
  const [stats, clients] = await Promise.all([
    client.request<BrokerStats>('$SYS.req.stats', undefined, { timeout: o.timeout }),
    o.clients ? client.request<ClientStats[]>('$SYS.req.clients', undefined, { timeout: o.timeout }) : Promise.resolve(undefined),
  ]);
  return { at: Date.now(), stats, clients };
}

function describe(e: unknown, o: StatsOptions): string {
  if (e instanceof TimeoutError) return `the broker did not answer within ${o.timeout / 1000} s (is it overloaded? raise --timeout)`;
  if (e instanceof NoRespondersError) return 'this broker does not answer $SYS.req.stats (is it an older udsbus?)';
  return (e as Error).message;
}

function fail(e: unknown, o: StatsOptions): never {
  die(describe(e, o), e instanceof TimeoutError ? Exit.REQUEST_TIMEOUT : e instanceof NoRespondersError ? Exit.NO_RESPONDERS : Exit.ERROR);
}

function jsonOf(s: Sample): unknown {
  const obj: Record<string, unknown> = { time: new Date(s.at).toISOString(), ...(toJson(s.stats) as object) };
  if (s.clients !== undefined) obj.clients = toJson(s.clients);
  return obj;
}

function rate(now: number, before: number | undefined, ms: number): string {
  const r = ((now - (before ?? 0)) * 1000) / Math.max(ms, 1);
  return `${r >= 100 ? r.toFixed(0) : r.toFixed(1)}/s`;
}

function render(s: Sample, prev: Sample | undefined, socket: string, c: Palette): string {
  const t = s.stats;
  const since = prev === undefined ? t.uptimeMs : s.at - prev.at;
  const p = prev?.stats;
  const label = (x: string) => c.bold(x.padEnd(13));
  const errors = Object.entries(t.errors ?? {}).filter(([, n]) => (n ?? 0) > 0);
  const drops = Object.entries(t.drops ?? {});
  const totalDrops = drops.reduce((a, [, n]) => a + n, 0);
  const lines = [
    `${label('broker')}${socket}, up ${formatDuration(t.uptimeMs)}, memory rss ${formatBytes(t.memory.rss)} heap ${formatBytes(t.memory.heapUsed)}`,
    `${label('connections')}${t.connections} open, ${t.connectionsTotal} since start; ${plural(t.subscriptions, 'subscription')}`,
    `${label('messages in')}${t.msgsIn} (${rate(t.msgsIn, p?.msgsIn, since)}), ${formatBytes(t.bytesIn)}`,
    `${label('messages out')}${t.msgsOut} (${rate(t.msgsOut, p?.msgsOut, since)})`,
    `${label('retained')}${plural(t.retained, 'topic')}, ${formatBytes(t.retainedBytes)}`,
    `${label('queued')}${formatBytes(t.queuedBytes)} waiting for slow readers`,
    `${label('drops')}${totalDrops === 0 ? 'none' : drops.map(([k, n]) => `${k} ${n}`).join(', ')}`,
    `${label('errors')}${errors.length === 0 ? 'none' : errors.map(([k, n]) => `${k} ${n}`).join(', ')}`,
  ];
  if (totalDrops > 0) lines[6] = c.error(lines[6]!);
  if (t.slowest.length > 0) {
    lines.push('', c.bold('slowest readers'), table(['cid', 'name', 'queued', 'dropped'], t.slowest.map((r) => [r.cid, r.name, formatBytes(r.queuedBytes), r.dropped])));
  }
  if (s.clients !== undefined) {
    const before = new Map((prev?.clients ?? []).map((x) => [x.cid, x]));
    lines.push(
      '',
      c.bold(`connections (${s.clients.length})`),
      table(
        ['cid', 'name', 'transport', 'pid', 'uid', 'up', 'msgs in', 'rate', 'bytes in', 'queued', 'dropped', 'subscriptions'],
        s.clients.map((x) => [
          x.cid,
          x.name === '' ? '-' : x.name,
          x.transport,
          x.pid === undefined ? '-' : String(x.pid),
          x.uid === undefined ? '-' : String(x.uid),
          formatDuration(s.at - Date.parse(x.connectedAt)),
          x.msgsIn,
          clientRate(x, before.get(x.cid), s.at, since),
          formatBytes(x.bytesIn),
          formatBytes(x.queuedBytes),
          x.dropped,
          patterns(x),
        ]),
      ),
    );
  }
  return lines.join('\n');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** Since the previous sample, or since it connected; "-" for a connection younger than a second. */
function clientRate(x: ClientStats, prev: ClientStats | undefined, at: number, since: number): string {
  if (prev !== undefined) return rate(x.msgsIn, prev.msgsIn, since);
  const up = at - Date.parse(x.connectedAt);
  return up < 1000 ? '-' : rate(x.msgsIn, 0, up);
}

function patterns(x: ClientStats): string {
  const list = x.subscriptions.map((s) => `${s.pattern}${s.queue === undefined ? '' : ` (queue ${s.queue})`}${s.dropped > 0 ? ` [${s.dropped} dropped]` : ''}`);
  const text = list.join(', ');
  return text.length > 80 ? `${text.slice(0, 79)}…` : text || '-';
}
