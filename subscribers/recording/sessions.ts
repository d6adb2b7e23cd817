/**
 * Per-camera recording sessions as a small state machine driven by triggers and a Clock. It
 * knows nothing of the bus or files: the caller feeds it classified events and gets open /
 * extend / close callbacks, which is what makes its timing testable with a ManualClock.
 *
 * Times (ms since the epoch, from the clock — the subscriber's receive time, not the camera's):
 *   start = first trigger − preRoll;  end = last release/pulse + postRoll, or start + maxDuration.
 * A trigger during post-roll extends the session. A session that reaches maxDuration while a
 * hold is still active is closed and a continuation opens at once (start = previous end, no
 * pre-roll), so long activity is cut into pieces of at most maxDuration.
 */
import type { Clock, TimerHandle } from '../common/clock.js';
import type { Trigger } from './triggers.js';

/** Why a session ended. The bus payload maps these onto the schema's reasons (see index.ts). */
export type CloseReason = 'idle' | 'max-duration' | 'shutdown' | 'camera-offline' | 'camera-lost' | 'recorder-failed' | 'recovered';

export type Session = {
  readonly sessionId: string;
  readonly cameraId: string;
  /** Start including pre-roll (ms). */
  readonly start: number;
  /** When the session was opened (ms). */
  readonly openedAt: number;
  /** Set when closed. */
  end?: number;
  /** The first maxTriggers triggers; `triggerCount` counts all of them. */
  readonly triggers: Trigger[];
  triggerCount: number;
  /** Active holds (key → the trigger that set it). */
  readonly holds: Map<string, Trigger>;
  /** True for a continuation after max-duration. */
  readonly continued: boolean;
};

export type SessionEvents = {
  open(s: Session): void;
  extend(s: Session, t: Trigger): void;
  close(s: Session, reason: CloseReason): void;
};

export type SessionTiming = {
  preRollMs: number;
  postRollMs: number;
  maxDurationMs: number;
  /** Triggers kept in a session's list (default 100); later ones are only counted. */
  maxTriggers?: number;
};

type Live = Session & { postRoll?: TimerHandle | undefined; max?: TimerHandle | undefined };

export class SessionTracker {
  private readonly live = new Map<string, Live>();
  private readonly usedIds = new Set<string>();
  private readonly maxTriggers: number;

  constructor(
    private readonly clock: Clock,
    private readonly timing: SessionTiming,
    private readonly events: SessionEvents,
  ) {
    this.maxTriggers = timing.maxTriggers ?? 100;
  }

  /** The open session of a camera, if any. */
  get(cameraId: string): Session | undefined {
    return this.live.get(cameraId);
  }

  openSessions(): Session[] {
    return [...this.live.values()];
  }

  /**
   * A hold state change. `mayOpen` false (Initialized states by default) only updates an open
   * session: an initial active confirms a hold, an initial inactive releases it.
   */
  hold(cameraId: string, key: string, active: boolean, trigger: Trigger, mayOpen = true): void {
    let s = this.live.get(cameraId);
    if (active) {
      if (s === undefined) {
        if (!mayOpen) return;
        s = this.open(cameraId, [trigger], false);
      } else {
        this.addTrigger(s, trigger);
      }
      s.holds.set(key, trigger);
      this.clock.clearTimeout(s.postRoll);
      s.postRoll = undefined;
    } else if (s !== undefined && s.holds.delete(key) && s.holds.size === 0) {
      this.armPostRoll(s);
    }
  }

  /** A momentary trigger: opens or extends, restarts the post-roll unless a hold is active. */
  pulse(cameraId: string, trigger: Trigger, mayOpen = true): void {
    let s = this.live.get(cameraId);
    if (s === undefined) {
      if (!mayOpen) return;
      s = this.open(cameraId, [trigger], false);
    } else {
      this.addTrigger(s, trigger);
    }
    if (s.holds.size === 0) this.armPostRoll(s);
  }

  /** Close the camera's session now (offline, lost, recorder failure). */
  close(cameraId: string, reason: CloseReason): Session | undefined {
    const s = this.live.get(cameraId);
    if (s === undefined) return undefined;
    this.finish(s, this.clock.now(), reason);
    return s;
  }

  closeAll(reason: CloseReason): void {
    for (const s of [...this.live.values()]) this.finish(s, this.clock.now(), reason);
  }

  /** Make ids of sessions found in the index unusable, so a restart never reuses one. */
  reserveIds(ids: Iterable<string>): void {
    for (const id of ids) this.usedIds.add(id);
  }

  private open(cameraId: string, triggers: Trigger[], continued: boolean, start?: number): Live {
    const now = this.clock.now();
    const begin = start ?? now - this.timing.preRollMs;
    const s: Live = {
      sessionId: this.newId(cameraId, begin),
      cameraId,
      start: begin,
      openedAt: now,
      triggers: triggers.slice(0, this.maxTriggers),
      triggerCount: triggers.length,
      holds: new Map(),
      continued,
    };
    this.live.set(cameraId, s);
    s.max = this.clock.setTimeout(() => this.onMax(s), begin + this.timing.maxDurationMs - now);
    this.events.open(s);
    return s;
  }

  private addTrigger(s: Live, t: Trigger): void {
    s.triggerCount++;
    if (s.triggers.length < this.maxTriggers) s.triggers.push(t);
    this.events.extend(s, t);
  }

  private armPostRoll(s: Live): void {
    this.clock.clearTimeout(s.postRoll);
    s.postRoll = this.clock.setTimeout(() => this.finish(s, this.clock.now(), 'idle'), this.timing.postRollMs);
  }

  private onMax(s: Live): void {
    const end = s.start + this.timing.maxDurationMs;
    const holds = [...s.holds];
    this.finish(s, end, 'max-duration');
    if (holds.length > 0) {
      const next = this.open(s.cameraId, holds.map(([, t]) => t), true, end);
      for (const [k, t] of holds) next.holds.set(k, t);
    }
  }

  private finish(s: Live, end: number, reason: CloseReason): void {
    if (this.live.get(s.cameraId) !== s) return;
    this.clock.clearTimeout(s.postRoll);
    this.clock.clearTimeout(s.max);
    this.live.delete(s.cameraId);
    s.end = end;
    this.events.close(s, reason);
  }

  private newId(cameraId: string, start: number): string {
    // front-door-20240501T115955Z, like the schema example; -2, -3 … if a second repeats.
    const base = `${cameraId}-${new Date(start).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}`;
    let id = base;
    for (let n = 2; this.usedIds.has(id); n++) id = `${base}-${n}`;
    if (this.usedIds.size > 100_000) this.usedIds.clear(); // ids of one second collide, not of days ago
    this.usedIds.add(id);
    return id;
  }
}
