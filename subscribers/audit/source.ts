/**
 * Where audited messages come from. The audit service only needs: start delivering, pause
 * (stop delivering; a durable queue keeps what was not acknowledged), and a cumulative ack.
 * busSource() is the real one; tests (and other transports) can provide their own.
 */
import type { Subscription } from 'rxjs';
import type { Client, Message, SubscribeOptions } from 'udsbus';

export type SourceMessage = {
  topic: string;
  payload: unknown;
  bytes?: Uint8Array | undefined;
  hdr?: Readonly<Record<string, string>> | undefined;
  /** Publisher identity stamped by the broker, when it sends one. */
  from?: unknown;
  retained?: boolean | undefined;
  /** Durable message id: increases per stored message, stable across redeliveries. */
  mid?: number | undefined;
  redelivered?: boolean | undefined;
  /** Messages lost (dropped/expired) just before this one. */
  lost?: number | undefined;
  /** Subscription id, for acknowledging on the bus. */
  sid?: number | undefined;
};

export interface AuditSource {
  /** Recorded as `q` in every record: the durable queue name, or the pattern of a plain subscription. */
  readonly queue: string;
  /** True when un-acknowledged messages survive pause() and restarts (and are redelivered). */
  readonly durable: boolean;
  start(handlers: { message(m: SourceMessage): void; error(e: Error): void }): void;
  /** Stop delivering. Durable: the broker keeps un-acknowledged messages for the next start(). */
  pause(): void;
  /** Acknowledge `m` and every earlier message of this source (only called for durable sources). */
  ack(m: SourceMessage): void;
}

export type BusSourceOptions = {
  pattern: string;
  /** Durable queue name; without it a plain subscription (messages published while down are missed). */
  durable?: string | undefined;
  /** Quota of the durable queue when the broker creates it. */
  durableMaxBytes?: number | undefined;
};

/**
 * A source on the bus: a durable subscription (PROTOCOL.md §17) when `durable` is set, else a
 * plain one. A broker without a data directory refuses durable subscriptions
 * (DURABLE_UNAVAILABLE); the error reaches `error()` and startAudit() fails with it.
 */
export function busSource(client: Client, o: BusSourceOptions): AuditSource {
  let sub: Subscription | undefined;
  const opts: SubscribeOptions = { retained: false };
  if (o.durable !== undefined) {
    opts.durable = o.durable;
    if (o.durableMaxBytes !== undefined) opts.durableMaxBytes = o.durableMaxBytes;
  }
  return {
    queue: o.durable ?? o.pattern,
    durable: o.durable !== undefined,
    start(h) {
      sub?.unsubscribe();
      sub = client.subscribe(o.pattern, opts).subscribe({ next: (m: Message) => h.message(m), error: (e: Error) => h.error(e) });
    },
    pause() {
      sub?.unsubscribe();
      sub = undefined;
    },
    ack(m) {
      if (m.sid !== undefined && m.mid !== undefined) client.ack({ sid: m.sid, mid: m.mid });
    },
  };
}
