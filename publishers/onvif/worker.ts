/**
 * The supervisor of one camera: connect (under its own timeout), identify, run the event loop,
 * and on any failure close the session and try again after an exponential backoff with a cap.
 * It owns the camera's retained topics: `camera.discovered.<id>`, `camera.status.<id>` (owned)
 * and `camera.lost.<id>`. Nothing here can throw into another camera's worker.
 *
 * Status rules:
 * - `online` once the pull-point subscription exists (or, after an event-loop fault, once a pull
 *   succeeded again), so `online` means "connected and events flowing";
 * - `offline` (code `unreachable`) when the camera does not answer; `error` when it answers but
 *   refuses (`unauthorized`) or faults (`camera-fault`, e.g. a broken event service);
 * - a single event-loop failure of a healthy session does not change the status: the session is
 *   re-opened first, and only a failed re-open is reported (a reboot shows as a short offline);
 * - offline for `lostAfterMs` → `camera.lost.<id>` and the retained `camera.discovered.<id>` is
 *   cleared; a camera found again is announced again.
 *
 * Authentication: the scheme (WS-Security or HTTP Digest) is the camera's `auth`; with `auto` a
 * refused WS-Security login is retried at once with Digest (firmware that refuses the header),
 * and the scheme that worked is kept. Refused logins wait authBackoff (30 s doubling to 30 min by
 * default) so as not to trip a vendor's lockout, and after authMaxFailures in a row the worker
 * stops and reports `auth-failed`. A configured camera whose id is not known yet (it never let us
 * in) reports these states under a provisional id from its name or address; once its real id is
 * known, the provisional status is cleared. Statuses carry the camera's `address` to link the two.
 */
import { toTopicToken, topics } from '../../schemas/topics.js';
import type { CameraDiscovered, CameraLost, CameraStatus, ErrorCode } from '../../schemas/payloads.js';
import { Backoff, Sleeper } from './backoff.js';
import { CameraError, classify } from './errors.js';
import { errField, type Logger } from './log.js';
import { normalizeNotification } from './normalize.js';
import type { CameraTarget, Timing } from './options.js';
import { runAction } from './actions.js';
import type { NotifyServer } from './notify-server.js';
import { fetchSnapshot, type SnapshotSpool, type StoredSnapshot } from './snapshots.js';
import { CameraSession, SESSION_CLOSED } from './session.js';

export type CameraState = 'connecting' | 'online' | 'offline' | 'error' | 'auth-failed' | 'stopped';

/** What a worker needs from the publisher. */
export interface WorkerHost {
  readonly timing: Timing;
  /** The publisher's Notify endpoint, when configured (push subscriptions). */
  readonly notify?: NotifyServer | undefined;
  /** Where snapshots taken with events go, when configured. */
  readonly snapshots?: SnapshotSpool | undefined;
  readonly log: Logger;
  /** Validates and publishes; false when the payload was invalid or could not be sent. */
  publish(topic: string, payload: unknown, opts?: { retain?: boolean; owned?: boolean }): boolean;
  /** Clears a retained topic (empty retained publish). */
  clear(topic: string): void;
  /** Reserves `id` for `worker`; false if another worker serves that camera. */
  claim(id: string, worker: CameraWorker): boolean;
  /** Gives `id` up (the device at the worker's address changed). */
  release(id: string, worker: CameraWorker): void;
  /** A discovered camera gave up (never answered, duplicate, or lost): forget the worker. */
  dropped(worker: CameraWorker, why: string): void;
}

export interface WorkerStats {
  /** Events published. */
  events: number;
  /** Sessions opened (connect attempts). */
  sessions: number;
  eventLoopFailures: number;
}

export class CameraWorker {
  private idValue: string | undefined;
  private stateValue: CameraState = 'connecting';
  private code: ErrorCode | undefined;
  private reason: string | undefined;
  private since = new Date();
  /** The status topic has been published with the current state. */
  private published = false;
  private session: CameraSession | undefined;
  private lastError: CameraError | undefined;
  private lastSeen: Date | undefined;
  private discovered: CameraDiscovered | undefined;
  private discoveredPublished = false;
  private lostTimer: NodeJS.Timeout | undefined;
  /** Set by an event-loop fault, cleared by a successful pull: only a pull proves recovery. */
  private eventsBroken = false;
  private healthy = false;
  private stopping = false;
  private running: Promise<void> | undefined;
  private readonly backoff: Backoff;
  private readonly authBackoff: Backoff;
  /** Refused logins in a row. */
  private authFailures = 0;
  /** With `auth: auto`, the scheme that last worked (true: WS-Security). */
  private wsSecurity: boolean | undefined;
  /** The provisional status id published while the real id was unknown, to clear later. */
  private provisionalId: string | undefined;
  private readonly sleeper = new Sleeper();
  /** Events waiting for a snapshot, and the chain that publishes them in the camera's order. */
  private pendingEvents = 0;
  private eventChain: Promise<void> = Promise.resolve();
  /** GetSnapshotUri, once per session. */
  private snapshotUri: { session: CameraSession; uri: Promise<string> } | undefined;
  private readonly abort = new AbortController();
  readonly stats: WorkerStats = { events: 0, sessions: 0, eventLoopFailures: 0 };

  constructor(
    readonly target: CameraTarget,
    private readonly host: WorkerHost,
  ) {
    this.backoff = new Backoff(host.timing.backoffInitialMs, host.timing.backoffMaxMs);
    this.authBackoff = new Backoff(host.timing.authBackoffInitialMs, host.timing.authBackoffMaxMs);
    if (target.id !== undefined) this.idValue = toTopicToken(target.id);
  }

  /** The camera id once known (fixed in the config, or read from the device). */
  get id(): string | undefined {
    return this.idValue;
  }

  get state(): CameraState {
    return this.stateValue;
  }

  /** `host:port`, for logs and de-duplication (never carries credentials). */
  get address(): string {
    return `${this.target.host}:${this.target.port}`;
  }

  start(): void {
    this.running ??= this.run().catch((err: unknown) => {
      // A bug, not a camera problem: keep it in this camera.
      this.host.log.error({ camera: this.label, err: errField(err) }, 'camera supervisor crashed');
      this.setState('error', 'internal', `publisher bug: ${errField(err).message}`);
    });
  }

  /**
   * Stops without waiting for a long poll. With `final`, the status becomes offline (reason
   * `shutdown`), retained but not owned, so it survives the publisher's clean disconnect.
   */
  async stop(final = true): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    this.sleeper.interrupt();
    clearTimeout(this.lostTimer);
    const s = this.session;
    this.session = undefined;
    await s?.close();
    await this.running;
    // Events waiting for a snapshot are still published (the fetch is bounded by its timeout).
    await this.eventChain;
    if (final && this.idValue !== undefined && this.published) {
      this.stateValue = 'offline';
      this.code = undefined;
      this.reason = 'shutdown';
      this.since = new Date();
      this.host.publish(topics.cameraStatus(this.idValue), this.statusPayload(), { retain: true });
    }
    this.stateValue = 'stopped';
  }

  /**
   * The live session for an RPC action, or the reason there is none: `unauthorized` when the
   * camera refused our credentials, else `unreachable`.
   */
  activeSession(): CameraSession {
    const s = this.session;
    if (s !== undefined && !s.isClosed) return s;
    if (this.lastError?.code === 'unauthorized') throw new CameraError('unauthorized', this.lastError.message);
    const why = this.lastError !== undefined ? `: ${this.lastError.message}` : '';
    throw new CameraError('unreachable', `camera ${this.idValue ?? this.address} is not connected${why}`);
  }

  /** Re-publishes owned/retained state after the bus connection came back (ownership was lost). */
  republish(): void {
    if (this.idValue !== undefined && this.discovered !== undefined && this.discoveredPublished) {
      this.host.publish(topics.cameraDiscovered(this.idValue), this.discovered, { retain: true });
    }
    // A provisional status (camera refusing us before its id was known) is owned too.
    const id = this.statusId;
    if (id !== undefined && this.published) this.host.publish(topics.cameraStatus(id), this.statusPayload(), { retain: true, owned: true });
  }

  // ---------------------------------------------------------------- supervision loop

  private async run(): Promise<void> {
    const { log, timing } = this.host;
    while (!this.stopping) {
      let session: CameraSession;
      try {
        session = await this.open();
      } catch (err) {
        if (this.stopping) break;
        const e = classify(err);
        this.lastError = e;
        log.debug({ camera: this.label, err: errField(e) }, 'connect failed');
        if (this.idValue === undefined && this.isDiscovered) {
          this.failed(e);
          this.host.dropped(this, `did not answer as an ONVIF camera: ${e.message}`);
          return;
        }
        if (e.code === 'unauthorized') {
          if (this.authFailures >= timing.authMaxFailures) {
            const why = `gave up after ${this.authFailures} refused logins (${e.message}); fix the credentials and restart the publisher`;
            log.warn({ camera: this.label, address: this.address }, why);
            this.setState('auth-failed', 'unauthorized', why);
            break;
          }
          this.failed(e);
          await this.sleeper.sleep(Math.max(this.backoff.next(), this.authBackoff.next()));
          continue;
        }
        this.failed(e);
        await this.sleeper.sleep(this.backoff.next());
        continue;
      }
      this.authFailures = 0;
      this.authBackoff.reset();
      if (this.stopping) {
        await session.close();
        break;
      }
      if (!this.identify(session)) {
        await session.close();
        if (this.isDiscovered) {
          this.host.dropped(this, 'another worker serves this camera');
          return;
        }
        await this.sleeper.sleep(timing.backoffMaxMs);
        continue;
      }
      this.session = session;
      this.lastError = undefined;
      this.lastSeen = new Date();
      this.healthy = false;
      this.announce(session);
      const ended = await session.startEvents({
        onMessage: (msg) => this.onNotification(msg, session),
        onSubscribed: () => {
          this.lastSeen = new Date();
          if (!this.eventsBroken) this.setState('online');
        },
        onPull: (ok) => {
          if (!ok) return;
          this.lastSeen = new Date();
          this.healthy = true;
          this.eventsBroken = false;
          this.backoff.reset();
          this.setState('online');
        },
      }, this.pushOptions());
      this.session = undefined;
      const e = ended === SESSION_CLOSED ? undefined : classify(ended);
      await session.close(e);
      if (this.stopping || e === undefined) break;

      this.lastError = e;
      this.stats.eventLoopFailures++;
      log.debug({ camera: this.label, err: errField(e) }, 'event loop failed');
      if (e.code !== 'unreachable') this.eventsBroken = true;
      // One failure of a healthy session: re-open before saying anything (a camera reboot, a
      // subscription the camera forgot). A session that never pulled successfully is reported.
      if (!this.healthy) this.failed(e, 'event subscription: ');
      await this.sleeper.sleep(this.backoff.next());
    }
  }

  /**
   * One login: the configured scheme, or with `auto` the one that last worked (WS-Security at
   * first) and, when the camera refuses it, the other one at once. Each refused attempt counts.
   */
  private async open(): Promise<CameraSession> {
    const { log, timing } = this.host;
    const mode = this.target.auth;
    const first = mode === 'digest' ? false : mode === 'ws-security' ? true : (this.wsSecurity ?? true);
    const attempt = async (ws: boolean): Promise<CameraSession> => {
      this.stats.sessions++;
      try {
        const s = await CameraSession.open(this.target, timing, log, this.abort.signal, ws);
        if (mode === 'auto' && this.wsSecurity !== ws) {
          log.info({ camera: this.label, address: this.address, auth: ws ? 'ws-security' : 'digest' }, 'authentication scheme');
        }
        this.wsSecurity = ws;
        return s;
      } catch (err) {
        if (classify(err).code === 'unauthorized') this.authFailures++;
        throw err;
      }
    };
    try {
      return await attempt(first);
    } catch (err) {
      if (mode !== 'auto' || this.stopping || classify(err).code !== 'unauthorized') throw err;
      return await attempt(!first);
    }
  }

  /** Push (with fallback for `auto`) when the camera and the publisher's Notify endpoint allow it. */
  private pushOptions(): { server: NotifyServer; fallback: boolean; renewMs: number } | undefined {
    const server = this.host.notify;
    if (server === undefined || this.target.events === 'pull') return undefined;
    return { server, fallback: this.target.events === 'auto', renewMs: this.host.timing.renewIntervalMs };
  }

  private get isDiscovered(): boolean {
    return this.target.discoveredBy === 'ws-discovery' || this.target.discoveredBy === 'ssdp';
  }

  private get label(): string {
    return this.idValue ?? this.address;
  }

  /**
   * Fixes the id on first contact. If later another device answers at the address (an IP
   * reassigned), the old camera is reported offline and the new one takes its own id: events
   * are never attributed to the wrong camera.
   */
  private identify(session: CameraSession): boolean {
    const d = session.device;
    const basis = [d.serial, d.hardwareId, this.target.urn ?? '', `${this.target.host}-${this.target.port}`].find((s) => s.trim() !== '')!;
    const deviceId = toTopicToken(basis);
    if (this.idValue !== undefined && this.target.id === undefined && deviceId !== this.idValue) {
      this.host.log.warn({ camera: this.idValue, address: this.address, now: deviceId }, 'another device answers at this address');
      this.setState('offline', 'unreachable', `another device (${deviceId}) answers at ${this.address}`);
      this.disarmLostTimer();
      this.host.release(this.idValue, this);
      this.idValue = undefined;
      this.published = false;
      this.discovered = undefined;
      this.discoveredPublished = false;
    }
    this.idValue ??= deviceId;
    if (this.provisionalId !== undefined && this.provisionalId !== this.idValue) {
      // The camera let us in at last: its provisional status gives way to the real one.
      this.host.clear(topics.cameraStatus(this.provisionalId));
      this.provisionalId = undefined;
      this.published = false;
    }
    if (!this.host.claim(this.idValue, this)) {
      // A discovered camera that is also configured is expected; two configured ones are not.
      if (this.isDiscovered) this.host.log.debug({ camera: this.idValue, address: this.address }, 'already served under another address');
      else {
        this.host.log.warn(
          { camera: this.idValue, address: this.address },
          'another configured camera already has this id; set an explicit "id" for one of them',
        );
      }
      if (this.target.id === undefined) this.idValue = undefined;
      return false;
    }
    return true;
  }

  /** camera.discovered, when first seen, after being lost, or when something in it changed. */
  private announce(session: CameraSession): void {
    const id = this.idValue!;
    const d = session.device;
    const t = this.target;
    const payload: CameraDiscovered = {
      v: 1,
      cameraId: id,
      ...(t.name !== undefined ? { name: t.name } : {}),
      manufacturer: d.manufacturer,
      model: d.model,
      firmware: d.firmware,
      serial: d.serial,
      hardwareId: d.hardwareId,
      address: { host: t.host, port: t.port },
      xaddr: `${t.secure ? 'https' : 'http'}://${t.host.includes(':') ? `[${t.host}]` : t.host}:${t.port}${t.path}`,
      discoveredBy: t.discoveredBy,
      profiles: session.profiles,
      time: new Date().toISOString(),
    };
    const prev = this.discovered;
    const same = prev !== undefined && this.discoveredPublished && JSON.stringify({ ...prev, time: '' }) === JSON.stringify({ ...payload, time: '' });
    if (same) return;
    this.discovered = payload;
    this.discoveredPublished = this.host.publish(topics.cameraDiscovered(id), payload, { retain: true });
    if (prev === undefined) this.host.log.info({ camera: id, address: this.address, model: d.model }, 'camera discovered');
  }

  private failed(e: CameraError, prefix = ''): void {
    if (e.code === 'unreachable') this.setState('offline', 'unreachable', `${prefix}${e.message}`);
    else this.setState('error', e.code, `${prefix}${e.message}`);
  }

  /** Publishes camera.status when the state or code changes (not for every new reason text). */
  private setState(state: CameraState, code?: ErrorCode, reason?: string): void {
    if (this.stopping) return;
    const changed = state !== this.stateValue || code !== this.code || !this.published;
    this.stateValue = state;
    this.code = code;
    this.reason = reason;
    if (state === 'offline') this.armLostTimer();
    else this.disarmLostTimer();
    const id = this.statusId;
    if (!changed || id === undefined) return;
    this.since = new Date();
    this.published = this.host.publish(topics.cameraStatus(id), this.statusPayload(), { retain: true, owned: true }) || this.published;
    this.host.log.info({ camera: id, state, code, reason }, 'camera status');
  }

  /**
   * The id statuses go under: the camera's, or — for a configured camera that refuses our
   * credentials before we could read its id — a provisional one from its name or address.
   */
  private get statusId(): string | undefined {
    if (this.idValue !== undefined) return this.idValue;
    if (this.isDiscovered || this.code !== 'unauthorized') return undefined;
    this.provisionalId ??= toTopicToken(this.target.name ?? `${this.target.host}-${this.target.port}`);
    return this.provisionalId;
  }

  private statusPayload(): CameraStatus {
    const state = this.stateValue === 'connecting' || this.stateValue === 'stopped' ? 'offline' : this.stateValue;
    return {
      v: 1,
      cameraId: this.statusId!,
      state,
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      ...(this.code !== undefined ? { code: this.code } : {}),
      since: this.since.toISOString(),
      time: new Date().toISOString(),
      // Last, so that what people read first (state, reason) stays first in taps and logs.
      address: this.address,
      ...(this.target.name !== undefined ? { name: this.target.name } : {}),
    };
  }

  private armLostTimer(): void {
    if (this.lostTimer !== undefined || this.idValue === undefined || !this.discoveredPublished) return;
    this.lostTimer = setTimeout(() => this.onLost(), this.host.timing.lostAfterMs);
    this.lostTimer.unref();
  }

  private disarmLostTimer(): void {
    clearTimeout(this.lostTimer);
    this.lostTimer = undefined;
  }

  private onLost(): void {
    this.lostTimer = undefined;
    const id = this.idValue;
    if (id === undefined || this.stopping) return;
    const payload: CameraLost = {
      v: 1,
      cameraId: id,
      lastSeen: (this.lastSeen ?? this.since).toISOString(),
      time: new Date().toISOString(),
    };
    this.host.publish(topics.cameraLost(id), payload);
    this.host.clear(topics.cameraDiscovered(id));
    this.discoveredPublished = false;
    this.host.log.warn({ camera: id, lastSeen: payload.lastSeen }, 'camera lost');
    if (this.isDiscovered) this.host.dropped(this, 'lost');
  }

  // ---------------------------------------------------------------- events

  private onNotification(msg: unknown, session: CameraSession): void {
    const id = this.idValue;
    if (id === undefined) return;
    const { kind, payload } = normalizeNotification(msg, id, {
      ...(session.clockOffsetMs !== undefined ? { clockOffsetMs: session.clockOffsetMs } : {}),
      // Without a measured clock offset, an old-looking time may just be a wrong camera clock:
      // nothing is called late then.
      lateAfterMs: session.clockOffsetMs !== undefined ? this.host.timing.lateAfterMs : Number.POSITIVE_INFINITY,
      videoSources: session.videoSources,
    });
    const spool = this.host.snapshots;
    const wants = spool !== undefined && spool.kinds.has(kind) && payload.ended !== true && !payload.initial && payload.late !== true;
    if (!wants && this.pendingEvents === 0) {
      if (this.host.publish(topics.cameraEvent(id, kind), payload)) this.stats.events++;
      return;
    }
    // Events of a camera stay in order: one waiting for its snapshot holds back the ones after it.
    // The fetch starts now, so a burst fetches in parallel.
    const snap = wants ? this.takeSnapshot(session, id, spool) : undefined;
    this.pendingEvents++;
    this.eventChain = this.eventChain
      .then(async () => {
        if (snap !== undefined) Object.assign(payload, await snap);
        if (this.host.publish(topics.cameraEvent(id, kind), payload)) this.stats.events++;
      })
      .finally(() => {
        this.pendingEvents--;
      });
  }

  /** The snapshot reference for an event, or why there is none (never throws). */
  private async takeSnapshot(session: CameraSession, id: string, spool: SnapshotSpool): Promise<{ snapshot: StoredSnapshot } | { snapshotError: string }> {
    try {
      if (this.snapshotUri?.session !== session) {
        const uri = runAction('snapshot-uri', session, {}).then((r) => r.uri);
        uri.catch(() => undefined);
        this.snapshotUri = { session, uri };
      }
      const uri = await this.snapshotUri.uri;
      const image = await fetchSnapshot(
        uri,
        { username: this.target.username, password: this.target.password },
        { maxBytes: spool.maxImageBytes, timeoutMs: spool.timeoutMs, tlsInsecure: this.target.tlsInsecure },
      );
      return { snapshot: spool.store(id, image, new Date()) };
    } catch (err) {
      this.host.log.debug({ camera: id, err: errField(err) }, 'snapshot failed');
      return { snapshotError: errField(err).message.slice(0, 200) };
    }
  }
}
