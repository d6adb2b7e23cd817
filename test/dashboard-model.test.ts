/**
 * The dashboard's state without HTTP: bounds (events ring, topic cap), topic rates and the
 * `_INBOX` fold, cameras from discovered/status/clear, alerts linked to the event that caused
 * them, the tolerant session-index reader and clip fields, and the audit panel against a real
 * audit log written by the audit subscriber on a real broker.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Message } from '../bus/client/client.js';
import { startAudit } from '../subscribers/audit/index.js';
import { createLogger } from '../subscribers/common/logger.js';
import { IndexTail, readIndexSessions } from '../subscribers/dashboard/clips.js';
import { startDashboard } from '../subscribers/dashboard/index.js';
import { clipFrom, DashboardModel, type Delta } from '../subscribers/dashboard/model.js';
import { startTestBus, tempDir } from './helpers/harness.js';

const msg = (topic: string, payload: unknown, extra: Partial<Message> = {}): Message =>
  ({ topic, payload, bytes: new Uint8Array(), sid: 1, seq: 1, retained: false, reply: undefined, hdr: undefined, lost: 0, from: undefined, mid: undefined, redelivered: false, ...extra }) as Message;

describe('DashboardModel', () => {
  it('keeps at most eventsKept events and counts per camera', () => {
    const m = new DashboardModel({ eventsKept: 10 });
    for (let i = 0; i < 25; i++) m.cameraEvent(msg('camera.event.cam-01.motion', { active: i % 2 === 0, time: `2026-01-01T00:00:${String(i).padStart(2, '0')}Z` }));
    const snap = m.snapshot() as { events: Array<{ id: number }>; cameras: Array<{ events: number; lastEvent: { active: boolean } }> };
    expect(snap.events).toHaveLength(10);
    expect(snap.events[9]!.id).toBe(25);
    expect(snap.cameras[0]!.events).toBe(25);
    expect(snap.cameras[0]!.lastEvent.active).toBe(true);
  });

  it("keeps a camera's latest snapshot reference (not its path) and ignores malformed ones", () => {
    const deltas: Delta[] = [];
    const m = new DashboardModel({ onDelta: (d) => deltas.push(d) });
    const sha = (c: string) => c.repeat(64);
    m.seedSnapshot('cam-01', { time: '2026-01-01T00:00:00.000Z', size: 5, sha256: sha('0') }, '/spool/old.jpg');
    expect(deltas).toEqual([]); // no row yet: it waits for the camera
    m.cameraEvent(msg('camera.event.cam-01.motion', { active: true, time: '2026-01-01T00:00:01Z', snapshot: { path: '/spool/a.jpg', size: 10, sha256: sha('a') } }));
    expect(m.cameras.get('cam-01')?.snapshot).toEqual({ time: '2026-01-01T00:00:01Z', size: 10, sha256: sha('a') });
    expect(m.snapshotFile('cam-01')).toBe('/spool/a.jpg');
    expect(JSON.stringify(m.snapshot())).not.toContain('/spool/');
    // A spool file found later does not replace what an event brought.
    m.seedSnapshot('cam-01', { time: '2026-01-01T00:00:00.000Z', size: 5, sha256: sha('0') }, '/spool/old.jpg');
    expect(m.snapshotFile('cam-01')).toBe('/spool/a.jpg');
    for (const bad of [{ path: '/spool/b.jpg', size: 1, sha256: 'nothex' }, { size: 1, sha256: sha('b') }, { path: '', sha256: sha('b') }, 'x']) {
      m.cameraEvent(msg('camera.event.cam-01.motion', { active: false, snapshot: bad }));
    }
    expect(m.cameras.get('cam-01')?.snapshot?.sha256).toBe(sha('a'));
    expect(m.snapshotFile('cam-01')).toBe('/spool/a.jpg');
    // The camera goes away with its snapshot.
    m.cameraMessage(msg('camera.discovered.cam-01', undefined));
    expect(m.snapshotFile('cam-01')).toBeUndefined();
  });

  it('rates over 10 s, a 60 s sparkline, one row for all _INBOX replies, and a cap on topics', () => {
    let now = 1_000_000_000_000;
    const m = new DashboardModel({ maxTopics: 5, now: () => now });
    for (let s = 0; s < 10; s++) {
      for (let k = 0; k < 3; k++) m.countTopic(msg('a.b', { k }));
      now += 1000;
    }
    m.countTopic(msg('_INBOX.x1.1', {}));
    m.countTopic(msg('_INBOX.x2.7', {}));
    const rows = m.topicRows();
    const ab = rows.find((r) => r.topic === 'a.b')!;
    expect(ab.count).toBe(30);
    expect(ab.rate).toBe(3);
    expect(ab.spark).toHaveLength(60);
    expect(rows.filter((r) => r.topic.startsWith('_INBOX'))).toEqual([expect.objectContaining({ topic: '_INBOX.>', count: 2 })]);
    for (let i = 0; i < 10; i++) {
      now += 1;
      m.countTopic(msg(`t.${i}`, i));
    }
    expect(m.topicRows().map((r) => r.topic).sort()).toEqual(['t.5', 't.6', 't.7', 't.8', 't.9']);
  });

  it('marks retained values from replays and clears them on an empty payload', () => {
    const m = new DashboardModel();
    m.countTopic(msg('camera.status.c1', { state: 'online' }, { retained: true }));
    expect(m.topicRows()[0]!.retained).toBe(true);
    m.countTopic(msg('camera.status.c1', { state: 'offline' }));
    expect(m.topicRows()[0]!.retained).toBe(true);
    m.countTopic(msg('camera.status.c1', undefined));
    expect(m.topicRows()[0]).toMatchObject({ retained: false, last: '(cleared)' });
  });

  it('folds discovered and status into one camera, and forgets a camera whose discovery is cleared', () => {
    const deltas: Delta[] = [];
    const m = new DashboardModel({ onDelta: (d) => deltas.push(d) });
    m.cameraMessage(msg('camera.discovered.c1', { name: 'Gate', address: { host: '10.0.0.2', port: 80 }, profiles: [{ token: 'p', name: 'p', ptz: true }] }));
    m.cameraMessage(msg('camera.status.c1', { state: 'error', code: 'unauthorized', since: '2026-01-01T00:00:00Z' }));
    expect(m.cameras.get('c1')).toMatchObject({ name: 'Gate', address: '10.0.0.2:80', ptz: true, state: 'error', reason: 'unauthorized' });
    m.cameraMessage(msg('camera.status.c1', undefined));
    m.cameraMessage(msg('camera.discovered.c1', undefined));
    expect(m.cameras.has('c1')).toBe(false);
    expect(deltas.at(-1)).toEqual({ t: 'camera-removed', cameraId: 'c1' });
  });

  it('links an alert to the latest event on its topic', () => {
    const m = new DashboardModel();
    m.cameraEvent(msg('camera.event.c1.tamper', { active: true }));
    m.cameraEvent(msg('camera.event.c1.tamper', { active: false }));
    m.alert(msg('alert.tamper', { ruleId: 'tamper', topic: 'camera.event.c1.tamper', severity: 'critical', message: 'x', time: '2026-01-01T00:00:00Z' }));
    const snap = m.snapshot() as { events: Array<{ id: number; alerts: number[] }>; alerts: Array<{ id: number; eventId: number }> };
    expect(snap.alerts[0]!.eventId).toBe(snap.events[1]!.id);
    expect(snap.events[1]!.alerts).toEqual([snap.alerts[0]!.id]);
    expect(snap.events[0]!.alerts).toEqual([]);
  });

  it('reads clip fields in the shapes a recorder may write', () => {
    expect(clipFrom({ file: '/r/a.mkv' })).toEqual({ file: '/r/a.mkv' });
    expect(clipFrom({ path: 'a.mp4', durationMs: 5000, bytes: 10, sha256: 'ff' })).toEqual({ file: 'a.mp4', durationMs: 5000, bytes: 10, sha256: 'ff' });
    expect(clipFrom({ clip: { path: 'b.mp4', duration: 2.5, size: 7 } })).toEqual({ file: 'b.mp4', durationMs: 2500, bytes: 7 });
    expect(clipFrom({ sessionId: 's' })).toBeUndefined();
  });

  it('reads a session index line by line, skipping what it cannot use', () => {
    const { dir, cleanup } = tempDir();
    try {
      const f = join(dir, 'sessions.jsonl');
      writeFileSync(f, '');
      const add = (o: object | string) => appendFileSync(f, `${typeof o === 'string' ? o : JSON.stringify(o)}\n`);
      add({ type: 'open', at: 'a', sessionId: 's1', cameraId: 'c1', start: '2026-01-01T00:00:00Z', triggers: [] });
      add({ type: 'extend', at: 'b', sessionId: 's1', trigger: {} });
      add({ type: 'recorder', at: 'c', sessionId: 's1', event: 'failed', message: 'no' });
      add({ type: 'clip', at: 'd', sessionId: 's1', path: 'c1/s1.mp4', durationMs: 9000 });
      add({ type: 'close', at: 'e', sessionId: 's1', end: '2026-01-01T00:00:09Z', reason: 'idle', triggerCount: 2 });
      add({ type: 'close', at: 'f', sessionId: 'unknown', end: 'x', reason: 'idle', triggerCount: 0 });
      add('{"type":"open", torn');
      expect(readIndexSessions(f)).toEqual([
        { sessionId: 's1', cameraId: 'c1', start: '2026-01-01T00:00:00Z', end: '2026-01-01T00:00:09Z', reason: 'idle', clip: { file: 'c1/s1.mp4', durationMs: 9000 } },
      ]);
    } finally {
      cleanup();
    }
  });
});

describe('IndexTail', () => {
  it('parses only what was appended, waits for a line to finish, and starts over when the file is replaced', () => {
    const { dir, cleanup } = tempDir();
    try {
      const f = join(dir, 'sessions.jsonl');
      const tail = new IndexTail(f);
      expect(tail.read()).toEqual([]); // no file yet
      const open = JSON.stringify({ type: 'open', at: 'a', sessionId: 's1', cameraId: 'Café-1', start: 'T0', triggers: [] });
      writeFileSync(f, `${open}\n`);
      expect(tail.read()).toEqual([{ sessionId: 's1', cameraId: 'Café-1', start: 'T0' }]);
      expect(tail.read()).toEqual([]); // nothing new
      // A clip line arrives in two writes, split inside a multi-byte character.
      const clip = Buffer.from(`${JSON.stringify({ type: 'clip', at: 'b', sessionId: 's1', path: 'c1/é.mp4' })}\n`);
      const split = clip.indexOf(Buffer.from('é')) + 1;
      appendFileSync(f, clip.subarray(0, split));
      expect(tail.read()).toEqual([]);
      appendFileSync(f, clip.subarray(split));
      expect(tail.read()).toEqual([{ sessionId: 's1', cameraId: 'Café-1', start: 'T0', clip: { file: 'c1/é.mp4' } }]);
      // Replaced by a shorter file: read from the start.
      writeFileSync(f, `${JSON.stringify({ type: 'open', at: 'a', sessionId: 's9', cameraId: 'c9', start: 'T9', triggers: [] })}\n`);
      expect(tail.read().map((s) => s.sessionId)).toEqual(['s9']);
    } finally {
      cleanup();
    }
  });
});

describe('dashboard audit panel', () => {
  it('shows a verified chain and the last checkpoint of a real audit log', async () => {
    const bus = await startTestBus({ statsIntervalMs: 0 });
    const silent = createLogger('test', 'silent');
    try {
      const client = await bus.client({ name: 'audit' });
      const dir = join(bus.dir, 'audit');
      const audit = await startAudit({ client, dir, subscriptions: [{ pattern: 'x.>', durable: false }], logger: silent });
      const pub = await bus.client({ name: 'pub' });
      for (let i = 0; i < 5; i++) pub.publish(`x.${i}`, { i });
      await pub.flush();
      await expect.poll(() => audit.stats().written).toBeGreaterThanOrEqual(5);
      await audit.stop(); // a clean stop writes the final checkpoint
      const dash = await startDashboard({ client: await bus.client({ name: 'dashboard' }), auditDir: dir, logger: silent });
      try {
        const a = (dash.model.snapshot() as { audit: { ok: boolean; records: number; lastHash: string; checkpoint: { hash: string; clean: boolean } } }).audit;
        expect(a.ok).toBe(true);
        expect(a.records).toBeGreaterThanOrEqual(5);
        expect(a.checkpoint.clean).toBe(true);
        expect(a.checkpoint.hash).toBe(a.lastHash);
      } finally {
        await dash.stop();
      }
    } finally {
      await bus.close();
    }
  });
});

describe('dashboard bus panels under access rules', () => {
  it('lists durables with their backlog and shows ACL denials as they happen', async () => {
    const { dir, cleanup } = tempDir();
    const uid = process.getuid?.() ?? 0;
    const acl = join(dir, 'acl');
    writeFileSync(acl, [`allow user ${uid} admin`, `allow user ${uid} subscribe >`, `allow user ${uid} publish allowed.>`, `allow user ${uid} durable q1`, ''].join('\n'));
    const bus = await startTestBus({ statsIntervalMs: 0, aclFile: acl, dataDir: join(dir, 'data') });
    const silent = createLogger('test', 'silent');
    try {
      const consumer = await bus.client({ name: 'consumer' });
      const sub = consumer.subscribe('allowed.>', { durable: 'q1' }).subscribe();
      await consumer.flush();
      sub.unsubscribe();
      await consumer.flush();
      const pub = await bus.client({ name: 'pub' });
      pub.on('error', () => undefined);
      for (let i = 0; i < 3; i++) pub.publish(`allowed.${i}`, { i });
      await pub.flush();
      const dash = await startDashboard({ client: await bus.client({ name: 'dashboard' }), logger: silent, pollMs: 100 });
      try {
        type Snap = { durables: { durables: Array<Record<string, unknown>> | null; error?: string }; denials: Array<Record<string, unknown>> };
        const snap = () => dash.model.snapshot() as Snap;
        await expect.poll(() => snap().durables.durables?.find((d) => d['name'] === 'q1'), { timeout: 3_000 }).toMatchObject({ name: 'q1', pattern: 'allowed.>', connected: false, backlog: 3 });
        pub.publish('forbidden.x', { no: true });
        await expect.poll(() => snap().denials.at(-1), { timeout: 3_000 }).toMatchObject({ action: 'publish', target: 'forbidden.x', name: 'pub' });
      } finally {
        await dash.stop();
      }
    } finally {
      await bus.close();
      cleanup();
    }
  });
});
