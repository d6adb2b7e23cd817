/**
 * Access control in the broker: binds each connection's kernel-verified identity to the ACL
 * (bus/security/acl.ts), keeps per-uid usage for quotas, and reports denials. Without an ACL
 * every check passes and nothing is counted, so the hot path pays one branch.
 */
import type { Acl, Identity, Permissions } from '../security/acl.js';
import type { Quota } from '../security/acl-parse.js';
import type { DurableDef, DurableQueue } from './durable.js';
import type { PeerInfo } from './host.js';
import type { BrokerSub } from './subscription.js';

/** What access decisions read and change of a connection. */
export interface Guarded {
  readonly cid: string;
  readonly name: string;
  readonly peer: PeerInfo;
  perms: Permissions | undefined;
  usage: Usage | undefined;
  readonly subs: ReadonlyMap<number, BrokerSub>;
  removeSub(sub: BrokerSub): void;
  error(name: 'PERMISSION_DENIED', text: string, extra: { sid: number }): void;
}

/** The kernel-verified identity of a peer, as the ACL sees it. */
export function identityOf(peer: PeerInfo): Identity {
  return peer.uid !== undefined ? { uid: peer.uid, gid: peer.gid!, groups: peer.groups ?? [peer.gid!] } : { anonymous: true };
}

/** What one uid (or all anonymous clients together) currently uses. */
export class Usage {
  connections = 0;
  subscriptions = 0;
  /** Bytes in the outbound queues of all the uid's connections (updated by Outbound). */
  queueBytes = 0;
  retainedBytes = 0;
  retainedCount = 0;
  durableBytes = 0;
  constructor(public quota: Quota) {}
}

export type Denial = {
  cid: string;
  name: string;
  uid?: number;
  pid?: number | undefined;
  anonymous?: true;
  action: string;
  target: string;
  reason: string;
  time: string;
};

export class AccessControl {
  private readonly usage = new Map<number | 'anonymous', Usage>();
  denied = 0;

  constructor(public acl: Acl) {}

  bind(identity: Identity): Permissions {
    return this.acl.bind(identity);
  }

  usageFor(uid: number | undefined): Usage {
    const key = uid ?? 'anonymous';
    let u = this.usage.get(key);
    if (u === undefined) this.usage.set(key, (u = new Usage(this.acl.quotaFor(key))));
    return u;
  }

  /** The `$SYS.acl.denied` record of a refused operation (counted). */
  denial(conn: Guarded, action: string, target: string): Denial {
    this.denied++;
    return {
      cid: conn.cid,
      name: conn.name,
      ...(conn.peer.uid === undefined ? { anonymous: true } : { uid: conn.peer.uid, pid: conn.peer.pid }),
      action,
      target,
      reason: action === 'reply-to' ? 'a reply must go to an inbox (_INBOX.<token>.…) no other uid owns' : (conn.perms?.explain(action as never, target)?.reason ?? 'denied'),
      time: new Date().toISOString(),
    };
  }

  /**
   * Retained quotas count what the store keeps (`cost`: topic, payload, headers and `from`);
   * one uid may hold at most half the store's topics unless its quota says otherwise. Returns
   * the broken quota's description, or undefined.
   */
  retainedProblem(u: Usage, cost: number, prev: { usage: unknown; bytes: number } | undefined, maxRetained: number): string | undefined {
    const mine = prev !== undefined && prev.usage === u;
    const freed = mine ? prev.bytes : 0;
    const maxCount = Number.isFinite(u.quota.retained) ? u.quota.retained : Math.ceil(maxRetained / 2);
    if (u.retainedBytes - freed + cost > u.quota.retainedBytes) return `retained-bytes quota (${u.quota.retainedBytes})`;
    if (!mine && u.retainedCount + 1 > maxCount) return `retained quota (${maxCount} topics)`;
    return undefined;
  }

  /** The durable-bytes quota counts the disk quotas of the queues a uid creates. */
  reserveDurableBytes(conn: Guarded, want: number): string | undefined {
    const u = conn.usage;
    if (u === undefined) return undefined;
    if (u.durableBytes + want > u.quota.durableBytes) {
      return `uid ${conn.peer.uid ?? 'anonymous'} may reserve ${u.quota.durableBytes - u.durableBytes} more bytes of durable storage, not ${want} (durableMaxBytes)`;
    }
    u.durableBytes += want;
    return undefined;
  }

  /** A deleted durable gives its owner's durable-bytes reservation back. */
  returnDurableBytes(def: DurableDef): void {
    const owner = def.owner;
    if (owner === undefined) return;
    const u = this.usageFor('uid' in owner ? owner.uid : undefined);
    u.durableBytes = Math.max(0, u.durableBytes - def.maxBytes);
  }

  /** May the durable queue's owner read `topic`? Queues made before the ACL existed may. */
  durableReadable(q: DurableQueue, topic: string): boolean {
    const owner = q.def.owner;
    if (owner === undefined) return true;
    q.perms ??= this.acl.bind(owner);
    return q.perms.canRead(topic);
  }

  /**
   * Swap in new rules (SIGHUP): connections stay; each one's permissions are bound again and its
   * live subscriptions decided again — one that is no longer readable at all is ended with
   * PERMISSION_DENIED.
   */
  reload(acl: Acl, conns: Iterable<Guarded>, durables: Iterable<DurableQueue>): void {
    this.acl = acl;
    for (const [key, u] of this.usage) u.quota = acl.quotaFor(key);
    for (const q of durables) q.perms = undefined;
    for (const conn of conns) {
      const perms = acl.bind(identityOf(conn.peer));
      conn.perms = perms;
      for (const sub of [...conn.subs.values()]) {
        const via = sub.queue === undefined ? 'subscribe' : 'serve';
        const decision = sub.durable !== undefined ? (perms.canUseDurable(sub.durable) ? 'allow' : 'deny') : perms.subscribeDecision(sub.pattern, via);
        if (decision === 'deny') {
          conn.removeSub(sub);
          conn.error('PERMISSION_DENIED', `the rules changed: "${sub.pattern}" is no longer readable`, { sid: sub.sid });
        } else sub.filter = decision === 'filter';
      }
    }
  }
}

/**
 * Inbox tokens are bound to the uid that first subscribed to them (PROTOCOL.md §8, SECURITY.md),
 * for as long as that uid has a subscription on them: the binding is released with the last one,
 * so claims cannot pile up for the life of the broker.
 */
export class InboxOwners {
  private readonly owners = new Map<string, { who: number | 'anonymous'; refs: number }>();

  get size(): number {
    return this.owners.size;
  }

  /** False when another uid already owns the token. */
  claim(pattern: string, uid: number | undefined): boolean {
    const token = pattern.split('.')[1]!;
    const who = uid ?? 'anonymous';
    const owner = this.owners.get(token);
    if (owner !== undefined) {
      if (owner.who !== who) return false;
      owner.refs++;
      return true;
    }
    this.owners.set(token, { who, refs: 1 });
    return true;
  }

  release(pattern: string): void {
    const token = pattern.split('.')[1]!;
    const owner = this.owners.get(token);
    if (owner !== undefined && --owner.refs <= 0) this.owners.delete(token);
  }

  /** May `uid` aim a reply at `topic`? Not at an inbox another uid owns. */
  mayUse(topic: string, uid: number | undefined): boolean {
    if (!topic.startsWith('_INBOX.')) return true;
    const end = topic.indexOf('.', 7);
    const owner = this.owners.get(end < 0 ? topic.slice(7) : topic.slice(7, end));
    return owner === undefined || owner.who === (uid ?? 'anonymous');
  }
}
