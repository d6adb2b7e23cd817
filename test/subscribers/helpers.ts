/** Shared by the subscriber tests: schema-shaped camera payloads, a capturing logger, waiting on a bus. */
import { pino, type Logger } from 'pino';
import { firstValueFrom, filter, take, timeout as rxTimeout, type Observable } from 'rxjs';
import type { Client, Message } from '../../bus/client/client.js';

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
