/**
 * The broker answering for itself (PROTOCOL.md §14, §17): `$SYS.req.stats`, `$SYS.req.clients`
 * and `$SYS.req.durable.*`, and the statistics behind them and behind `$SYS.broker.stats`. It
 * sees the broker only through `SysHost`.
 */
import { Buffer } from 'node:buffer';
import { decodeValue } from '../protocol/codec.js';
import type { ErrorName } from '../protocol/errors.js';
import type { BrokerStats, ClientStats, Policy, SubStats } from '../protocol/wire-types.js';
import { isInboxTopic } from '../topics/grammar.js';
import type { Permissions } from '../security/acl.js';
import type { DurableDef, DurableManager } from './durable.js';
import type { Outbound } from './outbound.js';
import type { PeerInfo } from './host.js';
import type { BrokerSub } from './subscription.js';

/** What statistics and management read of a connection. */
export interface ConnView {
  readonly cid: string;
  readonly name: string;
  readonly transport: string;
  readonly peer: PeerInfo;
  readonly connectedAt: number;
  readonly msgsIn: number;
  readonly bytesIn: number;
  readonly out: Outbound;
  readonly subs: ReadonlyMap<number, BrokerSub>;
  readonly perms: Permissions | undefined;
  sendFrame(frame: object): void;
  error(name: ErrorName, text: string, extra?: { id?: number | undefined }): void;
  deny(action: string, target: string, extra?: { id?: number | undefined }): void;
}

/** Counters the broker keeps beyond its open connections. */
export type Counters = {
  connectionsTotal: number;
  /** Frames and bytes of connections that have closed (open ones count their own). */
  msgsIn: number;
  bytesIn: number;
  msgsOut: number;
  drops: Record<Policy, number>;
  errors: Partial<Record<ErrorName, number>>;
};

export function newCounters(): Counters {
  return {
    connectionsTotal: 0,
    msgsIn: 0,
    bytesIn: 0,
    msgsOut: 0,
    drops: { 'drop-oldest': 0, 'drop-newest': 0, 'latest-per-topic': 0, disconnect: 0 },
    errors: {},
  };
}

export interface SysHost<C extends ConnView> {
  readonly startedAt: number;
  readonly counters: Counters;
  readonly durables: DurableManager | undefined;
  connections(): Iterable<C>;
  retainedUsage(): { count: number; bytes: number };
  inboxCount(): number;
  paceStalls(): number;
  mayReplyTo(reply: string, uid: number | undefined): boolean;
  /** Deliver one of the broker's own messages. */
  sys(topic: string, value: unknown, hdr?: Readonly<Record<string, string>>): void;
  /** A deleted durable gives its owner's durable-bytes reservation back. */
  returnDurableBytes(def: DurableDef): void;
}

const EMPTY = Buffer.alloc(0);
const ERROR_HDR: Readonly<Record<string, string>> = Object.freeze({ status: 'error' });

export class SysService<C extends ConnView> {
  constructor(private readonly host: SysHost<C>) {}

  stats(): BrokerStats {
    const h = this.host;
    const c = h.counters;
    let msgsIn = c.msgsIn;
    let bytesIn = c.bytesIn;
    let subscriptions = 0;
    let queuedBytes = 0;
    let connections = 0;
    for (const conn of h.connections()) {
      connections++;
      msgsIn += conn.msgsIn;
      bytesIn += conn.bytesIn;
      subscriptions += conn.subs.size;
      queuedBytes += conn.out.qBytes;
    }
    const mem = process.memoryUsage();
    const retained = h.retainedUsage();
    return {
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      slowest: this.slowest(),
      connections,
      connectionsTotal: c.connectionsTotal,
      subscriptions,
      retained: retained.count,
      retainedBytes: retained.bytes,
      inboxes: h.inboxCount(),
      msgsIn,
      bytesIn,
      msgsOut: c.msgsOut,
      drops: { ...c.drops },
      paceStalls: h.paceStalls(),
      errors: { ...c.errors },
      queuedBytes,
      uptimeMs: Date.now() - h.startedAt,
    };
  }

  private slowest(): BrokerStats['slowest'] {
    const rows: BrokerStats['slowest'] = [];
    for (const c of this.host.connections()) {
      let dropped = 0;
      for (const s of c.subs.values()) dropped += s.dropped;
      if (c.out.qBytes > 0 || dropped > 0) rows.push({ cid: c.cid, name: c.name, queuedBytes: c.out.qBytes, dropped });
    }
    rows.sort((a, b) => b.queuedBytes - a.queuedBytes || b.dropped - a.dropped);
    return rows.slice(0, 5);
  }

  clients(): ClientStats[] {
    const out: ClientStats[] = [];
    for (const c of this.host.connections()) {
      let dropped = 0;
      const subscriptions: SubStats[] = [];
      for (const s of c.subs.values()) {
        dropped += s.dropped;
        subscriptions.push({
          sid: s.sid,
          pattern: s.pattern,
          ...(s.queue === undefined ? {} : { queue: s.queue }),
          policy: s.policy,
          delivered: s.delivered,
          dropped: s.dropped,
          queuedMsgs: s.qMsgs,
          queuedBytes: s.qBytes,
        });
      }
      out.push({
        cid: c.cid,
        name: c.name,
        transport: c.transport,
        ...c.peer,
        connectedAt: new Date(c.connectedAt).toISOString(),
        msgsIn: c.msgsIn,
        bytesIn: c.bytesIn,
        queuedBytes: c.out.qBytes,
        queuedMsgs: c.out.qMsgs,
        dropped,
        subscriptions,
      });
    }
    return out;
  }

  /** Requests to the broker itself: `$SYS.req.stats`, `$SYS.req.clients`, `$SYS.req.durable.*`. */
  request(conn: C, topic: string, reply: string, id: number | undefined, payload: Uint8Array = EMPTY): void {
    // The broker's answers carry no `from`: they may only go to the requester's own inbox, or
    // anyone could make the broker speak on camera topics, other users' inboxes or $SYS.
    if (!isInboxTopic(reply) || !this.host.mayReplyTo(reply, conn.peer.uid)) {
      return conn.deny('reply-to', reply, { id });
    }
    if (topic.startsWith('$SYS.req.durable.')) {
      const action = topic.slice('$SYS.req.durable.'.length);
      const perms = conn.perms;
      if (perms !== undefined && !perms.admin) {
        const name = nameOf(payload);
        if (action === 'list' || typeof name !== 'string' || !perms.canUseDurable(name)) return conn.deny('request', topic, { id });
      }
      const r = this.durableRequest(action, payload);
      if (id !== undefined) conn.sendFrame({ op: 'ok', id });
      // Failure replies carry hdr.status "error" (§8), like those of a client's serve().
      this.host.sys(reply, r, (r as { ok: boolean }).ok ? undefined : ERROR_HDR);
      return;
    }
    if (conn.perms !== undefined && !conn.perms.admin) return conn.deny('request', topic, { id });
    let result: unknown;
    switch (topic) {
      case '$SYS.req.stats':
        result = this.stats();
        break;
      case '$SYS.req.clients':
        result = this.clients();
        break;
      default:
        if (id !== undefined) conn.error('NO_RESPONDERS', `the broker answers $SYS.req.stats and $SYS.req.clients, not "${topic}"`, { id });
        return;
    }
    if (id !== undefined) conn.sendFrame({ op: 'ok', id });
    this.host.sys(reply, { ok: true, result });
  }

  /** `udsbus durable list|info|purge|delete`: answers in the reply envelope (PROTOCOL.md §8). */
  private durableRequest(action: string, payload: Uint8Array): unknown {
    const d = this.host.durables;
    if (d === undefined) return { ok: false, error: { code: 'unavailable', message: 'this broker has no data directory (--data DIR)' } };
    if (action === 'list') return { ok: true, result: d.list() };
    const name = nameOf(payload);
    if (typeof name !== 'string') return { ok: false, error: { code: 'invalid-argument', message: 'payload must be {name: "<durable name>"}' } };
    const q = d.get(name);
    if (q === undefined) return { ok: false, error: { code: 'not-found', message: `no durable named "${name}"` } };
    switch (action) {
      case 'info':
        return { ok: true, result: d.info(q) };
      case 'purge':
        d.purge(q);
        return { ok: true, result: d.info(q) };
      case 'delete':
        if (q.consumer !== undefined) return { ok: false, error: { code: 'busy', message: `durable "${name}" has a consumer attached; detach it first` } };
        d.delete(q);
        this.host.returnDurableBytes(q.def);
        return { ok: true, result: { deleted: name } };
      default:
        return { ok: false, error: { code: 'invalid-argument', message: `unknown durable action "${action}" (list, info, purge, delete)` } };
    }
  }
}

function nameOf(payload: Uint8Array): unknown {
  try {
    return (decodeValue(payload) as { name?: unknown } | undefined)?.name;
  } catch {
    return undefined;
  }
}

