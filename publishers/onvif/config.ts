/**
 * The publisher's JSON configuration file (format: docs/onvif-publisher.md) and `--camera` URLs:
 * parsed strictly (unknown keys are errors, so a typo such as "pasword" is not silently ignored),
 * with passwords resolved from `password`, `passwordFile` or `passwordEnv`. Error messages name
 * the offending key, never a password.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Type } from '@sinclair/typebox';
import stripJsonComments from 'strip-json-comments';
import { LOG_LEVELS } from '../../ops/broker-config.js';
import { envLayer, LogLevelSchema } from '../../subscribers/common/env.js';
import type { CameraSpec, Credentials, DiscoveryOptions, OnvifPublisherOptions, SsdpOptions, Timing, WsDiscoveryOptions } from './options.js';
import { DEFAULT_TIMING } from './options.js';
import { CAMERA_EVENT_KINDS, type CameraEventKind } from '../../schemas/topics.js';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface LoadedConfig {
  options: OnvifPublisherOptions;
  /** The file's (or UDSBUS_LOG_LEVEL's) log level; the process's logger is not a publisher option. */
  logLevel?: string | undefined;
  /** Things worth telling the operator (e.g. a world-readable file holding passwords). */
  warnings: string[];
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

function keys(o: Obj, allowed: readonly string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new ConfigError(`${where}: unknown key "${k}" (allowed: ${allowed.join(', ')})`);
  }
}

function str(o: Obj, k: string, where: string): string | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${where}.${k} must be a non-empty string`);
  return v;
}

function num(o: Obj, k: string, where: string, integer = true): number | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new ConfigError(`${where}.${k} must be a positive ${integer ? 'integer' : 'number'}`);
  }
  return v;
}

function bool(o: Obj, k: string, where: string): boolean | undefined {
  const v = o[k];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(`${where}.${k} must be true or false`);
  return v;
}

/** Where a secret comes from; `baseDir` resolves relative `passwordFile`s. */
export interface SecretSource {
  password?: string | undefined;
  passwordFile?: string | undefined;
  passwordEnv?: string | undefined;
}

/** Resolves one of password / passwordFile / passwordEnv (at most one may be given). */
export function resolvePassword(src: SecretSource, where: string, baseDir = process.cwd(), env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = (['password', 'passwordFile', 'passwordEnv'] as const).filter((k) => src[k] !== undefined);
  if (given.length > 1) throw new ConfigError(`${where}: give only one of password, passwordFile, passwordEnv (got ${given.join(', ')})`);
  if (src.passwordEnv !== undefined) {
    const v = env[src.passwordEnv];
    if (v === undefined || v === '') throw new ConfigError(`${where}: environment variable ${src.passwordEnv} (passwordEnv) is not set`);
    return v;
  }
  if (src.passwordFile !== undefined) {
    const file = isAbsolute(src.passwordFile) ? src.passwordFile : resolve(baseDir, src.passwordFile);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`${where}: cannot read passwordFile ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    // A trailing newline is what editors and `echo` leave; it is never part of the password.
    const v = text.replace(/\r?\n$/, '');
    if (v === '') throw new ConfigError(`${where}: passwordFile ${file} is empty`);
    return v;
  }
  return src.password;
}

const CAMERA_KEYS = ['url', 'host', 'port', 'path', 'secure', 'tlsInsecure', 'username', 'password', 'passwordFile', 'passwordEnv', 'id', 'name', 'auth', 'events'];
const EVENT_DELIVERY = ['auto', 'pull', 'push'] as const;
const AUTH_MODES = ['auto', 'ws-security', 'digest'] as const;

function camera(v: unknown, where: string, baseDir: string, env: NodeJS.ProcessEnv): CameraSpec {
  if (!isObj(v)) throw new ConfigError(`${where} must be an object`);
  keys(v, CAMERA_KEYS, where);
  const url = str(v, 'url', where);
  const host = str(v, 'host', where);
  if (url === undefined && host === undefined) throw new ConfigError(`${where}: needs "host" or "url"`);
  const password = resolvePassword(
    { password: str(v, 'password', where), passwordFile: str(v, 'passwordFile', where), passwordEnv: str(v, 'passwordEnv', where) },
    where,
    baseDir,
    env,
  );
  const port = num(v, 'port', where);
  if (port !== undefined && port > 65535) throw new ConfigError(`${where}.port must be 1..65535`);
  const spec: CameraSpec = { discoveredBy: 'static' };
  const set = <K extends keyof CameraSpec>(k: K, value: CameraSpec[K] | undefined): void => {
    if (value !== undefined) spec[k] = value;
  };
  set('url', url);
  set('host', host);
  set('port', port);
  set('path', str(v, 'path', where));
  set('secure', bool(v, 'secure', where));
  set('tlsInsecure', bool(v, 'tlsInsecure', where));
  set('username', str(v, 'username', where));
  set('password', password);
  set('id', str(v, 'id', where));
  set('name', str(v, 'name', where));
  const auth = str(v, 'auth', where);
  if (auth !== undefined && !(AUTH_MODES as readonly string[]).includes(auth)) {
    throw new ConfigError(`${where}.auth must be one of ${AUTH_MODES.join(', ')}`);
  }
  set('auth', auth as CameraSpec['auth']);
  const events = str(v, 'events', where);
  if (events !== undefined && !(EVENT_DELIVERY as readonly string[]).includes(events)) {
    throw new ConfigError(`${where}.events must be one of ${EVENT_DELIVERY.join(', ')}`);
  }
  set('events', events as CameraSpec['events']);
  return spec;
}

function enabled<T extends object>(v: unknown, where: string, allowed: readonly string[]): T | boolean | undefined {
  if (v === undefined || typeof v === 'boolean') return v;
  if (!isObj(v)) throw new ConfigError(`${where} must be true, false or an object`);
  keys(v, allowed, where);
  return v as T;
}

function discovery(v: unknown, baseDir: string, env: NodeJS.ProcessEnv): DiscoveryOptions {
  const where = 'discovery';
  if (!isObj(v)) throw new ConfigError(`${where} must be an object`);
  keys(v, ['wsDiscovery', 'ssdp', 'credentials', 'retryUnansweredMs'], where);
  const out: DiscoveryOptions = {};
  const wsd = enabled<WsDiscoveryOptions>(v['wsDiscovery'], `${where}.wsDiscovery`, ['intervalMs', 'timeoutMs', 'interface']);
  if (isObj(wsd)) {
    num(wsd as Obj, 'intervalMs', `${where}.wsDiscovery`);
    num(wsd as Obj, 'timeoutMs', `${where}.wsDiscovery`);
    str(wsd as Obj, 'interface', `${where}.wsDiscovery`);
  }
  if (wsd !== undefined) out.wsDiscovery = wsd;
  const sd = enabled<SsdpOptions>(v['ssdp'], `${where}.ssdp`, ['intervalMs', 'searchTarget', 'interfaces', 'onvifPort', 'onvifPath']);
  if (isObj(sd)) {
    const o = sd as Obj;
    num(o, 'intervalMs', `${where}.ssdp`);
    num(o, 'onvifPort', `${where}.ssdp`);
    str(o, 'searchTarget', `${where}.ssdp`);
    str(o, 'onvifPath', `${where}.ssdp`);
    if (o['interfaces'] !== undefined && (!Array.isArray(o['interfaces']) || !o['interfaces'].every((i) => typeof i === 'string'))) {
      throw new ConfigError(`${where}.ssdp.interfaces must be a list of interface names`);
    }
  }
  if (sd !== undefined) out.ssdp = sd;
  const retry = num(v, 'retryUnansweredMs', where);
  if (retry !== undefined) out.retryUnansweredMs = retry;
  const c = v['credentials'];
  if (c !== undefined) {
    const w = `${where}.credentials`;
    if (!isObj(c)) throw new ConfigError(`${w} must be an object`);
    keys(c, ['username', 'password', 'passwordFile', 'passwordEnv'], w);
    const username = str(c, 'username', w);
    if (username === undefined) throw new ConfigError(`${w}.username is required`);
    const password = resolvePassword(
      { password: str(c, 'password', w), passwordFile: str(c, 'passwordFile', w), passwordEnv: str(c, 'passwordEnv', w) },
      w,
      baseDir,
      env,
    );
    const creds: Credentials = { username, password: password ?? '' };
    out.credentials = creds;
  }
  return out;
}

/** Parses a configuration object (the file's JSON); `baseDir` resolves relative passwordFiles. */
export function parseConfig(json: unknown, baseDir = process.cwd(), env: NodeJS.ProcessEnv = process.env): OnvifPublisherOptions {
  if (!isObj(json)) throw new ConfigError('the configuration must be a JSON object');
  keys(json, ['$schema', ...Object.keys(TOP_LEVEL.properties)], 'config');
  const level = str(json, 'logLevel', 'config');
  if (level !== undefined && !(LOG_LEVELS as readonly string[]).includes(level)) throw new ConfigError(`config.logLevel must be one of ${LOG_LEVELS.join(', ')}`);
  const out: OnvifPublisherOptions = {};
  const name = str(json, 'name', 'config');
  if (name !== undefined) out.name = name;
  const socket = str(json, 'socket', 'config');
  if (socket !== undefined) out.socket = socket;
  const queue = str(json, 'rpcQueue', 'config');
  if (queue !== undefined) out.rpcQueue = queue;
  const cams = json['cameras'];
  if (cams !== undefined) {
    if (!Array.isArray(cams)) throw new ConfigError('cameras must be a list');
    out.cameras = cams.map((c, i) => camera(c, `cameras[${i}]`, baseDir, env));
  }
  if (json['discovery'] !== undefined) out.discovery = discovery(json['discovery'], baseDir, env);
  const sn = json['snapshots'];
  if (sn !== undefined) {
    if (!isObj(sn)) throw new ConfigError('snapshots must be an object: {dir, kinds, maxFiles, maxBytes, timeoutMs}');
    keys(sn, ['dir', 'kinds', 'maxFiles', 'maxBytes', 'maxImageBytes', 'timeoutMs'], 'snapshots');
    const dir = str(sn, 'dir', 'snapshots');
    if (dir === undefined) throw new ConfigError('snapshots.dir is required');
    const kinds = sn['kinds'];
    if (kinds !== undefined && (!Array.isArray(kinds) || !kinds.every((k) => typeof k === 'string' && (CAMERA_EVENT_KINDS as readonly string[]).includes(k)))) {
      throw new ConfigError(`snapshots.kinds must be a list of ${CAMERA_EVENT_KINDS.join(', ')}`);
    }
    out.snapshots = { dir: resolve(baseDir, dir), ...(kinds !== undefined ? { kinds: kinds as CameraEventKind[] } : {}) };
    for (const k of ['maxFiles', 'maxBytes', 'maxImageBytes', 'timeoutMs'] as const) {
      const v = num(sn, k, 'snapshots');
      if (v !== undefined) out.snapshots[k] = v;
    }
  }
  const n = json['notify'];
  if (n !== undefined) {
    if (!isObj(n)) throw new ConfigError('notify must be an object: {host, port, url}');
    keys(n, ['host', 'port', 'url'], 'notify');
    const host = str(n, 'host', 'notify');
    const port = num(n, 'port', 'notify');
    const url = str(n, 'url', 'notify');
    if (port !== undefined && port > 65535) throw new ConfigError('notify.port must be 1..65535 (leave it out for any free port)');
    out.notify = { ...(host !== undefined ? { host } : {}), ...(port !== undefined ? { port } : {}), ...(url !== undefined ? { url } : {}) };
  }
  const t = json['timing'];
  if (t !== undefined) {
    if (!isObj(t)) throw new ConfigError('timing must be an object');
    keys(t, Object.keys(DEFAULT_TIMING), 'timing');
    const timing: Partial<Timing> = {};
    for (const k of Object.keys(DEFAULT_TIMING) as (keyof Timing)[]) {
      const v = num(t, k, 'timing');
      if (v !== undefined) timing[k] = v;
    }
    out.timing = timing;
  }
  return out;
}

/**
 * The file's top-level keys, for `UDSBUS_<KEY>` overrides (subscribers/common/env.ts): strings
 * as they are, the rest as JSON. parseConfig checks the values in depth.
 */
const TOP_LEVEL = Type.Object({
  name: Type.String({ minLength: 1 }),
  socket: Type.String({ minLength: 1 }),
  logLevel: LogLevelSchema,
  rpcQueue: Type.String({ minLength: 1 }),
  cameras: Type.Array(Type.Unknown()),
  discovery: Type.Record(Type.String(), Type.Unknown()),
  timing: Type.Record(Type.String(), Type.Unknown()),
  notify: Type.Record(Type.String(), Type.Unknown()),
  snapshots: Type.Record(Type.String(), Type.Unknown()),
});

/** The top-level keys of the config file. */
export const CONFIG_KEYS: readonly string[] = Object.keys(TOP_LEVEL.properties);

/**
 * Reads and parses a configuration file (JSON; comments and trailing commas allowed), with
 * `UDSBUS_<KEY>` variables over it when `withEnv` is set (flag > environment > file); no file and
 * `withEnv`: the environment alone.
 */
export function loadConfig(file: string | undefined, env: NodeJS.ProcessEnv = process.env, withEnv = false): LoadedConfig {
  let text = '{}';
  if (file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`cannot read config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(stripJsonComments(text, { whitespace: true, trailingCommas: true }));
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid JSON: ${(err as Error).message}`);
  }
  const layer = withEnv ? envLayer(TOP_LEVEL, env) : { values: {}, sources: {}, problems: [] };
  if (layer.problems.length > 0) throw new ConfigError(`invalid environment:\n${layer.problems.map((p) => `  ${p}`).join('\n')}`);
  if (Object.keys(layer.values).length > 0) json = { ...(isObj(json) ? json : {}), ...layer.values };
  let options: OnvifPublisherOptions;
  try {
    options = parseConfig(json, file === undefined ? process.cwd() : dirname(resolve(file)), env);
  } catch (err) {
    const from = Object.values(layer.sources);
    if (!(err instanceof ConfigError) || from.length === 0) throw err;
    throw new ConfigError(`${err.message} (with ${from.join(', ')} from the environment)`);
  }
  const logLevel = isObj(json) && typeof json['logLevel'] === 'string' ? json['logLevel'] : undefined;
  const warnings: string[] = [];
  if (file !== undefined && /"password"\s*:/.test(text)) {
    try {
      if ((statSync(file).mode & 0o004) !== 0) {
        warnings.push(`${file} holds passwords and is readable by every user; chmod 600 it, or use passwordFile / passwordEnv`);
      }
    } catch {
      // unreadable metadata: nothing to add
    }
  }
  return { options, warnings, logLevel };
}

/**
 * A `--camera` URL (`http://USER:PASS@HOST:PORT/onvif/device_service`); a password given by
 * `--password-env`/`--password-file` fills in when the URL has none.
 */
export function cameraFromUrl(url: string, fallback: { username?: string | undefined; password?: string | undefined } = {}): CameraSpec {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`--camera expects a URL like http://user@host:port/onvif/device_service, got something else`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError('--camera URL must start with http:// or https://');
  const spec: CameraSpec = { url, discoveredBy: 'cli' };
  if (u.username === '' && fallback.username !== undefined) spec.username = fallback.username;
  if (u.password === '' && fallback.password !== undefined) spec.password = fallback.password;
  return spec;
}
