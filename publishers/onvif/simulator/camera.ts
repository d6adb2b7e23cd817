/**
 * The simulated camera: an HTTP server speaking ONVIF SOAP, its lifecycle and its test controls.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Authenticator } from './auth.js';
import { startDiscovery, upnpDescriptionXml, type DiscoveryHandle } from './discovery.js';
import { EventHub } from './events/hub.js';
import { PullPointManager } from './events/pullpoints.js';
import { startSchedules } from './events/schedule.js';
import { FaultInjector } from './faults.js';
import { deriveIdentity, type CameraIdentity } from './identity.js';
import { buildMediaModel, type MediaModel } from './media-model.js';
import { PtzModel } from './ptz-model.js';
import type { CameraState, Operation, OperationResult } from './services/context.js';
import { deviceOperations, SERVICE_PATHS } from './services/device.js';
import { eventOperations } from './services/events.js';
import { mediaOperations } from './services/media.js';
import { ptzOperations } from './services/ptz.js';
import { SNAPSHOT_JPEG } from './snapshot.js';
import { envelope, Faults, parseSoapRequest, SoapFault, type SoapRequest } from './soap.js';
import type {
  CallRecord,
  CameraEvent,
  FaultKind,
  FaultOptions,
  PtzState,
  SimLogger,
  SimulatedCamera,
  SimulatedCameraOptions,
  SimulatedUser,
  SimulatorStats,
} from './types.js';
import { levelAtLeast, UserStore } from './users.js';
import { SimulatedStream } from './stream.js';

const MAX_BODY_BYTES = 1 << 20;
const SUBSCRIPTION_PREFIX = '/onvif/subscription/';
const SOAP_CONTENT_TYPE = 'application/soap+xml; charset=utf-8';
const KNOWN_PATHS = new Set<string>(Object.values(SERVICE_PATHS));
const REALM = 'ONVIF Camera';

class BodyTooLarge extends Error {}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new BodyTooLarge());
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Resolves after `ms`, or at once (false) when the signal aborts first. */
function delay(ms: number, signal: AbortSignal, timers: Set<NodeJS.Timeout>): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const timer = setTimeout(() => {
      timers.delete(timer);
      signal.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = (): void => {
      timers.delete(timer);
      clearTimeout(timer);
      resolve(false);
    };
    timers.add(timer);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

function operationTable(ops: readonly Operation[]): Map<string, Operation> {
  return new Map(ops.map((o) => [`${o.ns} ${o.name}`, o]));
}

const OPERATIONS = operationTable([...deviceOperations, ...mediaOperations, ...eventOperations, ...ptzOperations]);

export class SimulatedCameraServer implements SimulatedCamera {
  readonly identity: CameraIdentity;
  private readonly media: MediaModel;
  private readonly userStore: UserStore;
  private readonly ptz: PtzModel | undefined;
  private readonly pullPoints: PullPointManager;
  private readonly hub: EventHub;
  private readonly auth: Authenticator;
  private readonly faults = new FaultInjector();
  private readonly server: http.Server;
  private readonly sockets = new Set<Socket>();
  /** Aborted when a request's client goes away, or when the camera drops every connection. */
  private readonly inflight = new Set<AbortController>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Requests held by the 'unresponsive' fault, so clearing it can release them. */
  private readonly held = new Set<AbortController>();
  private readonly callListeners = new Set<(call: CallRecord) => void>();
  private readonly calls: Record<string, number> = {};
  private readonly logger: SimLogger | undefined;
  private readonly state: CameraState;
  private readonly clockOffset: number;
  private totalCalls = 0;
  private authFailures = 0;
  private tokenRefusals = 0;
  private rebootCount = 0;
  private boundPort = 0;
  private listening = false;
  private closed = false;
  private stopSchedules: (() => void) | undefined;
  private discovery: DiscoveryHandle | undefined;
  /** The RTSP test stream (option `stream`), started before the HTTP listener. */
  stream: SimulatedStream | undefined;

  constructor(private readonly opts: SimulatedCameraOptions) {
    this.identity = deriveIdentity(opts);
    const hasPtz = opts.ptz ?? true;
    this.media = buildMediaModel(opts.videoSources, opts.profiles, hasPtz);
    const username = opts.username ?? 'admin';
    this.userStore = new UserStore(username, [
      { username, password: opts.password ?? 'admin', userLevel: 'Administrator' },
      ...(opts.users ?? []).filter((u) => u.username !== username),
    ]);
    this.clockOffset = opts.clockOffsetMs ?? 0;
    const now = (): number => Date.now() + this.clockOffset;
    this.ptz = hasPtz ? new PtzModel(now) : undefined;
    this.pullPoints = new PullPointManager(now, {
      maxPullPoints: opts.maxPullPoints ?? 32,
      maxQueued: opts.maxQueuedEvents ?? 1000,
      pullCapMs: opts.pullTimeoutCapMs ?? 60_000,
    });
    const digitalInputs = opts.digitalInputs ?? ['DigitalInput_1'];
    this.hub = new EventHub({ media: this.media, digitalInputs, now: () => new Date(now()) }, this.pullPoints);
    this.auth = new Authenticator(this.userStore, now, opts.authTimeToleranceMs ?? 300_000, REALM, opts.authSchemes ?? 'both');
    this.logger = opts.logger;
    const rtspPort = (): number => this.stream?.port ?? opts.rtspPort ?? 554;
    this.state = {
      identity: this.identity,
      media: this.media,
      users: this.userStore,
      ptz: this.ptz,
      hub: this.hub,
      pullPoints: this.pullPoints,
      digitalInputs,
      get rtspPort(): number {
        return rtspPort();
      },
      maxPullPoints: opts.maxPullPoints ?? 32,
      now,
      baseUrl: () => this.baseUrl,
      scopes: () => this.scopes(),
      reboot: () => this.reboot(),
    };
    this.server = http.createServer((req, res) => this.onRequest(req, res));
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  // ---- identity -------------------------------------------------------------------------------

  get host(): string {
    return this.opts.host ?? '127.0.0.1';
  }
  get port(): number {
    return this.boundPort;
  }
  get name(): string {
    return this.identity.name;
  }
  get serial(): string {
    return this.identity.serial;
  }
  get uuid(): string {
    return this.identity.uuid;
  }
  get mac(): string {
    return this.identity.mac;
  }
  get hostname(): string {
    return this.identity.hostname;
  }
  get username(): string {
    return this.opts.username ?? 'admin';
  }
  get password(): string {
    return this.userStore.get(this.username)?.password ?? this.opts.password ?? 'admin';
  }
  /** The address clients use: a wildcard listen address is announced as loopback. */
  private get advertisedHost(): string {
    const h = this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host;
    return h.includes(':') ? `[${h}]` : h;
  }
  private get baseUrl(): string {
    return `http://${this.advertisedHost}:${this.boundPort}`;
  }
  get url(): string {
    return `${this.baseUrl}${SERVICE_PATHS.device}`;
  }

  private scopes(): string[] {
    const i = this.identity;
    return [
      'onvif://www.onvif.org/type/video_encoder',
      ...(this.ptz ? ['onvif://www.onvif.org/type/ptz'] : []),
      'onvif://www.onvif.org/Profile/Streaming',
      `onvif://www.onvif.org/hardware/${encodeURIComponent(i.model)}`,
      `onvif://www.onvif.org/name/${encodeURIComponent(i.name)}`,
      `onvif://www.onvif.org/MAC/${i.mac}`,
    ];
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  async start(): Promise<void> {
    if (this.opts.stream) {
      const so = this.opts.stream === true ? {} : this.opts.stream;
      this.stream = new SimulatedStream(this.media.profiles.map((p) => p.streamPath), so);
      await this.stream.start();
    }
    try {
      await this.listen(this.opts.port ?? 0);
      this.stopSchedules = startSchedules(this.opts.events ?? [], this.hub, this.logger);
      const d = this.opts.discovery;
      if (d && (d.wsDiscovery || d.ssdp)) {
        this.discovery = await startDiscovery(
          d,
          { identity: this.identity, xaddr: this.url, baseUrl: this.baseUrl, scopes: this.scopes() },
          this.logger,
        );
      }
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  private listen(port: number): Promise<void> {
    if (this.listening) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen(port, this.host, () => {
        this.server.off('error', onError);
        this.boundPort = (this.server.address() as AddressInfo).port;
        this.listening = true;
        resolve();
      });
    });
  }

  /** Stops accepting and cuts every connection, long polls included. */
  private async stopListening(): Promise<void> {
    if (!this.listening) return;
    this.listening = false;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.dropConnections();
    await closed;
  }

  private dropConnections(): void {
    for (const ac of this.inflight) ac.abort();
    for (const s of this.sockets) s.destroy();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopSchedules?.();
    const discovery = this.discovery;
    this.discovery = undefined;
    await discovery?.close().catch((err: unknown) => this.logger?.warn({ err }, 'discovery close failed'));
    this.pullPoints.dropAll();
    // Aborting first settles every pending delay (slow answers, a reboot's downtime) before its
    // timer is cleared, so nothing awaiting them is left hanging.
    this.dropConnections();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    await this.stopListening();
    await this.stream?.close();
    this.callListeners.clear();
  }

  async reboot(opts: { downMs?: number } = {}): Promise<void> {
    if (this.closed) return;
    this.rebootCount++;
    this.logger?.debug({ camera: this.name }, 'rebooting');
    this.pullPoints.dropAll();
    this.hub.reset();
    this.ptz?.stop(true, true);
    const downMs = opts.downMs ?? 0;
    if (downMs > 0 && this.listening) {
      await this.stopListening();
      if (this.closed) return;
      const ac = new AbortController();
      this.inflight.add(ac);
      await delay(downMs, ac.signal, this.timers);
      this.inflight.delete(ac);
      if (!this.closed && !this.faults.isActive('down')) await this.listen(this.boundPort);
    } else {
      this.dropConnections();
    }
  }

  // ---- controls -------------------------------------------------------------------------------

  emit(event: CameraEvent): void {
    if (this.closed) return;
    this.hub.raise(event);
  }

  users(): SimulatedUser[] {
    return this.userStore.list();
  }

  ptzState(): PtzState {
    if (!this.ptz) throw new Error('this camera has no PTZ (ptz: false)');
    return this.ptz.state();
  }

  async fault<K extends FaultKind>(kind: K, opts?: FaultOptions[K]): Promise<void> {
    this.faults.set(kind, opts ?? ({} as FaultOptions[K]));
    if (kind === 'down') await this.stopListening();
  }

  async clearFaults(kind?: FaultKind): Promise<void> {
    const wasDown = this.faults.isActive('down');
    this.faults.clear(kind);
    if (kind === undefined || kind === 'unresponsive') {
      // Requests held by 'unresponsive' would otherwise hang until the client gives up.
      for (const ac of this.held) ac.abort();
    }
    if (wasDown && !this.faults.isActive('down') && !this.closed) await this.listen(this.boundPort);
  }

  stats(): SimulatorStats {
    return {
      calls: { ...this.calls },
      totalCalls: this.totalCalls,
      authFailures: this.authFailures,
      tokenRefusals: this.tokenRefusals,
      activeSubscriptions: this.pullPoints.size,
      pendingPulls: this.pullPoints.pendingPulls,
      openConnections: this.sockets.size,
      reboots: this.rebootCount,
      faultHits: { ...this.faults.hits },
    };
  }

  onCall(listener: (call: CallRecord) => void): () => void {
    this.callListeners.add(listener);
    return () => this.callListeners.delete(listener);
  }

  // ---- HTTP -----------------------------------------------------------------------------------

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const ac = new AbortController();
    this.inflight.add(ac);
    res.on('close', () => {
      this.inflight.delete(ac);
      this.held.delete(ac);
      ac.abort();
    });
    // An aborted request (camera dropping connections, held request released) loses its socket.
    ac.signal.addEventListener('abort', () => {
      if (!res.writableEnded) res.destroy();
    });
    this.handle(req, res, ac).catch((err: unknown) => {
      this.logger?.warn({ err }, 'request failed');
      if (!res.headersSent && !res.destroyed) res.writeHead(500).end();
      else res.destroy();
    });
  }

  private count(action: string): void {
    this.calls[action] = (this.calls[action] ?? 0) + 1;
    this.totalCalls++;
  }

  private notify(call: CallRecord): void {
    this.logger?.debug({ camera: this.name, ...call }, 'onvif call');
    for (const l of this.callListeners) {
      try {
        l(call);
      } catch (err) {
        this.logger?.warn({ err }, 'onCall listener threw');
      }
    }
  }

  private send(res: http.ServerResponse, status: number, body: string | Buffer, headers: http.OutgoingHttpHeaders = {}): void {
    if (res.destroyed || res.writableEnded) return;
    res.writeHead(status, {
      'Content-Type': SOAP_CONTENT_TYPE,
      'Content-Length': Buffer.byteLength(body),
      ...headers,
    });
    res.end(body);
  }

  private sendFault(res: http.ServerResponse, f: SoapFault, headers: http.OutgoingHttpHeaders = {}): void {
    this.send(res, f.httpStatus, f.toXml(), headers);
  }

  /** `true` when the request must go on; `false` when a fault took it (held or answered). */
  private async transportFaults(action: string, ac: AbortController): Promise<boolean> {
    if (this.faults.take('unresponsive', action)) {
      this.held.add(ac);
      return false;
    }
    const slow = this.faults.take('slow', action);
    if (slow) return delay(slow.delayMs ?? 1000, ac.signal, this.timers);
    return true;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse, ac: AbortController): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://camera').pathname;
    if (req.method === 'GET') return this.handleGet(req, res, path, ac);
    if (req.method !== 'POST') {
      res.writeHead(405, { Allow: 'GET, POST' }).end();
      return;
    }
    const request = await this.readRequest(req, res, path);
    if (!request) return;
    const action = request.operation.local;
    this.count(action);
    if (!(await this.transportFaults(action, ac))) return;

    const operation = OPERATIONS.get(`${request.operation.ns} ${action}`);
    const auth = this.authorize(request, operation, req, action);
    this.notify({ action, path, user: auth.user?.username });
    if (auth.fault) return this.sendFault(res, auth.fault, auth.headers);

    const injected = this.injectedAnswer(action);
    if (injected instanceof SoapFault) return this.sendFault(res, injected);
    if (injected !== undefined) return this.send(res, 200, injected);
    if (!operation) return this.sendFault(res, Faults.actionNotSupported());
    await this.dispatch(operation, request, auth.user, path, res, ac);
  }

  /** The parsed envelope, or undefined once an error has been answered. */
  private async readRequest(req: http.IncomingMessage, res: http.ServerResponse, path: string): Promise<SoapRequest | undefined> {
    let text: string;
    try {
      text = await readBody(req);
    } catch (err) {
      if (err instanceof BodyTooLarge) res.writeHead(413, { Connection: 'close' }).end();
      return undefined;
    }
    if (!KNOWN_PATHS.has(path) && !path.startsWith(SUBSCRIPTION_PREFIX)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found');
      return undefined;
    }
    try {
      return parseSoapRequest(text);
    } catch (err) {
      if (!(err instanceof SoapFault)) throw err;
      this.count('(malformed request)');
      this.sendFault(res, err);
      return undefined;
    }
  }

  /** Who is calling and whether they may; unknown operations are authenticated too. */
  private authorize(
    request: SoapRequest,
    operation: Operation | undefined,
    req: http.IncomingMessage,
    action: string,
  ): { user?: SimulatedUser; fault?: SoapFault; headers?: http.OutgoingHttpHeaders } {
    if (operation && operation.level === undefined) return {};
    const wrong = this.faults.take('wrongPassword', action);
    const outcome = wrong ? undefined : this.auth.authenticate(request.header, req.headers.authorization, 'POST', req.url ?? '');
    if (!outcome?.ok) {
      this.authFailures++;
      if (outcome !== undefined && outcome.challenge === undefined) this.tokenRefusals++;
      // HTTP Digest gets 401 with a fresh challenge (and the fault, for clients that read bodies);
      // a failed UsernameToken gets NotAuthorized with 400, as the ONVIF core spec says.
      return outcome?.challenge
        ? { fault: Faults.notAuthorized(401), headers: { 'WWW-Authenticate': outcome.challenge } }
        : { fault: Faults.notAuthorized(wrong?.httpStatus ?? 400) };
    }
    if (operation?.level && !levelAtLeast(outcome.user.userLevel, operation.level)) {
      return { user: outcome.user, fault: Faults.notAuthorized() };
    }
    return { user: outcome.user };
  }

  /** What the soapFault or malformedXml fault answers instead of the operation, if one applies. */
  private injectedAnswer(action: string): SoapFault | string | undefined {
    const f = this.faults.take('soapFault', action);
    if (f) {
      return new SoapFault({
        code: f.code ?? 'Receiver',
        subcodes: f.subcode ? [f.subcode] : [],
        reason: f.reason ?? 'Simulated fault',
        ...(f.detail !== undefined ? { detail: f.detail } : {}),
        ...(f.httpStatus !== undefined ? { httpStatus: f.httpStatus } : {}),
      });
    }
    if (this.faults.take('malformedXml', action)) {
      // Cut mid-element: what a device with a broken HTTP stack or a full buffer returns.
      const full = envelope(`<tds:${action}Response><tt:Broken>`);
      return full.slice(0, Math.floor(full.length * 0.6));
    }
    return undefined;
  }

  private async dispatch(
    operation: Operation,
    request: SoapRequest,
    user: SimulatedUser | undefined,
    path: string,
    res: http.ServerResponse,
    ac: AbortController,
  ): Promise<void> {
    const onSubscriptionPath = path.startsWith(SUBSCRIPTION_PREFIX);
    if (onSubscriptionPath !== (operation.onSubscription ?? false)) {
      return this.sendFault(
        res,
        onSubscriptionPath
          ? Faults.actionNotSupported()
          : Faults.invalidArg('InvalidArgVal', `${operation.name} must be sent to a subscription address`),
      );
    }
    let after: (() => void) | undefined;
    let result: string | OperationResult;
    try {
      result = await operation.handle(this.state, {
        op: request.operation,
        header: request.header,
        user,
        path,
        signal: ac.signal,
        subscription: onSubscriptionPath ? this.pullPoints.get(path.slice(SUBSCRIPTION_PREFIX.length)) : undefined,
        afterResponse: (fn) => {
          after = fn;
        },
      });
    } catch (err) {
      if (err instanceof SoapFault) return this.sendFault(res, err);
      throw err;
    }
    const r = typeof result === 'string' ? { body: result } : result;
    const then = after;
    if (then) res.once('finish', () => setImmediate(then));
    this.send(res, 200, envelope(r.body, r.action));
  }

  private async handleGet(req: http.IncomingMessage, res: http.ServerResponse, path: string, ac: AbortController): Promise<void> {
    const action = `GET ${path}`;
    if (path === '/description.xml') {
      this.count(action);
      if (!(await this.transportFaults(action, ac))) return;
      this.send(res, 200, upnpDescriptionXml(this.identity, this.baseUrl), { 'Content-Type': 'text/xml; charset="utf-8"' });
      return;
    }
    const m = /^\/onvif\/snapshot\/([^/]+)\.jpg$/.exec(path);
    const token = m?.[1] !== undefined ? decodeURIComponent(m[1]) : undefined;
    if (token === undefined || !this.media.profiles.some((p) => p.token === token)) {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('Not Found');
      return;
    }
    this.count('GET /onvif/snapshot');
    if (!(await this.transportFaults(action, ac))) return;
    // Snapshots sit behind HTTP authentication on real cameras: Digest, or Basic on older firmware.
    const user = this.httpUser(req.headers.authorization, req.url ?? '');
    if (!user) {
      this.authFailures++;
      res.writeHead(401, { 'WWW-Authenticate': this.auth.challenge(false), 'Content-Type': 'text/plain' }).end('Unauthorized');
      return;
    }
    this.send(res, 200, SNAPSHOT_JPEG, { 'Content-Type': 'image/jpeg' });
  }

  private httpUser(authorization: string | undefined, uri: string): SimulatedUser | undefined {
    if (authorization?.startsWith('Basic ')) {
      const [name = '', ...rest] = Buffer.from(authorization.slice(6), 'base64').toString('utf8').split(':');
      const u = this.userStore.get(name);
      return u && u.password === rest.join(':') && !this.faults.isActive('wrongPassword') ? u : undefined;
    }
    const outcome = this.auth.authenticate(undefined, authorization, 'GET', uri);
    return outcome.ok && !this.faults.isActive('wrongPassword') ? outcome.user : undefined;
  }
}
