/**
 * What a camera event means for recording, decided from the normalised fields of SCHEMAS.md
 * alone (no vendor topics):
 *
 * - `hold`: a state that keeps the session open while active — motion `active`, field
 *   `inside`, input/tamper `active`. The session's post-roll starts when every hold of the
 *   camera is released.
 * - `pulse`: a momentary occurrence — line crossing, object detection — that opens or extends
 *   a session and restarts the post-roll; their `ended: true` events do nothing.
 * - nothing for `late: true` events (replays of the past).
 *
 * Holds are keyed by kind and the event's Source items (and input token), so two motion rules
 * of one camera release independently.
 */
import type { CameraEvent } from '../../schemas/payloads.js';
import type { TriggerKinds } from './config.js';

export type Trigger = { topic: string; time: string };

export type TriggerAction =
  | { type: 'hold'; key: string; active: boolean; initial: boolean; trigger: Trigger }
  | { type: 'pulse'; initial: boolean; trigger: Trigger }
  | { type: 'none' };

export function classify(topic: string, ev: CameraEvent, enabled: Required<TriggerKinds>, receivedAt: string): TriggerAction {
  const trigger: Trigger = { topic, time: ev.time ?? receivedAt };
  const initial = ev.initial === true;
  const deleted = ev.operation === 'deleted';
  // A late replay (an event long past, delivered after a reconnect) cannot be recorded any more:
  // opening a session for it would record the present instead.
  if (ev.late === true) return { type: 'none' };
  const key = (extra = '') => `${ev.kind}:${stableJson(ev.source)}${extra}`;
  switch (ev.kind) {
    case 'motion':
    case 'tamper':
      if (!enabled[ev.kind]) return { type: 'none' };
      return { type: 'hold', key: key(), active: ev.active && !deleted, initial, trigger };
    case 'input':
      if (!enabled.input) return { type: 'none' };
      return { type: 'hold', key: key(`:${ev.input}`), active: ev.active && !deleted, initial, trigger };
    case 'field':
      if (!enabled.field) return { type: 'none' };
      return { type: 'hold', key: key(), active: ev.inside && !deleted, initial, trigger };
    case 'line':
    case 'object':
      // Cameras that report these as states (Tapo IsLineCross/IsPeople, AJAX ClassTypes) send an
      // end (`ended: true`) that must not open or extend a session; older payloads without
      // `ended` still end on State=false.
      if (!enabled[ev.kind] || deleted || ev.ended === true || ev.data['State'] === false) return { type: 'none' };
      return { type: 'pulse', initial, trigger };
    default:
      return { type: 'none' };
  }
}

function stableJson(v: Record<string, unknown>): string {
  return JSON.stringify(Object.keys(v).sort().map((k) => [k, v[k]]));
}
