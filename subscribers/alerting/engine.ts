/**
 * One rule's decision logic, bus- and sink-free, driven by a Clock: dedupe of repeated states,
 * conditions, time windows, per-camera cooldown, and the storm limiter with its summary.
 *
 * Order per message: dedupe (on every message of the rule's topic, before the conditions, so
 * that true → false → true alerts twice but true → true once) → camera events that report an end
 * (`ended: true`) or a late replay (`late: true`) raise no live alarm, unless the rule's
 * conditions name `ended` / `late` themselves → conditions → time window →
 * cooldown (suppressed matches are counted in the next alert's `suppressed`) → storm limit
 * (at most maxAlerts per window per rule and camera; the rest become one summary alert at the
 * end of the window: "37 more motion alerts for cam-03 suppressed in the last minute").
 */
import type { Alert } from '../../schemas/payloads.js';
import { isValidToken, parseTopic } from '../../schemas/topics.js';
import type { Clock, TimerHandle } from '../common/clock.js';
import { getPath, render, toText } from '../common/template.js';
import { allHold } from './conditions.js';
import { DEFAULT_STORM, type Rule, type Storm } from './config.js';
import { inAnyWindow } from './time-window.js';

export type Outcome = 'sent' | 'deduped' | 'ended' | 'late' | 'no-match' | 'outside-window' | 'cooldown' | 'storm';

export type Emitted = { alert: Alert; summary: boolean; payload: unknown };

type CameraState = {
  dedupe?: string;
  lastSent?: number;
  /** Matches suppressed by the cooldown since the last alert. */
  suppressed: number;
  storm?: { start: number; sent: number; suppressed: number; topic: string; timer?: TimerHandle | undefined } | undefined;
};

export type EngineContext = {
  clock: Clock;
  timezone?: string | undefined;
  storm?: Storm | undefined;
  emit(e: Emitted): void;
};

export class RuleEngine {
  private readonly cameras = new Map<string, CameraState>();
  private readonly storm: Storm;

  constructor(
    readonly rule: Rule,
    private readonly ctx: EngineContext,
  ) {
    this.storm = rule.storm ?? ctx.storm ?? DEFAULT_STORM;
  }

  handle(topic: string, payload: unknown): Outcome {
    const now = this.ctx.clock.now();
    const cameraId = cameraOf(topic, payload);
    const key = cameraId ?? '';
    let st = this.cameras.get(key);
    if (st === undefined) {
      st = { suppressed: 0 };
      this.cameras.set(key, st);
    }
    if (this.rule.dedupe !== undefined) {
      const value = JSON.stringify(this.rule.dedupe.map((p) => getPath(payload, p) ?? null));
      const repeated = st.dedupe === value;
      st.dedupe = value;
      if (repeated) return 'deduped';
    }
    const p = payload as { ended?: unknown; late?: unknown } | undefined;
    if (p?.ended === true && !this.names('ended')) return 'ended';
    if (p?.late === true && !this.names('late')) return 'late';
    if (!allHold(this.rule.when, payload)) return 'no-match';
    if (!inAnyWindow(this.rule.windows, now, this.ctx.timezone)) return 'outside-window';
    const cooldown = this.rule.cooldownMs ?? 0;
    if (st.lastSent !== undefined && now - st.lastSent < cooldown) {
      st.suppressed++;
      return 'cooldown';
    }
    if (!this.admit(st, key, cameraId, topic, now)) return 'storm';
    st.lastSent = now;
    const alert = this.alert(topic, payload, cameraId, now, 1, st.suppressed);
    st.suppressed = 0;
    this.ctx.emit({ alert, summary: false, payload });
    return 'sent';
  }

  /** The rule's conditions look at this top-level payload field (it opted in to such events). */
  private names(field: string): boolean {
    return this.rule.when?.some((c) => c.path === field) ?? false;
  }

  /** Emit pending storm summaries now and cancel timers. */
  flush(): void {
    for (const [key, st] of this.cameras) {
      if (st.storm !== undefined) {
        this.ctx.clock.clearTimeout(st.storm.timer);
        this.summarise(st, key === '' ? undefined : key);
      }
    }
  }

  private admit(st: CameraState, key: string, cameraId: string | undefined, topic: string, now: number): boolean {
    let s = st.storm;
    if (s === undefined || now - s.start >= this.storm.windowMs) {
      if (s !== undefined) this.summarise(st, cameraId); // the timer is due at this instant
      s = { start: now, sent: 0, suppressed: 0, topic };
      st.storm = s;
    }
    if (s.sent < this.storm.maxAlerts) {
      s.sent++;
      return true;
    }
    s.suppressed++;
    s.topic = topic;
    if (s.timer === undefined) {
      const window = s;
      s.timer = this.ctx.clock.setTimeout(() => {
        if (st.storm === window) this.summarise(st, key === '' ? undefined : key);
      }, s.start + this.storm.windowMs - now);
    }
    return false;
  }

  private summarise(st: CameraState, cameraId: string | undefined): void {
    const s = st.storm;
    st.storm = undefined;
    if (s === undefined || s.suppressed === 0) return;
    this.ctx.clock.clearTimeout(s.timer);
    const n = s.suppressed;
    const message = `${n} more ${this.rule.id} alert${n === 1 ? '' : 's'}${cameraId === undefined ? '' : ` for ${cameraId}`} suppressed in the last ${describeSpan(this.storm.windowMs)}`;
    const alert: Alert = { ...this.base(s.topic, cameraId, this.ctx.clock.now()), message, count: n, suppressed: n };
    // The next window starts fresh: what was summarised is not counted again.
    this.ctx.emit({ alert, summary: true, payload: undefined });
  }

  private base(topic: string, cameraId: string | undefined, now: number): Omit<Alert, 'message'> {
    return {
      v: 1,
      ruleId: this.rule.id,
      ...(cameraId === undefined ? {} : { cameraId }),
      topic,
      severity: this.rule.severity ?? 'warning',
      time: new Date(now).toISOString(),
    };
  }

  private alert(topic: string, payload: unknown, cameraId: string | undefined, now: number, count: number, suppressed: number): Alert {
    const base = this.base(topic, cameraId, now);
    const fields: Record<string, string | undefined> = {
      ruleId: base.ruleId,
      cameraId,
      topic,
      severity: base.severity,
      time: base.time,
      count: String(count),
      suppressed: String(suppressed),
    };
    const lookup = (name: string) => (name.startsWith('payload.') ? toText(getPath(payload, name.slice(8))) : fields[name]);
    const message = render(this.rule.message ?? '{ruleId}: {topic}', lookup) || `${this.rule.id}: ${topic}`;
    const alert: Alert = { ...base, message, count, suppressed };
    if (this.rule.includeEvent !== false && payload !== undefined) alert.event = payload;
    return alert;
  }
}

/** The camera a message is about: the payload's cameraId, else the id in a camera topic. */
export function cameraOf(topic: string, payload: unknown): string | undefined {
  const fromPayload = (payload as { cameraId?: unknown } | undefined)?.cameraId;
  if (typeof fromPayload === 'string' && fromPayload.length <= 64 && isValidToken(fromPayload)) return fromPayload;
  const info = parseTopic(topic);
  return info !== undefined && 'cameraId' in info ? info.cameraId : undefined;
}

/** 60000 → "minute", 30000 → "30 seconds", 7200000 → "2 hours". */
export function describeSpan(ms: number): string {
  const units: Array<[number, string]> = [
    [3_600_000, 'hour'],
    [60_000, 'minute'],
    [1_000, 'second'],
  ];
  for (const [size, name] of units) {
    if (ms % size === 0 && ms >= size) {
      const n = ms / size;
      return n === 1 ? name : `${n} ${name}s`;
    }
  }
  return `${ms} ms`;
}
