/**
 * The broker's side of each connection's outbound queue (the `OutboundOwner` seam, outbound.ts):
 * writes are batched per connection and flushed together once per event-loop turn, and what the
 * queue reports — a slow consumer, drops by policy, a queue that drained — reaches the right place.
 */
import type { Connection } from './connection.js';
import type { BrokerEvents } from './events.js';
import type { OutboundOwner, Policy } from './outbound.js';
import type { Pacer } from './pacing.js';
import type { BrokerSub } from './subscription.js';
import type { Counters } from './sys.js';

export class FlushScheduler {
  /** Connections with something queued since the last flush. */
  private readonly dirty = new Set<Connection>();
  private scheduled = false;

  constructor(
    private readonly counters: Counters,
    private readonly pacer: Pacer,
    private readonly events: BrokerEvents | undefined,
  ) {}

  ownerFor(conn: Connection): OutboundOwner {
    // Drops reach the events hook once per turn and policy, summed: a stopped subscriber drops
    // every message, and the hook (the daemon's log) need not run for each of them.
    let unreported: Partial<Record<Policy, number>> | undefined;
    const report = (): void => {
      const u = unreported!;
      unreported = undefined;
      for (const [policy, n] of Object.entries(u) as Array<[Policy, number]>) this.events?.dropped?.(conn, policy, n);
    };
    return {
      scheduleFlush: () => {
        this.dirty.add(conn);
        if (!this.scheduled) {
          this.scheduled = true;
          setImmediate(this.flushAll);
        }
      },
      slowConsumer: (sub) =>
        conn.fail(
          'SLOW_CONSUMER',
          sub === undefined
            ? 'the connection stopped reading while the broker had answers for it'
            : `subscription ${sub.sid} ("${(sub as BrokerSub).pattern}") overflowed its share of the outbound queue under policy "disconnect"`,
          sub === undefined ? {} : { sid: sub.sid },
        ),
      countDrop: (policy, n) => {
        this.counters.drops[policy] += n;
        if (this.events?.dropped === undefined) return;
        if (unreported === undefined) {
          unreported = {};
          setImmediate(report);
        }
        unreported[policy] = (unreported[policy] ?? 0) + n;
      },
      relieved: () => {
        if (conn.pacing.holding.size > 0 || conn.pacing.stuck) this.pacer.relieved(conn);
      },
    };
  }

  /** A closed connection has nothing more to flush. */
  forget(conn: Connection): void {
    this.dirty.delete(conn);
  }

  private readonly flushAll = (): void => {
    this.scheduled = false;
    for (const conn of this.dirty) {
      conn.out.flush();
      conn.maybeEnd();
    }
    this.dirty.clear();
  };
}
