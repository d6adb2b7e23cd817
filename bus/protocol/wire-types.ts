/**
 * Types of the wire that both sides share (PROTOCOL.md): overflow policies, why connections
 * close, and the shapes of the broker's statistics as `$SYS.req.stats`, `$SYS.req.clients` and
 * `$SYS.broker.stats` carry them.
 */
import type { ErrorName } from './errors.js';

/** What the broker drops when a subscription's share of its connection's queue is full (§10). */
export type Policy = 'drop-oldest' | 'drop-newest' | 'latest-per-topic' | 'disconnect';
export const POLICIES: readonly Policy[] = ['drop-oldest', 'drop-newest', 'latest-per-topic', 'disconnect'];

/**
 * Why a connection ended (`reason` of `$SYS.client.disconnected`, §14). Only connections that got
 * a `welcome` are announced, so refusals at accept and handshake timeouts have no reason here.
 */
export type CloseReason = 'bye' | 'eof' | 'error' | 'protocol' | 'slow-consumer' | 'keepalive' | 'shutdown';

export type SubStats = { sid: number; pattern: string; queue?: string; policy: Policy; delivered: number; dropped: number; queuedMsgs: number; queuedBytes: number };

/** One entry of `$SYS.req.clients`. */
export type ClientStats = {
  cid: string;
  name: string;
  transport: string;
  pid?: number;
  uid?: number;
  gid?: number;
  groups?: number[];
  connectedAt: string;
  msgsIn: number;
  bytesIn: number;
  queuedBytes: number;
  queuedMsgs: number;
  dropped: number;
  subscriptions: SubStats[];
};

/** The result of `$SYS.req.stats`, and the payload of `$SYS.broker.stats`. */
export type BrokerStats = {
  connections: number;
  connectionsTotal: number;
  subscriptions: number;
  retained: number;
  retainedBytes: number;
  /** Inbox tokens bound to a uid (under an ACL); released with their last subscription. */
  inboxes: number;
  msgsIn: number;
  bytesIn: number;
  msgsOut: number;
  drops: Record<Policy, number>;
  /** Times a subscriber read nothing while publishers waited for it, and they were let go (§10). */
  paceStalls: number;
  errors: Partial<Record<ErrorName, number>>;
  queuedBytes: number;
  uptimeMs: number;
  memory: { rss: number; heapUsed: number };
  /** Up to five connections with the most queued bytes or drops, worst first. */
  slowest: Array<{ cid: string; name: string; queuedBytes: number; dropped: number }>;
};
