/**
 * Time as a dependency. Subscribers read `now()` and schedule through a Clock instead of
 * calling Date.now()/setTimeout directly, so tests drive pre-roll, post-roll, cooldowns and
 * storm windows with `ManualClock.advance()` instead of sleeping through them.
 */

/** An opaque timer handle returned by Clock.setTimeout. */
export type TimerHandle = { readonly __timer: true };

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Run `fn` once after `ms` milliseconds (never keeps the process alive on its own). */
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

/** The real clock: Date.now() and unref'd Node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, Math.max(0, ms));
    t.unref();
    return t as unknown as TimerHandle;
  },
  clearTimeout(handle) {
    if (handle !== undefined) clearTimeout(handle as unknown as NodeJS.Timeout);
  },
};

type Pending = { at: number; order: number; fn: () => void; handle: TimerHandle };

/**
 * A clock that only moves when told to. Timers fire in time order (ties in scheduling order)
 * during advance()/set(); a timer scheduled by a firing timer fires in the same advance() if it
 * falls inside the advanced span.
 *
 * @example
 * const clock = new ManualClock(Date.parse('2024-05-01T12:00:00Z'));
 * const rec = await startRecording({ client, clock, ... });
 * clock.advance(30_000); // post-roll elapses, the session closes
 */
export class ManualClock implements Clock {
  private t: number;
  private order = 0;
  private timers: Pending[] = [];

  constructor(start = Date.parse('2024-05-01T12:00:00.000Z')) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const handle = { __timer: true } as TimerHandle;
    this.timers.push({ at: this.t + Math.max(0, ms), order: this.order++, fn, handle });
    return handle;
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle === undefined) return;
    this.timers = this.timers.filter((p) => p.handle !== handle);
  }

  /** Number of timers not yet fired. */
  get pending(): number {
    return this.timers.length;
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  advance(ms: number): void {
    this.set(this.t + ms);
  }

  /** Move time forward to `time` (ms since the epoch). */
  set(time: number): void {
    if (time < this.t) throw new RangeError('ManualClock cannot go backwards');
    for (;;) {
      let next: Pending | undefined;
      for (const p of this.timers) {
        if (p.at <= time && (next === undefined || p.at < next.at || (p.at === next.at && p.order < next.order))) next = p;
      }
      if (next === undefined) break;
      this.timers = this.timers.filter((p) => p !== next);
      this.t = next.at;
      next.fn();
    }
    this.t = time;
  }
}
