/**
 * `udsbus tap`: print messages as they pass, one line each (or one JSON object per line).
 *
 * stdout carries messages and nothing else; every notice (loss, disconnect, reconnect, broker
 * restart, unanswered request, idle exit) goes to stderr as "udsbus tap: …", so `tap --json | jq`
 * never sees a line that is not a message. Requests (messages with a reply topic) are remembered
 * for --reply-timeout; their reply is printed marked "↳" with the round-trip time seen by tap.
 */
import type { Command } from 'commander';
import type { Client, Message, Origin } from 'udsbus';
import { DEFAULT_LIMITS } from 'udsbus/core';
import { checkPattern, covers, describeTopicProblem, patternMatches } from 'udsbus/core';
import { die, socketOption, brokerTrustOption } from '../common.js';
import type { Lifeline } from '../reconnect.js';
import { Exit, exitCodesHelp } from '../exit-codes.js';
import { Dedupe, collectWhere, matchesWhere, reducePatterns, type Where } from '../filter.js';
import { count, secondsOption } from '../options.js';
import { colourFor, formatBytes, formatNumber, hex, renderCompact, table, toJson, type Palette } from '../render.js';

/** The inbox convention of PROTOCOL.md §8; `>` covers it, narrower patterns get a hidden subscription. */
const INBOX_PATTERN = '_INBOX.>';
const MAX_PENDING_REQUESTS = 10_000;
const NON_TTY_WIDTH = 400;

export type TapOptions = {
  socket: string;
  json?: boolean;
  raw?: boolean;
  full?: boolean;
  count?: number;
  timeout?: number;
  retained?: boolean;
  retainedOnly?: boolean;
  where?: Where[];
  from?: string;
  stats?: boolean;
  replyTimeout: number;
};

export function registerTap(program: Command): void {
  program
    .command('tap')
    .description('watch messages on the bus: one line per message (time, topic, size, payload) or --json lines')
    .argument('[patterns...]', 'topic patterns (default ">": everything except $SYS topics)')
    .addOption(socketOption())
    .addOption(brokerTrustOption())
    .option('--json', 'one JSON object per message per line, for jq (fields below)')
    .option('--raw', 'show the payload bytes in hex instead of decoding them (with --json: an extra "raw" field)')
    .option('--full', 'never shorten long payloads or byte strings')
    .option('-n, --count <n>', `exit ${Exit.OK} after n messages`, count)
    .addOption(secondsOption('-t, --timeout <seconds>', `exit ${Exit.IDLE} when no message came for that long`))
    .option('--retained', 'replay the retained messages that match first (the default)')
    .option('--no-retained', 'skip the retained replay: live messages only')
    .option('--retained-only', `print the retained messages that match, then exit ${Exit.OK}`)
    .option('-w, --where <field=value>', 'only messages whose payload field (dot path) equals value (JSON if it parses, else text); FIELD!=VALUE negates; repeat for AND', collectWhere)
    .option('--from <name|pid|cid>', 'only messages from this publisher (its hello name, pid or connection id)')
    .option('--stats', 'on exit (also Ctrl-C) print a per-topic count/size/rate table to stderr')
    .addOption(secondsOption('--reply-timeout <seconds>', 'a request unanswered this long is reported on stderr', 5000))
    .addHelpText(
      'after',
      `
Output:
  text    HH:MM:SS.mmm TOPIC SIZE [retained] [→ REPLY-TOPIC] [hdr{k=v}] [from NAME(pid P)] PAYLOAD
          payload in CBOR diagnostic style: {active: true, jpeg: h'ffd8…'(2.1kB)};
          a reply to a request seen by tap: HH:MM:SS.mmm ↳ _INBOX.… SIZE (RTT, reply to TOPIC) PAYLOAD
          colours only on a terminal, never with NO_COLOR set (FORCE_COLOR=1 forces them)
  --json  {"time","topic","payload","size","seq","sid","retained","reply","hdr","lost","from"}
          plus "inReplyTo":{"topic","rttMs"} on replies and "raw" with --raw.
          time: ISO 8601, when tap received it. Byte strings: {"$bytes":"<hex>"}; integers
          beyond 2^53: strings; an empty payload: null with size 0. reply/hdr/from: null when
          absent. from: the publisher as the broker saw it, {cid,name,uid,gid,pid} (PROTOCOL.md §7).
  Notices (loss, disconnect, reconnect, broker restart, "no reply within", idle) go to stderr
  as "udsbus tap: …" lines, never to stdout. tap reconnects by itself and keeps going.

Examples:
  udsbus tap                                   # everything except $SYS
  udsbus tap 'camera.event.*.motion'           # motion from every camera
  udsbus tap '$SYS.>'                          # the broker's own events
  udsbus tap --json --count 5 'camera.>' | jq .payload
  udsbus tap --where active=true --where camera.id=cam-01 'camera.>'
  udsbus tap --retained-only 'camera.status.>' # current state, then exit
  udsbus tap --from onvif-worker                # who publishes what
  udsbus tap --timeout 10 'camera.event.>' || echo "quiet for 10 s"
${exitCodesHelp([Exit.OK, Exit.ERROR, Exit.CONNECT, Exit.IDLE])}`,
    )
    .action((patterns: string[], o: TapOptions) => runTap(patterns, o));
}

/** A request seen by tap; `at` is performance.now() when it passed. */
type Pending = { topic: string; at: number; timer: NodeJS.Timeout };
type TopicStats = { count: number; bytes: number };

export async function runTap(patterns: string[], o: TapOptions): Promise<void> {
  const asked = patterns.length > 0 ? patterns : ['>'];
  for (const p of asked) {
    const problem = checkPattern(p, DEFAULT_LIMITS);
    if (problem !== null) die(describeTopicProblem(problem === 'INVALID_TOPIC' ? 'INVALID_PATTERN' : problem, p, DEFAULT_LIMITS), Exit.ERROR);
  }
  const list = reducePatterns(asked);
  const { EMPTY, catchError, map, merge } = await import('rxjs');
  const { keepConnected } = await import('../reconnect.js');
  const out = colourFor(process.stdout);
  const err = colourFor(process.stderr);
  const note = (text: string) => process.stderr.write(`${err.dim(`udsbus tap: ${text}`)}\n`);

  const startedAt = Date.now();
  const perTopic = new Map<string, TopicStats>();
  const pending = new Map<string, Pending>();
  const dedupe = new Dedupe();
  let shown = 0;
  let idleTimer: NodeJS.Timeout | undefined;
  let finishing = false;
  let line: Lifeline | undefined;

  const finish = (code: number, why?: string): void => {
    if (finishing) return;
    finishing = true;
    clearTimeout(idleTimer);
    for (const p of pending.values()) clearTimeout(p.timer);
    if (why !== undefined) note(why);
    if (o.stats) process.stderr.write(`${statsTable(perTopic, Date.now() - startedAt)}\n`);
    const bye = setTimeout(() => process.exit(code), 1000);
    void (line?.close() ?? Promise.resolve()).finally(() => {
      clearTimeout(bye);
      process.exit(code);
    });
  };
  const armIdle = (): void => {
    if (o.timeout === undefined) return;
    clearTimeout(idleTimer);
    idleTimer = setTimeout(() => finish(Exit.IDLE, `no message for ${o.timeout! / 1000} s (--timeout); exiting with code ${Exit.IDLE}`), o.timeout);
  };

  const remember = (topic: string, reply: string, at: number): void => {
    const prev = pending.get(reply);
    if (prev !== undefined) clearTimeout(prev.timer);
    if (pending.size >= MAX_PENDING_REQUESTS) {
      const [oldest] = pending.keys();
      if (oldest !== undefined) {
        clearTimeout(pending.get(oldest)!.timer);
        pending.delete(oldest);
      }
    }
    const timer = setTimeout(() => {
      pending.delete(reply);
      note(`no reply within ${o.replyTimeout / 1000} s to ${topic} (reply topic ${reply})`);
    }, o.replyTimeout);
    timer.unref();
    pending.set(reply, { topic, at, timer });
  };

  const onMessage = (m: Message, hidden: boolean): void => {
    if (finishing) return;
    const now = Date.now();
    const mono = performance.now();
    if (dedupe.isCopy(m.topic, m.bytes, m.sid, m.retained)) return;
    if (o.retainedOnly && !m.retained) return;
    const request = m.topic.startsWith('_INBOX.') ? pending.get(m.topic) : undefined;
    // The hidden inbox subscription exists only to pair replies with requests tap has shown.
    if (request === undefined && hidden && !list.some((p) => patternMatches(p, m.topic))) return;
    if (request === undefined && !(matchesWhere(m.payload, o.where ?? []) && fromMatches(m.from, o.from))) return;
    if (request !== undefined) {
      clearTimeout(request.timer);
      pending.delete(m.topic);
    }
    const rttMs = request === undefined ? undefined : Math.round((mono - request.at) * 10) / 10;
    if (m.reply !== undefined && !m.retained) remember(m.topic, m.reply, mono);

    const text = o.json ? jsonLine(m, now, o, request, rttMs) : textLine(m, now, o, out, request, rttMs);
    process.stdout.write(`${text}\n`);

    shown++;
    const t = perTopic.get(m.topic);
    if (t === undefined) perTopic.set(m.topic, { count: 1, bytes: m.bytes.length });
    else {
      t.count++;
      t.bytes += m.bytes.length;
    }
    armIdle();
    if (o.count !== undefined && shown >= o.count) finish(Exit.OK);
  };

  const retained = o.retained !== false || o.retainedOnly === true;
  const attach = (client: Client, first: boolean): void => {
    if (!first) dedupe.reset();
    client.on('loss', (l) => note(`${l.lost} message${l.lost === 1 ? '' : 's'} lost on "${l.pattern}" (policy ${l.policy}, last lost seq ${l.lastSeq}): tap read too slowly`));
    client.on('error', (e: Error & { codeName?: string }) => note(e.codeName === 'SHUTTING_DOWN' ? 'the broker is shutting down' : `error: ${e.message}`));
    const streams = list.map((p) => client.subscribe(p, { retained }).pipe(map((m) => ({ m, hidden: false }))));
    if (!list.some((p) => covers(p, INBOX_PATTERN))) {
      // Only for pairing replies: under an ACL a non-admin user usually may not read other
      // clients' inboxes, so a refusal here turns pairing off instead of ending the tap.
      streams.push(
        client.subscribe(INBOX_PATTERN, { retained: false }).pipe(
          map((m) => ({ m, hidden: true })),
          catchError((e: Error) => {
            note(`replies are not paired with requests: the broker refused ${INBOX_PATTERN} (${e.message})`);
            return EMPTY;
          }),
        ),
      );
    }
    merge(...streams).subscribe({
      next: ({ m, hidden }) => onMessage(m, hidden),
      error: (e: Error) => finish(Exit.ERROR, `the broker refused the subscription: ${e.message}`),
    });
  };

  line = await keepConnected(o.socket, 'udsbus-tap', {
    attach,
    note,
    lostHint: ' (messages published meanwhile are not seen)',
    restartHint: ' (retained messages are replayed again)',
  });
  process.on('SIGINT', () => finish(Exit.OK));
  process.on('SIGTERM', () => finish(Exit.OK));
  // `tap | head`: the reader left; that is a normal end.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => finish(e.code === 'EPIPE' ? Exit.OK : Exit.ERROR));

  await line.current()?.flush().catch(() => undefined);
  if (o.retainedOnly) {
    // flush() resolves after the broker has answered every sub, and the answers come after
    // the retained replay (PROTOCOL.md §9): everything retained has been printed.
    finish(Exit.OK);
    return;
  }
  note(`watching ${list.map((p) => `"${p}"`).join(', ')} on ${o.socket}; Ctrl-C to stop`);
  armIdle();
}

function clock(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** "from recorder(pid 812)" (uid and gid are in --json); "(unverified)" when the broker has no peer credentials (TCP). */
function describeFrom(f: Origin): string {
  const who = f.name !== '' ? f.name : f.cid;
  if (f.anonymous === true || f.pid === undefined) return `from ${who}(unverified)`;
  return `from ${who}(pid ${f.pid})`;
}

/** --from: the publisher's name, pid or connection id. */
function fromMatches(f: Origin | undefined, want: string | undefined): boolean {
  if (want === undefined) return true;
  if (f === undefined) return false;
  return f.name === want || f.cid === want || (f.pid !== undefined && String(f.pid) === want);
}

function textLine(m: Message, now: number, o: TapOptions, c: Palette, request: Pending | undefined, rttMs: number | undefined): string {
  const parts: string[] = [c.dim(clock(now))];
  if (request !== undefined) parts.push(c.reply('↳'));
  parts.push(c.topic(m.topic), c.dim(formatBytes(m.bytes.length)));
  if (m.retained) parts.push(c.flag('retained'));
  if (request !== undefined) parts.push(c.reply(`(${formatNumber(rttMs!)} ms, reply to ${request.topic})`));
  if (m.reply !== undefined) parts.push(c.reply(`→ ${m.reply}`));
  if (m.hdr !== undefined) {
    const h = `hdr{${Object.entries(m.hdr)
      .map(([k, v]) => `${k}=${v}`)
      .join(', ')}}`;
    parts.push(m.hdr.status === 'error' ? c.error(h) : c.dim(h));
  }
  if (m.from !== undefined) parts.push(c.dim(describeFrom(m.from)));
  const prefix = parts.join(' ');
  const width = process.stdout.isTTY ? Math.max(40, (process.stdout.columns ?? 120) - visibleLength(prefix) - 1) : NON_TTY_WIDTH;
  const body = o.raw ? renderRaw(m.bytes, o.full === true, width) : renderCompact(m.payload, { full: o.full === true, max: width });
  return `${prefix} ${body}`;
}

function renderRaw(bytes: Uint8Array, full: boolean, width: number): string {
  const h = hex(bytes);
  if (h === '') return '(empty)';
  return full || h.length <= width ? h : `${h.slice(0, Math.max(2, width - 1))}…`;
}

function visibleLength(s: string): number {
  // eslint-disable-next-line no-control-regex
  return s.replace(/\x1b\[[0-9;]*m/g, '').length;
}

function jsonLine(m: Message, now: number, o: TapOptions, request: Pending | undefined, rttMs: number | undefined): string {
  const obj: Record<string, unknown> = {
    time: new Date(now).toISOString(),
    topic: m.topic,
    payload: toJson(m.payload),
    size: m.bytes.length,
    seq: m.seq,
    sid: m.sid,
    retained: m.retained,
    reply: m.reply ?? null,
    hdr: m.hdr ?? null,
    lost: m.lost,
    from: m.from === undefined ? null : toJson(m.from),
  };
  if (request !== undefined) obj.inReplyTo = { topic: request.topic, rttMs };
  if (o.raw) obj.raw = hex(m.bytes);
  return JSON.stringify(obj);
}

function statsTable(perTopic: Map<string, TopicStats>, elapsedMs: number): string {
  const secs = Math.max(elapsedMs, 1) / 1000;
  const rows = [...perTopic.entries()].sort((a, b) => b[1].count - a[1].count);
  const shownRows = rows.slice(0, 100);
  let total = 0;
  let bytes = 0;
  for (const [, s] of rows) {
    total += s.count;
    bytes += s.bytes;
  }
  const body = table(
    ['topic', 'msgs', 'bytes', 'msg/s'],
    [...shownRows.map(([topic, s]) => [topic, s.count, formatBytes(s.bytes), round1(s.count / secs)]), ['(all topics)', total, formatBytes(bytes), round1(total / secs)]],
  );
  const more = rows.length > shownRows.length ? `\n(${rows.length - shownRows.length} more topics not shown)` : '';
  return `udsbus tap: ${total} message${total === 1 ? '' : 's'} on ${rows.length} topic${rows.length === 1 ? '' : 's'} in ${secs.toFixed(1)} s\n${body}${more}`;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}
