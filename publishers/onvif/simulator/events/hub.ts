/**
 * The camera's event source: current property states, known topics, and fan-out to subscribers.
 */
import type { CameraEvent } from '../types.js';
import type { PullPointManager } from './pullpoints.js';
import {
  BUILTIN_TOPICS,
  describe,
  powerOnStates,
  propertyKey,
  toNotification,
  type Notification,
  type TopicContext,
  type TopicDescription,
} from './topics.js';

export class EventHub {
  private readonly states = new Map<string, Notification>();
  private readonly custom = new Map<string, TopicDescription>();

  constructor(
    private readonly ctx: TopicContext,
    private readonly pullPoints: PullPointManager,
  ) {
    this.reset();
  }

  /** Back to power-on states (after a reboot); custom properties are forgotten. */
  reset(): void {
    this.states.clear();
    for (const n of powerOnStates(this.ctx)) this.states.set(propertyKey(n), n);
  }

  /** Raises an event: properties update their state (unchanged values are not re-sent). */
  raise(ev: CameraEvent): void {
    const n = toNotification(ev, this.ctx);
    if (ev.kind === 'custom' && !this.custom.has(n.topic)) this.custom.set(n.topic, describe(n));
    if (!n.property) {
      this.pullPoints.publish(n);
      return;
    }
    const key = propertyKey(n);
    const prev = this.states.get(key);
    const operation = n.operation ?? 'Changed';
    if (operation === 'Deleted') this.states.delete(key);
    else {
      // A property whose value did not change produces no Changed message, as ONVIF specifies.
      if (operation === 'Changed' && prev && sameData(prev, n)) return;
      this.states.set(key, { ...n, operation: 'Initialized' });
    }
    this.pullPoints.publish({ ...n, operation });
  }

  /** Every current property state as Initialized, for a new subscription or a synchronization point. */
  initialized(): Notification[] {
    const now = this.ctx.now();
    return [...this.states.values()].map((n) => ({ ...n, operation: 'Initialized' as const, utcTime: now }));
  }

  /** Current boolean state of a property, found by topic and the values among its Source items. */
  stateOf(topic: string, sourceValues: readonly string[], dataName: string): boolean {
    for (const n of this.states.values()) {
      if (n.topic === topic && sourceValues.every((want) => n.source.some(([, v]) => v === want))) {
        const item = n.data.find(([k]) => k === dataName);
        if (item) return item[1] === true;
      }
    }
    return false;
  }

  topics(): TopicDescription[] {
    return [...BUILTIN_TOPICS, ...this.custom.values()];
  }

  get context(): TopicContext {
    return this.ctx;
  }
}

function sameData(a: Notification, b: Notification): boolean {
  return a.data.length === b.data.length && a.data.every(([k, v], i) => b.data[i]?.[0] === k && b.data[i]?.[1] === v);
}
