/**
 * The process shell around a subscriber library: load and validate the config (file, then
 * `UDSBUS_*` variables, then flags), connect (with reconnect), start, report "ready" to the log
 * and to systemd, reload on SIGHUP, and stop cleanly on SIGINT/SIGTERM. `udsbus run <name>`
 * calls this; a custom subscriber process can use it the same way.
 */
import type { TObject } from '@sinclair/typebox';
import { connect, type Client } from 'udsbus';
import { lookupDefaultSocket } from 'udsbus/paths';
import { LOG_LEVELS } from '../../ops/broker-config.js';
import type { SemanticCheck } from './config.js';
import { withEnv } from './env.js';
import { changedKeys, lifecycle } from './lifecycle.js';
import { createLogger, errFields, type Logger } from './logger.js';

export type Stoppable = { stop(): Promise<void> };

export type ServiceContext = { client: Client; logger: Logger };

export type ServiceDefinition<C> = {
  /** Short name: logger name `udsbus-<name>`, client name default. */
  name: string;
  /**
   * Load and validate the config: the file with the environment laid over it (see `fromFile`).
   * Throws ConfigError or EnvError. Called again on SIGHUP.
   */
  load(file: string, env: NodeJS.ProcessEnv): C;
  start(config: C, ctx: ServiceContext): Promise<Stoppable>;
  /**
   * Top-level keys besides `logLevel` that SIGHUP applies without a restart, and how: given the
   * new config and the running service, return the service that runs from now on.
   */
  reload?: { keys: readonly string[]; apply(next: C, running: Stoppable, ctx: ServiceContext): Promise<Stoppable> };
};

/** A `load` for a JSON config file with `UDSBUS_<KEY>` overrides (env.ts): file < environment. */
export function fromFile<C extends object>(load: (file: string) => C, schema: TObject, check?: SemanticCheck<C>): (file: string, env: NodeJS.ProcessEnv) => C {
  return (file, env) => withEnv(load(file), schema, check, file, env);
}

export type RunOptions = {
  /** Socket from the command line (or UDSBUS_SOCKET); wins over the config's `socket`, which wins over the default. */
  socket?: string | undefined;
  /** --log-level; wins over UDSBUS_LOG_LEVEL and the config's `logLevel`. */
  logLevel?: string | undefined;
  env?: NodeJS.ProcessEnv | undefined;
};

/** Exit codes, matching the udsbus CLI (cli/exit-codes.ts): 1 failure, 2 cannot connect, 7 invalid config. */
const EXIT_FAILURE = 1;
const EXIT_CONNECT = 2;
const EXIT_CONFIG = 7;

type Common = { socket?: string; name?: string; logLevel?: string };

/** Run a subscriber until SIGINT/SIGTERM; never returns normally (exits the process). */
export async function runService<C extends Common>(def: ServiceDefinition<C>, configFile: string, opts: RunOptions = {}): Promise<void> {
  const env = opts.env ?? process.env;
  // Invalid config, environment or flag values: nothing was started (exit code 7, CONFIG).
  const refuse = (message: string): never => {
    process.stderr.write(`udsbus run ${def.name}: ${message}\n`);
    process.exit(EXIT_CONFIG);
  };
  if (opts.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(opts.logLevel)) {
    refuse(`--log-level must be one of ${LOG_LEVELS.join(', ')}, got "${opts.logLevel}"`);
  }
  // Flags over the loaded config (which is already file < environment).
  const effective = (c: C): C => ({
    ...c,
    ...(opts.socket !== undefined ? { socket: opts.socket } : {}),
    ...(opts.logLevel !== undefined ? { logLevel: opts.logLevel } : {}),
  });
  let config: C;
  try {
    config = effective(def.load(configFile, env));
  } catch (err) {
    return refuse((err as Error).message);
  }
  const log = createLogger(`udsbus-${def.name}`, config.logLevel ?? 'info');
  const life = lifecycle(log, env);
  const socket = config.socket ?? lookupDefaultSocket();
  let client: Client;
  try {
    client = await connect({ socket, name: config.name ?? def.name });
  } catch (err) {
    log.fatal({ ...errFields(err), socket }, 'cannot connect to the broker');
    life.sd.notify(`STATUS=cannot connect to ${socket}: ${(err as Error).message}`);
    process.stderr.write(`udsbus run ${def.name}: cannot connect to ${socket}: ${(err as Error).message}\n`);
    process.exit(EXIT_CONNECT);
  }
  client.on('disconnect', () => {
    log.warn({ socket }, 'disconnected from the broker; reconnecting');
    life.status(`disconnected from ${socket}; reconnecting`);
  });
  client.on('reconnect', ({ attempt }) => {
    log.info({ socket, attempt }, 'reconnected to the broker');
    life.status(`connected to ${socket} (reconnected after ${attempt} attempts)`);
  });
  client.on('error', (err) => log.error(errFields(err), 'client error'));

  const ctx: ServiceContext = { client, logger: log };
  let service: Stoppable;
  try {
    service = await def.start(config, ctx);
  } catch (err) {
    log.fatal(errFields(err), 'failed to start');
    life.sd.notify(`STATUS=failed to start: ${(err as Error).message}`);
    await client.close();
    process.exit(EXIT_FAILURE);
  }

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    life.stopping(`stopping (${signal})`);
    log.info({ signal }, 'stopping');
    try {
      await service.stop();
      await client.close();
      process.exit(0);
    } catch (err) {
      log.error(errFields(err), 'error while stopping');
      process.exit(EXIT_FAILURE);
    }
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  void client.closed().then((info) => {
    if (stopping) return;
    stopping = true;
    life.stopping(`connection to the broker closed for good (${info.reason})`);
    log.fatal({ reason: info.reason, error: info.error?.message }, 'connection to the broker closed for good');
    void service.stop().finally(() => process.exit(EXIT_FAILURE));
  });

  // SIGHUP: read the file (and environment) again; apply logLevel and the keys the component can
  // take live; name the rest as needing a restart. An invalid file changes nothing.
  const live = new Set(['logLevel', ...(def.reload?.keys ?? [])]);
  life.onReload(async () => {
    let next: C;
    try {
      next = effective(def.load(configFile, env));
    } catch (err) {
      return { failed: (err as Error).message };
    }
    const changed = changedKeys(config, next);
    const applied = changed.filter((k) => live.has(k));
    const needsRestart = changed.filter((k) => !live.has(k));
    const others = applied.filter((k) => k !== 'logLevel');
    if (others.length > 0 && def.reload !== undefined && !stopping) {
      try {
        service = await def.reload.apply(next, service, ctx);
      } catch (err) {
        return { failed: `${others.join(', ')} could not be applied: ${(err as Error).message}` };
      }
    }
    if (applied.includes('logLevel')) log.level = next.logLevel ?? 'info';
    config = { ...config, ...Object.fromEntries(applied.map((k) => [k, (next as Record<string, unknown>)[k]])) };
    return { applied, needsRestart };
  });

  log.info({ config: configFile, socket, pid: process.pid, notify: life.sd.via }, 'ready');
  life.ready(`connected to ${socket}`);
}
