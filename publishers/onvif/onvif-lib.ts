/**
 * The `onvif` package (0.8.3) as the publisher uses it: the import quirk, promise wrappers with
 * our own timeouts, and a per-camera hook on its request path.
 *
 * Why the hook (see /work/shared/ONVIF-NOTES.md): the library's pull loop sends PullMessages with a
 * fixed `PT1M` wait and an 80 s reply timeout through Node's shared `http.globalAgent` (requests to
 * the pull-point address ignore the Cam's `agent`), so a pull cannot be aborted and a stop would
 * wait for it. The hook, installed on one Cam instance only:
 * - sends every request of that camera, pull-point ones included, through the camera's own agent,
 *   so closing a session destroys exactly that camera's sockets and nobody else's;
 * - shortens the PullMessages wait to `pullTimeoutMs` (reply timeout: that plus a margin);
 * - attaches the SOAP fault subcodes and HTTP status to errors (the library keeps only the reason
 *   text), so `unauthorized` is told apart from other faults reliably;
 * - reports each pull's outcome, and paces a camera that answers pulls at once without waiting;
 * - after dispose(), fails any further request at once instead of touching the network.
 */
import type { Agent } from 'node:http';
import onvif from 'onvif';
import type { Cam as CamInstance } from 'onvif';
import { CameraError, FAULT_INFO, type FaultInfo } from './errors.js';

// Named imports type-check but fail at run time (CommonJS package): destructure the default.
export const { Cam, Discovery } = onvif;
export type OnvifCam = CamInstance;

export type LibCallback = (err: Error | null, data?: unknown, xml?: string, statusCode?: number) => void;

interface RequestOptions {
  body: string;
  url?: Record<string, unknown>;
  replyTimeout?: number;
  [key: string]: unknown;
}

interface CamInternals {
  _request(options: RequestOptions, callback: LibCallback): void;
}

/** Resolves with the callback's data (and raw XML); rejects with a CameraError. */
export function call<T = unknown>(
  what: string,
  timeoutMs: number,
  fn: (cb: LibCallback) => void,
): Promise<{ data: T; xml: string }> {
  // Created here so the stack points at the caller.
  const timeoutError = new CameraError('unreachable', `${what}: no answer within ${timeoutMs} ms`);
  return new Promise((resolve, reject) => {
    let settled = false;
    const timer = setTimeout(() => {
      settled = true;
      reject(timeoutError);
    }, timeoutMs);
    // The library calls some callbacks twice (e.g. when ours throws); only the first counts.
    const cb: LibCallback = (err, data, xml) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve({ data: data as T, xml: xml ?? '' });
    };
    try {
      fn(cb);
    } catch (err) {
      // e.g. getStreamUri without a profile throws synchronously.
      if (!settled) {
        settled = true;
        clearTimeout(timer);
        reject(err);
      }
    }
  });
}

/** Races `p` against a timeout whose error is created here. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string, onTimeout?: () => void): Promise<T> {
  const err = new CameraError('unreachable', `${what}: no answer within ${ms} ms`);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        onTimeout?.();
        reject(err);
      }, ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export interface HookOptions {
  agent: Agent;
  /** How long a PullMessages may wait at the camera. */
  pullTimeoutMs: number;
  /** Added to pullTimeoutMs for the reply timeout of a pull. */
  replyMarginMs: number;
  /** A pull that returns nothing sooner than this is "empty and early": the next one is delayed. */
  minEmptyPullMs: number;
  onPull(ok: boolean): void;
  /** CreatePullPointSubscription succeeded. */
  onSubscribed(): void;
}

export interface CamHook {
  /** Fails every later request of this camera at once; cancels a paced pull. */
  dispose(): void;
  /** Pulls that returned early and empty, in a row. */
  readonly earlyEmptyPulls: number;
}

const PULL_TIMEOUT_RE = /<Timeout>[^<]*<\/Timeout>(?=<MessageLimit>)/;
/** Codes of the fault envelope itself, not subcodes. */
const TOP_CODES = new Set(['Sender', 'Receiver', 'VersionMismatch', 'MustUnderstand', 'DataEncodingUnknown']);

const FIRST_BODY_ELEMENT = /<(?:[\w.-]+:)?Body\b[^>]*>\s*<([\w.-]+)\s[^>]*?\bxmlns="([^"]+)"/;

/** `namespace/LocalName` of the Body's first element, when it is unprefixed and declares its namespace. */
export function soapAction(body: string): string | undefined {
  const m = FIRST_BODY_ELEMENT.exec(body);
  return m ? `${m[2]}/${m[1]}` : undefined;
}

/** Subcodes of a SOAP fault in (namespace-stripped) XML, e.g. `['ter:NotAuthorized']`. */
export function faultSubcodes(xml: string | undefined): string[] {
  if (xml === undefined || !/Fault[\s>]/.test(xml)) return [];
  const out: string[] = [];
  for (const m of xml.matchAll(/<(?:[\w.-]+:)?Value>\s*([^<\s]+)\s*<\/(?:[\w.-]+:)?Value>/g)) {
    const v = m[1]!;
    const local = v.slice(v.indexOf(':') + 1);
    if (!TOP_CODES.has(local)) out.push(v);
  }
  return out;
}

/** `5000` → `PT5S`; below a second as a decimal (`PT0.5S`), which is valid xs:duration. */
function secondsDuration(ms: number): string {
  return `PT${Math.max(0.001, Math.round(ms) / 1000)}S`;
}

/** Installs the request hook on one Cam instance (its prototype stays untouched). */
export function hookCam(cam: OnvifCam, o: HookOptions): CamHook {
  const internals = cam as unknown as CamInternals;
  const original = internals._request;
  let disposed = false;
  let pacedTimer: NodeJS.Timeout | undefined;
  let nextPullAt = 0;
  let early = 0;

  internals._request = function hookedRequest(this: CamInternals, request: RequestOptions, callback: LibCallback): void {
    let options = request;
    if (disposed) {
      const err = Object.assign(new Error('camera session closed'), { code: 'ECONNABORTED' });
      setImmediate(() => callback(err));
      return;
    }
    // The library finds the SOAP action by parsing every outgoing body with xml2js; reading it
    // off the first element of the Body is the same answer at a fraction of the cost.
    if (options['action'] === undefined) {
      const action = soapAction(options.body);
      if (action !== undefined) options = { ...options, action };
    }
    const isPull = options.body.includes('<PullMessages ');
    const isCreate = options.body.includes('<CreatePullPointSubscription ');
    let opts = options;
    // Pull-point requests carry their URL object; give it this camera's agent.
    if (opts.url !== undefined) opts = { ...opts, url: { ...opts.url, agent: o.agent } };
    if (isPull) {
      opts = {
        ...opts,
        body: opts.body.replace(PULL_TIMEOUT_RE, `<Timeout>${secondsDuration(o.pullTimeoutMs)}</Timeout>`),
        replyTimeout: o.pullTimeoutMs + o.replyMarginMs,
      };
    }
    const started = Date.now();
    const cb: LibCallback = (err, data, xml, statusCode) => {
      if (err) {
        const info: FaultInfo = { subcodes: faultSubcodes(xml), httpStatus: statusCode };
        try {
          Object.defineProperty(err, FAULT_INFO, { value: info, enumerable: false });
        } catch {
          // a frozen error object: classify without the extra information
        }
      }
      if (isPull) {
        if (!err && !(xml ?? '').includes('NotificationMessage') && Date.now() - started < o.minEmptyPullMs) {
          early++;
          // Back off a camera that ignores the Timeout, up to one pull timeout.
          nextPullAt = Date.now() + Math.min(o.pullTimeoutMs, o.minEmptyPullMs * 2 ** Math.min(early, 6));
        } else {
          early = 0;
          nextPullAt = 0;
        }
        o.onPull(!err);
      }
      if (isCreate && !err) o.onSubscribed();
      callback(err, data, xml, statusCode);
      // Every pull, renew and unsubscribe reads subscriptionReference.referenceParameters
      // .subscriptionId inside a try/catch; without referenceParameters that throws (and builds
      // a stack trace) each time. An empty object gives the library the same answer for free.
      if (isCreate && !err) {
        const ref = (cam.events as { subscription?: { subscriptionReference?: { referenceParameters?: unknown } } }).subscription
          ?.subscriptionReference;
        if (ref !== undefined && ref.referenceParameters === undefined) ref.referenceParameters = {};
      }
    };
    const wait = isPull ? nextPullAt - Date.now() : 0;
    if (wait > 0) {
      pacedTimer = setTimeout(() => {
        pacedTimer = undefined;
        if (disposed) callback(Object.assign(new Error('camera session closed'), { code: 'ECONNABORTED' }));
        else original.call(this, opts, cb);
      }, wait);
      return;
    }
    original.call(this, opts, cb);
  };

  return {
    dispose() {
      disposed = true;
      if (pacedTimer !== undefined) {
        clearTimeout(pacedTimer);
        pacedTimer = undefined;
      }
    },
    get earlyEmptyPulls() {
      return early;
    },
  };
}
