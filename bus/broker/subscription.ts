/**
 * A subscription as the broker keeps it: its pattern and options, the per-subscription sequence
 * and loss counters, and its share of the connection's outbound queue. It refers to its
 * connection only through `SubOwner`, what routing and durable delivery need of it.
 */
import type { Permissions } from '../security/acl.js';
import type { WireEncoding } from './encoding.js';
import type { Entry, Outbound, OutSub, Policy } from './outbound.js';
import type { Paced } from './pacing.js';

/** What routing and durable delivery need of a subscription's connection. */
export interface SubOwner extends Paced {
  readonly cid: string;
  readonly name: string;
  readonly state: 'handshake' | 'open' | 'closing' | 'closed';
  /** Open and accepting deliveries. */
  readonly alive: boolean;
  readonly out: Outbound;
  readonly encoding: WireEncoding;
  /** Under an ACL: what the connection may do. */
  readonly perms: Permissions | undefined;
}

export class BrokerSub implements OutSub {
  seq = 0;
  /** Under an ACL: deliveries are checked per topic (the pattern is only partly readable). */
  filter = false;
  /** The durable name, for a durable subscription. */
  durable: string | undefined;
  /** Under an ACL: this subscription holds a claim on its inbox token (released with it). */
  inbox = false;
  lost = 0;
  lastLostSeq = 0;
  dropped = 0;
  delivered = 0;
  qMsgs = 0;
  qBytes = 0;
  entries: Entry[] = [];
  entriesHead = 0;
  byTopic: Map<string, Entry> | undefined;

  constructor(
    readonly conn: SubOwner,
    readonly sid: number,
    readonly pattern: string,
    readonly queue: string | undefined,
    readonly policy: Policy,
    readonly maxMsgs: number,
    readonly maxBytes: number,
  ) {}
}
