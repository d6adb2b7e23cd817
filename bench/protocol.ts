/** What the orchestrator and its forked workers say to each other over the IPC channel. */
import type { Limits } from '../bus/protocol/limits.js';
import type { Endpoint } from './endpoints.js';
import type { Percentiles } from './stats.js';

export type SubMode = 'rate' | 'latency' | 'first';

export type WorkerConfig =
  | { role: 'broker'; socket: string; tcp: boolean; limits?: Partial<Limits> }
  | { role: 'relay'; socket: string }
  | {
      role: 'sub';
      ep: Endpoint;
      label: string;
      conns: number;
      /** Connections opened at once. */
      wave: number;
      topic: string;
      /** Messages the publisher will send. */
      expect: number;
      mode: SubMode;
      /** Events with n below this are warm-up: not timed. */
      warm: number;
      /** After the publisher is done, finish when nothing arrived for this long. */
      idleMs: number;
      /**
       * Opaque mode: payloads are this many random bytes, counted by position only (udsbus: the
       * subscription's seq; elsewhere the first 4 payload bytes). Unset: the CBOR camera event.
       */
      payloadBytes?: number;
    }
  | { role: 'pub'; ep: Endpoint; topic: string; count: number; rate: number; payloadBytes?: number }
  | { role: 'rpc-server'; ep: Endpoint; topic: string }
  | { role: 'rpc-client'; ep: Endpoint; topic: string; inflight: number; durationMs: number; warmup: number };

/** What one subscription saw. */
export type Tally = {
  received: number;
  /** Events missing by `n` (gaps and the tail), the loss measure that works on every system. */
  missing: number;
  /** udsbus: seq numbers skipped, loss notices and what they announced. */
  seqGaps: number;
  lossNotices: number;
  lossAnnounced: number;
  /** udsbus: delivered + announced losses equals the last seq (PROTOCOL.md §10). */
  accounted: boolean;
  first: number;
  /** When an event was last timed, and warmCount then (rate mode times every 1,024th event). */
  last: number;
  warmAtLast: number;
  /** Steady state: arrival of the first non-warm-up event, and events from it on. */
  warmAt: number;
  warmCount: number;
  /** 'first' mode: one-way time of the first event (ms), -1 if none came. */
  firstMs: number;
};

export type ToWorker = { t: 'start' } | { t: 'pubDone' } | { t: 'finish' } | { t: 'stats' } | { t: 'stop' };

export type FromWorker =
  | { t: 'ready'; pid: number; socket?: string; tcp?: { host: string; port: number }; connectMs?: number }
  | {
      t: 'result';
      tallies: Tally[];
      latencyUs: number[];
      /** CPU time (user + system, µs) the subscriber process used from ready to result. */
      cpuUs: number;
    }
  | { t: 'done'; start: number; end: number; flushed: number; sent: number; /** The publisher's CPU from start to flushed. */ cpuUs: number }
  | { t: 'rpc'; count: number; elapsedMs: number; rtt: Percentiles; errors: number }
  | { t: 'stats'; rss: number; heapUsed: number; broker?: unknown }
  | { t: 'error'; message: string };
