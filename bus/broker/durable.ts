/**
 * Durable subscriptions (PROTOCOL.md §17): each durable name is a queue on disk (a DurableLog)
 * bound to a pattern. Every matching message is appended whether or not its consumer is
 * connected; the consumer reads the log from its first unacknowledged message, within a window,
 * so broker memory does not grow with the backlog, and switches to live traffic without a gap or
 * a reorder because live messages go through the same log positions.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DurableLog, type StoredRecord } from '../durable/log.js';
import { encodeValue } from '../protocol/codec.js';
import { Published, type Origin } from './message.js';
import { Sublist } from '../topics/sublist.js';
import type { BrokerSub, SubOwner } from './subscription.js';

export type Overflow = 'reject' | 'drop-oldest';

export type DurableDef = {
  name: string;
  pattern: string;
  maxBytes: number;
  maxAgeMs: number;
  overflow: Overflow;
  created: string;
  /**
   * Under an ACL: who created the queue, so stored messages are filtered by what that identity may
   * read and its durable-bytes reservation is returned when the queue is deleted.
   */
  owner?: { uid: number; gid: number; groups: readonly number[] } | { anonymous: true };
};

export type DurableOptions = {
  /** Directory holding one log per durable name. */
  dir: string;
  fsync: 'always' | 'batch' | 'never';
  defaultMaxBytes: number;
  /** Unacknowledged messages in flight to a consumer. */
  window: number;
  /**
   * Under an ACL: may the queue's owner read a message on `topic`? Messages it may not read are
   * neither stored nor delivered, just as a filtered plain subscription never sees them.
   */
  readable?: (q: DurableQueue, topic: string) => boolean;
  /** A storage error, for the operator's log. */
  onStoreError?: (q: DurableQueue, err: Error) => void;
  /** Redeliver unacknowledged messages after this long without an ack (ms). */
  ackTimeoutMs: number;
};

export type DurableInfo = {
  name: string;
  pattern: string;
  connected: boolean;
  consumer: string | undefined;
  backlog: number;
  bytes: number;
  firstMid: number;
  lastMid: number;
  oldestAgeMs: number | undefined;
  dropped: number;
  expired: number;
  maxBytes: number;
  maxAgeMs: number;
  overflow: Overflow;
};

/** Origins are stored with each record so redeliveries keep the publisher's identity. */
const FROM_KEY = '$from';

export class DurableQueue {
  readonly queue = undefined; // for the Sublist
  consumer: { conn: SubOwner; sub: BrokerSub } | undefined;
  /** Next mid to send to the consumer (mids increase but may skip values after a crash). */
  nextMid = 0;
  /** Highest mid sent before; anything sent again at or below it is a redelivery. */
  sentUpTo = 0;
  /** Highest mid stored. */
  lastMid: number;
  /** Mids sent and not yet acknowledged, oldest first (at most `window`). */
  inflight: number[] = [];
  lastProgress = Date.now();
  /** Under an ACL: the owner's bound permissions (set by the broker, again after a reload). */
  perms: { canRead(topic: string): boolean } | undefined;
  /** After a failed fsync: when to try reopening the log (ms since epoch). */
  reopenAt = 0;

  constructor(
    readonly def: DurableDef,
    public log: DurableLog,
  ) {
    this.lastMid = log.stats().lastMid;
    // What was sent before a restart is not known: every message stored before it may have been.
    this.sentUpTo = this.lastMid;
  }

  get pattern(): string {
    return this.def.pattern;
  }
}

export class DurableManager {
  private readonly queues_ = new Map<string, DurableQueue>();
  private readonly index = new Sublist<DurableQueue>();
  /** What recovery cut from torn logs at start, for the operator. */
  readonly recovered: Array<{ name: string; cutBytes: number; reason: string | undefined }> = [];

  constructor(readonly opts: DurableOptions) {
    mkdirSync(opts.dir, { recursive: true });
    for (const f of readdirSync(opts.dir)) {
      if (!f.endsWith('.json')) continue;
      const def = JSON.parse(readFileSync(join(opts.dir, f), 'utf8')) as DurableDef;
      const q = this.openQueue(def);
      const r = q.log.recovery;
      if (r !== undefined && r.cutBytes > 0) this.recovered.push({ name: def.name, cutBytes: r.cutBytes, reason: r.reason });
    }
  }

  get size(): number {
    return this.queues_.size;
  }

  private openLog(def: DurableDef): DurableLog {
    return DurableLog.open(join(this.opts.dir, def.name), {
      maxBytes: def.maxBytes,
      maxAgeMs: def.maxAgeMs,
      overflow: def.overflow,
      fsync: this.opts.fsync,
    });
  }

  private openQueue(def: DurableDef): DurableQueue {
    const q = new DurableQueue(def, this.openLog(def));
    this.queues_.set(def.name, q);
    this.index.insert(q);
    return q;
  }

  queues(): Iterable<DurableQueue> {
    return this.queues_.values();
  }

  get(name: string): DurableQueue | undefined {
    return this.queues_.get(name);
  }

  /** Create (first use) or find the queue for a durable subscription. */
  ensure(name: string, pattern: string, o: { maxBytes?: number; maxAgeMs?: number; overflow?: Overflow }, owner?: DurableDef['owner']): DurableQueue | string {
    const existing = this.queues_.get(name);
    if (existing !== undefined) {
      if (existing.def.pattern !== pattern) return `durable "${name}" is bound to "${existing.def.pattern}", not "${pattern}"; delete it first to change its pattern`;
      return existing;
    }
    const def: DurableDef = {
      name,
      pattern,
      maxBytes: o.maxBytes ?? this.opts.defaultMaxBytes,
      maxAgeMs: o.maxAgeMs ?? 0,
      overflow: o.overflow ?? 'reject',
      created: new Date().toISOString(),
      ...(owner === undefined ? {} : { owner }),
    };
    const tmp = join(this.opts.dir, `${name}.json.tmp`);
    writeFileSync(tmp, JSON.stringify(def));
    renameSync(tmp, join(this.opts.dir, `${name}.json`));
    return this.openQueue(def);
  }

  /**
   * Append a published message to every durable queue it matches. Returns the logs written (to
   * await their sync for a confirm) and the names that refused it.
   */
  store(msg: Published): { logs: DurableLog[]; refused: string[]; failed: string[] } | undefined {
    if (this.queues_.size === 0) return undefined;
    const match = this.index.match(msg.topic);
    if (match.plain.length === 0) return undefined;
    const logs: DurableLog[] = [];
    const refused: string[] = [];
    const failed: string[] = [];
    const hdr = withOrigin(msg.hdr, msg.origin);
    const readable = this.opts.readable;
    for (const q of match.plain) {
      if (readable !== undefined && !readable(q, msg.topic)) continue;
      let r: ReturnType<DurableLog['append']>;
      try {
        if (q.log.broken) this.reopen(q);
        r = q.log.append(msg.topic, msg.payload, hdr);
      } catch (err) {
        // A full or failing disk refuses this queue's copy (STORE_FAILED); live traffic goes on,
        // and the next publish tries again, so the queue recovers by itself once space returns.
        failed.push(q.def.name);
        this.opts.onStoreError?.(q, err as Error);
        continue;
      }
      if ('error' in r) {
        refused.push(q.def.name);
        continue;
      }
      logs.push(q.log);
      const caughtUp = q.nextMid > q.lastMid;
      q.lastMid = r.mid;
      // Caught up and within the window: deliver from memory, no disk read.
      const c = q.consumer;
      if (c !== undefined && caughtUp && q.inflight.length < this.opts.window) {
        q.nextMid = r.mid + 1;
        if (c.sub.filter && c.conn.perms !== undefined && !c.conn.perms.canRead(msg.topic)) continue;
        this.reportDropped(q);
        this.send(q, r.mid, msg.topic, msg.payload, msg.hdr, msg.origin);
      }
    }
    return { logs, refused, failed };
  }

  /** After a failed fsync the log must be reopened; at most once a second per queue. */
  private reopen(q: DurableQueue): void {
    const now = Date.now();
    if (now < q.reopenAt) throw new Error(`durable "${q.def.name}" is recovering from a storage error`);
    q.reopenAt = now + 1000;
    try {
      q.log.close();
    } catch {
      // closing a failed log may fail again; the new one starts from what is on disk
    }
    q.log = this.openLog(q.def);
    q.lastMid = q.log.stats().lastMid;
    if (q.nextMid > q.lastMid + 1) q.nextMid = q.lastMid + 1;
  }

  attach(q: DurableQueue, conn: SubOwner, sub: BrokerSub): string | undefined {
    if (q.consumer !== undefined && q.consumer.conn.state !== 'closed') {
      return `durable "${q.def.name}" is held by connection ${q.consumer.conn.cid} ("${q.consumer.conn.name}"); one consumer at a time`;
    }
    q.consumer = { conn, sub };
    // Everything not acknowledged is sent again, marked as a redelivery.
    q.sentUpTo = Math.max(q.sentUpTo, q.inflight[q.inflight.length - 1] ?? 0);
    q.inflight = [];
    q.nextMid = q.log.stats().firstMid;
    q.lastProgress = Date.now();
    this.reportDropped(q);
    this.pump(q);
    return undefined;
  }

  detach(conn: SubOwner, sub: BrokerSub): void {
    for (const q of this.queues_.values()) if (q.consumer?.conn === conn && q.consumer.sub === sub) q.consumer = undefined;
  }

  /** Cumulative acknowledgement from the consumer. */
  ack(conn: SubOwner, sub: BrokerSub, mid: number): boolean {
    for (const q of this.queues_.values()) {
      if (q.consumer?.conn !== conn || q.consumer.sub !== sub) continue;
      const upTo = Math.min(mid, q.nextMid - 1);
      q.log.ack(upTo);
      let k = 0;
      while (k < q.inflight.length && q.inflight[k]! <= upTo) k++;
      if (k > 0) q.inflight.splice(0, k);
      q.lastProgress = Date.now();
      this.pump(q);
      return true;
    }
    return false;
  }

  /** Send what the window allows, reading the backlog from disk in bounded pages. */
  pump(q: DurableQueue): void {
    const c = q.consumer;
    if (c === undefined || c.conn.state !== 'open') return;
    for (let pages = 0; pages < 64; pages++) {
      const room = this.opts.window - q.inflight.length;
      const last = q.lastMid;
      if (room <= 0 || q.nextMid > last) return;
      const recs: StoredRecord[] = q.log.read(q.nextMid, Math.min(room, 256), 1024 * 1024);
      if (recs.length === 0) {
        q.nextMid = last + 1; // the rest expired or was dropped
        return;
      }
      for (const r of recs) {
        q.nextMid = r.mid + 1;
        // Stored before the rules changed, or for another identity: skipped like a filtered
        // plain delivery (not a loss), and acknowledged with the next ack that covers it.
        if (c.sub.filter && c.conn.perms !== undefined && !c.conn.perms.canRead(r.topic)) continue;
        const { hdr, origin } = splitOrigin(r.hdr);
        this.send(q, r.mid, r.topic, r.payload, hdr, origin);
      }
    }
  }

  private send(q: DurableQueue, mid: number, topic: string, payload: Uint8Array, hdr: Readonly<Record<string, string>> | undefined, origin: Origin | undefined): void {
    const c = q.consumer!;
    const redelivered = mid <= q.sentUpTo;
    const msg = new Published(topic, payload, undefined, hdr, false, origin, { mid, redelivered });
    q.inflight.push(mid);
    c.sub.seq = mid;
    c.conn.out.deliver(c.sub, msg, mid);
  }

  private reportDropped(q: DurableQueue): void {
    const c = q.consumer;
    if (c === undefined) return;
    const l = q.log.takeLost();
    const n = l.dropped + l.expired + l.corrupt;
    if (n > 0) {
      const policy = l.dropped > 0 ? 'drop-oldest' : l.expired > 0 ? 'expired' : 'corrupt';
      const frame = { op: 'loss', sid: c.sub.sid, lost: n, policy, lastSeq: Math.max(0, q.nextMid - 1) };
      c.conn.out.sendControl(c.conn.encoding.control(frame));
    }
  }

  /** Periodic: expiry, and redelivery after the ack timeout. */
  sweep(now: number): void {
    for (const q of this.queues_.values()) {
      if (q.def.maxAgeMs > 0 && !q.log.broken) {
        try {
          q.log.expire();
        } catch (err) {
          this.opts.onStoreError?.(q, err as Error);
        }
      }
      const c = q.consumer;
      if (c === undefined) continue;
      if (c.conn.state === 'closed') {
        q.consumer = undefined;
        continue;
      }
      if (q.inflight.length > 0 && now - q.lastProgress > this.opts.ackTimeoutMs) {
        q.sentUpTo = Math.max(q.sentUpTo, q.inflight[q.inflight.length - 1]!);
        q.nextMid = q.inflight[0]!;
        q.inflight = [];
        q.lastProgress = now;
        this.pump(q);
      }
    }
  }

  info(q: DurableQueue): DurableInfo {
    const st = q.log.stats();
    return {
      name: q.def.name,
      pattern: q.def.pattern,
      connected: q.consumer !== undefined,
      consumer: q.consumer === undefined ? undefined : `${q.consumer.conn.cid} ${q.consumer.conn.name}`,
      backlog: st.count,
      bytes: st.bytes,
      firstMid: st.firstMid,
      lastMid: st.lastMid,
      oldestAgeMs: st.oldestTime === undefined ? undefined : Date.now() - st.oldestTime,
      dropped: st.dropped,
      expired: st.expired,
      maxBytes: q.def.maxBytes,
      maxAgeMs: q.def.maxAgeMs,
      overflow: q.def.overflow,
    };
  }

  list(): DurableInfo[] {
    return [...this.queues_.values()].map((q) => this.info(q));
  }

  purge(q: DurableQueue): void {
    q.log.purge();
    q.inflight = [];
    q.nextMid = q.lastMid + 1;
  }

  delete(q: DurableQueue): void {
    this.queues_.delete(q.def.name);
    this.index.remove(q);
    q.log.destroy();
    rmSync(join(this.opts.dir, `${q.def.name}.json`), { force: true });
  }

  close(): void {
    for (const q of this.queues_.values()) q.log.close();
  }
}

function withOrigin(hdr: Readonly<Record<string, string>> | undefined, origin: Origin | undefined): Record<string, string> | undefined {
  if (origin === undefined) return hdr === undefined ? undefined : { ...hdr };
  return { ...hdr, [FROM_KEY]: origin.json };
}

function splitOrigin(hdr: Record<string, string> | undefined): { hdr: Record<string, string> | undefined; origin: Origin | undefined } {
  if (hdr === undefined || !(FROM_KEY in hdr)) return { hdr, origin: undefined };
  const { [FROM_KEY]: json, ...rest } = hdr;
  let origin: Origin | undefined;
  try {
    const from = JSON.parse(json!) as { cid: string };
    origin = { cid: from.cid, json: json!, cbor: encodeValue(from) };
  } catch {
    origin = undefined;
  }
  return { hdr: Object.keys(rest).length > 0 ? rest : undefined, origin };
}
