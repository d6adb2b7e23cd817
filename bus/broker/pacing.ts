/**
 * Publisher pacing (PROTOCOL.md §10): when a delivery has to wait in a subscriber's queue (its
 * socket is past the high-water mark), the broker stops reading the publisher's connection until
 * that queue has drained, so a healthy but momentarily slower subscriber slows the publisher down
 * instead of losing messages. The publisher feels it as TCP-style backpressure: its socket fills,
 * `publish()` returns false, `drain()` waits.
 *
 * A stuck subscriber must not stall everyone: one whose peer has read nothing for `stallMs` while
 * publishers wait for it is marked stuck, its publishers are let go, and from then on its own
 * overflow policy applies (drops announced by `loss`) until it reads again or its queue is empty.
 * A slow subscriber that keeps reading is not stuck: any bytes its peer took restart the clock.
 * Because a subscriber that reads again paces again, a wrong verdict (a healthy process that was
 * not scheduled for a moment) costs only queue space, never messages while its queue has room; so
 * the window can be short, and a really stopped subscriber holds everyone only that long.
 * Publishers that would rather never wait say `flow: "drop"` in their hello.
 */

/** A connection as the pacer sees it. */
export interface Paced {
  readonly cid: string;
  /** Pause and resume reading this connection's frames. */
  pauseReading(): void;
  resumeReading(): void;
  /** Grows as the peer reads what was written to it (bytes the socket has handed on). */
  progressMark(): number;
  pacing: PacingState;
}

export class PacingState {
  /** As a publisher: the congested subscribers it waits for. */
  readonly waitingFor = new Set<Paced>();
  /** As a subscriber: the publishers waiting for its queue to drain. */
  readonly holding = new Set<Paced>();
  /** As a subscriber: its queue did not drain in time; publishers no longer wait for it. */
  stuck = false;
  timer: NodeJS.Timeout | undefined;
  /** progressMark() when the stall clock last started (or when it was found stuck), and when that was. */
  mark = 0;
  armedAt = 0;
}

/** How long a subscriber may read nothing while publishers wait for it (`--pace-stall`). */
export const DEFAULT_PACE_STALL_MS = 100;

export class Pacer {
  /** Publishers let go because a subscriber stalled, over the broker's life. */
  stalls = 0;

  constructor(private readonly stallMs: number) {}

  /** A delivery from `pub` had to queue at `sub`: hold the publisher until `sub` drains. */
  hold(pub: Paced, sub: Paced): void {
    const s = sub.pacing;
    if (pub === sub || s.holding.has(pub)) return;
    if (s.stuck) {
      // Still nothing read since it was found stuck: its overflow policy applies, nobody waits.
      if (sub.progressMark() <= s.mark) return;
      s.stuck = false; // it reads again: it paces its publishers again
    }
    s.holding.add(pub);
    if (pub.pacing.waitingFor.size === 0) pub.pauseReading();
    pub.pacing.waitingFor.add(sub);
    if (s.timer === undefined) this.arm(sub);
  }

  private arm(sub: Paced): void {
    const s = sub.pacing;
    s.mark = sub.progressMark();
    s.armedAt = Date.now();
    // The decision waits for the check phase: I/O that completed while the broker itself was
    // busy (write callbacks that show the peer reading) is handled in the poll phase before it.
    s.timer = setTimeout(() => setImmediate(() => this.stalled(sub)), this.stallMs);
    s.timer.unref();
  }

  /** `sub`'s queue is empty again: it is healthy, and whoever waited for it goes on. */
  relieved(sub: Paced): void {
    sub.pacing.stuck = false;
    this.release(sub);
  }

  private stalled(sub: Paced): void {
    sub.pacing.timer = undefined;
    if (sub.pacing.holding.size === 0) return;
    // Slow but reading: keep holding, and give it another stallMs. A clock that ran late by half
    // the window means the broker was starved, not the peer: that window proves nothing.
    const late = Date.now() - sub.pacing.armedAt - this.stallMs > this.stallMs / 2;
    if (late || sub.progressMark() > sub.pacing.mark) return this.arm(sub);
    sub.pacing.stuck = true;
    this.stalls++;
    this.release(sub);
  }

  private release(sub: Paced): void {
    const s = sub.pacing;
    clearTimeout(s.timer);
    s.timer = undefined;
    for (const pub of s.holding) {
      pub.pacing.waitingFor.delete(sub);
      if (pub.pacing.waitingFor.size === 0) pub.resumeReading();
    }
    s.holding.clear();
  }

  /** A connection went away: as a subscriber it holds no one, as a publisher it waits for no one. */
  closed(conn: Paced): void {
    this.release(conn);
    for (const sub of conn.pacing.waitingFor) sub.pacing.holding.delete(conn);
    conn.pacing.waitingFor.clear();
  }
}
