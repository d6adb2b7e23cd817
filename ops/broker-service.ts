/**
 * `udsbus broker` as a service: effective settings (flag > env > file > default), the structured
 * log, systemd socket activation and notifications, the metrics endpoint, SIGHUP reload and an
 * orderly stop. The broker core and its listener (bus/broker) know nothing of any of this; they
 * are handed an `events` observer and, under systemd, an inherited listening fd.
 */
import { startBroker, SocketPathError, type BrokerHandle, type StartBrokerOptions } from 'udsbus/server';
import { DEFAULT_LIMITS, type Limits } from 'udsbus/core';
import { defaultSocketPath } from 'udsbus/paths';
import { loadPeerCred } from 'udsbus/peercred';
import { changedKeys, mergeSettings, RELOADABLE, semanticProblems, settingsFromEnv, type BrokerSettings } from './broker-config.js';
import { createBrokerLogger, fanOut, loggingEvents } from './broker-log.js';
import { EventCounters, renderMetrics, serveMetrics, type MetricsEndpoint } from './metrics.js';
import { inheritedSocket, notifier, unixPathOfFd } from './systemd.js';
import { VERSION } from './version.js';

/** Keys SIGHUP applies in place. The ACL file's contents are always re-read; a new ACL path needs a restart. */
const RELOAD_IN_PLACE = RELOADABLE;

export type ServiceInput = {
  /** --config or $UDSBUS_CONFIG. */
  configFile: string | undefined;
  /** Only what was given on the command line. */
  cli: BrokerSettings;
  env?: NodeJS.ProcessEnv;
};

/** Settings from every layer, or the problems (file:line:col for the file, variable names for env). */
export async function resolveSettings(input: ServiceInput): Promise<{ ok: true; settings: BrokerSettings } | { ok: false; message: string }> {
  const env = input.env ?? process.env;
  let file: BrokerSettings = {};
  if (input.configFile !== undefined) {
    const { readBrokerConfig } = await import('./config-file.js');
    const r = readBrokerConfig(input.configFile);
    if (!r.ok) return r;
    file = r.settings;
  }
  const fromEnv = settingsFromEnv(env);
  if (fromEnv.problems.length > 0) return { ok: false, message: `invalid environment:\n${fromEnv.problems.map((p) => `  ${p}`).join('\n')}` };
  const settings = mergeSettings(file, fromEnv.settings, input.cli);
  // The file was checked with its positions; this catches the same mistakes from env and options.
  const problems = semanticProblems(settings);
  if (problems.length > 0) return { ok: false, message: `invalid settings:\n${problems.map((p) => `  ${p.path.slice(1)}: ${p.message}`).join('\n')}` };
  return { ok: true, settings };
}

function limitsOf(s: BrokerSettings): Partial<Limits> {
  const l: Partial<Limits> = {};
  if (s.maxConnections !== undefined) l.maxConnections = s.maxConnections;
  if (s.maxFrame !== undefined) l.maxFrameBytes = s.maxFrame;
  if (s.queueBytes !== undefined) l.outQueueBytes = s.queueBytes;
  if (s.queueMsgs !== undefined) l.outQueueMsgs = s.queueMsgs;
  if (s.keepalive !== undefined) l.keepaliveMs = s.keepalive;
  if (s.handshakeTimeout !== undefined) l.handshakeTimeoutMs = s.handshakeTimeout;
  return l;
}

/** The `udsbus` command's exit codes (cli/exit-codes.ts) that the service uses. */
const EXIT_ERROR = 1;
/** Cannot listen: socket in use, unsafe directory, permission denied. */
const EXIT_CANNOT_START = 2;
/** Invalid configuration: file, env, option value, ACL file. */
const EXIT_CONFIG = 7;

let flushLog: () => void = () => {};

function fail(message: string, code: number): never {
  flushLog();
  process.stderr.write(`udsbus: ${message}\n`);
  process.exit(code);
}

export async function runBrokerService(input: ServiceInput): Promise<void> {
  const env = input.env ?? process.env;
  const resolved = await resolveSettings(input);
  if (!resolved.ok) fail(resolved.message, EXIT_CONFIG);
  let s = resolved.settings;
  const modeText = s.mode ?? '0660';
  const mode = Number.parseInt(modeText, 8);
  const logger = createBrokerLogger(s.logLevel ?? 'info');
  const log = logger.log;
  flushLog = logger.flush;
  const sd = notifier(env, (err) => log.warn({ evt: 'sd_notify', err: err.message }, `cannot notify systemd: ${err.message}`));
  const inherited = inheritedSocket(env);
  const socket = inherited !== undefined ? (unixPathOfFd(inherited.fd) ?? s.socket ?? defaultSocketPath(env)) : (s.socket ?? defaultSocketPath(env));
  const logEvents = loggingEvents(log, s.logRate ?? 10_000);
  const counters = new EventCounters();
  const limits = limitsOf(s);
  let handle: BrokerHandle;
  try {
    const strict = s.strict === undefined || s.strict.length === 0 ? undefined : await strictFor(s.strict);
    const opts: StartBrokerOptions = {
      socket,
      mode,
      limits,
      closeGraceMs: s.grace ?? 2000,
      ...(s.paceStall === undefined ? {} : { paceStallMs: s.paceStall }),
      statsIntervalMs: s.statsInterval ?? 10_000,
      serverName: `udsbus ${VERSION}`,
      events: fanOut(logEvents, counters),
      log: (event, detail) => log.error({ evt: event, ...detail }, `broker ${event}`),
      ...(s.group !== undefined ? { group: s.group } : {}),
      ...(s.tcp !== undefined ? { tcp: s.tcp } : {}),
      ...(inherited !== undefined ? { listenFd: inherited.fd } : {}),
      ...(strict ? { strict } : {}),
      ...(s.acl !== undefined ? { aclFile: s.acl } : {}),
      ...(s.data !== undefined ? { dataDir: s.data, durable: { fsync: s.fsync ?? 'batch', ...(s.ackTimeout !== undefined ? { ackTimeoutMs: s.ackTimeout } : {}) } } : {}),
    };
    handle = await startBroker(opts);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message =
      err instanceof SocketPathError ? err.message : e.code === 'EACCES' ? `permission denied creating ${socket}: choose a path you may write (--socket) or run as a user who may` : e.message;
    log.fatal({ evt: 'start.failed', socket, code: (err as { code?: string }).code, err: message }, `cannot start: ${message}`);
    sd.notify(`STATUS=cannot start: ${message}`, `ERRNO=${Math.abs((err as { errno?: number }).errno ?? 0) || 1}`);
    await logger.drain();
    // An ACL file that does not parse, or one this install cannot enforce, is configuration.
    fail(message, err instanceof SocketPathError && err.code === 'ACL' ? EXIT_CONFIG : EXIT_CANNOT_START);
  }
  for (const r of handle.broker.durables?.recovered ?? []) {
    const text = `durable "${r.name}": cut ${r.cutBytes} bytes of a torn or corrupt tail (${r.reason ?? 'recovered'})`;
    log.warn({ evt: 'durable.recovered', durable: r.name, cutBytes: r.cutBytes, reason: r.reason }, text);
    process.stderr.write(`udsbus broker: ${text}\n`);
  }
  const peerCred = loadPeerCred();
  if (!peerCred.available) {
    // Said once, plainly: without it every `from` is anonymous and --acl is refused.
    log.warn({ evt: 'peercred.unavailable', reason: peerCred.reason }, 'no verified peer identity (from is "anonymous")');
    process.stderr.write(`udsbus broker: no verified peer identity (from is "anonymous"): ${peerCred.reason}\n`);
  }
  const sample = () =>
    renderMetrics({ stats: handle.broker.getStats(), durables: handle.broker.durables?.list(), counters, version: VERSION });
  let metrics: MetricsEndpoint | undefined;
  if (s.metrics !== undefined) {
    try {
      metrics = await serveMetrics(s.metrics, sample);
    } catch (err) {
      log.fatal({ evt: 'start.failed', metrics: s.metrics, err: (err as Error).message }, `cannot serve metrics: ${(err as Error).message}`);
      await handle.close();
      await logger.drain();
      fail(`cannot serve metrics on ${s.metrics}: ${(err as Error).message}`, EXIT_CANNOT_START);
    }
  }
  // Signals are handled from here on, before READY: systemd may stop us the moment we say it.
  const statusLine = () => {
    const st = handle.broker.getStats();
    return `${st.connections} connections, ${st.msgsIn} msgs in, ${st.msgsOut} out, ${Object.values(st.drops).reduce((a, b) => a + b, 0)} dropped`;
  };
  let stopping = false;
  let statusTimer: NodeJS.Timeout | undefined;
  const startedAt = Date.now();
  const stop = (why: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(statusTimer);
    sd.stopping(`stopping (${why})`);
    if (!s.quiet) process.stderr.write(`udsbus broker: ${why}, flushing and stopping\n`);
    log.info({ evt: 'stopping', signal: why }, `stopping (${why}): flushing queued messages`);
    void (async () => {
      let code = 0;
      try {
        await metrics?.close();
        await handle.close();
      } catch (err) {
        code = EXIT_ERROR;
        log.error({ evt: 'stop.failed', err: (err as Error).message }, 'error while stopping');
      }
      sd.stopWatchdog();
      logEvents.flush();
      // Everything logged so far goes out first: an asynchronous write of "stopping" still in
      // flight (a pipe that was full, retried) must not be overtaken by the last line.
      await logger.drain();
      log.info({ evt: 'stop', uptimeMs: Date.now() - startedAt }, 'stopped');
      await logger.drain(); // in order: a synchronous flush could overtake a write still in flight
      process.exit(code);
    })();
  };
  process.on('SIGHUP', () => {
    sd.reloading();
    void reload().finally(() => sd.ready(`reloaded; ${statusLine()}`));
  });
  const reload = async () => {
    const next = input.configFile === undefined ? ({ ok: true, settings: s } as const) : await resolveSettings({ ...input, env });
    if (!next.ok) {
      log.error({ evt: 'reload.failed', err: next.message }, 'SIGHUP: the config is invalid; kept the running settings');
      process.stderr.write(`udsbus broker: SIGHUP, kept the running settings: ${next.message}\n`);
      return;
    }
    const changed = changedKeys(s, next.settings);
    const applied = changed.filter((k) => RELOAD_IN_PLACE.has(k));
    const restart = changed.filter((k) => !RELOAD_IN_PLACE.has(k));
    if (applied.includes('logLevel')) log.level = next.settings.logLevel ?? 'info';
    if (applied.includes('logRate')) logEvents.setWindow(next.settings.logRate ?? 10_000);
    s = { ...s, ...Object.fromEntries(applied.map((k) => [k, (next.settings as Record<string, unknown>)[k]])) };
    let acl: 'reloaded' | 'kept' | 'none' = 'none';
    if (s.acl !== undefined) {
      const r = await handle.reloadAcl();
      acl = r.ok ? 'reloaded' : 'kept';
      if (r.ok) process.stderr.write('udsbus broker: SIGHUP, access rules reloaded\n');
      else {
        process.stderr.write(`udsbus broker: SIGHUP, kept the old access rules: ${r.errors}\n`);
        log.error({ evt: 'reload.acl', err: r.errors }, 'SIGHUP: the access rules are invalid; kept the old ones');
      }
    }
    log.info({ evt: 'reload', applied, needsRestart: restart, acl }, `SIGHUP: applied ${applied.length === 0 ? 'nothing' : applied.join(', ')}${restart.length > 0 ? `; ${restart.join(', ')} changed and need a restart` : ''}`);
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // npx (npm exec) runs us under `sh -c` and does not pass a SIGTERM it gets on to us: npm and
  // sh exit and the broker is re-parented, with nobody left to stop it. Stop as on SIGTERM then.
  if (env['npm_command'] === 'exec') {
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) stop(`npx (pid ${parent}) exited`);
    }, 250).unref();
  }
  const l = { ...DEFAULT_LIMITS, ...limits };
  log.info(
    {
      evt: 'start',
      version: VERSION,
      socket: handle.socketPath,
      activation: inherited === undefined ? 'none' : 'systemd',
      ...(inherited === undefined ? { mode: modeText, group: s.group } : { fdName: inherited.name }),
      tcp: handle.tcp,
      metrics: metrics?.where,
      config: input.configFile,
      notify: sd.via,
      peerCred: peerCred.available,
      maxConnections: l.maxConnections,
      queueBytes: l.outQueueBytes,
    },
    `udsbus broker ${VERSION} listening on ${handle.socketPath}${inherited === undefined ? '' : ' (socket from systemd)'}`,
  );
  if (!s.quiet) {
    process.stderr.write(
      `udsbus broker listening on ${handle.socketPath} (${inherited === undefined ? `mode ${modeText}${s.group !== undefined ? `, group ${s.group}` : ''}` : 'socket passed by systemd'})` +
        (handle.tcp ? ` and tcp ${handle.tcp.host}:${handle.tcp.port}` : '') +
        (metrics ? `, metrics on ${metrics.where}` : '') +
        ` maxConnections=${l.maxConnections} queue=${l.outQueueBytes}B\n`,
    );
  }
  if (inherited !== undefined) {
    if (inherited.count > 1) log.warn({ evt: 'activation', fds: inherited.count }, `systemd passed ${inherited.count} sockets; serving the first (fd ${inherited.fd}) only: give udsbus.socket one ListenStream`);
    const ignored = (['socket', 'mode', 'group'] as const).filter((k) => s[k] !== undefined);
    if (ignored.length > 0) log.info({ evt: 'activation', ignored }, `${ignored.join(', ')} ignored: the socket unit decides path, mode and group`);
  }
  sd.ready(`listening on ${handle.socketPath}; ${statusLine()}`);
  const watchdogMs = sd.startWatchdog();
  if (watchdogMs !== undefined) log.info({ evt: 'watchdog', periodMs: watchdogMs }, `pinging the systemd watchdog every ${Math.floor(watchdogMs / 2)} ms`);
  if (sd.socket !== undefined) statusTimer = setInterval(() => sd.status(statusLine()), 5000).unref();
}

/** Strict mode backed by the camera schemas (loaded only when asked for). */
async function strictFor(patterns: string[]) {
  const { validatorFor } = await import('../schemas/validate.js');
  const { checkPattern } = await import('udsbus/core');
  for (const p of patterns) if (checkPattern(p, DEFAULT_LIMITS) !== null) fail(`strict: invalid pattern "${p}"`, EXIT_CONFIG);
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
