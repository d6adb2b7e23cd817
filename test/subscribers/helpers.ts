/** Shared by the subscriber tests: schema-shaped camera payloads, a capturing logger, waiting on a bus. */
import { pino, type Logger } from 'pino';
import { firstValueFrom, filter, take, timeout as rxTimeout, type Observable } from 'rxjs';
import type { Client, Message } from '../../bus/client/client.js';
import type { AuditSource, SourceMessage } from '../../subscribers/audit/source.js';

export type LogLine = { level: number; msg: string; [k: string]: unknown };

/** A pino logger that keeps its lines in memory. */
export function captureLogger(): { logger: Logger; lines: LogLine[]; errors: () => LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void lines.push(JSON.parse(s) as LogLine) });
  return { logger, lines, errors: () => lines.filter((l) => l.level >= 50) };
}

let n = 0;
const base = (cameraId: string, kind: string, time: string, initial: boolean) => ({
  v: 1,
  cameraId,
  kind,
  time,
  receivedAt: time,
  initial,
  onvifTopic: `tns1:Test/${kind}/${++n}`,
});

export function motion(cameraId: string, active: boolean, o: { initial?: boolean; time?: string; rule?: string } = {}) {
  const time = o.time ?? new Date().toISOString();
  return {
    ...base(cameraId, 'motion', time, o.initial ?? false),
    operation: o.initial === true ? 'initialized' : 'changed',
    source: { VideoSourceConfigurationToken: 'vs1', Rule: o.rule ?? 'MyMotionDetectorRule' },
    data: { IsMotion: active },
    active,
  };
}

export function field(cameraId: string, inside: boolean, rule = 'Driveway', time = new Date().toISOString()) {
  return { ...base(cameraId, 'field', time, false), operation: 'changed', source: { Rule: rule }, data: { IsInside: inside }, rule, inside };
}

export function line(cameraId: string, rule = 'Gate', time = new Date().toISOString()) {
  return { ...base(cameraId, 'line', time, false), source: { Rule: rule }, data: { ObjectId: 17 }, rule, objectId: '17' };
}

export function status(cameraId: string, state: 'online' | 'offline' | 'error', time = new Date().toISOString()) {
  return { v: 1, cameraId, state, since: time, time };
}

/**
 * Publish with `pub` and resolve once `via` (a client that also carries the subscriber under
 * test, subscribed with the same pattern and options) has delivered it: observers of a shared
 * subscription run in order, so the subscriber has handled the message by then.
 */
export async function publishThrough(pub: Client, via: Observable<Message>, topic: string, payload: unknown, opts: { retain?: boolean } = {}): Promise<void> {
  const marker = JSON.stringify(payload ?? null);
  const seen = firstValueFrom(
    via.pipe(
      filter((m) => m.topic === topic && JSON.stringify(m.payload ?? null) === marker),
      take(1),
      rxTimeout(5000),
    ),
  );
  pub.publish(topic, payload, opts);
  await seen;
}

/** Collects every message of a subscription; `next(pred)` waits for one not yet taken. */
export class Collector<T = unknown> {
  readonly all: Message<T>[] = [];
  private waiters: Array<() => void> = [];
  private readonly sub;
  constructor(obs: Observable<Message<T>>) {
    this.sub = obs.subscribe((m) => {
      this.all.push(m);
      for (const w of this.waiters.splice(0)) w();
    });
  }
  async next(pred: (m: Message<T>) => boolean = () => true, ms = 5000): Promise<Message<T>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.all.findIndex(pred);
      if (i >= 0) return this.all.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching message within ${ms} ms; have ${JSON.stringify(this.all.map((m) => m.topic))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }
  close(): void {
    this.sub.unsubscribe();
  }
}

// ---------------------------------------------------------------- audit


/**
 * A stand-in for a broker's durable queue (PROTOCOL.md §17) for testing the audit pipeline
 * without a broker: mids increase per message, cumulative acks remove messages, start() after
 * pause() (or a "restart") redelivers everything not acknowledged with `redelivered: true`.
 */
export class FakeDurableQueue implements AuditSource {
  readonly durable = true;
  private stored: SourceMessage[] = [];
  private nextMid = 1;
  private handlers: { message(m: SourceMessage): void; error(e: Error): void } | undefined;
  private delivered = 0;
  acked = 0;
  /** Ignore acks (as if they were lost in a crash). */
  dropAcks = false;
  starts = 0;
  pauses = 0;

  constructor(readonly queue = 'audit') {}

  get attached(): boolean {
    return this.handlers !== undefined;
  }

  get backlog(): number {
    return this.stored.length;
  }

  publish(topic: string, payload: unknown, extra: Partial<SourceMessage> = {}): number {
    const mid = this.nextMid++;
    const m: SourceMessage = { topic, payload, bytes: new Uint8Array(payload === undefined ? 0 : 1), mid, sid: 1, ...extra };
    this.stored.push(m);
    if (this.handlers !== undefined) {
      this.delivered = mid;
      this.handlers.message(m);
    }
    return mid;
  }

  start(h: { message(m: SourceMessage): void; error(e: Error): void }): void {
    this.starts++;
    this.handlers = h;
    for (const m of [...this.stored]) {
      const redelivered = m.mid! <= this.delivered;
      this.delivered = Math.max(this.delivered, m.mid!);
      if (this.handlers === h) h.message({ ...m, redelivered });
    }
  }

  pause(): void {
    this.pauses++;
    this.handlers = undefined;
  }

  ack(m: SourceMessage): void {
    if (this.dropAcks || m.mid === undefined) return;
    this.acked = Math.max(this.acked, m.mid);
    this.stored = this.stored.filter((s) => s.mid! > this.acked);
  }

  /** The subscription ends with an error (e.g. DURABLE_BUSY from the broker). */
  fail(err: Error): void {
    const h = this.handlers;
    this.handlers = undefined;
    h?.error(err);
  }

  /** A new consumer attaching after a crash: everything unacknowledged comes again. */
  detachForRestart(): void {
    this.handlers = undefined;
  }
}
