/**
 * Test helpers around the real `onvif` library: promise wrappers with our own timeouts (the
 * library can hang silently), and an event collector that normalises its message shapes.
 */
import { randomBytes } from 'node:crypto';
import onvif from 'onvif';
import type { Cam as CamInstance, CamOptions } from 'onvif';
import { passwordDigest, type CallRecord, type SimulatedCamera } from '../../publishers/onvif/simulator/index.js';

// Named imports fail at run time (CommonJS package); destructure the default.
const { Cam } = onvif;
export type Cam = CamInstance;

/** Rejects with a timeout error created here, so its stack points at the waiting test. */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const err = new Error(`timed out after ${ms} ms: ${what}`);
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(err), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** Constructs a Cam for the simulator and connects it; connect() is wrapped in our own timeout. */
export function connectCam(
  sim: SimulatedCamera,
  over: Partial<CamOptions> = {},
  timeoutMs = 5000,
  setup?: (cam: Cam) => void,
): Promise<Cam> {
  const cam = new Cam({
    hostname: sim.host,
    port: sim.port,
    username: sim.username,
    password: sim.password,
    autoconnect: false,
    ...over,
  });
  setup?.(cam);
  return withTimeout(
    new Promise<Cam>((resolve, reject) => cam.connect((err) => (err ? reject(err) : resolve(cam)))),
    timeoutMs,
    `connect to ${sim.url}`,
  );
}

/**
 * Calls a callback-style Cam method; `fn` receives the callback. `T` is what the test expects
 * back: the library's typings are loose (and sometimes wrong), so the data is not checked.
 */
export function call<T = unknown>(fn: (cb: (err: Error | null, data?: any) => void) => void, timeoutMs = 5000): Promise<T> {
  return withTimeout(
    new Promise<T>((resolve, reject) => fn((err, data) => (err ? reject(err) : resolve(data as T)))),
    timeoutMs,
    'onvif call',
  );
}

export type ItemValue = string | number | boolean;

export interface NormalisedEvent {
  topic: string;
  operation: string | undefined;
  utcTime: Date | string;
  source: Record<string, ItemValue>;
  data: Record<string, ItemValue>;
}

// The library hands out untyped objects.
function items(node: any): Record<string, ItemValue> {
  const raw = node?.simpleItem;
  // One SimpleItem is an object, several are an array.
  const list: any[] = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return Object.fromEntries(list.map((i) => [String(i.$.Name), i.$.Value as ItemValue]));
}

/** Flattens the library's `{topic: {_}, message: {message: {$, source, data}}}`. */
export function normalise(msg: any): NormalisedEvent {
  const inner = msg.message.message;
  return {
    topic: typeof msg.topic === 'string' ? msg.topic : msg.topic._,
    operation: inner.$.PropertyOperation,
    utcTime: inner.$.UtcTime,
    source: items(inner.source),
    data: items(inner.data),
  };
}

/** Subscribes to a Cam's 'event' (which starts the library's pull loop) and records events. */
export class EventCollector {
  readonly events: NormalisedEvent[] = [];
  readonly xml: string[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly listener = (msg: unknown, xml: string): void => {
    this.events.push(normalise(msg));
    this.xml.push(xml);
    for (const w of this.waiters) w();
  };

  constructor(private readonly cam: Cam) {
    cam.on('event', this.listener);
  }

  /** Resolves with the first recorded event (from index `from`) matching `pred`. */
  waitFor(pred: (e: NormalisedEvent) => boolean, timeoutMs = 5000, from = 0): Promise<NormalisedEvent> {
    const found = (): NormalisedEvent | undefined => this.events.slice(from).find(pred);
    return withTimeout(
      new Promise<NormalisedEvent>((resolve) => {
        const hit = found();
        if (hit) return resolve(hit);
        const check = (): void => {
          const e = found();
          if (e) {
            this.waiters.delete(check);
            resolve(e);
          }
        };
        this.waiters.add(check);
      }),
      timeoutMs,
      'event',
    );
  }

  /** Removes the listener; the library then ends its loop once the in-flight pull returns. */
  stop(): void {
    this.cam.removeListener('event', this.listener);
    this.waiters.clear();
  }
}

/** Resolves on the next request for `action` the simulator sees. */
export function nextCall(sim: SimulatedCamera, action: string, timeoutMs = 5000): Promise<CallRecord> {
  let off: (() => void) | undefined;
  return withTimeout(
    new Promise<CallRecord>((resolve) => {
      off = sim.onCall((c) => {
        if (c.action === action) resolve(c);
      });
    }),
    timeoutMs,
    `${action} call`,
  ).finally(() => off?.());
}

/** Resolves once the simulator has seen `n` calls of `action` in total. */
export function callCount(sim: SimulatedCamera, action: string, n: number, timeoutMs = 5000): Promise<void> {
  let off: (() => void) | undefined;
  return withTimeout(
    new Promise<void>((resolve) => {
      const check = (): void => {
        if ((sim.stats().calls[action] ?? 0) >= n) resolve();
      };
      off = sim.onCall(check);
      check();
    }),
    timeoutMs,
    `${n} ${action} calls`,
  ).finally(() => off?.());
}

/** Posts a hand-written SOAP 1.2 request, with a WS-Security digest when credentials are given. */
export async function rawSoap(
  url: string,
  body: string,
  creds?: { username: string; password: string },
): Promise<{ status: number; text: string }> {
  let header = '';
  if (creds) {
    const nonce = randomBytes(16);
    const created = new Date().toISOString();
    header =
      '<Security xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"><UsernameToken>' +
      `<Username>${creds.username}</Username>` +
      '<Password Type="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-username-token-profile-1.0#PasswordDigest">' +
      `${passwordDigest(nonce, created, creds.password)}</Password>` +
      `<Nonce>${nonce.toString('base64')}</Nonce>` +
      `<Created xmlns="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd">${created}</Created>` +
      '</UsernameToken></Security>';
  }
  const xml =
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">' +
    `<s:Header>${header}</s:Header><s:Body>${body}</s:Body></s:Envelope>`;
  const res = await fetch(url, { method: 'POST', body: xml, headers: { 'Content-Type': 'application/soap+xml; charset=utf-8' } });
  return { status: res.status, text: await res.text() };
}

/** How many times `needle` occurs in `haystack`. */
export function occurrences(haystack: string, needle: string): number {
  return haystack.split(needle).length - 1;
}
