/**
 * The broker daemon's structured log: pino JSON lines on stdout (stderr keeps the short human
 * notices that scripts and `--quiet` already know). One line per connection opened and closed
 * (with its reason code), per drop burst and per ACL denial — the last two rate-limited per
 * connection, so a flood of drops or a client retrying a forbidden publish in a loop costs one
 * line per window, followed by one line that counts what was held back.
 */
import { pino, type Logger } from 'pino';
import type { BrokerEvents, ConnectionView, DenialRecord } from 'udsbus';
import type { LogLevel } from './broker-config.js';

export type { Logger } from 'pino';

/**
 * A logger on `fd` that never blocks the broker: writes are asynchronous and, should nobody read
 * the pipe (a script that ignores stdout), buffered up to 4 MiB and then dropped rather than
 * stalling every connection behind a full pipe. `drain()` resolves once what was written is out
 * (in order; at most a second when nobody reads); `flushSync()` is for a synchronous exit.
 */
export function createBrokerLogger(level: LogLevel = 'info', fd = 1): { log: Logger; flush: () => void; drain: () => Promise<void> } {
  const dest = pino.destination({ dest: fd, sync: false, minLength: 0, maxLength: 4 * 1024 * 1024 });
  const log = pino({ name: 'udsbus-broker', level, base: { pid: process.pid } }, dest);
  return {
    log,
    // sonic-boom's flush(cb) calls back at once when minLength is 0 (nothing is held back), even
    // while a write is still in flight; its 'drain' event is what says everything written is out.
    drain: () =>
      new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(t);
          dest.off('drain', done);
          resolve();
        };
        const t = setTimeout(done, 1000);
        if ((dest as unknown as { _writing?: boolean })._writing === true) dest.once('drain', done);
        else done();
      }),
    flush: () => {
      try {
        dest.flushSync();
      } catch {
        /* the reader is gone or stuck: nothing more to do at exit */
      }
    },
  };
}

/** Close reasons that are normal life, not trouble (logged at info; the rest at warn). */
const ORDINARY = new Set(['bye', 'eof', 'shutdown']);

/**
 * Per-key windows: the first event of a key is logged at once; later ones within `windowMs` are
 * counted and reported in one line when the window ends. Timers are unref'd.
 */
export class RateLimitedLog {
  private readonly windows = new Map<string, { held: number; total: number; timer: NodeJS.Timeout }>();
  constructor(public windowMs: number) {}

  hit(key: string, n: number, first: (n: number) => void, summary: (held: number, total: number) => void): void {
    const w = this.windows.get(key);
    if (w !== undefined) {
      w.held += n;
      w.total += n;
      return;
    }
    first(n);
    const timer = setTimeout(() => {
      const done = this.windows.get(key);
      this.windows.delete(key);
      if (done !== undefined && done.held > 0) summary(done.held, done.total);
    }, this.windowMs);
    timer.unref();
    this.windows.set(key, { held: 0, total: n, timer });
  }

  /** Report what is held back now (at shutdown). */
  flush(summary: (key: string, held: number, total: number) => void): void {
    for (const [key, w] of this.windows) {
      clearTimeout(w.timer);
      if (w.held > 0) summary(key, w.held, w.total);
    }
    this.windows.clear();
  }
}

function who(c: ConnectionView): Record<string, unknown> {
  return { cid: c.cid, client: c.name, transport: c.transport, ...(c.peer.pid === undefined ? {} : { peerPid: c.peer.pid }), ...(c.peer.uid === undefined ? {} : { uid: c.peer.uid }) };
}

export type LoggingEvents = BrokerEvents & {
  /** Change the rate-limit window (SIGHUP). */
  setWindow(ms: number): void;
  /** Write the summaries still held back. */
  flush(): void;
};

/** Broker hooks that write the connection, drop and denial lines. */
export function loggingEvents(log: Logger, windowMs: number): LoggingEvents {
  const drops = new RateLimitedLog(windowMs);
  const denials = new RateLimitedLog(windowMs);
  const opened = new Map<string, number>();
  return {
    opened(c) {
      opened.set(c.cid, Date.now());
      log.info({ evt: 'conn.open', ...who(c) }, `connection ${c.cid} opened by "${c.name}"`);
    },
    closed(c) {
      // Whether it said hello comes from our own record of opens: the core's `wasOpen` is also true
      // for a connection cut while closing during its handshake.
      const since = opened.get(c.cid);
      opened.delete(c.cid);
      const reason = c.closeReason ?? 'eof';
      const rec = { evt: 'conn.close', ...who(c), reason, clean: c.clean, hello: since !== undefined, msgsIn: c.msgsIn, bytesIn: c.bytesIn, ...(since === undefined ? {} : { durationMs: Date.now() - since }) };
      const text = `connection ${c.cid}${c.name === '' ? '' : ` ("${c.name}")`} closed: ${reason}`;
      if (ORDINARY.has(reason)) log.info(rec, text);
      else log.warn(rec, text);
    },
    dropped(c, policy, n) {
      drops.hit(
        `${c.cid}\0${policy}`,
        n,
        (k) => log.warn({ evt: 'drops', ...who(c), policy, dropped: k }, `dropping messages for ${c.cid} ("${c.name}"): its queue is full (policy ${policy}); further drops summarised every ${drops.windowMs} ms`),
        (held, total) => log.warn({ evt: 'drops', ...who(c), policy, dropped: held, burst: total, windowMs: drops.windowMs }, `${held} more messages dropped for ${c.cid} ("${c.name}") (policy ${policy})`),
      );
    },
    denied(r: DenialRecord) {
      denials.hit(
        `${r.cid}\0${r.action}\0${r.target}`,
        1,
        () => log.warn({ evt: 'acl.denied', ...denialFields(r) }, `denied: ${r.name === '' ? r.cid : `"${r.name}"`} (${r.uid === undefined ? 'anonymous' : `uid ${r.uid}`}) may not ${r.action} "${r.target}": ${r.reason}`),
        (held) => log.warn({ evt: 'acl.denied', cid: r.cid, client: r.name, uid: r.uid, action: r.action, target: r.target, repeated: held, windowMs: denials.windowMs }, `denied ${held} more times: ${r.cid} ${r.action} "${r.target}"`),
      );
    },
    setWindow(ms) {
      drops.windowMs = ms;
      denials.windowMs = ms;
    },
    flush() {
      const say = (evt: string) => (key: string, held: number) => log.warn({ evt, key: key.replaceAll('\0', ' '), held }, `${held} ${evt} events not yet reported`);
      drops.flush(say('drops'));
      denials.flush(say('acl.denied'));
    },
  };
}

/** A denial record without `name`, which would clash with the logger's own `name`. */
function denialFields(r: DenialRecord): Record<string, unknown> {
  const { name, ...rest } = r;
  return { ...rest, client: name };
}

/** Several observers behind the broker's one `events` option. */
export function fanOut(...all: BrokerEvents[]): BrokerEvents {
  return {
    opened: (c) => all.forEach((e) => e.opened?.(c)),
    closed: (c, w) => all.forEach((e) => e.closed?.(c, w)),
    dropped: (c, p, n) => all.forEach((e) => e.dropped?.(c, p, n)),
    denied: (r) => all.forEach((e) => e.denied?.(r)),
  };
}
