/**
 * Access control in the broker: binds each connection's kernel-verified identity to the ACL
 * (bus/security/acl.ts), keeps per-uid usage for quotas, and reports denials. Without an ACL
 * every check passes and nothing is counted, so the hot path pays one branch.
 */
import type { Acl, Identity, Permissions } from '../security/acl.js';
import type { Quota } from '../security/acl-parse.js';

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
  pid?: number;
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

  /** After a reload: quotas may have changed. */
  refreshQuotas(): void {
    for (const [key, u] of this.usage) u.quota = this.acl.quotaFor(key);
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
