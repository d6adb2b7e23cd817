/**
 * One connection to one camera: a fresh `Cam` with its own HTTP agent and request hook, connected
 * under our own timeout, identified, and (on demand) running the library's pull-point loop.
 *
 * A session is never repaired: after a fault it is closed and the supervisor (worker.ts) opens a
 * new one. A closed session's Cam is abandoned — its agent is destroyed and its hook fails any
 * later request — so the library's own retry loops on that object die out instead of running
 * next to the new session's loop.
 */
import http from 'node:http';
import https from 'node:https';
import type { CameraProfile } from '../../schemas/payloads.js';
import { CameraError, classify } from './errors.js';
import { errField, type Logger } from './log.js';
import { Cam, call, hookCam, withTimeout, type CamHook, type LibCallback, type OnvifCam } from './onvif-lib.js';
import type { CameraTarget, Timing } from './options.js';
import type { NotifyServer } from './notify-server.js';
import { deviceInfoFromXml, profilesFromXml, type DeviceInfo } from './raw-xml.js';

/** The reason given to startEvents() listeners when the session is closed by us. */
export const SESSION_CLOSED = Symbol('session closed');

export interface EventHandlers {
  onMessage(msg: unknown): void;
  /** CreatePullPointSubscription answered. */
  onSubscribed(): void;
  /** A PullMessages answered (ok) or failed. */
  onPull(ok: boolean): void;
}

/** Clock offsets smaller than this are taken as zero (see open()). */
const CLOCK_NOISE_MS = 2_000;

export class CameraSession {
  /**
   * Camera clock minus our clock (ms), from the GetSystemDateAndTime the library sends first on
   * connect (it keeps `timeShift` = camera time − process uptime); undefined if it did not answer.
   */
  clockOffsetMs: number | undefined;
  /** VideoSourceConfiguration token → video source token, from the profiles (events name either). */
  readonly videoSources = new Map<string, string>();
  private closed = false;
  private closeReason: CameraError | undefined;
  private handlers: EventHandlers | undefined;
  private endEvents: ((reason: unknown) => void) | undefined;
  /** How events arrive in this session (set by startEvents). */
  delivery: 'pull' | 'push' | undefined;

  private constructor(
    readonly cam: OnvifCam,
    private readonly agent: http.Agent,
    private readonly hook: CamHook,
    private readonly timing: Timing,
    private readonly log: Logger,
    readonly device: DeviceInfo,
    readonly profiles: CameraProfile[],
    private readonly state: { session?: CameraSession },
  ) {}

  /** Connects and reads device information and profiles; rejects with a CameraError. */
  /** `wsSecurity` false: HTTP Digest only (the library then sends no WS-Security header). */
  static async open(target: CameraTarget, timing: Timing, log: Logger, signal?: AbortSignal, wsSecurity = target.auth !== 'digest'): Promise<CameraSession> {
    if (signal?.aborted) throw new CameraError('unreachable', 'stopped');
    const agent = target.secure
      ? new https.Agent({ keepAlive: true, rejectUnauthorized: !target.tlsInsecure })
      : new http.Agent({ keepAlive: true });
    const cam = new Cam({
      hostname: target.host,
      port: target.port,
      path: target.path,
      ...(target.username !== undefined ? { username: target.username } : {}),
      ...(target.password !== undefined ? { password: target.password } : {}),
      timeout: timing.requestTimeoutMs,
      autoconnect: false,
      useWSSecurity: wsSecurity,
      agent,
      useSecure: target.secure,
      ...(target.secure ? { secureOpts: { rejectUnauthorized: !target.tlsInsecure } } : {}),
    });
    // The hook exists before the session does; it reaches the session through this box.
    const box: { session?: CameraSession } = {};
    const hook = hookCam(cam, {
      agent,
      pullTimeoutMs: timing.pullTimeoutMs,
      replyMarginMs: timing.pullReplyMarginMs,
      minEmptyPullMs: timing.minEmptyPullMs,
      onPull: (ok) => box.session?.handlers?.onPull(ok),
      onSubscribed: () => box.session?.handlers?.onSubscribed(),
    });
    const abandon = (): void => {
      hook.dispose();
      agent.destroy();
    };
    // The library warns through events; an 'error' event without a listener would throw.
    cam.on('error', (err: unknown) => log.debug({ err: errField(err) }, 'onvif library error'));
    cam.on('warning', (w: unknown) => log.debug({ warning: String(w) }, 'onvif library warning'));
    let profilesXml: string | undefined;
    let answers = 0;
    const onRaw = (xml: string): void => {
      answers++;
      if (xml.includes('GetProfilesResponse')) profilesXml = xml;
    };
    cam.on('rawResponse', onRaw);
    // stop() must not wait for a connect that hangs: abandoning the Cam fails what is in flight.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => {
        abandon();
        reject(new CameraError('unreachable', 'stopped'));
      };
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    aborted.catch(() => undefined);
    try {
      await Promise.race([
        withTimeout(
          new Promise<void>((resolve, reject) => cam.connect((err) => (err ? reject(err) : resolve()))),
          timing.connectTimeoutMs,
          'connect',
          abandon,
        ),
        aborted,
      ]);
      const { data, xml } = await Promise.race([
        call<Record<string, unknown> | undefined>('GetDeviceInformation', timing.requestTimeoutMs, (cb) =>
          cam.getDeviceInformation(cb as LibCallback),
        ),
        aborted,
      ]);
      const device = deviceInfoFromXml(xml) ?? fromParsed(data);
      const profiles = (profilesXml !== undefined ? profilesFromXml(profilesXml) : undefined) ?? profilesFromLibrary(cam);
      cam.removeListener('rawResponse', onRaw);
      // The library's loop pulls `messageLimit` notifications at a time (its default is 10).
      cam.events.messageLimit = timing.messageLimit;
      const session = new CameraSession(cam, agent, hook, timing, log, device, profiles, box);
      const shift = (cam as { timeShift?: unknown }).timeShift;
      if (typeof shift === 'number' && Number.isFinite(shift)) {
        // GetSystemDateAndTime has whole seconds, so offsets under ~2 s are measurement noise:
        // correcting by them would shift the times of cameras whose clocks are right.
        const offset = Math.round(process.uptime() * 1000 + shift - Date.now());
        session.clockOffsetMs = Math.abs(offset) < CLOCK_NOISE_MS ? 0 : offset;
      }
      for (const p of profiles) {
        if (p.videoSourceConfiguration !== undefined && p.videoSource !== undefined) session.videoSources.set(p.videoSourceConfiguration, p.videoSource);
      }
      box.session = session;
      return session;
    } catch (err) {
      abandon();
      const e = classify(err);
      // The library can stall without calling back (e.g. on profiles that reference unknown video
      // sources): a camera that did answer is not "unreachable".
      if (e.code === 'unreachable' && answers > 0 && e.message.startsWith('connect: no answer')) {
        throw new CameraError('camera-fault', `connect did not complete within ${timing.connectTimeoutMs} ms although the camera answered (inconsistent media configuration?)`);
      }
      throw e;
    } finally {
      if (onAbort !== undefined) signal?.removeEventListener('abort', onAbort);
    }
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * A camera call under the request timeout; rejects with the raw error (classify it). A call cut
   * off because the session closed rejects with the reason the session closed (e.g. the camera
   * started refusing our credentials), not with the socket error that closing caused.
   */
  async request<T = unknown>(what: string, fn: (cb: LibCallback) => void): Promise<{ data: T; xml: string }> {
    if (this.closed) throw this.closedError();
    try {
      return await call<T>(what, this.timing.requestTimeoutMs, fn);
    } catch (err) {
      throw this.closed ? this.closedError() : err;
    }
  }

  private closedError(): CameraError {
    return this.closeReason ?? new CameraError('unreachable', 'the camera connection was closed');
  }

  /**
   * Starts the library's pull-point loop (only after connect completed: an earlier 'event'
   * listener kills the loop). Resolves with the first `eventsError` — the loop is then already
   * detached — or with SESSION_CLOSED. Ending at the first error means the library's own retry
   * loops (a tight create/pull/unsubscribe loop on persistent pull faults, its slow backoff when
   * the camera is unreachable, its dead stop after a subscription fault) never run: the
   * supervisor decides when to try again.
   */
  startEvents(handlers: EventHandlers, push?: { server: NotifyServer; fallback: boolean; renewMs: number }): Promise<unknown> {
    if (this.closed) return Promise.resolve(SESSION_CLOSED);
    this.handlers = handlers;
    if (push !== undefined) return this.startPush(handlers, push);
    this.delivery = 'pull';
    return new Promise((resolve) => {
      const onEvent = (msg: unknown): void => {
        // The library catches a throwing listener and calls it again with the error.
        try {
          handlers.onMessage(msg);
        } catch (err) {
          this.log.error({ err: errField(err) }, 'event handler failed');
        }
      };
      const end = (reason: unknown): void => {
        if (this.endEvents === undefined) return;
        this.endEvents = undefined;
        this.cam.removeListener('event', onEvent);
        this.cam.removeListener('eventsError', onError);
        resolve(reason);
      };
      const onError = (err: unknown): void => end(err ?? new Error('event loop failed'));
      this.endEvents = end;
      this.cam.on('eventsError', onError);
      this.cam.on('event', onEvent);
    });
  }

  /**
   * WS-BaseNotification: Subscribe with a consumer address on the publisher's Notify endpoint, then
   * Renew every `renewMs` (the library asks for 2-minute terminations). Resolves like the pull
   * loop: with the first failure (a Renew refused: the camera forgot us) or SESSION_CLOSED. A
   * camera that refuses Subscribe falls back to the pull point when `fallback` is set.
   */
  private startPush(handlers: EventHandlers, push: { server: NotifyServer; fallback: boolean; renewMs: number }): Promise<unknown> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const reg = push.server.register((xml) => {
        this.cam.parseEventXML(xml, (err: unknown, msgs: unknown) => {
          if (err || this.endEvents === undefined) return;
          for (const m of Array.isArray(msgs) ? msgs : [msgs]) {
            try {
              handlers.onMessage(m);
            } catch (e) {
              this.log.error({ err: errField(e) }, 'event handler failed');
            }
          }
        });
      });
      const end = (reason: unknown): void => {
        if (this.endEvents === undefined) return;
        this.endEvents = undefined;
        clearTimeout(timer);
        reg.dispose();
        resolve(reason);
      };
      this.endEvents = end;
      const renew = (): void => {
        timer = setTimeout(() => {
          this.request('Renew', (cb) => this.cam.renew({}, cb))
            .then(() => {
              handlers.onPull(true);
              renew();
            })
            .catch((err: unknown) => end(err));
        }, push.renewMs);
        timer.unref();
      };
      this.request('Subscribe', (cb) => this.cam.subscribe({ url: reg.url }, cb))
        .then(() => {
          if (this.endEvents !== end) return;
          this.delivery = 'push';
          handlers.onSubscribed();
          handlers.onPull(true);
          renew();
        })
        .catch((err: unknown) => {
          if (this.endEvents !== end) return;
          const e = classify(err);
          if (!push.fallback || e.code === 'unreachable' || e.code === 'unauthorized') return end(err);
          this.log.info({ err: errField(e) }, 'camera refused Subscribe; using a pull point');
          this.endEvents = undefined;
          reg.dispose();
          this.startEvents(handlers).then(resolve, resolve);
        });
    });
  }

  /**
   * Detaches the event loop, asks the camera to drop the subscription (waiting at most
   * stopTimeoutMs), then destroys this camera's sockets — a pull in flight included — so close()
   * never waits for a long poll and touches no other camera.
   */
  async close(reason?: CameraError): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closeReason = reason;
    this.endEvents?.(SESSION_CLOSED);
    this.handlers = undefined;
    const events = this.cam.events as { subscription?: unknown };
    if (events.subscription !== undefined) {
      await withTimeout(
        new Promise<void>((resolve) => this.cam.unsubscribe(() => resolve(), true)),
        this.timing.stopTimeoutMs,
        'Unsubscribe',
      ).catch(() => undefined);
    }
    this.hook.dispose();
    this.agent.destroy();
    delete this.state.session;
  }
}

/** Device information from the library's parsed object (used only if the raw XML is unreadable). */
export function fromParsed(d: Record<string, unknown> | undefined): DeviceInfo {
  const s = (v: unknown): string => (v === undefined || v === null ? '' : String(v));
  return {
    manufacturer: s(d?.['manufacturer']),
    model: s(d?.['model']),
    firmware: s(d?.['firmwareVersion']),
    serial: s(d?.['serialNumber']),
    hardwareId: s(d?.['hardwareId']),
  };
}

function profilesFromLibrary(cam: OnvifCam): CameraProfile[] {
  return (cam.profiles ?? []).flatMap((p) => {
    const token = (p as { $?: { token?: unknown } }).$?.token ?? p.token;
    if (token === undefined || token === null || String(token) === '') return [];
    return [{ token: String(token), name: p.name === undefined ? '' : String(p.name) }];
  });
}
