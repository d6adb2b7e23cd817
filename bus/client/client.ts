/**
 * The udsbus client: one connection to the broker, rxjs Observables for subscriptions,
 * eventemitter3 for lifecycle, request/reply, and automatic reconnect with re-subscription.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { EventEmitter } from 'eventemitter3';
import { Observable, type Subscriber, type Subscription } from 'rxjs';
import { decodeFrame, decodeValue, encodeFrame, encodeValue, type DecodedFrame } from '../protocol/codec.js';
import { NoRespondersError, RemoteError, TimeoutError, UdsbusError, type ErrorName } from '../protocol/errors.js';
import { DEFAULT_LIMITS, PROTOCOL_VERSION, type Limits } from '../protocol/limits.js';
import { FrameParser } from '../protocol/parser.js';
import { checkPattern, checkTopic, describeTopicProblem, isReservedTopic } from '../topics/grammar.js';
import { defaultSocketPath } from '../paths.js';
import { encodePub } from './frames.js';

export type Policy = 'drop-oldest' | 'drop-newest' | 'latest-per-topic' | 'disconnect';

export type ConnectOptions = {
  /** Unix socket path (default: UDSBUS_SOCKET, then the per-user default). */
  socket?: string;
  /** Connect over TCP instead (the broker's optional `--tcp` listener). */
  tcp?: { host: string; port: number };
  /** A label for logs and `$SYS`; not verified by anything. */
  name?: string;
  /** Keepalive interval asked of the broker (ms). */
  keepaliveMs?: number;
  /** Published by the broker if this connection ends without close(). */
  will?: { topic: string; payload?: unknown; retain?: boolean };
  /** Reconnect when the connection drops (default true). */
  reconnect?: boolean;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxReconnectAttempts?: number;
  /** Bytes of publishes kept while disconnected; beyond it publish() throws DISCONNECTED. */
  outageBufferBytes?: number;
  /** Time allowed for the connect + handshake (ms). */
  connectTimeoutMs?: number;
  /** Default request() timeout (ms). */
  requestTimeoutMs?: number;
  /** Check payloads before publishing (e.g. `validatorFor` from udsbus/schemas). */
  validate?: (topic: string, payload: unknown) => readonly string[] | undefined;
};

export type PublishOptions = {
  /**
   * Resolve only once the broker has stored the message in every durable queue it matched
   * (publisher confirm); publish() then returns a Promise.
   */
  confirm?: boolean;
  retain?: boolean;
  /** Retained message owned by this connection: cleared (or replaced by the will) when it ends. */
  owned?: boolean;
  reply?: string;
  hdr?: Record<string, string>;
};

export type SubscribeOptions = {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
  /** Replay matching retained messages first (default true). */
  retained?: boolean;
  /** What the broker drops when this subscription's share of the queue is full. */
  policy?: Policy;
  maxMsgs?: number;
  maxBytes?: number;
  /**
   * Durable name: the broker keeps every matching message on disk until acknowledged, also
   * while this client is away (PROTOCOL.md §17). Acknowledge with `client.ack(msg)`.
   */
  durable?: string;
  /** Disk quota, maximum age and overflow of the durable queue, used when it is created. */
  durableMaxBytes?: number;
  durableMaxAgeMs?: number;
  durableOverflow?: 'reject' | 'drop-oldest';
  /** Acknowledge each durable message once every observer's next() has returned. */
  autoAck?: boolean;
};

/** One delivered message. */
export type Message<T = unknown> = {
  readonly topic: string;
  /** The decoded payload; undefined for an empty one (a cleared retained message). */
  readonly payload: T;
  /** The payload's CBOR bytes, as received. */
  readonly bytes: Uint8Array;
  readonly sid: number;
  /** Per-subscription sequence number (0 for retained replays); restarts after a reconnect. */
  readonly seq: number;
  readonly retained: boolean;
  readonly reply: string | undefined;
  readonly hdr: Readonly<Record<string, string>> | undefined;
  /** Messages the broker dropped for this subscription just before this one (loss notice). */
  readonly lost: number;
  /**
   * Who published it, stamped by the broker: uid/gid/pid verified by the kernel when the
   * publisher connected; `name` is the publisher's own unverified label; `anonymous` for TCP.
   */
  readonly from: Origin | undefined;
  /** Durable deliveries: the message id, stable across redeliveries (drop duplicates by it). */
  readonly mid: number | undefined;
  /** Durable deliveries: sent before and not acknowledged in time. */
  readonly redelivered: boolean;
};

export type Origin = { cid: string; name: string; uid?: number; gid?: number; pid?: number; anonymous?: true };

export type LossEvent = { sid: number; pattern: string; lost: number; policy: string; lastSeq: number };
export type CloseInfo = { reason: 'closed' | 'gave-up' | 'fatal'; error?: UdsbusError | Error };

export type ClientEvents = {
  connect: [{ cid: string }];
  disconnect: [{ error?: Error }];
  reconnect: [{ cid: string; attempt: number; brokerRestarted: boolean }];
  error: [Error];
  loss: [LossEvent];
  closed: [CloseInfo];
};

type Shared = {
  sid: number;
  key: string;
  pattern: string;
  opts: SubscribeOptions;
  observers: Set<Subscriber<Message>>;
  pendingLost: number;
};

type PendingRequest = { resolve: (m: Message) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; id: number };

const HIGH_WATER = 1024 * 1024;
const BATCH = 64 * 1024;

export class Client extends EventEmitter<ClientEvents> {
  private sock: Socket | undefined;
  private state: 'connecting' | 'open' | 'reconnecting' | 'closed' = 'connecting';
  private parser: FrameParser | undefined;
  private cidValue = '';
  private limitsValue: Limits = { ...DEFAULT_LIMITS };
  private readonly shared = new Map<string, Shared>();
  private readonly bySid = new Map<number, Shared>();
  private sidSeq = 0;
  private idSeq = 0;
  private wbuf: Buffer[] = [];
  private wbytes = 0;
  private flushQueued = false;
  private outage: Buffer[] = [];
  private outageBytes = 0;
  private readonly inbox = `_INBOX.${randomBytes(6).toString('hex')}`;
  private inboxSid = 0;
  private reqSeq = 0;
  private readonly requests = new Map<string, PendingRequest>();
  private readonly requestIds = new Map<number, string>();
  private readonly pongWaiters = new Map<number, () => void>();
  private flushWaiters: Array<() => void> = [];
  private lastRecv = Date.now();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private closeInfo: CloseInfo | undefined;
  private closedPromise: Promise<CloseInfo>;
  private resolveClosed!: (info: CloseInfo) => void;
  private handshake: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private readonly opts: Required<Pick<ConnectOptions, 'name' | 'reconnect' | 'reconnectInitialMs' | 'reconnectMaxMs' | 'maxReconnectAttempts' | 'outageBufferBytes' | 'connectTimeoutMs' | 'requestTimeoutMs'>> &
    ConnectOptions;

  constructor(opts: ConnectOptions = {}) {
    super();
    this.opts = {
      name: '',
      reconnect: true,
      reconnectInitialMs: 50,
      reconnectMaxMs: 2000,
      maxReconnectAttempts: Infinity,
      outageBufferBytes: 1024 * 1024,
      connectTimeoutMs: 5000,
      requestTimeoutMs: 5000,
      ...opts,
    };
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
  }

  /** This connection's id at the broker (changes on reconnect). */
  get cid(): string {
    return this.cidValue;
  }

  private bootValue: string | undefined;
  private brokerRestarted = false;

  /** The broker instance's id (`welcome.boot`): it changes when the broker restarts. */
  get boot(): string | undefined {
    return this.bootValue;
  }

  /** The limits the broker announced. */
  get limits(): Readonly<Limits> {
    return this.limitsValue;
  }

  get connected(): boolean {
    return this.state === 'open';
  }

  /** Resolves (never rejects) when the client is closed for good. */
  closed(): Promise<CloseInfo> {
    return this.closedPromise;
  }

  // ---- connection -------------------------------------------------------------------------

  /** @internal First connection; connect() below is the public entry. */
  async open(): Promise<void> {
    await this.dial();
  }

  private dial(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sock = this.opts.tcp
        ? createConnection({ host: this.opts.tcp.host, port: this.opts.tcp.port, noDelay: true })
        : createConnection(this.opts.socket ?? defaultSocketPath());
      this.sock = sock;
      let settled = false;
      // Only a connection that completed its handshake may trigger a reconnect when it closes;
      // a failed attempt is retried by scheduleReconnect() alone (never twice).
      let opened = false;
      const timer = setTimeout(() => fail(new UdsbusError('TIMEOUT', `no welcome from the broker within ${this.opts.connectTimeoutMs} ms`)), this.opts.connectTimeoutMs);
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.handshake = undefined;
        sock.destroy();
        reject(e);
      };
      this.handshake = {
        resolve: () => {
          if (settled) return;
          settled = true;
          opened = true;
          clearTimeout(timer);
          this.handshake = undefined;
          resolve();
        },
        reject: fail,
      };
      this.parser = new FrameParser(
        DEFAULT_LIMITS.maxFrameBytes * 16,
        (body) => this.onFrame(body),
        (e) => this.protocolError(new UdsbusError(e.code, e.text)),
      );
      const parser = this.parser;
      sock.on('connect', () => {
        const hello: Record<string, unknown> = { op: 'hello', v: PROTOCOL_VERSION, name: this.opts.name };
        if (this.opts.keepaliveMs !== undefined) hello.keepalive = this.opts.keepaliveMs;
        if (this.opts.will) {
          hello.will = { topic: this.opts.will.topic, payload: encodeValue(this.opts.will.payload), retain: this.opts.will.retain === true };
        }
        sock.write(encodeFrame(hello));
      });
      sock.on('data', (chunk: Buffer) => {
        this.lastRecv = Date.now();
        parser.push(chunk);
      });
      sock.on('drain', () => this.emitDrain());
      sock.on('error', (err) => {
        if (!settled) fail(explainConnectError(err as NodeJS.ErrnoException, this.opts.socket ?? defaultSocketPath()));
      });
      sock.on('close', () => {
        if (!settled) fail(new UdsbusError('DISCONNECTED', 'the broker closed the connection during the handshake'));
        if (opened && this.sock === sock) this.onSocketClosed();
      });
    });
  }

  private onWelcome(f: DecodedFrame): void {
    this.cidValue = String(f.cid);
    const boot = typeof f.boot === 'string' ? f.boot : undefined;
    this.brokerRestarted = this.bootValue !== undefined && boot !== undefined && boot !== this.bootValue;
    this.bootValue = boot;
    if (f.limits !== null && typeof f.limits === 'object') this.limitsValue = { ...DEFAULT_LIMITS, ...(f.limits as Partial<Limits>) };
    const reconnecting = this.state === 'reconnecting';
    this.state = 'open';
    const attempt = this.attempts;
    this.attempts = 0;
    // Re-subscribe before replaying buffered publishes so replies and echoes are not missed.
    if (this.inboxSid !== 0) this.sendSub(this.inboxSid, `${this.inbox}.>`, { retained: false });
    for (const s of this.shared.values()) this.sendSub(s.sid, s.pattern, s.opts);
    for (const b of this.outage) this.queueWrite(b);
    this.outage = [];
    this.outageBytes = 0;
    if (this.flushWaiters.length > 0) {
      const waiters = this.flushWaiters;
      this.flushWaiters = [];
      for (const w of waiters) void this.flush().then(w, w);
    }
    this.startKeepalive(typeof f.keepalive === 'number' ? f.keepalive : this.limitsValue.keepaliveMs);
    this.handshake?.resolve();
    if (reconnecting) this.emit('reconnect', { cid: this.cidValue, attempt, brokerRestarted: this.brokerRestarted });
    this.emit('connect', { cid: this.cidValue });
  }

  private startKeepalive(ms: number): void {
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = setInterval(() => {
      const idle = Date.now() - this.lastRecv;
      if (idle > 2 * ms) this.sock?.destroy(new Error(`no frame from the broker for ${idle} ms`));
      else if (idle > ms) this.writeNow(encodeFrame({ op: 'ping' }));
    }, Math.max(50, Math.floor(ms / 2)));
    this.keepaliveTimer.unref();
  }

  private onSocketClosed(): void {
    clearInterval(this.keepaliveTimer);
    // A confirm in flight may or may not have been stored: the publisher must retry (at-least-once).
    for (const c of this.confirms.values()) c.reject(new UdsbusError('DISCONNECTED', 'connection lost before the broker confirmed the message; publish it again'));
    this.confirms.clear();
    this.wbuf = [];
    this.wbytes = 0;
    this.parser?.stop();
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open';
    if (!this.opts.reconnect || this.state === 'connecting') {
      if (wasOpen) this.emit('disconnect', {});
      if (this.state !== 'connecting') this.finish({ reason: 'gave-up' });
      return;
    }
    this.state = 'reconnecting';
    if (wasOpen) this.emit('disconnect', {});
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state !== 'reconnecting') return;
    if (this.attempts >= this.opts.maxReconnectAttempts) {
      this.finish({ reason: 'gave-up', error: new UdsbusError('DISCONNECTED', `gave up after ${this.attempts} reconnect attempts`) });
      return;
    }
    const base = Math.min(this.opts.reconnectMaxMs, this.opts.reconnectInitialMs * 2 ** Math.min(this.attempts, 20));
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempts++;
    this.reconnectTimer = setTimeout(() => {
      this.dial().catch(() => this.scheduleReconnect());
    }, delay);
  }

  // ---- input ------------------------------------------------------------------------------

  private onFrame(body: Buffer): void {
    const r = decodeFrame(body, this.limitsValue.maxNesting);
    if (!r.ok) {
      this.protocolError(new UdsbusError(r.problem, `bad frame from the broker: ${r.text}`));
      return;
    }
    const f = r.frame;
    switch (f.op) {
      case 'msg':
        return this.onMsg(f);
      case 'welcome':
        return this.onWelcome(f);
      case 'ok': {
        const id = f.id as number;
        const c = this.confirms.get(id);
        if (c) {
          this.confirms.delete(id);
          c.resolve();
          return;
        }
        const pong = this.pongWaiters.get(id);
        if (pong) {
          this.pongWaiters.delete(id);
          pong();
        }
        this.requestIds.delete(id);
        return;
      }
      case 'pong': {
        const w = this.pongWaiters.get(f.id as number);
        if (w) {
          this.pongWaiters.delete(f.id as number);
          w();
        }
        return;
      }
      case 'ping':
        this.writeNow(encodeFrame(f.id === undefined ? { op: 'pong' } : { op: 'pong', id: f.id }));
        return;
      case 'loss':
        return this.onLoss(f);
      case 'err':
        return this.onErr(f);
      default:
        return; // unknown ops from a newer broker are ignored
    }
  }

  private onMsg(f: DecodedFrame): void {
    const sid = f.sid as number;
    const bytes = f.payload as Uint8Array;
    let payload: unknown;
    try {
      payload = decodeValue(bytes, this.limitsValue.maxNesting);
    } catch (err) {
      this.emit('error', err as Error);
      return;
    }
    if (sid === this.inboxSid) {
      const topic = f.topic as string;
      const token = topic.slice(this.inbox.length + 1);
      const req = this.requests.get(token);
      if (req) {
        this.requests.delete(token);
        this.requestIds.delete(req.id);
        clearTimeout(req.timer);
        req.resolve(this.makeMessage(f, bytes, payload, 0));
      }
      return;
    }
    const s = this.bySid.get(sid);
    if (s === undefined) return; // unsubscribed while in flight
    const lost = s.pendingLost;
    s.pendingLost = 0;
    const msg = this.makeMessage(f, bytes, payload, lost);
    for (const o of s.observers) o.next(msg);
    if (s.opts.autoAck && msg.mid !== undefined) this.ack(msg);
  }

  private pendingAcks = new Map<number, number>();
  private ackQueued = false;

  /**
   * Acknowledge a durable message and every earlier one of its subscription (cumulative). Acks
   * are batched: many calls in one tick send one frame per subscription.
   */
  ack(msg: Pick<Message, 'sid' | 'mid'>): void {
    if (msg.mid === undefined) return;
    const prev = this.pendingAcks.get(msg.sid) ?? 0;
    if (msg.mid > prev) this.pendingAcks.set(msg.sid, msg.mid);
    if (this.ackQueued) return;
    this.ackQueued = true;
    queueMicrotask(() => {
      this.ackQueued = false;
      for (const [sid, mid] of this.pendingAcks) this.writeNow(encodeFrame({ op: 'ack', sid, mid }));
      this.pendingAcks.clear();
    });
  }

  private makeMessage(f: DecodedFrame, bytes: Uint8Array, payload: unknown, lost: number): Message {
    return {
      topic: f.topic as string,
      payload,
      bytes,
      sid: f.sid as number,
      seq: (f.seq as number | undefined) ?? 0,
      retained: f.retained === true,
      reply: f.reply as string | undefined,
      hdr: f.hdr as Record<string, string> | undefined,
      lost,
      from: f.from as Origin | undefined,
      mid: f.mid as number | undefined,
      redelivered: f.redelivered === true,
    };
  }

  private onLoss(f: DecodedFrame): void {
    const s = this.bySid.get(f.sid as number);
    const lost = (f.lost as number) ?? 0;
    if (s) s.pendingLost += lost;
    this.emit('loss', { sid: f.sid as number, pattern: s?.pattern ?? '', lost, policy: String(f.policy), lastSeq: (f.lastSeq as number) ?? 0 });
  }

  private onErr(f: DecodedFrame): void {
    const code = f.code as number;
    const err = new UdsbusError(code, String(f.text ?? ''), {
      id: f.id as number | undefined,
      sid: f.sid as number | undefined,
      fatal: f.fatal === true,
    });
    if (this.handshake && err.fatal) {
      this.handshake.reject(err);
      return;
    }
    if (typeof f.id === 'number') {
      const c = this.confirms.get(f.id);
      if (c) {
        this.confirms.delete(f.id);
        c.reject(err);
        return;
      }
      const token = this.requestIds.get(f.id);
      if (token !== undefined) {
        this.requestIds.delete(f.id);
        const req = this.requests.get(token);
        if (req) {
          this.requests.delete(token);
          clearTimeout(req.timer);
          req.reject(err.codeName === 'NO_RESPONDERS' ? new NoRespondersError(err.message.replace(/^NO_RESPONDERS: /, ''), f.id) : err);
        }
        return;
      }
    }
    if (typeof f.sid === 'number') {
      const s = this.bySid.get(f.sid);
      if (s && err.codeName !== 'SLOW_CONSUMER') {
        this.bySid.delete(s.sid);
        this.shared.delete(s.key);
        for (const o of [...s.observers]) o.error(err);
        return;
      }
    }
    this.emit('error', err);
  }

  private protocolError(err: UdsbusError): void {
    this.emit('error', err);
    this.sock?.destroy(err);
  }

  // ---- output -----------------------------------------------------------------------------

  private queueWrite(frame: Buffer): void {
    this.wbuf.push(frame);
    this.wbytes += frame.length;
    if (this.wbytes >= BATCH) this.flushWrites();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushWrites);
    }
  }

  private readonly flushWrites = (): void => {
    this.flushQueued = false;
    if (this.wbytes === 0 || this.sock === undefined) return;
    const chunk = this.wbuf.length === 1 ? this.wbuf[0]! : Buffer.concat(this.wbuf, this.wbytes);
    this.wbuf = [];
    this.wbytes = 0;
    this.sock.write(chunk);
  };

  /** Control frames that must go out even while the outage buffer holds publishes. */
  private writeNow(frame: Buffer): void {
    if (this.state === 'open' && this.sock !== undefined) this.queueWrite(frame);
  }

  /** Publishes go out now, or into the bounded outage buffer while reconnecting. */
  private send(frame: Buffer): boolean {
    if (this.state === 'open') {
      this.queueWrite(frame);
      return (this.sock?.writableLength ?? 0) + this.wbytes < HIGH_WATER;
    }
    if (this.state === 'closed') throw new UdsbusError('DISCONNECTED', 'the client is closed');
    if (this.outageBytes + frame.length > this.opts.outageBufferBytes) {
      throw new UdsbusError('DISCONNECTED', `disconnected from the broker and the outage buffer (${this.opts.outageBufferBytes} bytes) is full; message not sent`);
    }
    this.outage.push(frame);
    this.outageBytes += frame.length;
    return false;
  }

  private sendSub(sid: number, pattern: string, o: SubscribeOptions): void {
    const frame: Record<string, unknown> = { op: 'sub', sid, pattern };
    if (o.queue !== undefined) frame.queue = o.queue;
    if (o.retained === false) frame.retained = false;
    if (o.policy !== undefined) frame.policy = o.policy;
    if (o.maxMsgs !== undefined) frame.maxMsgs = o.maxMsgs;
    if (o.maxBytes !== undefined) frame.maxBytes = o.maxBytes;
    if (o.durable !== undefined) frame.durable = o.durable;
    if (o.durableMaxBytes !== undefined) frame.durableMaxBytes = o.durableMaxBytes;
    if (o.durableMaxAgeMs !== undefined) frame.durableMaxAgeMs = o.durableMaxAgeMs;
    if (o.durableOverflow !== undefined) frame.durableOverflow = o.durableOverflow;
    this.writeNow(encodeFrame(frame));
  }

  private checkTopicOrThrow(topic: string, request = false): void {
    const p = checkTopic(topic, this.limitsValue);
    if (p !== null) throw new UdsbusError(p, describeTopicProblem(p, topic, this.limitsValue));
    // The broker answers requests on $SYS.req.* itself.
    if (isReservedTopic(topic) && !(request && topic.startsWith('$SYS.req.'))) throw new UdsbusError('RESERVED_TOPIC', `topics starting with "$" belong to the broker: "${topic}"`);
  }

  /**
   * Publish a value (encoded as CBOR). Returns false when the caller should wait for drain()
   * before publishing much more. Throws at once for an invalid topic, a payload that cannot be
   * encoded portably, or a full outage buffer — never later, never silently.
   *
   * @example client.publish('camera.event.cam-01.motion', { active: true })
   */
  publish(topic: string, payload?: unknown, opts?: PublishOptions & { confirm?: false }): boolean;
  publish(topic: string, payload: unknown, opts: PublishOptions & { confirm: true }): Promise<void>;
  publish(topic: string, payload?: unknown, opts: PublishOptions = {}): boolean | Promise<void> {
    this.checkTopicOrThrow(topic);
    if (this.opts.validate && payload !== undefined) {
      const errors = this.opts.validate(topic, payload);
      if (errors && errors.length > 0) throw new UdsbusError('SCHEMA_INVALID', `payload for "${topic}" is invalid: ${errors.join('; ')}`);
    }
    const bytes = encodeValue(payload, this.limitsValue.maxNesting);
    if (!opts.confirm) return this.send(encodePub({ topic, payload: bytes, reply: opts.reply, retain: opts.retain, owned: opts.owned, hdr: opts.hdr }));
    const id = ++this.idSeq;
    const frame = encodePub({ topic, payload: bytes, reply: opts.reply, retain: opts.retain, owned: opts.owned, hdr: opts.hdr, id, confirm: true });
    return new Promise<void>((resolve, reject) => {
      this.confirms.set(id, { resolve, reject });
      try {
        this.send(frame);
      } catch (err) {
        this.confirms.delete(id);
        reject(err as Error);
      }
    });
  }

  private readonly confirms = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  /** Resolves once everything written so far is in the socket's hands. */
  drain(): Promise<void> {
    const sock = this.sock;
    if (sock === undefined || this.state !== 'open' || sock.writableLength + this.wbytes < HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => this.once('drain' as never, resolve as never));
  }

  private emitDrain(): void {
    (this as EventEmitter).emit('drain');
  }

  /**
   * Resolves when the broker has processed every frame sent before it: subscriptions made
   * before flush() are registered (and their retained messages delivered) once it resolves.
   */
  flush(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new UdsbusError('DISCONNECTED', 'the client is closed'));
    return new Promise((resolve) => {
      if (this.state !== 'open') {
        this.flushWaiters.push(resolve);
        return;
      }
      const id = ++this.idSeq;
      this.pongWaiters.set(id, resolve);
      this.queueWrite(encodeFrame({ op: 'ping', id }));
    });
  }

  /**
   * A cold Observable of messages matching `pattern`. The first observer sends SUB, the last one
   * to leave sends UNSUB; observers with the same pattern and options share one subscription.
   * If two subscriptions of this client match a message, each receives it.
   *
   * @example client.subscribe('camera.event.*.motion').subscribe((m) => console.log(m.topic, m.payload))
   */
  subscribe<T = unknown>(pattern: string, opts: SubscribeOptions = {}): Observable<Message<T>> {
    const p = checkPattern(pattern, this.limitsValue);
    if (p !== null) {
      const name: ErrorName = p === 'INVALID_TOPIC' ? 'INVALID_PATTERN' : p;
      throw new UdsbusError(name, describeTopicProblem(name, pattern, this.limitsValue));
    }
    const key = `${pattern}\u0000${opts.queue ?? ''}\u0000${opts.retained ?? true}\u0000${opts.policy ?? ''}\u0000${opts.maxMsgs ?? ''}\u0000${opts.maxBytes ?? ''}\u0000${opts.durable ?? ''}\u0000${opts.autoAck ?? ''}`;
    return new Observable<Message<T>>((observer) => {
      if (this.state === 'closed') {
        observer.error(new UdsbusError('DISCONNECTED', 'the client is closed'));
        return;
      }
      let s = this.shared.get(key);
      if (s === undefined) {
        s = { sid: ++this.sidSeq, key, pattern, opts: { ...opts }, observers: new Set(), pendingLost: 0 };
        this.shared.set(key, s);
        this.bySid.set(s.sid, s);
        this.sendSub(s.sid, pattern, opts);
      }
      const shared = s;
      shared.observers.add(observer as Subscriber<Message>);
      return () => {
        shared.observers.delete(observer as Subscriber<Message>);
        if (shared.observers.size === 0 && this.shared.get(key) === shared) {
          this.shared.delete(key);
          this.bySid.delete(shared.sid);
          this.writeNow(encodeFrame({ op: 'unsub', sid: shared.sid }));
        }
      };
    });
  }

  /**
   * Send a request and resolve with the reply's payload. Rejects with TimeoutError, with
   * NoRespondersError at once when nobody serves the topic, or with RemoteError when the server
   * answered with a structured error.
   *
   * @example const uri = await client.request('camera.rpc.cam-01.stream-uri', {}, { timeout: 2000 })
   */
  async request<T = unknown>(topic: string, payload?: unknown, opts: { timeout?: number; hdr?: Record<string, string> } = {}): Promise<T> {
    const msg = await this.requestMessage(topic, payload, opts);
    const p = msg.payload as { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } } | undefined;
    // The reply envelope of PROTOCOL.md §8; a reply without it is returned as it is.
    if (p !== null && typeof p === 'object' && typeof p.ok === 'boolean') {
      if (p.ok) return p.result as T;
      const e = p.error ?? {};
      throw new RemoteError(String(e.code ?? 'internal'), String(e.message ?? ''), e.data);
    }
    return msg.payload as T;
  }

  /** Like request(), resolving with the whole reply message. */
  requestMessage(topic: string, payload?: unknown, opts: { timeout?: number; hdr?: Record<string, string> } = {}): Promise<Message> {
    const timeout = opts.timeout ?? this.opts.requestTimeoutMs;
    // Created here so its stack points at the caller.
    const timeoutError = new TimeoutError(`no reply to "${topic}" within ${timeout} ms`);
    this.checkTopicOrThrow(topic, true);
    const bytes = encodeValue(payload, this.limitsValue.maxNesting);
    if (this.inboxSid === 0) {
      this.inboxSid = ++this.sidSeq;
      this.sendSub(this.inboxSid, `${this.inbox}.>`, { retained: false });
    }
    const token = (++this.reqSeq).toString(36);
    const id = ++this.idSeq;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(token);
        this.requestIds.delete(id);
        reject(timeoutError);
      }, timeout);
      this.requests.set(token, { resolve, reject, timer, id });
      this.requestIds.set(id, token);
      try {
        this.send(encodePub({ topic, payload: bytes, reply: `${this.inbox}.${token}`, hdr: opts.hdr, id }));
      } catch (err) {
        clearTimeout(timer);
        this.requests.delete(token);
        this.requestIds.delete(id);
        reject(err as Error);
      }
    });
  }

  /**
   * Answer requests on `pattern` with `handler`. Workers serving the same pattern share the load
   * (queue group `queue`, default "serve"): each request reaches exactly one of them. The reply is
   * the envelope `{ok: true, result}`; a thrown error becomes `{ok: false, error: {code, message,
   * data?}}` (`code` from the error's `code` property, else "internal").
   *
   * @example client.serve('camera.rpc.*.info', async (req) => ({ model: 'X' }))
   */
  serve<Req = unknown, Res = unknown>(
    pattern: string,
    handler: (req: Message<Req>) => Res | Promise<Res>,
    opts: { queue?: string } = {},
  ): Subscription {
    return this.subscribe<Req>(pattern, { queue: opts.queue ?? 'serve', retained: false }).subscribe((req) => {
      if (req.reply === undefined) return;
      const to = req.reply;
      void (async () => {
        let reply: unknown;
        let hdr: Record<string, string> | undefined;
        try {
          reply = { ok: true, result: await handler(req) };
        } catch (err) {
          const e = err as { code?: unknown; message?: unknown; data?: unknown };
          const error: Record<string, unknown> = { code: typeof e.code === 'string' ? e.code : 'internal', message: String(e.message ?? err) };
          if (e.data !== undefined) error.data = e.data;
          reply = { ok: false, error };
          hdr = { status: 'error' };
        }
        try {
          this.publish(to, reply, hdr === undefined ? {} : { hdr });
        } catch (sendErr) {
          this.emit('error', sendErr as Error);
        }
      })();
    });
  }

  /** Close cleanly: no will is published, owned retained messages are cleared. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const sock = this.sock;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    if (sock !== undefined && wasOpen && !sock.destroyed) {
      const bye = encodeFrame({ op: 'bye' });
      this.wbuf.push(bye);
      // The whole frame: counting less would make concat() cut it when other frames are queued.
      this.wbytes += bye.length;
      this.flushWrites();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          sock.destroy();
          resolve();
        }, 2000);
        sock.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        sock.end();
      });
    } else {
      sock?.destroy();
    }
    this.finish({ reason: 'closed' });
  }

  private finish(info: CloseInfo): void {
    if (this.closeInfo) return;
    this.state = 'closed';
    this.closeInfo = info;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    const err = new UdsbusError('DISCONNECTED', 'the client was closed');
    for (const r of this.requests.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.requests.clear();
    for (const s of this.shared.values()) for (const o of [...s.observers]) o.complete();
    this.shared.clear();
    this.bySid.clear();
    for (const w of this.pongWaiters.values()) w();
    this.pongWaiters.clear();
    for (const w of this.flushWaiters) w();
    this.flushWaiters = [];
    this.emit('closed', info);
    this.resolveClosed(info);
  }
}

function explainConnectError(err: NodeJS.ErrnoException, path: string): Error {
  switch (err.code) {
    case 'ENOENT':
      return new UdsbusError('DISCONNECTED', `no broker socket at ${path}: start one with "udsbus broker --socket ${path}" or set UDSBUS_SOCKET`, { cause: err });
    case 'ECONNREFUSED':
      return new UdsbusError('DISCONNECTED', `no broker is listening on ${path} (stale socket file?): start one with "udsbus broker --socket ${path}"`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new UdsbusError('DISCONNECTED', `permission denied on ${path}: ${describeAccess(path)}`, { cause: err });
    case 'ENOTSOCK':
      return new UdsbusError('DISCONNECTED', `${path} is not a socket: check --socket / UDSBUS_SOCKET`, { cause: err });
    default:
      return new UdsbusError('DISCONNECTED', `cannot connect to ${path}: ${err.message}`, { cause: err });
  }
}

function describeAccess(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 'your user may not open the socket (check its owner, group and mode)';
  }
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  return `the socket is owned by uid ${st.uid}, gid ${st.gid}, mode ${mode}; run as that user or add your user to group ${st.gid}`;
}

/**
 * Connect to the broker; resolves once the handshake is done.
 *
 * @example
 * const bus = await connect({ name: 'recorder' });
 * bus.subscribe('camera.event.>').subscribe((m) => console.log(m.topic, m.payload));
 */
export async function connect(opts: ConnectOptions = {}): Promise<Client> {
  const client = new Client(opts);
  await client.open();
  return client;
}
