/**
 * The ONVIF camera publisher: one bus connection, one supervised worker per camera, RPC serving
 * and optional discovery.
 *
 * Bus topics (SCHEMAS.md): camera.discovered.<id> (retained), camera.status.<id> (retained,
 * owned by this connection: cleared by the broker when the publisher dies), camera.lost.<id>,
 * camera.event.<id>.<kind>; it serves camera.rpc.*.<action>. Its own presence is
 * `publisher.onvif.<name>` (retained, owned), whose last will says `offline` with reason
 * `publisher-disconnected` when the process dies without saying goodbye.
 */
import type { Subscription } from 'rxjs';
import { connect, type Client } from 'udsbus';
import { LAST_WILL_REASON, toTopicToken } from '../../schemas/topics.js';
import { validatorFor } from '../../schemas/validate.js';
import { startDiscovery, type DiscoveryHandle, type FoundCamera } from './discovery.js';
import { errField, redactUrl, silentLogger, type Logger } from './log.js';
import { withTimeout } from './onvif-lib.js';
import { NotifyServer } from './notify-server.js';
import { SnapshotSpool } from './snapshots.js';
import { DEFAULT_TIMING, type CameraSpec, type CameraTarget, type OnvifPublisherOptions, type Timing } from './options.js';
import { serveRpc, type RpcStats } from './rpc.js';
import { CameraWorker, type CameraState, type WorkerHost } from './worker.js';

export interface CameraInfo {
  id: string | undefined;
  address: string;
  state: CameraState;
  discoveredBy: CameraTarget['discoveredBy'];
  events: number;
}

export interface PublisherStats {
  cameras: number;
  online: number;
  /** Messages published (events, statuses, announcements). */
  published: number;
  /** Camera events published. */
  events: number;
  /** Payloads that failed their schema and were not published (a normalisation bug). */
  invalid: number;
  /** Payloads that could not be handed to the bus (disconnected, buffer full). */
  unsent: number;
  rpcRequests: number;
  rpcFailures: number;
}

export interface OnvifPublisherHandle {
  /** The publisher name (a topic token). */
  readonly name: string;
  /** The presence topic `publisher.onvif.<name>`. */
  readonly presenceTopic: string;
  readonly client: Client;
  cameras(): CameraInfo[];
  stats(): PublisherStats;
  /** Adds a camera while running (same rules as the `cameras` option). */
  addCamera(spec: CameraSpec): void;
  /** Runs a discovery round now (no-op without discovery). */
  scan(): Promise<void>;
  /**
   * Stops every camera without waiting for long polls, publishes each camera `offline`
   * (reason `shutdown`, retained, no longer owned) and the presence `offline`, then says bye.
   */
  stop(): Promise<void>;
}

/** Presence payload on `publisher.onvif.<name>`. */
export interface PublisherPresence {
  v: 1;
  name: string;
  state: 'online' | 'offline';
  reason?: string;
  pid: number;
  since: string;
  time: string;
}

/** CameraSpec → CameraTarget; throws a TypeError naming what is wrong (never echoing a password). */
export function toTarget(spec: CameraSpec): CameraTarget {
  let host = spec.host;
  let port = spec.port;
  let path = spec.path;
  let secure = spec.secure;
  let username = spec.username;
  let password = spec.password;
  if (spec.url !== undefined) {
    let u: URL;
    try {
      u = new URL(spec.url);
    } catch {
      throw new TypeError(`camera url is not a URL: ${redactUrl(spec.url)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new TypeError(`camera url must be http(s): ${redactUrl(spec.url)}`);
    host ??= u.hostname.replace(/^\[|\]$/g, '');
    secure ??= u.protocol === 'https:';
    port ??= u.port !== '' ? Number(u.port) : undefined;
    path ??= u.pathname !== '/' && u.pathname !== '' ? u.pathname : undefined;
    if (u.username !== '') username ??= decodeURIComponent(u.username);
    if (u.password !== '') password ??= decodeURIComponent(u.password);
  }
  if (host === undefined || host === '') throw new TypeError('camera needs "host" or "url"');
  secure ??= false;
  port ??= secure ? 443 : 80;
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new TypeError(`camera ${host}: port must be 1..65535`);
  return {
    host,
    port,
    path: path ?? '/onvif/device_service',
    secure,
    tlsInsecure: spec.tlsInsecure ?? false,
    username,
    password,
    id: spec.id,
    name: spec.name,
    discoveredBy: spec.discoveredBy ?? 'static',
    urn: spec.urn,
    auth: spec.auth ?? 'auto',
    events: spec.events ?? 'auto',
  };
}

function checkTiming(t: Timing): Timing {
  for (const [k, v] of Object.entries(t)) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0) throw new TypeError(`timing.${k} must be a positive number`);
  }
  return t;
}

/**
 * Starts the publisher; resolves once it is connected to the bus and serving (cameras connect in
 * the background: watch camera.status.* or cameras()).
 *
 * @example
 * const pub = await startOnvifPublisher({ socket: '/tmp/bus.sock', cameras: [{ url: 'http://10.0.0.5/onvif/device_service', username: 'admin', password }] });
 * // ...
 * await pub.stop();
 */
export async function startOnvifPublisher(opts: OnvifPublisherOptions = {}): Promise<OnvifPublisherHandle> {
  const log = opts.logger ?? silentLogger;
  const timing = checkTiming({ ...DEFAULT_TIMING, ...opts.timing });
  const name = toTopicToken(opts.name ?? 'onvif');
  const presenceTopic = `publisher.onvif.${name}`;
  const targets = (opts.cameras ?? []).map(toTarget);
  if (opts.notify === undefined && targets.some((t) => t.events === 'push')) {
    throw new TypeError('a camera has events: "push" but the publisher has no notify endpoint (option notify)');
  }
  const started = new Date().toISOString();
  const presence = (state: 'online' | 'offline', reason?: string): PublisherPresence => ({
    v: 1,
    name,
    state,
    ...(reason !== undefined ? { reason } : {}),
    pid: process.pid,
    since: state === 'online' ? started : new Date().toISOString(),
    time: new Date().toISOString(),
  });

  const snapshots = opts.snapshots !== undefined ? new SnapshotSpool(opts.snapshots) : undefined;
  const notify = opts.notify !== undefined ? await NotifyServer.start(opts.notify) : undefined;
  if (notify !== undefined) log.info({ url: notify.url }, 'Notify endpoint for pushed events');

  const client = await connect({
    ...(opts.socket !== undefined ? { socket: opts.socket } : {}),
    name: `udsbus-onvif:${name}`,
    will: { topic: presenceTopic, payload: presence('offline', LAST_WILL_REASON), retain: true },
  });

  const stats = { published: 0, invalid: 0, unsent: 0 };
  const rpcStats: RpcStats = { requests: 0, failures: 0 };
  const workers = new Map<string, CameraWorker>(); // by address
  const byId = new Map<string, CameraWorker>();
  /** Discovered addresses that did not answer as cameras, and until when to ignore them. */
  const ignoreUntil = new Map<string, number>();
  let stopping = false;
  let unsentInARow = 0;

  const publish = (topic: string, payload: unknown, o: { retain?: boolean; owned?: boolean } = {}): boolean => {
    const check = validatorFor(topic)?.(payload);
    if (check !== undefined && !check.ok) {
      stats.invalid++;
      log.error({ topic, errors: check.errors }, 'payload failed its schema; not published');
      return false;
    }
    try {
      client.publish(topic, payload, o);
      stats.published++;
      unsentInARow = 0;
      return true;
    } catch (err) {
      stats.unsent++;
      // Once per outage, not once per event.
      if (unsentInARow++ === 0) log.warn({ topic, err: errField(err) }, 'could not publish (counting in stats().unsent until the bus takes messages again)');
      return false;
    }
  };

  const host: WorkerHost = {
    timing,
    notify,
    snapshots,
    log,
    publish,
    clear(topic) {
      try {
        client.publish(topic, undefined, { retain: true });
      } catch (err) {
        log.warn({ topic, err: errField(err) }, 'could not clear retained topic');
      }
    },
    claim(id, worker) {
      const holder = byId.get(id);
      if (holder !== undefined && holder !== worker) return false;
      byId.set(id, worker);
      return true;
    },
    release(id, worker) {
      if (byId.get(id) === worker) byId.delete(id);
    },
    dropped(worker, why) {
      log.debug({ address: worker.address, camera: worker.id, why }, 'discovered camera dropped');
      if (workers.get(worker.address) === worker) workers.delete(worker.address);
      if (worker.id !== undefined && byId.get(worker.id) === worker) byId.delete(worker.id);
      if (worker.id === undefined) ignoreUntil.set(worker.address, Date.now() + (opts.discovery?.retryUnansweredMs ?? 600_000));
      void worker.stop(false);
    },
  };

  const add = (target: CameraTarget): void => {
    const key = `${target.host}:${target.port}`;
    if (workers.has(key)) {
      if (target.discoveredBy === 'static' || target.discoveredBy === 'cli') log.warn({ address: key }, 'camera listed twice; ignoring the second');
      return;
    }
    const w = new CameraWorker(target, host);
    workers.set(key, w);
    w.start();
  };

  const onFound = (f: FoundCamera): void => {
    if (stopping) return;
    const key = `${f.host}:${f.port}`;
    if (workers.has(key) || (ignoreUntil.get(key) ?? 0) > Date.now()) return;
    const creds = opts.discovery?.credentials;
    log.info({ address: key, via: f.via }, 'found a camera');
    add(
      toTarget({
        host: f.host,
        port: f.port,
        path: f.path,
        secure: f.secure,
        discoveredBy: f.via,
        ...(f.urn !== undefined ? { urn: f.urn } : {}),
        ...(creds !== undefined ? { username: creds.username, password: creds.password } : {}),
      }),
    );
  };

  publish(presenceTopic, presence('online'), { retain: true, owned: true });
  client.on('reconnect', () => {
    // The old connection's owned messages were cleared when it ended: state them again.
    publish(presenceTopic, presence('online'), { retain: true, owned: true });
    for (const w of workers.values()) w.republish();
  });
  client.on('error', (err) => log.warn({ err: errField(err) }, 'bus error'));

  const rpcSubs: Subscription[] = serveRpc(client, (id) => byId.get(id), opts.rpcQueue ?? 'udsbus-onvif', log, rpcStats);
  await client.flush();

  for (const t of targets) add(t);
  const d = opts.discovery;
  const discovery: DiscoveryHandle | undefined =
    d !== undefined && ((d.wsDiscovery ?? false) !== false || (d.ssdp ?? false) !== false) ? startDiscovery(d, onFound, log) : undefined;
  log.info({ name, cameras: targets.length, discovery: discovery !== undefined }, 'onvif publisher started');

  return {
    name,
    presenceTopic,
    client,
    cameras: () =>
      [...workers.values()].map((w) => ({
        id: w.id,
        address: w.address,
        state: w.state,
        discoveredBy: w.target.discoveredBy,
        events: w.stats.events,
      })),
    stats: () => {
      const all = [...workers.values()];
      return {
        cameras: all.length,
        online: all.filter((w) => w.state === 'online').length,
        published: stats.published,
        events: all.reduce((n, w) => n + w.stats.events, 0),
        invalid: stats.invalid,
        unsent: stats.unsent,
        rpcRequests: rpcStats.requests,
        rpcFailures: rpcStats.failures,
      };
    },
    addCamera: (spec) => add(toTarget({ discoveredBy: 'cli', ...spec })),
    scan: async () => discovery?.scan(),
    async stop() {
      if (stopping) return;
      stopping = true;
      discovery?.stop();
      for (const s of rpcSubs) s.unsubscribe();
      await Promise.all([...workers.values()].map((w) => w.stop(true)));
      await notify?.close();
      publish(presenceTopic, presence('offline', 'shutdown'), { retain: true });
      // flush() waits for a reconnect while the broker is away: never let that hold up stop().
      if (client.connected) await withTimeout(client.flush(), timing.stopTimeoutMs, 'flush').catch(() => undefined);
      await client.close();
      log.info({ name }, 'onvif publisher stopped');
    },
  };
}
