/**
 * `udsbus run onvif`: the publisher as its own process. Registered by cli/commands/run.ts; kept
 * here so the publisher's options live with the publisher. JSON log lines go to stderr.
 */
import type { Command } from 'commander';
import { LOG_LEVELS } from '../../ops/broker-config.js';
import { changedKeys, lifecycle } from '../../subscribers/common/lifecycle.js';
import { createLogger, errFields } from '../../subscribers/common/logger.js';
import { CONFIG_KEYS, ConfigError, cameraFromUrl, loadConfig, resolvePassword } from './config.js';
import type { OnvifPublisherOptions } from './options.js';
import { startOnvifPublisher, type OnvifPublisherHandle } from './publisher.js';

/** What `udsbus run` hands to a component (see cli/commands/run.ts). */
interface RunOptions {
  socket: string | undefined;
  defaultSocket: string;
  logLevel: string | undefined;
  [option: string]: unknown;
}

/** The udsbus command's codes (cli/exit-codes.ts). */
const EXIT_FAILURE = 1;
const EXIT_CONNECT = 2;
const EXIT_CONFIG = 7;
const STOP_DEADLINE_MS = 10_000;

const collect = (v: string, prev: string[]): string[] => [...prev, v];

function optString(o: RunOptions, k: string): string | undefined {
  const v = o[k];
  return typeof v === 'string' ? v : undefined;
}

/** Command-line options → publisher options (config file first, then the flags). */
export function optionsFromCommandLine(o: RunOptions, warn: (msg: string) => void): OnvifPublisherOptions {
  return commandLineConfig(o, warn, process.env, false).options;
}

/**
 * The publisher's options and log level: config file, then `UDSBUS_<KEY>` variables (with
 * `withEnv`, as `udsbus run onvif` does), then the flags.
 */
export function commandLineConfig(o: RunOptions, warn: (msg: string) => void, env: NodeJS.ProcessEnv = process.env, withEnv = true): { options: OnvifPublisherOptions; logLevel: string | undefined } {
  const configFile = optString(o, 'config');
  const loaded = configFile !== undefined || withEnv ? loadConfig(configFile, env, withEnv) : { options: {} as OnvifPublisherOptions, warnings: [], logLevel: undefined };
  for (const w of loaded.warnings) warn(w);
  const options: OnvifPublisherOptions = { ...loaded.options };

  const username = optString(o, 'username');
  const password = resolvePassword(
    { passwordEnv: optString(o, 'passwordEnv'), passwordFile: optString(o, 'passwordFile') },
    'command line (--password-env / --password-file)',
  );
  const urls = (o['camera'] as string[] | undefined) ?? [];
  for (const url of urls) {
    if (/^[a-z]+:\/\/[^/@]*:[^/@]*@/i.test(url)) {
      warn('a --camera URL carries a password, which other local users can read in the process list; prefer --password-env or --password-file');
    }
  }
  const fromCli = urls.map((u) => cameraFromUrl(u, { username, password }));
  if (fromCli.length > 0) options.cameras = [...(options.cameras ?? []), ...fromCli];

  const wsd = o['wsDiscovery'] === true;
  const ssdp = o['ssdp'] === true;
  if (wsd || ssdp) {
    options.discovery = {
      ...options.discovery,
      ...(wsd ? { wsDiscovery: options.discovery?.wsDiscovery || true } : {}),
      ...(ssdp ? { ssdp: options.discovery?.ssdp || true } : {}),
      ...(username !== undefined && options.discovery?.credentials === undefined
        ? { credentials: { username, password: password ?? '' } }
        : {}),
    };
  }
  const name = optString(o, 'name');
  if (name !== undefined) options.name = name;
  options.socket = o.socket ?? options.socket ?? o.defaultSocket;

  const d = options.discovery;
  const discovering = d !== undefined && ((d.wsDiscovery ?? false) !== false || (d.ssdp ?? false) !== false);
  if ((options.cameras ?? []).length === 0 && !discovering) {
    throw new ConfigError('no cameras: give --config FILE, --camera URL, or turn on discovery (--ws-discovery, --ssdp)');
  }
  return { options, logLevel: o.logLevel ?? loaded.logLevel };
}

export const onvifComponent = {
  description: 'ONVIF camera publisher: camera events, status and actions (camera.*) on the bus',
  flagKeys: {
    camera: 'cameras',
    username: 'cameras[].username',
    passwordEnv: 'cameras[].passwordEnv',
    passwordFile: 'cameras[].passwordFile',
    wsDiscovery: 'discovery.wsDiscovery',
    ssdp: 'discovery.ssdp',
    name: 'name',
  } as Readonly<Record<string, string>>,
  configKeys: async (): Promise<readonly string[]> => CONFIG_KEYS,

  options(cmd: Command): Command {
    return cmd
      .option('-c, --config <file>', 'JSON configuration file (format: docs/onvif-publisher.md)')
      .option('--camera <url>', 'a camera, http://USER[:PASS]@HOST[:PORT]/onvif/device_service (repeatable)', collect, [])
      .option('--username <name>', 'username for --camera URLs without one (and for discovered cameras)')
      .option('--password-env <var>', 'take the password for --camera URLs without one from this environment variable')
      .option('--password-file <file>', 'take that password from this file (a trailing newline is ignored)')
      .option('--ws-discovery', 'also find cameras with WS-Discovery (multicasts on the local network)')
      .option('--ssdp', 'also find cameras with SSDP (multicasts on the local network)')
      .option('--name <name>', 'publisher name: bus connection and presence topic publisher.onvif.<name> (default onvif)')
      .addHelpText(
        'after',
        `
Passwords: other local users can read a command line (ps, /proc). Put the password in the
environment (--password-env VAR) or a file only you can read (--password-file F), or in the
config file as passwordEnv / passwordFile, rather than in a --camera URL. Credentials are never
logged or published.

Examples:
  udsbus run onvif --config /etc/udsbus/onvif.json
  CAM_PW=secret udsbus run onvif --camera http://admin@192.168.1.10/onvif/device_service --password-env CAM_PW
  udsbus run onvif --camera http://admin@10.0.0.5:8080/onvif/device_service --password-file ~/.cam-pw

Every top-level key of the config file can also be set by UDSBUS_<KEY> (UDSBUS_CAMERAS='[…]':
strings as they are, other values as JSON); flags > environment > file. SIGHUP re-reads them and
applies logLevel; other changes need a restart (docs/configuration.md, "Components").

Publishes camera.discovered.<id>, camera.status.<id>, camera.lost.<id>, camera.event.<id>.<kind>
and publisher.onvif.<name>; serves camera.rpc.<id>.<action> (SCHEMAS.md, docs/onvif-publisher.md).

Exit codes:
  0  stopped with Ctrl-C or SIGTERM (a clean stop)
  1  a failure
  2  cannot connect to the broker
  7  bad configuration (config file or options)`,
      );
  },

  async run(o: RunOptions): Promise<void> {
    if (o.logLevel !== undefined && !(LOG_LEVELS as readonly string[]).includes(o.logLevel)) {
      process.stderr.write(`udsbus run onvif: --log-level must be one of ${LOG_LEVELS.join(', ')}, got "${o.logLevel}"\n`);
      process.exit(EXIT_CONFIG);
    }
    let options: OnvifPublisherOptions;
    let logLevel: string | undefined;
    const warnings: string[] = [];
    try {
      ({ options, logLevel } = commandLineConfig(o, (msg) => warnings.push(msg)));
    } catch (err) {
      process.stderr.write(`udsbus run onvif: ${(err as Error).message}\n`);
      process.exit(EXIT_CONFIG);
    }
    const log = createLogger('udsbus-onvif', logLevel ?? 'info');
    for (const w of warnings) log.warn({}, w);
    const life = lifecycle(log);
    let pub: OnvifPublisherHandle;
    try {
      pub = await startOnvifPublisher({ ...options, logger: log });
    } catch (err) {
      if (err instanceof TypeError) {
        // The publisher's own check of its options: configuration too.
        process.stderr.write(`udsbus run onvif: ${err.message}\n`);
        process.exit(EXIT_CONFIG);
      }
      log.fatal({ ...errFields(err), socket: options.socket }, 'cannot connect to the broker');
      life.sd.notify(`STATUS=cannot connect to ${options.socket}: ${(err as Error).message}`);
      process.stderr.write(`udsbus run onvif: cannot connect to ${options.socket}: ${(err as Error).message}\n`);
      process.exit(EXIT_CONNECT);
    }
    pub.client.on('disconnect', () => life.status(`disconnected from ${options.socket}; reconnecting`));
    pub.client.on('reconnect', () => life.status(`connected to ${options.socket}`));

    let stopping = false;
    const shutdown = async (signal: string): Promise<void> => {
      if (stopping) {
        process.exit(130); // a second Ctrl-C: do not wait any longer
      }
      stopping = true;
      life.stopping(`stopping (${signal})`);
      log.info({ signal }, 'stopping');
      // stop() does not wait for long polls, but never let anything hold the process.
      setTimeout(() => {
        log.error({}, 'stop took too long; exiting');
        process.exit(EXIT_FAILURE);
      }, STOP_DEADLINE_MS).unref();
      try {
        await pub.stop();
        process.exit(0);
      } catch (err) {
        log.error(errFields(err), 'error while stopping');
        process.exit(EXIT_FAILURE);
      }
    };
    process.on('SIGINT', () => void shutdown('SIGINT'));
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    void pub.client.closed().then((info) => {
      if (stopping) return;
      life.stopping(`connection to the broker closed for good (${info.reason})`);
      log.fatal({ reason: info.reason, error: info.error?.message }, 'connection to the broker closed for good');
      void pub.stop().finally(() => process.exit(EXIT_FAILURE));
    });
    // SIGHUP: logLevel is applied; the cameras, discovery and the rest belong to sessions the
    // publisher holds open, so a change to them is reported as needing a restart.
    let running = { ...options, logLevel };
    life.onReload(async () => {
      let next: typeof running;
      try {
        const c = commandLineConfig(o, () => {});
        next = { ...c.options, logLevel: c.logLevel };
      } catch (err) {
        return { failed: (err as Error).message };
      }
      const changed = changedKeys(running, next);
      const applied = changed.filter((k) => k === 'logLevel');
      if (applied.length > 0) {
        log.level = next.logLevel ?? 'info';
        running = { ...running, logLevel: next.logLevel };
      }
      return { applied, needsRestart: changed.filter((k) => k !== 'logLevel') };
    });
    log.info({ socket: options.socket, pid: process.pid, cameras: options.cameras?.length ?? 0, notify: life.sd.via }, 'ready');
    life.ready(`connected to ${options.socket}; ${options.cameras?.length ?? 0} cameras configured`);
  },
};
