/**
 * What the broker tells an observer outside the core (the daemon's log and metrics): one
 * optional hook per event, called synchronously at the site. Kept to plain structural types so
 * the core does not know about pino or Prometheus, and so the calls survive the core moving files.
 * A hook must be cheap and must not throw; the drop hook runs on the delivery path.
 */

/** The parts of a connection an observer may read. */
export type ConnectionView = {
  readonly cid: string;
  /** '' until the hello arrives. */
  readonly name: string;
  readonly transport: string;
  readonly peer: { readonly pid?: number; readonly uid?: number; readonly gid?: number };
  /** Why it ended (`bye`, `eof`, `keepalive`, `slow-consumer`, …); set before `closed`. */
  readonly closeReason?: string | undefined;
  /** Said bye before closing. */
  readonly clean: boolean;
  readonly msgsIn: number;
  readonly bytesIn: number;
};

/** Same shape as a `$SYS.acl.denied` message. */
export type DenialRecord = {
  cid: string;
  name: string;
  uid?: number;
  pid?: number | undefined;
  anonymous?: boolean;
  action: string;
  target: string;
  reason: string;
  time: string;
};

export interface BrokerEvents {
  /** A hello was accepted. */
  opened?(conn: ConnectionView): void;
  /** A connection ended; `wasOpen` is false for one that never completed its hello. */
  closed?(conn: ConnectionView, wasOpen: boolean): void;
  /** `n` deliveries to `conn` were dropped under `policy` (its queue was full); summed per event-loop turn. */
  dropped?(conn: ConnectionView, policy: string, n: number): void;
  /** An operation was refused by the access rules. */
  denied?(record: DenialRecord): void;
}
