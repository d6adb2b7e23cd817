/**
 * The client's subscriptions: cold rxjs Observables shared per pattern and options (SUB with the
 * first observer, UNSUB with the last), `msg` dispatch with the loss count carried on the next
 * message, durable acks batched per tick, and re-subscription after a reconnect.
 */
import { Observable, type Subscriber } from 'rxjs';
import { encodeFrame, type DecodedFrame } from '../protocol/codec.js';
import { UdsbusError, type ErrorName } from '../protocol/errors.js';
import { checkPattern, describeTopicProblem } from '../topics/grammar.js';
import type { MsgFields } from '../protocol/msg-reader.js';
import { Received } from './received.js';
import type { Transport } from './transport.js';
import type { LossEvent, Message, SubscribeOptions } from './types.js';

type Shared = {
  sid: number;
  key: string;
  pattern: string;
  opts: SubscribeOptions;
  observers: Set<Subscriber<Message>>;
  /** The observers as an array, rebuilt on (un)subscribe: no iterator per delivery. */
  list: Subscriber<Message>[];
  pendingLost: number;
};

export interface SubscriptionHooks {
  loss(e: LossEvent): void;
}

export class Subscriptions {
  private readonly shared = new Map<string, Shared>();
  private readonly bySid = new Map<number, Shared>();
  private sidSeq = 0;
  private readonly pendingAcks = new Map<number, number>();
  private ackQueued = false;

  constructor(
    private readonly transport: Transport,
    private readonly hooks: SubscriptionHooks,
  ) {}

  /** A sid for a subscription the client makes for itself (the request inbox). */
  nextSid(): number {
    return ++this.sidSeq;
  }

  /** After a welcome: every live subscription again, with the same sid. */
  resubscribe(): void {
    for (const s of this.shared.values()) this.sendSub(s.sid, s.pattern, s.opts);
  }

  sendSub(sid: number, pattern: string, o: SubscribeOptions): void {
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
    this.transport.writeControl(encodeFrame(frame));
  }

  observable<T>(pattern: string, opts: SubscribeOptions): Observable<Message<T>> {
    const limits = this.transport.limits;
    const p = checkPattern(pattern, limits);
    if (p !== null) {
      const name: ErrorName = p === 'INVALID_TOPIC' ? 'INVALID_PATTERN' : p;
      throw new UdsbusError(name, describeTopicProblem(name, pattern, limits));
    }
    const key = `${pattern}\u0000${opts.queue ?? ''}\u0000${opts.retained ?? true}\u0000${opts.policy ?? ''}\u0000${opts.maxMsgs ?? ''}\u0000${opts.maxBytes ?? ''}\u0000${opts.durable ?? ''}\u0000${opts.autoAck ?? ''}`;
    return new Observable<Message<T>>((observer) => {
      if (this.transport.state === 'closed') {
        observer.error(new UdsbusError('DISCONNECTED', 'the client is closed'));
        return;
      }
      let s = this.shared.get(key);
      if (s === undefined) {
        s = { sid: this.nextSid(), key, pattern, opts: { ...opts }, observers: new Set(), list: [], pendingLost: 0 };
        this.shared.set(key, s);
        this.bySid.set(s.sid, s);
        this.sendSub(s.sid, pattern, opts);
      }
      const shared = s;
      shared.observers.add(observer as Subscriber<Message>);
      shared.list = [...shared.observers];
      return () => {
        shared.observers.delete(observer as Subscriber<Message>);
        shared.list = [...shared.observers];
        if (shared.observers.size === 0 && this.shared.get(key) === shared) {
          this.shared.delete(key);
          this.bySid.delete(shared.sid);
          this.transport.writeControl(encodeFrame({ op: 'unsub', sid: shared.sid }));
        }
      };
    });
  }

  /**
   * A delivery to its subscription's observers (false when the sid is not ours); its payload, in
   * `buf`, was checked on arrival. One object per message, the Received; no closure.
   */
  deliver(f: MsgFields, buf: Uint8Array): boolean {
    const s = this.bySid.get(f.sid);
    if (s === undefined) return false; // unsubscribed while in flight
    const lost = s.pendingLost;
    s.pendingLost = 0;
    const msg = new Received(f, buf, lost);
    const list = s.list;
    for (let i = 0; i < list.length; i++) list[i]!.next(msg);
    if (s.opts.autoAck && msg.mid !== undefined) this.ack(msg);
    return true;
  }

  onLoss(f: DecodedFrame): void {
    const s = this.bySid.get(f.sid as number);
    const lost = (f.lost as number) ?? 0;
    if (s) s.pendingLost += lost;
    this.hooks.loss({ sid: f.sid as number, pattern: s?.pattern ?? '', lost, policy: String(f.policy), lastSeq: (f.lastSeq as number) ?? 0 });
  }

  /** An error about one subscription ends it (but a slow-consumer notice does not); false when not ours. */
  onError(sid: number, err: UdsbusError): boolean {
    const s = this.bySid.get(sid);
    if (s === undefined || err.codeName === 'SLOW_CONSUMER') return false;
    this.bySid.delete(s.sid);
    this.shared.delete(s.key);
    for (const o of [...s.observers]) o.error(err);
    return true;
  }

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
      for (const [sid, mid] of this.pendingAcks) this.transport.writeControl(encodeFrame({ op: 'ack', sid, mid }));
      this.pendingAcks.clear();
    });
  }

  /** The client closed for good: every observer completes. */
  complete(): void {
    for (const s of this.shared.values()) for (const o of [...s.observers]) o.complete();
    this.shared.clear();
    this.bySid.clear();
  }
}
