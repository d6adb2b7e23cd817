/**
 * The broker's settings in one table: each has a config-file key, a command-line flag and a
 * `UDSBUS_*` environment variable, so the three can never drift apart (a test checks that every
 * `udsbus broker` flag is here and in docs/configuration.md). Precedence, highest first:
 * flag, environment, config file, built-in default — the usual order, so a unit file's
 * `Environment=` can override a packaged config and a one-off flag overrides both.
 *
 * The file is JSON with comments (// and /* *\/, trailing commas allowed), validated against a
 * closed TypeBox schema: an unknown key is an error (a typo like `maxConection` would otherwise be
 * silently ignored), and every problem is reported as file:line:column.
 */
// Types only: TypeBox costs the broker ~12 MB of RSS, so it is loaded (by config-file.ts) only
// when there is a config file to validate; the schemas here are built on demand from its `Type`.
import type { TSchema, Type as TypeBuilder } from '@sinclair/typebox';
import { checkPattern, DEFAULT_LIMITS } from 'udsbus/core';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** What one setting looks like everywhere it can be given. */
export type Setting = {
  /** Key in the config file (camelCase, as commander names the flag's value). */
  readonly key: string;
  /** Commander flag spec, e.g. `--max-connections <n>`. */
  readonly flag: string;
  readonly help: string;
  /** Its config-file schema, built with TypeBox's `Type` when a file is validated. */
  readonly schema: (T: typeof TypeBuilder) => TSchema;
  /** Parse the text of a flag or environment variable; throws with a message showing a good value. */
  readonly parse: (text: string) => unknown;
  /** SIGHUP applies a change without a restart. */
  readonly reload?: boolean;
};

const uint = (name: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < 0) throw new Error(`${name} must be a whole number ≥ 0, got "${v}"`);
  return n;
};
const text = (v: string) => v;
const bool = (name: string) => (v: string) => {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off|)$/i.test(v)) return false;
  throw new Error(`${name} must be true or false, got "${v}"`);
};
const oneOf =
  <T extends string>(name: string, values: readonly T[]) =>
  (v: string): T => {
    if (!(values as readonly string[]).includes(v)) throw new Error(`${name} must be one of ${values.join(', ')}, got "${v}"`);
    return v as T;
  };
const octal = (v: string) => {
  if (!/^0?[0-7]{3}$/.test(v)) throw new Error(`mode must be octal like "0660", got "${v}"`);
  return v;
};

const U = (description: string) => (T: typeof TypeBuilder) => T.Integer({ minimum: 0, description });

/** Every setting of `udsbus broker`, in --help order. */
export const BROKER_SETTINGS: readonly Setting[] = [
  { key: 'socket', flag: '-s, --socket <path>', help: 'broker socket path (ignored when systemd passes a socket)', schema: (T) => T.String({ minLength: 1 }), parse: text },
  { key: 'mode', flag: '--mode <octal>', help: 'socket file mode (default "0660")', schema: (T) => T.String({ pattern: '^0?[0-7]{3}$' }), parse: octal },
  { key: 'group', flag: '--group <group>', help: 'group (name or gid) that owns the socket', schema: (T) => T.Union([T.String({ minLength: 1 }), T.Integer({ minimum: 0 })]), parse: text },
  { key: 'tcp', flag: '--tcp <[host:]port>', help: 'also listen on TCP (loopback unless a host is given); off by default', schema: (T) => T.String({ minLength: 1 }), parse: text },
  { key: 'maxConnections', flag: '--max-connections <n>', help: 'maximum connections', schema: U('maximum connections'), parse: uint('maxConnections') },
  { key: 'maxFrame', flag: '--max-frame <bytes>', help: 'maximum frame size', schema: U('maximum frame size (bytes)'), parse: uint('maxFrame') },
  { key: 'queueBytes', flag: '--queue-bytes <bytes>', help: 'outbound queue budget per connection', schema: U('bytes'), parse: uint('queueBytes') },
  { key: 'queueMsgs', flag: '--queue-msgs <n>', help: 'outbound queue message limit per connection', schema: U('messages'), parse: uint('queueMsgs') },
  { key: 'keepalive', flag: '--keepalive <ms>', help: 'keepalive interval', schema: U('ms'), parse: uint('keepalive') },
  { key: 'handshakeTimeout', flag: '--handshake-timeout <ms>', help: 'time allowed for hello', schema: U('ms'), parse: uint('handshakeTimeout') },
  { key: 'data', flag: '--data <dir>', help: 'data directory for durable subscriptions (off without it)', schema: (T) => T.String({ minLength: 1 }), parse: text },
  { key: 'fsync', flag: '--fsync <policy>', help: 'when durable messages reach the disk: always, batch (default), never', schema: (T) => T.Union([T.Literal('always'), T.Literal('batch'), T.Literal('never')]), parse: oneOf('fsync', ['always', 'batch', 'never'] as const) },
  { key: 'ackTimeout', flag: '--ack-timeout <ms>', help: 'redeliver unacknowledged durable messages after this long', schema: U('ms'), parse: uint('ackTimeout') },
  { key: 'acl', flag: '--acl <file>', help: 'access rules (SECURITY.md); the file is re-read on SIGHUP', schema: (T) => T.String({ minLength: 1 }), parse: text },
  { key: 'strict', flag: '--strict <pattern...>', help: 'check payloads on these topic patterns against schemas/ and refuse invalid ones (SCHEMA_INVALID)', schema: (T) => T.Array(T.String({ minLength: 1 })), parse: (v) => v.split(/[\s,]+/).filter((s) => s !== '') },
  { key: 'statsInterval', flag: '--stats-interval <ms>', help: 'publish $SYS.broker.stats this often; 0 turns it off (default 10000)', schema: U('ms'), parse: uint('statsInterval') },
  { key: 'grace', flag: '--grace <ms>', help: 'how long shutdown waits for slow readers (default 2000)', schema: U('ms'), parse: uint('grace') },
  { key: 'paceStall', flag: '--pace-stall <ms>', help: 'a subscriber that reads nothing this long stops pacing its publishers until it reads again (PROTOCOL.md §10; default 100)', schema: U('ms'), parse: uint('paceStall') },
  { key: 'quiet', flag: '-q, --quiet', help: 'no startup line on stderr (the structured log still says it)', schema: (T) => T.Boolean(), parse: bool('quiet') },
  { key: 'logLevel', flag: '--log-level <level>', help: `structured log level: ${LOG_LEVELS.join(', ')} (default info); reloaded on SIGHUP`, schema: (T) => T.Union(LOG_LEVELS.map((l) => T.Literal(l))), parse: oneOf('logLevel', LOG_LEVELS), reload: true },
  { key: 'logRate', flag: '--log-rate <ms>', help: 'at most one drop / denial line per connection and kind per this window (default 10000); reloaded on SIGHUP', schema: (T) => T.Integer({ minimum: 100 }), parse: uint('logRate'), reload: true },
  { key: 'metrics', flag: '--metrics <path|[host:]port>', help: 'serve Prometheus metrics over HTTP on this Unix socket path or loopback port; off by default', schema: (T) => T.String({ minLength: 1 }), parse: text },
];

export type BrokerSettings = {
  socket?: string;
  mode?: string;
  group?: string | number;
  tcp?: string;
  maxConnections?: number;
  maxFrame?: number;
  queueBytes?: number;
  queueMsgs?: number;
  keepalive?: number;
  handshakeTimeout?: number;
  data?: string;
  fsync?: 'always' | 'batch' | 'never';
  ackTimeout?: number;
  acl?: string;
  strict?: string[];
  statsInterval?: number;
  grace?: number;
  paceStall?: number;
  quiet?: boolean;
  logLevel?: LogLevel;
  logRate?: number;
  metrics?: string;
};

/** The closed schema of a broker config file (unknown keys refused), built with TypeBox's `Type`. */
export function brokerConfigSchema(T: typeof TypeBuilder): TSchema {
  return T.Object(
    {
      $schema: T.Optional(T.String()),
      ...Object.fromEntries(BROKER_SETTINGS.map((s) => [s.key, T.Optional(s.schema(T))])),
    },
    { additionalProperties: false },
  );
}

/** `maxConnections` → `UDSBUS_MAX_CONNECTIONS`. */
export function envName(key: string): string {
  return `UDSBUS_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;
}

/** The config file named by `UDSBUS_CONFIG`, read by `udsbus broker` when no --config is given. */
export const CONFIG_ENV = 'UDSBUS_CONFIG';

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

function hostPort(spec: string): { host: string | undefined; port: number } {
  const i = spec.lastIndexOf(':');
  return { host: i < 0 ? undefined : spec.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(i < 0 ? spec : spec.slice(i + 1)) };
}

/**
 * What the schema cannot say, checked here so `udsbus config check` finds it with a line number
 * instead of the broker failing at start: topic patterns, listen addresses.
 */
export function semanticProblems(s: BrokerSettings): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  s.strict?.forEach((p, i) => {
    const problem = checkPattern(p, DEFAULT_LIMITS);
    if (problem !== null) out.push({ path: `/strict/${i}`, message: `"${p}" is not a valid topic pattern (${problem})` });
  });
  const port = (n: number) => Number.isInteger(n) && n >= 0 && n <= 65535;
  if (s.tcp !== undefined && !port(hostPort(s.tcp).port)) out.push({ path: '/tcp', message: `expected "PORT" or "HOST:PORT", got "${s.tcp}"` });
  if (s.metrics !== undefined && !s.metrics.includes('/')) {
    const { host, port: p } = hostPort(s.metrics);
    if (!port(p)) out.push({ path: '/metrics', message: `expected a socket path, "PORT" or "HOST:PORT", got "${s.metrics}"` });
    else if (host !== undefined && !LOOPBACK.has(host)) out.push({ path: '/metrics', message: `"${host}" is not a loopback address: metrics are served on 127.0.0.1, ::1 or a Unix socket only` });
  }
  return out;
}

/** Settings from `UDSBUS_*` variables; a bad value is an error naming the variable. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): { settings: BrokerSettings; problems: string[]; sources: string[] } {
  const settings: Record<string, unknown> = {};
  const problems: string[] = [];
  const sources: string[] = [];
  for (const s of BROKER_SETTINGS) {
    const name = envName(s.key);
    const v = env[name];
    if (v === undefined || v === '') continue;
    try {
      settings[s.key] = s.parse(v);
      sources.push(name);
    } catch (err) {
      problems.push(`${name}: ${(err as Error).message}`);
    }
  }
  return { settings: settings as BrokerSettings, problems, sources };
}

/** Layers, lowest first; `undefined` never overrides. */
export function mergeSettings(...layers: BrokerSettings[]): BrokerSettings {
  const out: Record<string, unknown> = {};
  for (const layer of layers) for (const [k, v] of Object.entries(layer)) if (v !== undefined) out[k] = v;
  return out as BrokerSettings;
}

/** Keys whose value differs between two effective configs. */
export function changedKeys(a: BrokerSettings, b: BrokerSettings): string[] {
  return BROKER_SETTINGS.map((s) => s.key).filter((k) => JSON.stringify((a as Record<string, unknown>)[k]) !== JSON.stringify((b as Record<string, unknown>)[k]));
}

/** Keys SIGHUP can apply; a change to any other key needs a restart. */
export const RELOADABLE = new Set(BROKER_SETTINGS.filter((s) => s.reload === true).map((s) => s.key));
