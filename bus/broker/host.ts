/**
 * The seam between one connection and the rest of the broker. A Connection parses and checks
 * its peer's frames and keeps its own state; everything that involves other connections —
 * admission, routing, retained state, inbox ownership, durable queues, `$SYS` — it asks of its
 * host through this interface, and never imports the broker itself.
 */
import type { ErrorName } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import type { DurableSpec } from './durable-spec.js';
import type { OutboundConfig, OutboundOwner } from './outbound.js';
import type { BrokerSub } from './subscription.js';

export type { CloseReason } from '../protocol/wire-types.js';

export type Transport = 'unix' | 'tcp' | 'memory';

/** The peer as the kernel reported it at connect time (Unix sockets only). */
export type PeerInfo = { pid?: number; uid?: number; gid?: number; groups?: number[] };

/** A `pub` frame's fields, checked by the connection. */
export type PubRequest = {
  topic: string;
  payload: Uint8Array;
  reply: string | undefined;
  hdr: Record<string, string> | undefined;
  retain: boolean;
  owned: boolean;
  id: number | undefined;
  confirm: boolean;
  /** From the fixed-shape reader only: the frame's topic and payload pairs (pub-reader.ts `shared`). */
  shared: Uint8Array | undefined;
};

/** A refusal the connection turns into an error frame. */
export type Refusal = { name: ErrorName; text: string };

/** `C` is the connection type (kept generic so this file need not import it). */
export interface ConnectionHost<C> {
  /** Fixed settings every connection reads. */
  readonly config: {
    readonly limits: Readonly<Limits>;
    readonly sweepMs: number;
    readonly closeGraceMs: number;
    readonly serverName: string;
    readonly bootId: string;
    readonly outbound: OutboundConfig;
  };
  nextCid(): string;
  outboundOwnerFor(conn: C): OutboundOwner;

  // Lifecycle.
  /** After a valid hello: may this connection open? (Refuses it itself when not.) */
  admit(conn: C): boolean;
  onOpen(conn: C): void;
  onClose(conn: C, wasOpen: boolean): void;

  // Operations.
  publish(conn: C, pub: PubRequest): void;
  /** `$SYS.req.*` with a reply topic: answered by the broker itself. */
  sysRequest(conn: C, topic: string, reply: string, id: number | undefined, payload: Uint8Array): void;
  subscribe(sub: BrokerSub, withRetained: boolean): void;
  subscribeDurable(conn: C, sub: BrokerSub, spec: DurableSpec): Refusal | undefined;
  unsubscribe(sub: BrokerSub): void;
  ack(conn: C, sub: BrokerSub, mid: number): void;

  // Inboxes (PROTOCOL.md §8): token ownership spans connections.
  claimInbox(pattern: string, uid: number | undefined): boolean;
  releaseInbox(pattern: string): void;
  mayReplyTo(reply: string, uid: number | undefined): boolean;

  // Reporting.
  countError(name: ErrorName): void;
  /** A frame made the broker throw: logged; the connection is closed with INTERNAL. */
  internalError(conn: C, err: unknown): void;
  /** Count and publish a refused operation on `$SYS.acl.denied`. */
  denied(conn: C, action: string, target: string): void;
}
