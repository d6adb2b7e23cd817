/**
 * What the page shows, folded from bus messages: cameras, the event timeline with the alerts the
 * events caused, recording sessions and their clips, topics with rates, clients, broker stats,
 * durables, ACL denials and audit status. It knows nothing of HTTP: each change is a small
 * `Delta` handed to `onDelta`, and `snapshot()` is the whole state for a page that just opened.
 *
 * Everything is bounded (rings for events, alerts, denials; a cap on tracked topics), so a busy or
 * hostile bus cannot grow the dashboard's memory without limit.
 */
import type { Message } from 'udsbus';
import { toJsonSafe } from '../common/json-safe.js';

export type CameraRow = {
  cameraId: string;
  name?: string;
  manufacturer?: string;
  model?: string;
  address?: string;
  discoveredBy?: string;
  ptz: boolean;
  /** online | offline | error | unknown (no status seen yet). */
  state: string;
  reason?: string;
  since?: string;
  lostAt?: string;
  lastEvent?: { kind: string; time: string; active?: boolean };
  events: number;
  /**
   * The latest snapshot the publisher attached to one of this camera's events (its `snapshot`
   * reference). The file's path stays on the server: the page asks for `/snapshots/<cameraId>`.
   */
  snapshot?: SnapshotRow;
};

export type SnapshotRow = { time: string; size: number; sha256: string };

export type EventRow = {
  id: number;
  topic: string;
  cameraId: string;
  kind: string;
  time: string;
  /** When the dashboard received it (ms since epoch). */
  at: number;
  active?: boolean;
  initial?: boolean;
  detail?: string;
  alerts: number[];
};

export type AlertRow = { id: number; ruleId: string; cameraId?: string; topic?: string; severity: string; message: string; time: string; eventId?: number };

export type ClipRow = { file: string; durationMs?: number; bytes?: number; sha256?: string };

export type SessionRow = {
  sessionId: string;
  cameraId: string;
  start?: string;
  end?: string;
  reason?: string;
  clip?: ClipRow;
};

export type TopicRow = { topic: string; count: number; rate: number; spark: number[]; retained: boolean; last: string; lastAt: number };

export type Delta =
  | { t: 'camera'; camera: CameraRow }
  | { t: 'camera-removed'; cameraId: string }
  | { t: 'event'; event: EventRow }
  | { t: 'alert'; alert: AlertRow }
  | { t: 'session'; session: SessionRow }
  | { t: 'topics'; topics: TopicRow[]; tracked: number }
  | { t: 'clients'; clients: unknown; error?: string }
  | { t: 'stats'; stats: unknown; error?: string }
  | { t: 'durables'; durables: unknown; error?: string }
  | { t: 'denied'; denial: unknown }
  | { t: 'conn'; entry: unknown }
  | { t: 'audit'; audit: unknown }
  | { t: 'self-loss'; lost: Record<string, number> };

export type ModelOptions = { eventsKept?: number | undefined; maxTopics?: number | undefined; onDelta?: (d: Delta) => void; now?: () => number };

const SPARK_SECONDS = 60;
const RING = 100;

class Ring<T> {
  readonly items: T[] = [];
  constructor(private readonly max: number) {}
  push(x: T): void {
    this.items.push(x);
    if (this.items.length > this.max) this.items.splice(0, this.items.length - this.max);
  }
}

type TopicState = { topic: string; count: number; buckets: number[]; bucketSec: number; retained: boolean; last: string; lastAt: number };

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const num = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const obj = (v: unknown): Record<string, unknown> => (v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Uint8Array) ? (v as Record<string, unknown>) : {});

/** A short JSON rendering of a payload for tables and the tap. */
export function preview(payload: unknown, max = 200): string {
  if (payload === undefined) return '(cleared)';
  let s: string;
  try {
    s = JSON.stringify(toJsonSafe(payload));
  } catch {
    s = String(payload);
  }
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/**
 * Clip fields from an index record or a `recording.clip.<cameraId>` payload. The recording
 * subscriber's clip format is still being written (issue 19), so this reads what is there:
 * `path` or `file`, and `durationMs`/`duration` (s), `bytes`/`size`, `sha256` when present.
 */
export function clipFrom(r: Record<string, unknown>): ClipRow | undefined {
  const nested = obj(r['clip']);
  const src = Object.keys(nested).length > 0 ? nested : r;
  const file = str(src['path']) ?? str(src['file']);
  if (file === undefined) return undefined;
  const clip: ClipRow = { file };
  const ms = num(src['durationMs']) ?? (num(src['duration']) === undefined ? undefined : num(src['duration'])! * 1000);
  if (ms !== undefined) clip.durationMs = ms;
  const bytes = num(src['bytes']) ?? num(src['size']);
  if (bytes !== undefined) clip.bytes = bytes;
  const sha = str(src['sha256']);
  if (sha !== undefined) clip.sha256 = sha;
  return clip;
}

export class DashboardModel {
  readonly cameras = new Map<string, CameraRow>();
  private readonly events: Ring<EventRow>;
  private readonly alerts = new Ring<AlertRow>(RING);
  private readonly denials = new Ring<unknown>(RING);
  private readonly connLog = new Ring<unknown>(RING);
  readonly sessions = new Map<string, SessionRow>();
  private readonly topics = new Map<string, TopicState>();
  private lastByTopic = new Map<string, EventRow>();
  /** cameraId → the path of its latest snapshot, as the event said (confined when served). */
  private readonly snapshotFiles = new Map<string, string>();
  /** Snapshots found in the spool at startup, for cameras whose row does not exist yet. */
  private readonly seeded = new Map<string, SnapshotRow>();
  private clients: { clients: unknown; error?: string } = { clients: [] };
  private stats: { stats: unknown; error?: string } = { stats: null };
  private durables: { durables: unknown; error?: string } = { durables: null };
  private audit: unknown = null;
  /** Messages the broker dropped for the dashboard's own connection, by subscription pattern. */
  private selfLost: Record<string, number> = {};
  private seq = 0;
  private readonly maxTopics: number;
  private readonly now: () => number;
  onDelta: (d: Delta) => void;

  constructor(opts: ModelOptions = {}) {
    this.events = new Ring(opts.eventsKept ?? 1000);
    this.maxTopics = opts.maxTopics ?? 2000;
    this.now = opts.now ?? Date.now;
    this.onDelta = opts.onDelta ?? (() => undefined);
  }

  /** The whole state, for a page that just connected. */
  snapshot(): Record<string, unknown> {
    return {
      cameras: [...this.cameras.values()],
      events: this.events.items,
      alerts: this.alerts.items,
      sessions: [...this.sessions.values()],
      topics: this.topicRows(),
      tracked: this.topics.size,
      clients: this.clients,
      stats: this.stats,
      durables: this.durables,
      denials: this.denials.items,
      connLog: this.connLog.items,
      audit: this.audit,
      selfLost: this.selfLost,
    };
  }

  private camera(id: string): CameraRow {
    let c = this.cameras.get(id);
    if (c === undefined) {
      c = { cameraId: id, ptz: false, state: 'unknown', events: 0 };
      const seeded = this.seeded.get(id);
      if (seeded !== undefined) {
        c.snapshot = seeded;
        this.seeded.delete(id);
      }
      this.cameras.set(id, c);
    }
    return c;
  }

  /** Every message of the `>` subscription: topic counters and the retained/last value. */
  countTopic(m: Message): void {
    const sec = Math.floor(this.now() / 1000);
    // Every request makes a reply topic of its own; one row for all of them, not one each.
    const topic = m.topic.startsWith('_INBOX.') ? '_INBOX.>' : m.topic;
    let t = this.topics.get(topic);
    if (t === undefined) {
      if (this.topics.size >= this.maxTopics) {
        // Forget the topic heard from least recently; Map order is insertion, so look for it.
        let oldest: TopicState | undefined;
        for (const x of this.topics.values()) if (oldest === undefined || x.lastAt < oldest.lastAt) oldest = x;
        if (oldest !== undefined) this.topics.delete(oldest.topic);
      }
      t = { topic, count: 0, buckets: new Array<number>(SPARK_SECONDS).fill(0), bucketSec: sec, retained: false, last: '', lastAt: 0 };
      this.topics.set(topic, t);
    }
    this.roll(t, sec);
    if (!m.retained) {
      t.count++;
      t.buckets[SPARK_SECONDS - 1]!++;
    }
    // A live delivery does not say whether it was retained; a replay does, and an empty payload clears.
    if (m.retained) t.retained = m.payload !== undefined;
    else if (m.payload === undefined) t.retained = false;
    t.last = preview(m.payload);
    t.lastAt = this.now();
  }

  private roll(t: TopicState, sec: number): void {
    const shift = sec - t.bucketSec;
    if (shift <= 0) return;
    if (shift >= SPARK_SECONDS) t.buckets.fill(0);
    else {
      t.buckets.splice(0, shift);
      for (let i = 0; i < shift; i++) t.buckets.push(0);
    }
    t.bucketSec = sec;
  }

  /** Topics by recent activity, at most `limit` rows; rate is messages/s over the last 10 s. */
  topicRows(limit = 300): TopicRow[] {
    const sec = Math.floor(this.now() / 1000);
    const rows: TopicRow[] = [];
    for (const t of this.topics.values()) {
      this.roll(t, sec);
      const recent = t.buckets.slice(-11, -1).reduce((a, b) => a + b, 0);
      rows.push({ topic: t.topic, count: t.count, rate: recent / 10, spark: [...t.buckets], retained: t.retained, last: t.last, lastAt: t.lastAt });
    }
    rows.sort((a, b) => b.lastAt - a.lastAt || (a.topic < b.topic ? -1 : 1));
    return rows.slice(0, limit);
  }

  emitTopics(): void {
    this.onDelta({ t: 'topics', topics: this.topicRows(), tracked: this.topics.size });
  }

  /** camera.discovered.*, camera.status.*, camera.lost.* */
  cameraMessage(m: Message): void {
    const [, what, id] = m.topic.split('.');
    if (id === undefined) return;
    const p = obj(m.payload);
    if (what === 'discovered') {
      if (m.payload === undefined) {
        // The retained discovery was cleared: the camera is gone unless a status still speaks of it.
        const c = this.cameras.get(id);
        if (c !== undefined && c.state === 'unknown') {
          this.cameras.delete(id);
          this.snapshotFiles.delete(id);
          this.onDelta({ t: 'camera-removed', cameraId: id });
        }
        return;
      }
      const c = this.camera(id);
      const name = str(p['name']);
      if (name !== undefined) c.name = name;
      for (const k of ['manufacturer', 'model', 'discoveredBy'] as const) {
        const v = str(p[k]);
        if (v !== undefined) c[k] = v;
      }
      const a = obj(p['address']);
      if (str(a['host']) !== undefined) c.address = `${String(a['host'])}:${String(a['port'] ?? '')}`;
      c.ptz = Array.isArray(p['profiles']) && p['profiles'].some((x) => obj(x)['ptz'] === true);
      delete c.lostAt;
      this.onDelta({ t: 'camera', camera: c });
    } else if (what === 'status') {
      const c = this.camera(id);
      if (m.payload === undefined) {
        c.state = 'unknown';
        delete c.reason;
      } else {
        c.state = str(p['state']) ?? 'unknown';
        const reason = str(p['reason']) ?? str(p['code']);
        if (reason === undefined) delete c.reason;
        else c.reason = reason;
        const since = str(p['since']);
        if (since !== undefined) c.since = since;
      }
      this.onDelta({ t: 'camera', camera: c });
    } else if (what === 'lost') {
      const c = this.camera(id);
      c.lostAt = str(p['time']) ?? new Date(this.now()).toISOString();
      this.onDelta({ t: 'camera', camera: c });
    }
  }

  /** camera.event.<cameraId>.<kind> */
  cameraEvent(m: Message): void {
    const [, , id, kind] = m.topic.split('.');
    if (id === undefined || kind === undefined || m.payload === undefined) return;
    const p = obj(m.payload);
    const e: EventRow = { id: ++this.seq, topic: m.topic, cameraId: id, kind, time: str(p['time']) ?? new Date(this.now()).toISOString(), at: this.now(), alerts: [] };
    const active = typeof p['active'] === 'boolean' ? p['active'] : typeof p['inside'] === 'boolean' ? p['inside'] : undefined;
    if (active !== undefined) e.active = active;
    if (p['initial'] === true) e.initial = true;
    const detail = [str(p['rule']), str(p['input']), Array.isArray(p['classes']) ? p['classes'].join(',') : undefined].filter((x) => x !== undefined).join(' ');
    if (detail !== '') e.detail = detail;
    this.events.push(e);
    this.lastByTopic.set(m.topic, e);
    if (this.lastByTopic.size > 4 * RING) this.lastByTopic = new Map([...this.lastByTopic].slice(-2 * RING));
    const c = this.camera(id);
    c.events++;
    c.lastEvent = { kind, time: e.time, ...(active === undefined ? {} : { active }) };
    const snap = obj(p['snapshot']);
    const path = str(snap['path']);
    const sha256 = str(snap['sha256']);
    if (path !== undefined && path !== '' && sha256 !== undefined && /^[0-9a-f]{64}$/.test(sha256)) {
      c.snapshot = { time: e.time, size: num(snap['size']) ?? 0, sha256 };
      this.seeded.delete(id);
      this.snapshotFiles.set(id, path);
    }
    this.onDelta({ t: 'event', event: e });
    this.onDelta({ t: 'camera', camera: c });
  }

  /**
   * A snapshot found in the publisher's spool (at startup): shown on the camera's card until one
   * of its events brings a newer one. Never replaces a snapshot an event already brought.
   */
  seedSnapshot(cameraId: string, row: SnapshotRow, path: string): void {
    const c = this.cameras.get(cameraId);
    if (c?.snapshot !== undefined) return;
    this.snapshotFiles.set(cameraId, path);
    if (c === undefined) {
      this.seeded.set(cameraId, row);
      return;
    }
    c.snapshot = row;
    this.onDelta({ t: 'camera', camera: c });
  }

  /** Where the latest snapshot of a camera is, as its event said; undefined when none was seen. */
  snapshotFile(cameraId: string): string | undefined {
    return this.snapshotFiles.get(cameraId);
  }

  /** alert.<ruleId>: linked to the latest event on the topic that triggered it. */
  alert(m: Message): void {
    if (m.payload === undefined) return;
    const p = obj(m.payload);
    const a: AlertRow = {
      id: ++this.seq,
      ruleId: str(p['ruleId']) ?? m.topic.slice('alert.'.length),
      severity: str(p['severity']) ?? 'info',
      message: str(p['message']) ?? preview(m.payload),
      time: str(p['time']) ?? new Date(this.now()).toISOString(),
    };
    const cam = str(p['cameraId']);
    if (cam !== undefined) a.cameraId = cam;
    const topic = str(p['topic']);
    if (topic !== undefined) {
      a.topic = topic;
      const e = this.lastByTopic.get(topic);
      if (e !== undefined) {
        a.eventId = e.id;
        e.alerts.push(a.id);
      }
    }
    this.alerts.push(a);
    this.onDelta({ t: 'alert', alert: a });
  }

  /** recording.started|stopped|clip.<cameraId> */
  recording(m: Message): void {
    if (m.payload === undefined) return;
    const [, what, cameraId] = m.topic.split('.');
    const p = obj(m.payload);
    const id = str(p['sessionId']);
    if (id === undefined || cameraId === undefined) return;
    const s = this.sessions.get(id) ?? { sessionId: id, cameraId };
    const start = str(p['start']);
    if (start !== undefined) s.start = start;
    if (what === 'stopped') {
      const end = str(p['end']);
      if (end !== undefined) s.end = end;
      s.reason = m.hdr?.['detail'] ?? str(p['reason']) ?? 'stopped';
    }
    if (what === 'clip') {
      const clip = clipFrom(p);
      if (clip !== undefined) s.clip = clip;
    }
    this.putSession(s);
  }

  /** A session as read from the index, merged over what the bus said. */
  putSession(s: SessionRow): void {
    const old = this.sessions.get(s.sessionId);
    if (old !== undefined && JSON.stringify(old) === JSON.stringify(s) && old !== s) return;
    this.sessions.set(s.sessionId, s);
    if (this.sessions.size > 2000) {
      const first = this.sessions.keys().next().value;
      if (first !== undefined) this.sessions.delete(first);
    }
    this.onDelta({ t: 'session', session: s });
  }

  setClients(clients: unknown, error?: string): void {
    this.clients = error === undefined ? { clients } : { clients, error };
    this.onDelta({ t: 'clients', ...this.clients });
  }

  setStats(stats: unknown, error?: string): void {
    this.stats = error === undefined ? { stats } : { stats, error };
    this.onDelta({ t: 'stats', ...this.stats });
  }

  setDurables(durables: unknown, error?: string): void {
    this.durables = error === undefined ? { durables } : { durables, error };
    this.onDelta({ t: 'durables', ...this.durables });
  }

  /** A loss notice on the dashboard's connection: what the page shows is missing messages. */
  selfLoss(pattern: string, lost: number): void {
    this.selfLost = { ...this.selfLost, [pattern]: (this.selfLost[pattern] ?? 0) + lost };
    this.onDelta({ t: 'self-loss', lost: this.selfLost });
  }

  setAudit(audit: unknown): void {
    this.audit = audit;
    this.onDelta({ t: 'audit', audit });
  }

  /** $SYS.acl.denied and $SYS.client.* */
  sysMessage(m: Message): void {
    const entry = { topic: m.topic, ...obj(toJsonSafe(m.payload)) };
    if (m.topic === '$SYS.acl.denied') {
      this.denials.push(entry);
      this.onDelta({ t: 'denied', denial: entry });
    } else if (m.topic.startsWith('$SYS.client.')) {
      this.connLog.push(entry);
      this.onDelta({ t: 'conn', entry });
    } else if (m.topic === '$SYS.broker.stats') {
      this.setStats(toJsonSafe(m.payload));
    }
  }
}
