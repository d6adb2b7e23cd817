/**
 * What a broker can be told (`BrokerOptions`) and the settings it runs with once the defaults are
 * applied: every default and every derived value in one place, so the core's constructor only
 * wires its parts together.
 */
import { DEFAULT_LIMITS, HARD_MAX_FRAME_BYTES, type Limits } from '../protocol/limits.js';
import type { Acl } from '../security/acl.js';
import type { DurableOptions } from './durable.js';
import type { BrokerEvents } from './events.js';
import type { ConnectionHost } from './host.js';
import { DEFAULT_PACE_STALL_MS } from './pacing.js';

export type BrokerOptions = {
  limits?: Partial<Limits>;
  /** How long a closing connection may take to flush before it is cut (ms). */
  closeGraceMs?: number;
  /** How often handshake and keepalive deadlines are checked (ms). */
  sweepMs?: number;
  /** Socket buffer level above which deliveries wait in the bounded queue (bytes). */
  socketHighWater?: number;
  serverName?: string;
  /** Interval of `$SYS.broker.stats` publications (ms); 0 turns them off. */
  statsIntervalMs?: number;
  /**
   * Strict mode: payloads published on topics matching `patterns` are decoded and checked by
   * `validate` (e.g. `validatorFor` from udsbus-nvr/schemas); invalid ones are refused with
   * SCHEMA_INVALID and counted, so a bad publisher cannot poison the consumers.
   */
  strict?: { patterns: readonly string[]; validate: (topic: string, payload: unknown) => readonly string[] | undefined };
  /**
   * Access rules (SECURITY.md): every operation is checked against the connection's
   * kernel-verified identity, per-uid quotas apply, and denials are published on $SYS.acl.denied.
   */
  acl?: Acl;
  /**
   * How long a publisher is held while a subscriber's queue does not drain, before that
   * subscriber counts as stuck and its own overflow policy applies instead, until it reads again
   * (ms, §10; default 100).
   */
  paceStallMs?: number;
  /** A frame that stays incomplete this long is cut off with FRAME_TIMEOUT (ms). */
  frameTimeoutMs?: number;
  /**
   * Where the broker reports what it contained instead of crashing: a frame that made it throw
   * (the connection is closed with INTERNAL), a storage error. Default: one line on stderr.
   */
  log?: BrokerLog;
  /** Data directory for durable subscriptions (PROTOCOL.md §17); without it they are refused. */
  dataDir?: string;
  durable?: {
    fsync?: 'always' | 'batch' | 'never';
    /** Default disk quota of a durable queue (bytes). */
    maxBytes?: number;
    /** Unacknowledged messages in flight per consumer. */
    window?: number;
    ackTimeoutMs?: number;
  };
  /** Hooks for the daemon's log and metrics (events.ts). */
  events?: BrokerEvents;
};

export type BrokerLog = (event: 'internal-error' | 'store-error', detail: Record<string, unknown>) => void;

/** BrokerOptions with every default applied. */
export type BrokerSettings = {
  /** What every connection reads (ConnectionHost.config). */
  config: ConnectionHost<unknown>['config'];
  frameTimeoutMs: number;
  paceStallMs: number;
  /** 0: no `$SYS.broker.stats` publications. */
  statsIntervalMs: number;
  log: BrokerLog;
  /** Durable queues' settings (the broker adds its callbacks); undefined without a data directory. */
  durable: Omit<DurableOptions, 'readable' | 'onStoreError'> | undefined;
};

/**
 * A connection's pending deliveries are written once per event-loop turn, or sooner when they
 * reach this many bytes. Larger batches mean fewer writes and fewer wake-ups of the reader per
 * byte (a paired bench run: 64 → 192 KiB gave 7–20% more opaque fan-out throughput); it stays
 * below Linux's default Unix-socket send buffer (net.core.wmem_default, 208 KiB) so an idle
 * socket takes a whole batch in one write and the batch buffer is reused (outbound.ts).
 */
export const BATCH_BYTES = 192 * 1024;

export function brokerSettings(opts: BrokerOptions, bootId: string): BrokerSettings {
  const limits = { ...DEFAULT_LIMITS, ...opts.limits };
  if (limits.maxFrameBytes > HARD_MAX_FRAME_BYTES) throw new RangeError(`maxFrameBytes cannot exceed ${HARD_MAX_FRAME_BYTES}`);
  const config = Object.freeze({
    limits: Object.freeze(limits),
    // Deadlines are checked at a quarter of the shorter one, between 20 ms and 1 s.
    sweepMs: opts.sweepMs ?? Math.max(20, Math.min(1000, Math.floor(Math.min(limits.keepaliveMs, limits.handshakeTimeoutMs) / 4))),
    closeGraceMs: opts.closeGraceMs ?? 2000,
    serverName: opts.serverName ?? 'udsbus',
    bootId,
    outbound: {
      queueBytes: limits.outQueueBytes,
      queueMsgs: limits.outQueueMsgs,
      highWater: opts.socketHighWater ?? 256 * 1024,
      batchBytes: BATCH_BYTES,
    },
  });
  const d = opts.durable;
  return {
    config,
    frameTimeoutMs: opts.frameTimeoutMs ?? 10_000,
    paceStallMs: opts.paceStallMs ?? DEFAULT_PACE_STALL_MS,
    statsIntervalMs: opts.statsIntervalMs ?? 10_000,
    log: opts.log ?? ((event, detail) => process.stderr.write(`udsbus broker: ${event} ${JSON.stringify(detail)}\n`)),
    durable:
      opts.dataDir === undefined
        ? undefined
        : {
            dir: `${opts.dataDir}/durable`,
            fsync: d?.fsync ?? 'batch',
            defaultMaxBytes: d?.maxBytes ?? 256 * 1024 * 1024,
            window: d?.window ?? 1000,
            ackTimeoutMs: d?.ackTimeoutMs ?? 30_000,
          },
  };
}
