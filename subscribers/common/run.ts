/**
 * The process shell around a subscriber library: load and validate the config, connect (with
 * reconnect), start, log "ready", and stop cleanly on SIGINT/SIGTERM. `udsbus run <name>` calls
 * this; a custom subscriber process can use it the same way.
 */
import { connect, type Client } from 'udsbus';
import { lookupDefaultSocket } from 'udsbus/paths';
import { ConfigError } from './config.js';
import { createLogger, errFields, type Logger } from './logger.js';

export type Stoppable = { stop(): Promise<void> };

export type ServiceDefinition<C> = {
  /** Short name: logger name `udsbus-<name>`, client name default. */
  name: string;
  /** Load and validate the config file; throws ConfigError. */
  load(file: string): C;
  start(config: C, ctx: { client: Client; logger: Logger }): Promise<Stoppable>;
};

export type RunOptions = {
  /** Socket from the command line (or UDSBUS_SOCKET); wins over the config's `socket`, which wins over the default. */
  socket?: string | undefined;
  logLevel?: string | undefined;
};

/** Exit codes, matching the udsbus CLI (cli/exit-codes.ts): 1 failure, 2 cannot connect, 7 invalid config. */
const EXIT_FAILURE = 1;
const EXIT_CONNECT = 2;
const EXIT_CONFIG = 7;

/** Run a subscriber until SIGINT/SIGTERM; never returns normally (exits the process). */
export async function runService<C extends { socket?: string; name?: string; logLevel?: string }>(
  def: ServiceDefinition<C>,
  configFile: string,
  opts: RunOptions = {},
): Promise<void> {
  let config: C;
  try {
    config = def.load(configFile);
  } catch (err) {
    process.stderr.write(`udsbus run ${def.name}: ${err instanceof ConfigError ? err.message : (err as Error).message}\n`);
    process.exit(EXIT_CONFIG);
  }
  const log = createLogger(`udsbus-${def.name}`, opts.logLevel ?? config.logLevel);
  const socket = opts.socket ?? config.socket ?? lookupDefaultSocket();
  let client: Client;
  try {
    client = await connect({ socket, name: config.name ?? def.name });
  } catch (err) {
    log.fatal({ ...errFields(err), socket }, 'cannot connect to the broker');
    process.stderr.write(`udsbus run ${def.name}: cannot connect to ${socket}: ${(err as Error).message}\n`);
    process.exit(EXIT_CONNECT);
  }
  client.on('disconnect', () => log.warn({ socket }, 'disconnected from the broker; reconnecting'));
  client.on('reconnect', ({ attempt }) => log.info({ socket, attempt }, 'reconnected to the broker'));
  client.on('error', (err) => log.error(errFields(err), 'client error'));

  let service: Stoppable;
  try {
    service = await def.start(config, { client, logger: log });
  } catch (err) {
    log.fatal(errFields(err), 'failed to start');
    await client.close();
    process.exit(EXIT_FAILURE);
  }
  log.info({ config: configFile, socket, pid: process.pid }, 'ready');

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
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
    log.fatal({ reason: info.reason, error: info.error?.message }, 'connection to the broker closed for good');
    void service.stop().finally(() => process.exit(EXIT_FAILURE));
  });
}
