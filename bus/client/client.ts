/**
 * The udsbus client: one connection to the broker, rxjs Observables for subscriptions,
 * eventemitter3 for lifecycle, request/reply, and automatic reconnect with re-subscription.
 * This class is the face; the work is done in three parts: transport.ts (socket, framing,
 * reconnect, outage buffer), subscriptions.ts (Observables, loss, acks) and requests.ts
 * (request, serve, confirms).
 */
import { EventEmitter } from 'eventemitter3';
import type { Observable, Subscription } from 'rxjs';
import { checkPortableCbor } from '../protocol/cbor-check.js';
import { decodeCheckedValue, encodeValue, problemText, type DecodedFrame } from '../protocol/codec.js';
import type { MsgFrame } from '../protocol/msg-reader.js';
import { UdsbusError } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import { checkTopic, describeTopicProblem, isReservedTopic } from '../topics/grammar.js';
import { encodePub } from './frames.js';
import { Requests, type RequestOptions } from './requests.js';
import { Subscriptions } from './subscriptions.js';
import { Transport, type CloseInfo } from './transport.js';
import type { Delivered, PayloadFor, ReplyFor, ResultFor } from './topic-types.js';
import type { ClientEvents, ConnectOptions, Message, Origin, PublishOptions, SubscribeOptions } from './types.js';

export type { ClientEvents, CloseInfo, ConnectOptions, LossEvent, Message, Origin, Policy, PublishOptions, SubscribeOptions } from './types.js';

export class Client extends EventEmitter<ClientEvents> {
  private readonly transport: Transport;
  private readonly subs: Subscriptions;
  private readonly requests: Requests;
  private readonly validate: ConnectOptions['validate'];
  private closeInfo: CloseInfo | undefined;
  private readonly closedPromise: Promise<CloseInfo>;
  private resolveClosed!: (info: CloseInfo) => void;

  constructor(opts: ConnectOptions = {}) {
    super();
    this.validate = opts.validate;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.transport = new Transport(
      {
        socket: opts.socket,
        tcp: opts.tcp,
        dial: opts.dial,
        name: opts.name ?? '',
        flow: opts.flow,
        keepaliveMs: opts.keepaliveMs,
        will: opts.will,
        reconnect: opts.reconnect ?? true,
        reconnectInitialMs: opts.reconnectInitialMs ?? 50,
        reconnectMaxMs: opts.reconnectMaxMs ?? 2000,
        maxReconnectAttempts: opts.maxReconnectAttempts ?? Infinity,
        outageBufferBytes: opts.outageBufferBytes ?? 1024 * 1024,
        connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
      },
      {
        resubscribe: () => {
          this.requests.resubscribe();
          this.subs.resubscribe();
        },
        frame: (f) => this.onFrame(f),
        msg: (m) => this.onMsg(m),
        opened: ({ reconnecting, attempt, brokerRestarted }) => {
          if (reconnecting) this.emit('reconnect', { cid: this.transport.cid, attempt, brokerRestarted });
          this.emit('connect', { cid: this.transport.cid });
        },
        lost: (wasOpen) => {
          this.requests.onLost();
          if (wasOpen) this.emit('disconnect', {});
        },
        finished: (info) => this.finish(info),
        error: (err) => this.emit('error', err),
        drain: () => (this as EventEmitter).emit('drain'),
      },
    );
    this.subs = new Subscriptions(this.transport, { loss: (e) => this.emit('loss', e) });
    const requestTimeoutMs = opts.requestTimeoutMs ?? 5000;
    this.requests = new Requests({
      transport: this.transport,
      subscriptions: this.subs,
      requestTimeoutMs,
      checkTopic: (topic, request) => this.checkTopicOrThrow(topic, request),
      publish: (topic, payload, o) => void this.publish(topic, payload, o),
      error: (err) => this.emit('error', err),
    });
  }

  /** This connection's id at the broker (changes on reconnect). */
  get cid(): string {
    return this.transport.cid;
  }

  /** The broker instance's id (`welcome.boot`): it changes when the broker restarts. */
  get boot(): string | undefined {
    return this.transport.boot;
  }

  /** The limits the broker announced. */
  get limits(): Readonly<Limits> {
    return this.transport.limits;
  }

  get connected(): boolean {
    return this.transport.state === 'open';
  }

  /** Resolves (never rejects) when the client is closed for good. */
  closed(): Promise<CloseInfo> {
    return this.closedPromise;
  }

  /** @internal First connection; connect() below is the public entry. */
  async open(): Promise<void> {
    await this.transport.dial();
  }

  // ---- input ------------------------------------------------------------------------------

  private onFrame(f: DecodedFrame): void {
    switch (f.op) {
      case 'msg':
        return this.onMsg(f);
      case 'ok':
        if (typeof f.id === 'number') this.requests.onOk(f.id);
        return;
      case 'loss':
        return this.subs.onLoss(f);
      case 'err':
        return this.onErr(f);
      default:
        return; // unknown ops from a newer broker are ignored
    }
  }

  private onMsg(f: DecodedFrame | MsgFrame): void {
    const sid = f.sid as number;
    const bytes = f.payload as Uint8Array;
    // Checked now (one pass, no allocation), decoded only when the application reads `payload`.
    const maxNesting = this.transport.limits.maxNesting;
    const problem = bytes.length === 0 ? null : checkPortableCbor(bytes, 0, bytes.length, maxNesting);
    if (problem !== null) {
      this.emit('error', new UdsbusError(problem, `payload rejected: ${problemText(problem)}`));
      return;
    }
    if (sid === this.requests.inboxSid) {
      this.requests.onReply(f.topic as string, () => new Received(f, bytes, 0));
      return;
    }
    this.subs.deliver(sid, (lost) => new Received(f, bytes, lost));
  }

  private onErr(f: DecodedFrame): void {
    const err = new UdsbusError(f.code as number, String(f.text ?? ''), {
      id: f.id as number | undefined,
      sid: f.sid as number | undefined,
      fatal: f.fatal === true,
    });
    if (typeof f.id === 'number' && this.requests.onError(f.id, err)) return;
    if (typeof f.sid === 'number' && this.subs.onError(f.sid, err)) return;
    this.emit('error', err);
  }

  // ---- output -----------------------------------------------------------------------------

  private checkTopicOrThrow(topic: string, request = false): void {
    const limits = this.transport.limits;
    const p = checkTopic(topic, limits);
    if (p !== null) throw new UdsbusError(p, describeTopicProblem(p, topic, limits));
    // The broker answers requests on $SYS.req.* itself.
    if (isReservedTopic(topic) && !(request && topic.startsWith('$SYS.req.'))) throw new UdsbusError('RESERVED_TOPIC', `topics starting with "$" belong to the broker: "${topic}"`);
  }

  /**
   * Publish a value (encoded as CBOR). Returns false when the caller should wait for drain()
   * before publishing much more. Throws at once for an invalid topic, a payload that cannot be
   * encoded portably, or a full outage buffer — never later, never silently.
   *
   * The payload's type follows the topic when it is registered in `TopicPayloads` (see
   * topic-types.ts); anything else takes any value. No payload at all is an empty message (with
   * `retain: true`, it clears the retained one).
   *
   * @example client.publish('camera.event.cam-01.motion', { active: true })
   */
  publish<S extends string>(topic: S, payload?: PayloadFor<S>, opts?: PublishOptions & { confirm?: false }): boolean;
  publish<S extends string>(topic: S, payload: PayloadFor<S>, opts: PublishOptions & { confirm: true }): Promise<void>;
  publish(topic: string, payload?: unknown, opts: PublishOptions = {}): boolean | Promise<void> {
    this.checkTopicOrThrow(topic);
    if (this.validate && payload !== undefined) {
      const errors = this.validate(topic, payload);
      if (errors && errors.length > 0) throw new UdsbusError('SCHEMA_INVALID', `payload for "${topic}" is invalid: ${errors.join('; ')}`);
    }
    const bytes = encodeValue(payload, this.transport.limits.maxNesting);
    const fields = { topic, payload: bytes, reply: opts.reply, retain: opts.retain, owned: opts.owned, hdr: opts.hdr };
    if (!opts.confirm) return this.transport.send(encodePub(fields));
    return this.requests.confirm((id) => encodePub({ ...fields, id, confirm: true }));
  }

  /** Resolves once everything written so far is in the socket's hands. */
  drain(): Promise<void> {
    if (this.transport.writable) return Promise.resolve();
    return new Promise((resolve) => this.once('drain' as never, resolve as never));
  }

  /**
   * Resolves when the broker has processed every frame sent before it: subscriptions made
   * before flush() are registered (and their retained messages delivered) once it resolves.
   */
  flush(): Promise<void> {
    return this.transport.flush();
  }

  /**
   * A cold Observable of messages matching `pattern`. The first observer sends SUB, the last one
   * to leave sends UNSUB; observers with the same pattern and options share one subscription.
   * If two subscriptions of this client match a message, each receives it.
   *
   * The payload's type is the registered type of the pattern (the union when it covers several
   * registered patterns) or undefined for an empty message, and unknown for an unregistered or
   * non-literal pattern; an explicit `T` overrides it.
   *
   * @example client.subscribe('camera.event.*.motion').subscribe((m) => console.log(m.topic, m.payload))
   */
  subscribe<T = never, S extends string = string>(pattern: S, opts: SubscribeOptions = {}): Observable<Message<Delivered<T, S>>> {
    return this.subs.observable<Delivered<T, S>>(pattern, opts);
  }

  /**
   * Acknowledge a durable message and every earlier one of its subscription (cumulative). Acks
   * are batched: many calls in one tick send one frame per subscription.
   */
  ack(msg: Pick<Message, 'sid' | 'mid'>): void {
    this.subs.ack(msg);
  }

  /**
   * Send a request and resolve with the reply's payload. Rejects with TimeoutError, with
   * NoRespondersError at once when nobody serves the topic, or with RemoteError when the server
   * answered with a structured error.
   *
   * For a topic registered in `TopicPayloads`/`TopicReplies` the request and the result are
   * typed (the result is the reply envelope's `result`); an explicit `T` overrides the result.
   *
   * @example const uri = await client.request('camera.rpc.cam-01.stream-uri', {}, { timeout: 2000 })
   */
  request<T = never, S extends string = string>(topic: S, payload?: PayloadFor<S>, opts: RequestOptions = {}): Promise<[T] extends [never] ? ResultFor<S> : T> {
    return this.requests.request(topic, payload, opts);
  }

  /** Like request(), resolving with the whole reply message (its payload typed as sent). */
  requestMessage<S extends string>(topic: S, payload?: PayloadFor<S>, opts: RequestOptions = {}): Promise<Message<ReplyFor<S>>> {
    return this.requests.requestMessage(topic, payload, opts) as Promise<Message<ReplyFor<S>>>;
  }

  /**
   * Answer requests on `pattern` with `handler`. Workers serving the same pattern share the load
   * (queue group `queue`, default "serve"): each request reaches exactly one of them. The reply is
   * the envelope `{ok: true, result}`; a thrown error becomes `{ok: false, error: {code, message,
   * data?}}` (`code` from the error's `code` property, else "internal").
   *
   * @example client.serve('camera.rpc.*.info', async (req) => ({ model: 'X' }))
   */
  serve<Req = unknown, Res = unknown>(pattern: string, handler: (req: Message<Req>) => Res | Promise<Res>, opts: { queue?: string } = {}): Subscription {
    return this.requests.serve(pattern, handler, opts.queue ?? 'serve');
  }

  /** Close cleanly: no will is published, owned retained messages are cleared. */
  close(): Promise<void> {
    return this.transport.close();
  }

  /** @internal Cut the connection without a bye, as a crash would (tests). */
  destroyConnection(): void {
    this.transport.destroy();
  }

  private finish(info: CloseInfo): void {
    if (this.closeInfo) return;
    this.closeInfo = info;
    this.requests.onFinished();
    this.subs.complete();
    this.emit('closed', info);
    this.resolveClosed(info);
  }
}

/**
 * A delivered message. The payload's bytes were checked on arrival; they are decoded on the first
 * read of `payload` (and kept), so a subscriber that only counts, forwards or stores bytes never
 * pays for decoding.
 */
class Received implements Message {
  readonly topic: string;
  readonly bytes: Uint8Array;
  readonly sid: number;
  readonly seq: number;
  readonly retained: boolean;
  readonly reply: string | undefined;
  readonly hdr: Readonly<Record<string, string>> | undefined;
  readonly from: Origin | undefined;
  readonly mid: number | undefined;
  readonly redelivered: boolean;
  private decoded = false;
  private value: unknown;

  constructor(
    f: DecodedFrame | MsgFrame,
    bytes: Uint8Array,
    readonly lost: number,
  ) {
    this.topic = f.topic as string;
    this.bytes = bytes;
    this.sid = f.sid as number;
    this.seq = (f.seq as number | undefined) ?? 0;
    this.retained = f.retained === true;
    this.reply = f.reply as string | undefined;
    this.hdr = f.hdr as Record<string, string> | undefined;
    this.from = f.from as Origin | undefined;
    this.mid = f.mid as number | undefined;
    this.redelivered = f.redelivered === true;
  }

  get payload(): unknown {
    if (!this.decoded) {
      // Checked in onMsg with this connection's maxNesting before the message was made.
      this.value = decodeCheckedValue(this.bytes);
      this.decoded = true;
    }
    return this.value;
  }

  /** Plain data for logs and JSON: the payload as its value. */
  toJSON(): Record<string, unknown> {
    return { topic: this.topic, payload: this.payload, sid: this.sid, seq: this.seq, retained: this.retained, reply: this.reply, hdr: this.hdr, lost: this.lost, from: this.from, mid: this.mid, redelivered: this.redelivered };
  }
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
