/**
 * Scripted events: timers that toggle or pulse event kinds, or call a user function.
 */
import type { CameraEvent, EventSchedule, SimLogger } from '../types.js';
import type { EventHub } from './hub.js';
import { DEFAULT_RULE, TOPIC } from './topics.js';

const DATA_NAME = { motion: 'IsMotion', tamper: 'IsTamper', field: 'IsInside', object: 'State', digitalInput: 'LogicalState' } as const;

/** Starts every schedule; the returned function stops them all. */
export function startSchedules(schedules: readonly EventSchedule[], hub: EventHub, logger: SimLogger | undefined): () => void {
  const timers = schedules.map((s) => {
    if (!(s.every > 0)) throw new Error(`event schedule needs every > 0, got ${s.every}`);
    let tick = 0;
    const timer = setInterval(() => {
      if (s.count !== undefined && tick >= s.count) {
        clearInterval(timer);
        return;
      }
      try {
        hub.raise('event' in s ? s.event(tick) : toggled(s, hub, tick));
      } catch (err) {
        logger?.warn({ err }, 'scheduled event failed');
      }
      tick++;
    }, s.every);
    // Schedules alone must not keep a process alive.
    timer.unref();
    return timer;
  });
  return () => {
    for (const t of timers) clearInterval(t);
  };
}

function toggled(s: Extract<EventSchedule, { kind: string }>, hub: EventHub, tick: number): CameraEvent {
  const ctx = hub.context;
  const base = {
    ...(s.videoSource !== undefined ? { videoSource: s.videoSource } : {}),
    ...(s.rule !== undefined ? { rule: s.rule } : {}),
  };
  if (s.kind === 'lineCrossing') return { kind: 'lineCrossing', objectId: tick + 1, ...base };
  if (s.kind === 'digitalInput') {
    const input = s.input ?? ctx.digitalInputs[0] ?? '';
    return { kind: 'digitalInput', input, state: !hub.stateOf(TOPIC.digitalInput, [input], DATA_NAME.digitalInput) };
  }
  const source = ctx.media.sources.find((v) => v.token === s.videoSource) ?? ctx.media.sources[0];
  const current = hub.stateOf(TOPIC[s.kind], [source?.configToken ?? '', s.rule ?? DEFAULT_RULE[s.kind]], DATA_NAME[s.kind]);
  if (s.kind === 'object') {
    return { kind: 'object', state: !current, classTypes: s.classTypes ?? ['Human'], objectId: tick + 1, ...base };
  }
  return { kind: s.kind, state: !current, ...base };
}
