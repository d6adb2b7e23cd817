/**
 * A Frigate-compatible topic layout (https://docs.frigate.video/integrations/mqtt/) for tools that
 * already speak it: `<fp>/available` (online/offline), `<fp>/<camera>/motion` (ON/OFF),
 * `<fp>/<camera>/<label>` (object count: 1 on detection, 0 after `clearMs` without one), and
 * `<fp>/events` ({type: "new", before, after} per object event). Camera names are the cameraIds.
 */
import type { MqttClient } from 'mqtt';
import type { Subscription } from 'rxjs';
import type { Client } from 'udsbus';

export function startFrigate(o: { bus: Client; mq: MqttClient; prefix: string; clearMs: number }): { stop(): void; online(): void; offline(): Promise<void> } {
  const subs: Subscription[] = [];
  const timers = new Map<string, NodeJS.Timeout>();
  const pub = (t: string, p: string, retain = false) => o.mq.publish(t, p, { qos: 1, retain });
  let seq = 0;
  subs.push(
    o.bus.subscribe('camera.event.*.*', { retained: false }).subscribe((m) => {
      const [, , cam, kind] = m.topic.split('.');
      if (cam === undefined || kind === undefined) return;
      const p = (m.payload ?? {}) as { active?: unknown; classes?: unknown; objectId?: unknown; time?: unknown };
      if (kind === 'motion' && typeof p.active === 'boolean') pub(`${o.prefix}/${cam}/motion`, p.active ? 'ON' : 'OFF', true);
      if (kind !== 'object' || !Array.isArray(p.classes)) return;
      for (const label of p.classes.filter((c): c is string => typeof c === 'string')) {
        const key = `${cam}/${label}`;
        pub(`${o.prefix}/${key}`, '1', true);
        clearTimeout(timers.get(key));
        timers.set(key, setTimeout(() => (timers.delete(key), pub(`${o.prefix}/${key}`, '0', true)), o.clearMs));
        const t = typeof p.time === 'string' ? Date.parse(p.time) / 1000 : Date.now() / 1000;
        const after = { id: typeof p.objectId === 'string' ? p.objectId : `${Math.floor(t)}.${++seq}-${cam}`, camera: cam, label, start_time: t, end_time: null, has_snapshot: false, has_clip: false };
        pub(`${o.prefix}/events`, JSON.stringify({ type: 'new', before: after, after }));
      }
    }),
  );
  return {
    online: () => pub(`${o.prefix}/available`, 'online', true),
    offline: () => new Promise<void>((r) => o.mq.publish(`${o.prefix}/available`, 'offline', { qos: 1, retain: true }, () => r())),
    stop: () => {
      subs.forEach((s) => s.unsubscribe());
      timers.forEach((t) => clearTimeout(t));
    },
  };
}
