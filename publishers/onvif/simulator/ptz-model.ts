/**
 * One PTZ head in the generic ONVIF spaces: pan/tilt in [-1, 1], zoom in [0, 1]. Continuous moves
 * are integrated lazily from the clock, so no timer runs while the head moves.
 */
import type { PtzState, PtzVector } from './types.js';

/** Generic-space units per second at velocity 1: a full pan sweep takes two seconds. */
const UNITS_PER_SECOND = 1;
/** DefaultPTZTimeout advertised in the PTZConfiguration; a ContinuousMove without Timeout stops after it. */
export const DEFAULT_PTZ_TIMEOUT_MS = 5_000;

const ZERO: PtzVector = { x: 0, y: 0, zoom: 0 };
const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));

export class PtzModel {
  private base: PtzVector = { ...ZERO };
  private velocity: PtzVector = { ...ZERO };
  private since = 0;
  private until = 0;
  private last: string | undefined;

  constructor(private readonly now: () => number) {}

  position(): PtzVector {
    const t = Math.min(this.now(), this.until);
    const dt = Math.max(0, t - this.since) / 1000;
    return {
      x: clamp(this.base.x + this.velocity.x * UNITS_PER_SECOND * dt, -1, 1),
      y: clamp(this.base.y + this.velocity.y * UNITS_PER_SECOND * dt, -1, 1),
      zoom: clamp(this.base.zoom + this.velocity.zoom * UNITS_PER_SECOND * dt, 0, 1),
    };
  }

  private active(): boolean {
    return this.now() < this.until;
  }

  /** Fixes the integrated position as the new base so the velocity can change. */
  private settle(): void {
    this.base = this.position();
    this.since = this.now();
  }

  continuousMove(v: Partial<PtzVector>, timeoutMs: number | undefined): void {
    this.settle();
    const cur = this.active() ? this.velocity : ZERO;
    this.velocity = { x: v.x ?? cur.x, y: v.y ?? cur.y, zoom: v.zoom ?? cur.zoom };
    this.until = this.now() + (timeoutMs ?? DEFAULT_PTZ_TIMEOUT_MS);
    this.last = 'ContinuousMove';
  }

  stop(panTilt: boolean, zoom: boolean): void {
    this.settle();
    this.velocity = { x: panTilt ? 0 : this.velocity.x, y: panTilt ? 0 : this.velocity.y, zoom: zoom ? 0 : this.velocity.zoom };
    this.last = 'Stop';
  }

  absoluteMove(p: Partial<PtzVector>): void {
    this.settle();
    this.base = { x: clamp(p.x ?? this.base.x, -1, 1), y: clamp(p.y ?? this.base.y, -1, 1), zoom: clamp(p.zoom ?? this.base.zoom, 0, 1) };
    this.velocity = { ...ZERO };
    this.last = 'AbsoluteMove';
  }

  relativeMove(t: Partial<PtzVector>): void {
    this.settle();
    this.base = {
      x: clamp(this.base.x + (t.x ?? 0), -1, 1),
      y: clamp(this.base.y + (t.y ?? 0), -1, 1),
      zoom: clamp(this.base.zoom + (t.zoom ?? 0), 0, 1),
    };
    this.velocity = { ...ZERO };
    this.last = 'RelativeMove';
  }

  moving(): { panTilt: boolean; zoom: boolean } {
    const on = this.active();
    return { panTilt: on && (this.velocity.x !== 0 || this.velocity.y !== 0), zoom: on && this.velocity.zoom !== 0 };
  }

  state(): PtzState {
    const m = this.moving();
    const moving = m.panTilt || m.zoom;
    return {
      position: this.position(),
      velocity: moving ? { ...this.velocity } : { ...ZERO },
      moving,
      lastCommand: this.last,
    };
  }
}
