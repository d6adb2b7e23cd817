/**
 * Pull-point subscriptions: a bounded queue per subscriber and at most one waiting PullMessages.
 */
import { randomBytes } from 'node:crypto';
import type { Notification } from './topics.js';

export type TopicFilter = (topic: string) => boolean;

interface Waiter {
  readonly limit: number;
  readonly timer: NodeJS.Timeout;
  readonly resolve: (msgs: Notification[] | 'gone') => void;
}

export class PullPoint {
  readonly id = randomBytes(8).toString('hex');
  readonly queue: Notification[] = [];
  waiter: Waiter | undefined;
  /** Scheduled flush of the waiter, so events raised together are answered together. */
  flushing = false;

  constructor(
    public terminationTime: number,
    readonly filter: TopicFilter,
  ) {}

  get path(): string {
    return `/onvif/subscription/${this.id}`;
  }
}

export interface PullPointLimits {
  readonly maxPullPoints: number;
  readonly maxQueued: number;
  readonly pullCapMs: number;
}

export class PullPointManager {
  private readonly points = new Map<string, PullPoint>();

  constructor(
    private readonly now: () => number,
    private readonly limits: PullPointLimits,
  ) {}

  /** Live subscriptions (expired ones are dropped first). */
  get size(): number {
    this.sweep();
    return this.points.size;
  }

  get pendingPulls(): number {
    let n = 0;
    for (const p of this.points.values()) if (p.waiter) n++;
    return n;
  }

  /** Undefined when the camera is already at its subscription limit. */
  create(terminationMs: number, filter: TopicFilter, initial: readonly Notification[]): PullPoint | undefined {
    this.sweep();
    if (this.points.size >= this.limits.maxPullPoints) return undefined;
    const p = new PullPoint(this.now() + terminationMs, filter);
    this.points.set(p.id, p);
    for (const n of initial) if (filter(n.topic)) this.enqueue(p, n);
    return p;
  }

  /** The subscription behind a path id, unless it has expired. */
  get(id: string): PullPoint | undefined {
    const p = this.points.get(id);
    if (p && p.terminationTime <= this.now()) {
      this.drop(p);
      return undefined;
    }
    return p;
  }

  publish(n: Notification): void {
    this.sweep();
    for (const p of this.points.values()) if (p.filter(n.topic)) this.enqueue(p, n);
  }

  /** Queues a notification for one subscriber only (SetSynchronizationPoint). */
  enqueue(p: PullPoint, n: Notification): void {
    p.queue.push(n);
    // Like firmware with a fixed ring buffer: the oldest messages go first.
    if (p.queue.length > this.limits.maxQueued) p.queue.splice(0, p.queue.length - this.limits.maxQueued);
    if (p.waiter && !p.flushing) {
      p.flushing = true;
      setImmediate(() => {
        p.flushing = false;
        const w = p.waiter;
        if (!w || p.queue.length === 0) return;
        p.waiter = undefined;
        clearTimeout(w.timer);
        w.resolve(p.queue.splice(0, w.limit));
      });
    }
  }

  /**
   * Answers at once when messages are queued, otherwise waits for the first one or the timeout
   * (capped). Resolves `'gone'` when the subscription disappears meanwhile (unsubscribe, reboot).
   */
  pull(p: PullPoint, timeoutMs: number, limit: number, signal: AbortSignal): Promise<Notification[] | 'gone'> {
    if (p.queue.length > 0) return Promise.resolve(p.queue.splice(0, limit));
    // A second pull on the same subscription ends the first, empty-handed.
    const prev = p.waiter;
    if (prev) {
      p.waiter = undefined;
      clearTimeout(prev.timer);
      prev.resolve([]);
    }
    const wait = Math.max(0, Math.min(timeoutMs, this.limits.pullCapMs));
    return new Promise((resolve) => {
      const done = (v: Notification[] | 'gone'): void => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      };
      const timer = setTimeout(() => {
        if (p.waiter?.timer === timer) p.waiter = undefined;
        done([]);
      }, wait);
      const onAbort = (): void => {
        if (p.waiter?.timer === timer) p.waiter = undefined;
        clearTimeout(timer);
        done([]);
      };
      signal.addEventListener('abort', onAbort, { once: true });
      p.waiter = { limit, timer, resolve: done };
    });
  }

  renew(p: PullPoint, terminationMs: number): void {
    p.terminationTime = this.now() + terminationMs;
  }

  drop(p: PullPoint): void {
    this.points.delete(p.id);
    const w = p.waiter;
    if (w) {
      p.waiter = undefined;
      clearTimeout(w.timer);
      w.resolve('gone');
    }
  }

  dropAll(): void {
    for (const p of [...this.points.values()]) this.drop(p);
  }

  private sweep(): void {
    const now = this.now();
    for (const p of [...this.points.values()]) if (p.terminationTime <= now) this.drop(p);
  }
}

/**
 * A ConcreteSet TopicExpression: alternatives joined by `|`, each a topic or a subtree ending in
 * `//.`. Prefixes are ignored, since a client may bind tns1's namespace to another prefix.
 */
export function topicFilter(expression: string | undefined): TopicFilter {
  if (!expression || expression.trim() === '') return () => true;
  const strip = (t: string): string => t.trim().replace(/^[^:/]+:/, '');
  const alts = expression.split('|').map((a) => {
    const t = a.trim();
    return t.endsWith('//.') ? { base: strip(t.slice(0, -3)), subtree: true } : { base: strip(t), subtree: false };
  });
  return (topic) => {
    const t = strip(topic);
    return alts.some((a) => t === a.base || (a.subtree && t.startsWith(`${a.base}/`)));
  };
}
