/** `udsbus broker`: run the broker until SIGTERM/SIGINT. */
import { Option, type Command } from 'commander';
import { startBroker, SocketPathError } from '../../bus/broker/server.js';
import { DEFAULT_LIMITS, type Limits } from '../../bus/protocol/limits.js';
import { loadPeerCred } from '../../bus/security/peercred.js';
import { die, parseIntOption, socketOption } from '../common.js';

export function registerBroker(program: Command): void {
  program
    .command('broker')
    .description('run the broker on a Unix domain socket')
    .addOption(socketOption())
    .option('--mode <octal>', 'socket file mode', '0660')
    .option('--group <group>', 'group (name or gid) that owns the socket')
    .option('--tcp <[host:]port>', 'also listen on TCP (loopback unless a host is given); off by default')
    .option('--max-connections <n>', 'maximum connections', parseIntOption('--max-connections'))
    .option('--max-frame <bytes>', 'maximum frame size', parseIntOption('--max-frame'))
    .option('--queue-bytes <bytes>', 'outbound queue budget per connection', parseIntOption('--queue-bytes'))
    .option('--queue-msgs <n>', 'outbound queue message limit per connection', parseIntOption('--queue-msgs'))
    .option('--keepalive <ms>', 'keepalive interval', parseIntOption('--keepalive'))
    .option('--handshake-timeout <ms>', 'time allowed for hello', parseIntOption('--handshake-timeout'))
    .option('--data <dir>', 'data directory for durable subscriptions (off without it)')
    .addOption(new Option('--fsync <policy>', 'when durable messages reach the disk').choices(['always', 'batch', 'never']).default('batch'))
    .option('--ack-timeout <ms>', 'redeliver unacknowledged durable messages after this long', parseIntOption('--ack-timeout'))
    .option('--acl <file>', 'access rules (SECURITY.md); reloaded on SIGHUP')
    .option('--strict <pattern...>', 'check payloads on these topic patterns against schemas/ and refuse invalid ones (SCHEMA_INVALID)')
    .option('--stats-interval <ms>', 'publish $SYS.broker.stats this often; 0 turns it off', parseIntOption('--stats-interval'), 10_000)
    .option('--grace <ms>', 'how long shutdown waits for slow readers', parseIntOption('--grace'), 2000)
    .option('--pace-stall <ms>', 'a subscriber that reads nothing this long stops pacing its publishers (PROTOCOL.md §10)', parseIntOption('--pace-stall'), 500)
    .option('-q, --quiet', 'no startup line')
    .addHelpText(
      'after',
      `
Examples:
  udsbus broker --socket /tmp/bus.sock
  sudo udsbus broker --group video --mode 0660      # /run/udsbus/bus.sock, group video
  udsbus broker --socket /tmp/bus.sock --tcp 127.0.0.1:4222`,
    )
    .action(async (o) => {
      const mode = Number.parseInt(String(o.mode), 8);
      if (!Number.isInteger(mode) || mode < 0 || mode > 0o777) die(`--mode must be octal like 0660, got "${o.mode}"`);
      const limits: Partial<Limits> = {};
      if (o.maxConnections !== undefined) limits.maxConnections = o.maxConnections;
      if (o.maxFrame !== undefined) limits.maxFrameBytes = o.maxFrame;
      if (o.queueBytes !== undefined) limits.outQueueBytes = o.queueBytes;
      if (o.queueMsgs !== undefined) limits.outQueueMsgs = o.queueMsgs;
      if (o.keepalive !== undefined) limits.keepaliveMs = o.keepalive;
      if (o.handshakeTimeout !== undefined) limits.handshakeTimeoutMs = o.handshakeTimeout;
      let handle;
      try {
        const strict = o.strict === undefined ? undefined : await strictFor(o.strict as string[]);
        handle = await startBroker({
          socket: o.socket,
          mode,
          group: o.group,
          tcp: o.tcp,
          limits,
          closeGraceMs: o.grace,
          paceStallMs: o.paceStall,
          statsIntervalMs: o.statsInterval,
          ...(strict ? { strict } : {}),
          ...(o.acl ? { aclFile: o.acl } : {}),
          ...(o.data ? { dataDir: o.data, durable: { fsync: o.fsync, ...(o.ackTimeout !== undefined ? { ackTimeoutMs: o.ackTimeout } : {}) } } : {}),
        });
      } catch (err) {
        if (err instanceof SocketPathError) die(err.message, 2);
        const e = err as NodeJS.ErrnoException;
        if (e.code === 'EACCES') die(`permission denied creating ${o.socket}: choose a path you may write (--socket) or run as a user who may`, 2);
        die(e.message, 2);
      }
      for (const r of handle.broker.durables?.recovered ?? []) {
        process.stderr.write(`udsbus broker: durable "${r.name}": cut ${r.cutBytes} bytes of a torn or corrupt tail (${r.reason ?? 'recovered'})\n`);
      }
      const peerCred = loadPeerCred(); // memoized: the same result the broker got
      if (!peerCred.available) {
        // Said once, plainly: without it every `from` is anonymous and --acl is refused.
        process.stderr.write(`udsbus broker: no verified peer identity (from is "anonymous"): ${peerCred.reason}\n`);
      }
      if (!o.quiet) {
        const l = { ...DEFAULT_LIMITS, ...limits };
        process.stderr.write(
          `udsbus broker listening on ${handle.socketPath} (mode ${o.mode}${o.group ? `, group ${o.group}` : ''})` +
            (handle.tcp ? ` and tcp ${handle.tcp.host}:${handle.tcp.port}` : '') +
            ` maxConnections=${l.maxConnections} queue=${l.outQueueBytes}B\n`,
        );
      }
      let stopping = false;
      const stop = (sig: string) => {
        if (stopping) return;
        stopping = true;
        if (!o.quiet) process.stderr.write(`udsbus broker: ${sig}, flushing and stopping\n`);
        handle.close().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      };
      process.on('SIGHUP', () => {
        void handle.reloadAcl().then((r) => {
          if (r.ok) process.stderr.write('udsbus broker: SIGHUP, access rules reloaded\n');
          else process.stderr.write(`udsbus broker: SIGHUP, kept the old access rules: ${r.errors}\n`);
        });
      });
      process.on('SIGTERM', () => stop('SIGTERM'));
      process.on('SIGINT', () => stop('SIGINT'));
      // npx (npm exec) runs us under `sh -c` and does not pass a SIGTERM it gets on to us: npm and
      // sh exit and the broker is re-parented, with nobody left to stop it. Stop as on SIGTERM then.
      if (process.env['npm_command'] === 'exec') {
        const parent = process.ppid;
        setInterval(() => {
          if (process.ppid !== parent) stop(`npx (pid ${parent}) exited`);
        }, 250).unref();
      }
    });
}

/** Strict mode backed by the camera schemas (loaded only when asked for). */
async function strictFor(patterns: string[]) {
  const { validatorFor } = await import('../../schemas/validate.js');
  const { checkPattern } = await import('../../bus/index.js');
  const { DEFAULT_LIMITS } = await import('../../bus/protocol/limits.js');
  for (const p of patterns) if (checkPattern(p, DEFAULT_LIMITS) !== null) die(`--strict: invalid pattern "${p}"`);
  return {
    patterns,
    validate: (topic: string, payload: unknown) => {
      const v = validatorFor(topic);
      if (v === undefined) return undefined;
      const r = v(payload);
      return r.ok ? undefined : r.errors;
    },
  };
}
