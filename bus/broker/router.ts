/**
 * Routing: the subscription table, the retained store, and the way every message takes to its
 * subscribers — durable capture, the retained update, the fan-out (PROTOCOL.md §7, §9). The hot
 * path (publish → route → deliver) is here in one piece and calls straight through: no callback
 * and no allocation per delivery, one `Published` per message.
 */
import { Buffer } from 'node:buffer';
import type { DurableLog } from '../durable/log.js';
import { encodeValue } from '../protocol/codec.js';
import { Sublist } from '../topics/sublist.js';
import type { DurableManager } from './durable.js';
import { Published, type Origin } from './message.js';
import type { Paced, Pacer } from './pacing.js';
import { RetainedStore, type RetainedEntry } from './retained.js';
import type { BrokerSub } from './subscription.js';
import type { Counters } from './sys.js';

/** A connection that can own retained messages: they die with it (§9). */
export interface RetainOwner {
  readonly cid: string;
  /** Topics whose retained message it owns. */
  readonly owned: Set<string>;
}

/** What became of one message. */
export type Routed = {
  /** Subscriptions that took it, plus durable queues that stored it. */
  matched: number;
  /** Asked to be retained, but the retained store is full. */
  retainFailed: boolean;
  /** The durable logs that took it (a confirmed publish waits for their sync). */
  logs: readonly DurableLog[];
  /** Durable queues that refused it (full, overflow "reject") or could not store it. */
  refused: readonly string[];
  failed: readonly string[];
};

const EMPTY = Buffer.alloc(0);
// What a message no durable queue took reports: shared, so a plain publish allocates no arrays.
const NONE: readonly never[] = Object.freeze([]);

export class Router {
  private readonly sublist = new Sublist<BrokerSub>();
  private readonly retained: RetainedStore;

  constructor(
    limits: { readonly maxRetained: number; readonly maxRetainedBytes: number },
    private readonly counters: Counters,
    private readonly pacer: Pacer,
    private readonly durables: DurableManager | undefined,
    /** Open connections by cid: an owner whose retained message is replaced stops owning it. */
    private readonly owners: ReadonlyMap<string, RetainOwner>,
  ) {
    this.retained = new RetainedStore(limits.maxRetained, limits.maxRetainedBytes);
  }

  /** Store (durable, retained) and route one message. */
  publish(
    topic: string,
    payload: Uint8Array,
    reply: string | undefined,
    hdr: Record<string, string> | undefined,
    retain: boolean,
    owner: RetainOwner | undefined,
    origin: Origin | undefined,
    usage?: { retainedBytes: number; retainedCount: number },
    /** The publisher to hold while a subscriber's queue drains (pacing, §10). */
    paced?: Paced,
    /** The pub frame's topic and payload pairs, borrowed for this turn (message.ts). */
    shared?: Uint8Array,
  ): Routed {
    const msg = new Published(topic, payload, reply, hdr, false, origin, undefined, shared);
    const stored = this.durables?.store(msg);
    let retainFailed = false;
    if (retain) {
      const prev = this.retained.get(topic);
      if (prev?.owner !== undefined && prev.owner !== owner?.cid) this.owners.get(prev.owner)?.owned.delete(topic);
      if (payload.length === 0) this.retained.delete(topic);
      else if (this.retained.set(msg.asRetained(), owner?.cid, usage)) {
        if (owner !== undefined) owner.owned.add(topic);
      } else {
        retainFailed = true;
      }
    }
    const matched = this.route(msg, paced) + (stored?.logs.length ?? 0);
    if (stored === undefined) return { matched, retainFailed, logs: NONE, refused: NONE, failed: NONE };
    return { matched, retainFailed, logs: stored.logs, refused: stored.refused, failed: stored.failed };
  }

  /** Deliver to every matching plain subscription and to one member of each queue group. */
  route(msg: Published, paced?: Paced): number {
    const match = this.sublist.match(msg.topic);
    let n = 0;
    for (const sub of match.plain) {
      if (!sub.conn.alive) continue;
      // A filtered subscription takes no seq for what it may not read: that is not a loss.
      if (sub.filter && !sub.conn.perms!.canRead(msg.topic)) continue;
      if (sub.conn.out.deliver(sub, msg, ++sub.seq) && paced !== undefined) this.pacer.hold(paced, sub.conn);
      n++;
    }
    for (const group of match.groups) {
      const members = group.members;
      for (let tries = 0; tries < members.length; tries++) {
        const sub = members[group.next++ % members.length]!;
        if (!sub.conn.alive) continue;
        if (sub.filter && !sub.conn.perms!.canRead(msg.topic, 'serve')) continue;
        if (sub.conn.out.deliver(sub, msg, ++sub.seq) && paced !== undefined) this.pacer.hold(paced, sub.conn);
        n++;
        break;
      }
    }
    this.counters.msgsOut += n;
    return n;
  }

  /** One of the broker's own messages; not even encoded when nobody subscribes. */
  sys(topic: string, value: unknown, hdr?: Readonly<Record<string, string>>): void {
    if (this.sublist.size === 0) return;
    this.route(new Published(topic, encodeValue(value), undefined, hdr, false, undefined));
  }

  subscribe(sub: BrokerSub, withRetained: boolean): void {
    // Retained replay is queued before the subscription goes live so nothing overtakes it.
    if (withRetained && this.retained.count > 0) {
      for (const msg of this.retained.matching(sub.pattern)) {
        if (sub.filter && !sub.conn.perms!.canRead(msg.topic)) continue;
        sub.conn.out.deliver(sub, msg, 0);
      }
    }
    this.sublist.insert(sub);
  }

  unsubscribe(sub: BrokerSub): void {
    this.sublist.remove(sub);
  }

  /** The retained entry on `topic`, for the retained quota (access.ts). */
  retainedEntry(topic: string): RetainedEntry | undefined {
    return this.retained.get(topic);
  }

  /**
   * `owner` ended: the retained messages it owns are cleared, and subscribers are told with an
   * empty message — except on `keep`, which its will is about to replace.
   */
  dropOwned(owner: RetainOwner, origin: Origin, keep: string | undefined): void {
    for (const topic of owner.owned) {
      if (topic === keep) continue;
      if (this.retained.get(topic)?.owner === owner.cid) {
        this.retained.delete(topic);
        this.route(new Published(topic, EMPTY, undefined, undefined, false, origin));
      }
    }
    owner.owned.clear();
  }

  retainedUsage(): { count: number; bytes: number } {
    return { count: this.retained.count, bytes: this.retained.totalBytes };
  }
}
