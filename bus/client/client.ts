/**
 * The udsbus client: one connection to the broker, rxjs Observables for subscriptions,
 * eventemitter3 for lifecycle, request/reply, and automatic reconnect with re-subscription.
 * This class is the face; the work is done in three parts: transport.ts (socket, framing,
 * reconnect, outage buffer), subscriptions.ts (Observables, loss, acks) and requests.ts
 * (request, serve, confirms); inbound.ts routes what arrives, received.ts is the message.
 */
import { EventEmitter } from 'eventemitter3';
import type { Observable, Subscription } from 'rxjs';
import '../protocol/cbor-native.js';
import { EMPTY, encodeValue } from '../protocol/codec.js';
import { UdsbusError } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import { checkTopic, describeTopicProblem, isReservedTopic } from '../topics/grammar.js';
import { encodePub } from './frames.js';
import { Inbound } from './inbound.js';
import { transportSettings } from './settings.js';
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
  private readonly inbound: Inbound;
  private readonly validate: ConnectOptions['validate'];
  private closeInfo: CloseInfo | undefined;
  private readonly closedPromise: Promise<CloseInfo>;
  private resolveClosed!: (info: CloseInfo) => void;

  constructor(opts: ConnectOptions = {}) {
    super();
    this.validate = opts.validate;
    this.closedPromise = new Promise((resolve) => (this.resolveClosed = resolve));
    this.transport = new Transport(
      transportSettings(opts),
      {
        resubscribe: () => {
          this.requests.resubscribe();
          this.subs.resubscribe();
        },
        frame: (f) => this.inbound.frame(f),
        msg: (f, buf) => this.inbound.msgAt(f, buf),
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
    this.inbound = new Inbound(this.subs, this.requests, () => this.transport.limits.maxNesting, (err) => this.emit('error', err));
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

  // ---- output -----------------------------------------------------------------------------

  // The last topic publish() found valid, with the limits it was checked against: a publisher
  // repeats its topic, and the grammar walk costs more than the rest of a small publish.
  private okTopic: string | undefined;
  private okLimits: Readonly<Limits> | undefined;

  private checkTopicOrThrow(topic: string, request = false): void {
    const limits = this.transport.limits;
    if (!request && topic === this.okTopic && limits === this.okLimits) return;
    const p = checkTopic(topic, limits);
    if (p !== null) throw new UdsbusError(p, describeTopicProblem(p, topic, limits));
    // The broker answers requests on $SYS.req.* itself.
    if (isReservedTopic(topic) && !(request && topic.startsWith('$SYS.req.'))) throw new UdsbusError('RESERVED_TOPIC', `topics starting with "$" belong to the broker: "${topic}"`);
    if (!request) {
      this.okTopic = topic;
      this.okLimits = limits;
    }
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
    // Bytes are their own CBOR (a head and themselves): written into the frame as they are.
    const bytesValue = payload instanceof Uint8Array ? payload : undefined;
    const bytes = bytesValue === undefined ? encodeValue(payload, this.transport.limits.maxNesting) : EMPTY;
    const fields = { topic, payload: bytes, bytesValue, reply: opts.reply, retain: opts.retain, owned: opts.owned, hdr: opts.hdr };
    if (!opts.confirm) return this.transport.sendPub(fields);
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
