/** The client's public types: options, messages and lifecycle events. */
import type { Duplex } from 'node:stream';
import type { Policy } from '../protocol/wire-types.js';
import type { CloseInfo } from './transport.js';
import type { ExpectBrokerUid } from './broker-identity.js';

export type { Policy } from '../protocol/wire-types.js';
export type { CloseInfo } from './transport.js';
export type { ExpectBrokerUid } from './broker-identity.js';


export type ConnectOptions = {
  /**
   * Unix socket path. Default: `$UDSBUS_SOCKET`; else the first of your own broker's socket
   * (`$XDG_RUNTIME_DIR/udsbus/bus.sock`, or `/tmp/udsbus-<uid>/bus.sock`) and the system socket
   * (`/run/udsbus/bus.sock`, `$UDSBUS_SYSTEM_SOCKET`) that exists, looked up on every (re)connect;
   * when neither exists, the error names both.
   */
  socket?: string;
  /**
   * Which uids the broker may run as, checked on a Unix socket right after connect() and before
   * the client sends a byte (SECURITY.md, "Which broker"). Default: your own uid, root (0) and the
   * system broker's user `udsbus` when /etc/passwd has it. A number or list replaces that set;
   * `'any'` turns the check off. A broker outside the set is refused with `BROKER_UNTRUSTED`
   * (connect() rejects; while reconnecting, each refused attempt is an `error` event). TCP and
   * `dial` connections carry no credentials: the default is not checked there, and an explicit
   * uid is refused rather than skipped.
   *
   * @example
   * // A broker that the service user 'nvr' (uid 990) runs on a shared path:
   * const bus = await connect({ socket: '/srv/nvr/bus.sock', expectBrokerUid: 990 });
   */
  expectBrokerUid?: ExpectBrokerUid;
  /** Connect over TCP instead (the broker's optional `--tcp` listener). */
  tcp?: { host: string; port: number };
  /**
   * Any other way to reach a broker: called for every (re)connect, returns a fresh stream. With
   * `Broker.handle()` and `memoryPair()` it runs a client in the broker's process without a socket.
   */
  dial?: () => Duplex;
  /** A label for logs and `$SYS`; not verified by anything. */
  name?: string;
  /**
   * When a subscriber falls behind: "pace" (default) lets the broker slow this publisher down
   * (publish() returns false, drain() waits) so nothing is dropped; "drop" never waits and lets
   * each subscriber's overflow policy drop instead (PROTOCOL.md §10).
   */
  flow?: 'pace' | 'drop';
  /** Keepalive interval asked of the broker (ms). */
  keepaliveMs?: number;
  /** Published by the broker if this connection ends without close(). */
  will?: { topic: string; payload?: unknown; retain?: boolean };
  /** Reconnect when the connection drops (default true). */
  reconnect?: boolean;
  reconnectInitialMs?: number;
  reconnectMaxMs?: number;
  /** Give up after this many failed attempts in a row (default: never). */
  maxReconnectAttempts?: number;
  /** Bytes of publishes kept while disconnected; beyond it publish() throws DISCONNECTED. */
  outageBufferBytes?: number;
  /** Time allowed for the connect + handshake (ms). */
  connectTimeoutMs?: number;
  /** Default request() timeout (ms). */
  requestTimeoutMs?: number;
  /** Check payloads before publishing (e.g. `validatorFor` from udsbus-nvr/schemas). */
  validate?: (topic: string, payload: unknown) => readonly string[] | undefined;
};

export type PublishOptions = {
  /**
   * Resolve only once the broker has stored the message in every durable queue it matched
   * (publisher confirm); publish() then returns a Promise.
   */
  confirm?: boolean;
  retain?: boolean;
  /** Retained message owned by this connection: cleared (or replaced by the will) when it ends. */
  owned?: boolean;
  reply?: string;
  hdr?: Record<string, string>;
};

export type SubscribeOptions = {
  /** Queue group: each message goes to one member of the group. */
  queue?: string;
  /** Replay matching retained messages first (default true). */
  retained?: boolean;
  /** What the broker drops when this subscription's share of the queue is full. */
  policy?: Policy;
  maxMsgs?: number;
  maxBytes?: number;
  /**
   * Durable name: the broker keeps every matching message on disk until acknowledged, also
   * while this client is away (PROTOCOL.md §17). Acknowledge with `client.ack(msg)`.
   */
  durable?: string;
  /** Disk quota, maximum age and overflow of the durable queue, used when it is created. */
  durableMaxBytes?: number;
  durableMaxAgeMs?: number;
  durableOverflow?: 'reject' | 'drop-oldest';
  /** Acknowledge each durable message once every observer's next() has returned. */
  autoAck?: boolean;
};

/** One delivered message. */
export type Message<T = unknown> = {
  readonly topic: string;
  /** The decoded payload; undefined for an empty one (a cleared retained message). */
  readonly payload: T;
  /** The payload's CBOR bytes, as received. */
  readonly bytes: Uint8Array;
  /** The payload's length in bytes (`bytes.length`, without making the view). */
  readonly size: number;
  readonly sid: number;
  /** Per-subscription sequence number (0 for retained replays); restarts after a reconnect. */
  readonly seq: number;
  readonly retained: boolean;
  readonly reply: string | undefined;
  readonly hdr: Readonly<Record<string, string>> | undefined;
  /** Messages the broker dropped for this subscription just before this one (loss notice). */
  readonly lost: number;
  /**
   * Who published it, stamped by the broker: uid/gid/pid verified by the kernel when the
   * publisher connected; `name` is the publisher's own unverified label; `anonymous` for TCP.
   */
  readonly from: Origin | undefined;
  /** Durable deliveries: the message id, stable across redeliveries (drop duplicates by it). */
  readonly mid: number | undefined;
  /** Durable deliveries: sent before and not acknowledged in time. */
  readonly redelivered: boolean;
};

export type Origin = { cid: string; name: string; uid?: number; gid?: number; pid?: number; anonymous?: true };

export type LossEvent = { sid: number; pattern: string; lost: number; policy: string; lastSeq: number };

export type ClientEvents = {
  connect: [{ cid: string }];
  disconnect: [{ error?: Error }];
  reconnect: [{ cid: string; attempt: number; brokerRestarted: boolean }];
  error: [Error];
  loss: [LossEvent];
  closed: [CloseInfo];
};
