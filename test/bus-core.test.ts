import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NoRespondersError, RemoteError, TimeoutError, UdsbusError } from '../bus/index.js';
import { startTestBus, takeN, firstMatching, type TestBus } from './helpers/harness.js';

let bus: TestBus;
beforeEach(async () => {
  bus = await startTestBus();
});
afterEach(async () => {
  await bus.close();
});

describe('publish/subscribe', () => {
  it('delivers to matching subscribers with * and > and not to others', async () => {
    const sub = await bus.client({ name: 'sub' });
    const pub = await bus.client({ name: 'pub' });
    const star = takeN(sub.subscribe('camera.event.*.motion'), 2);
    const gt = takeN(sub.subscribe('camera.>'), 3);
    const other = sub.subscribe('alert.>');
    const others: string[] = [];
    const o = other.subscribe((m) => others.push(m.topic));
    await sub.flush();
    pub.publish<string>('camera.event.cam-01.motion', { active: true });
    pub.publish<string>('camera.event.cam-02.tamper', { active: true });
    pub.publish<string>('camera.event.cam-02.motion', { active: false });
    const s = await star;
    expect(s.map((m) => [m.topic, m.payload])).toEqual([
      ['camera.event.cam-01.motion', { active: true }],
      ['camera.event.cam-02.motion', { active: false }],
    ]);
    expect(s.map((m) => m.seq)).toEqual([1, 2]);
    const g = await gt;
    expect(g.map((m) => m.topic)).toEqual(['camera.event.cam-01.motion', 'camera.event.cam-02.tamper', 'camera.event.cam-02.motion']);
    await pub.flush();
    await sub.flush();
    expect(others).toEqual([]);
    o.unsubscribe();
  });

  it('wildcards in the first position never match $ topics', async () => {
    const c = await bus.client();
    const all: string[] = [];
    const s1 = c.subscribe('>').subscribe((m) => all.push(m.topic));
    const sys = firstMatching(c.subscribe('$SYS.client.connected'), () => true);
    await c.flush();
    await bus.client({ name: 'other' });
    const ev = await sys;
    expect((ev.payload as { name: string }).name).toBe('other');
    await c.flush();
    expect(all.filter((t) => t.startsWith('$'))).toEqual([]);
    s1.unsubscribe();
  });

  it('two subscriptions of one connection each get the message', async () => {
    const c = await bus.client();
    const a = takeN(c.subscribe('x.*'), 1);
    const b = takeN(c.subscribe('x.>'), 1);
    await c.flush();
    c.publish('x.y', 1);
    const [ma, mb] = await Promise.all([a, b]);
    expect(ma[0]!.sid).not.toBe(mb[0]!.sid);
    expect(ma[0]!.payload).toBe(1);
    expect(mb[0]!.payload).toBe(1);
  });

  it('observers of one pattern share one broker subscription; SUB/UNSUB follow the first and last observer', async () => {
    const c = await bus.client();
    const obs = c.subscribe('share.>');
    const seen1: unknown[] = [];
    const seen2: unknown[] = [];
    const s1 = obs.subscribe((m) => seen1.push(m.payload));
    const s2 = obs.subscribe((m) => seen2.push(m.payload));
    await c.flush();
    expect(bus.broker.broker.getStats().subscriptions).toBe(1);
    c.publish('share.a', 'one');
    await c.flush();
    await c.flush();
    s1.unsubscribe();
    await c.flush();
    expect(bus.broker.broker.getStats().subscriptions).toBe(1);
    s2.unsubscribe();
    await c.flush();
    expect(bus.broker.broker.getStats().subscriptions).toBe(0);
    expect(seen1).toEqual(['one']);
    expect(seen2).toEqual(['one']);
  });

  it('a publish right after connect reaches subscribers that were already subscribed (no slow joiner)', async () => {
    const sub = await bus.client();
    const got = takeN(sub.subscribe('early.topic'), 1);
    await sub.flush();
    const pub = await bus.client();
    pub.publish('early.topic', 'first');
    expect((await got)[0]!.payload).toBe('first');
  });

  it('preserves order and payload types from one publisher', async () => {
    const sub = await bus.client();
    const got = takeN(sub.subscribe('order.>'), 1000, 10_000);
    await sub.flush();
    const pub = await bus.client();
    for (let i = 0; i < 1000; i++) pub.publish(`order.${i % 7}`, { i, b: Buffer.from([i & 255]), s: 'x'.repeat(i % 50), f: i / 3 });
    const msgs = await got;
    expect(msgs.map((m) => (m.payload as { i: number }).i)).toEqual([...Array(1000).keys()]);
    const m5 = msgs[5]!.payload as { b: Uint8Array; f: number };
    expect(Buffer.from(m5.b)).toEqual(Buffer.from([5]));
    expect(m5.f).toBeCloseTo(5 / 3);
  });

  it('rejects invalid topics and patterns in the client at once', async () => {
    const c = await bus.client();
    expect(() => c.publish('bad..topic', 1)).toThrow(/INVALID_TOPIC/);
    expect(() => c.publish('camera.*', 1)).toThrow(/INVALID_TOPIC/);
    expect(() => c.publish('$SYS.x', 1)).toThrow(/RESERVED_TOPIC/);
    expect(() => c.subscribe('a.>.b')).toThrow(/INVALID_PATTERN/);
    expect(() => c.publish('a.b', new Date())).toThrow(/UNSUPPORTED_CBOR/);
  });

  it('checks every topic again after a valid one (the client remembers only the last good topic)', async () => {
    const c = await bus.client();
    for (let i = 0; i < 3; i++) {
      expect(c.publish('ok.topic', i)).toBe(true);
      expect(() => c.publish('bad..topic', i)).toThrow(/INVALID_TOPIC/);
      expect(() => c.publish('$SYS.x', i)).toThrow(/RESERVED_TOPIC/);
      expect(() => c.publish(`ok.${'x'.repeat(c.limits.maxTopicBytes)}`, i)).toThrow(/TOPIC_TOO_LONG/);
    }
  });
});

describe('request/reply', () => {
  it('round-trips a request and a structured error', async () => {
    const worker = await bus.client({ name: 'worker' });
    worker.serve<{ action: string; data?: { user: string } }>('camera.rpc.cam-01.>', (req) => {
      if (req.payload.action === 'create-user') {
        if (req.payload.data?.user === 'admin') throw Object.assign(new Error('Username already exists'), { code: 'camera-fault' });
        return { ok: true, created: req.payload.data?.user };
      }
      return { action: req.payload.action };
    });
    await worker.flush();
    const backend = await bus.client({ name: 'backend' });
    expect(await backend.request('camera.rpc.cam-01.users', { action: 'create-user', data: { user: 'bob' } })).toEqual({ ok: true, created: 'bob' });
    const err = await backend.request('camera.rpc.cam-01.users', { action: 'create-user', data: { user: 'admin' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RemoteError);
    expect((err as RemoteError).code).toBe('camera-fault');
  });

  it('fails at once with NoRespondersError, and with TimeoutError when the server is silent', async () => {
    const c = await bus.client();
    const t0 = Date.now();
    const e1 = await c.request('nobody.home', {}, { timeout: 5000 }).catch((e: unknown) => e);
    expect(e1).toBeInstanceOf(NoRespondersError);
    expect(Date.now() - t0).toBeLessThan(4000);
    const silent = await bus.client();
    const s = silent.subscribe('silent.svc').subscribe(() => undefined);
    await silent.flush();
    const e2 = await c.request('silent.svc', {}, { timeout: 100 }).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(TimeoutError);
    expect((e2 as UdsbusError).codeName).toBe('TIMEOUT');
    s.unsubscribe();
  });

  it('spreads requests over the workers of a queue group, each answered once', async () => {
    const counts = [0, 0, 0];
    const workers = await Promise.all([0, 1, 2].map((i) => bus.client({ name: `w${i}` })));
    workers.forEach((w, i) =>
      w.serve('work.do', () => {
        counts[i]!++;
        return i;
      }),
    );
    await Promise.all(workers.map((w) => w.flush()));
    const c = await bus.client();
    const replies = await Promise.all(Array.from({ length: 30 }, () => c.request<number>('work.do', {})));
    expect(replies).toHaveLength(30);
    expect(counts.reduce((a, b) => a + b, 0)).toBe(30);
    for (const n of counts) expect(n).toBeGreaterThan(0);
  });
});

describe('retained and presence', () => {
  it('delivers retained state to late subscribers first, and an empty retained publish clears it', async () => {
    const pub = await bus.client();
    pub.publish<string>('camera.discovered.cam-01', { id: 'cam-01' }, { retain: true });
    pub.publish<string>('camera.discovered.cam-02', { id: 'cam-02' }, { retain: true });
    pub.publish<string>('camera.discovered.cam-02', { id: 'cam-02', v: 2 }, { retain: true });
    await pub.flush();
    const late = await bus.client();
    const got = await takeN(late.subscribe('camera.discovered.*'), 2);
    expect(got.map((m) => [m.topic, m.retained, m.seq])).toEqual([
      ['camera.discovered.cam-01', true, 0],
      ['camera.discovered.cam-02', true, 0],
    ]);
    expect(got[1]!.payload).toEqual({ id: 'cam-02', v: 2 });
    pub.publish('camera.discovered.cam-01', undefined, { retain: true });
    await pub.flush();
    const later = await bus.client();
    const one = await takeN(later.subscribe('camera.discovered.*'), 1);
    expect(one[0]!.topic).toBe('camera.discovered.cam-02');
  });

  it('publishes the will and clears owned retained state when a client dies, not when it closes cleanly', async () => {
    const watcher = await bus.client();
    const status: Array<[string, unknown]> = [];
    watcher.subscribe('camera.status.>').subscribe((m) => status.push([m.topic, m.payload]));
    const disc = firstMatching(watcher.subscribe('$SYS.client.disconnected'), (m) => (m.payload as { name: string }).name === 'worker');
    await watcher.flush();
    const worker = await bus.client({ name: 'worker', will: { topic: 'camera.status.cam-01', payload: { state: 'offline' }, retain: true }, reconnect: false });
    worker.publish<string>('camera.status.cam-01', { state: 'online' }, { retain: true, owned: true });
    worker.publish<string>('camera.status.cam-02', { state: 'online' }, { retain: true, owned: true });
    await worker.flush();
    // Kill the connection without a bye.
    worker.destroyConnection();
    const d = await disc;
    expect((d.payload as { clean: boolean }).clean).toBe(false);
    await watcher.flush();
    const late = await bus.client();
    const retained = await takeN(late.subscribe('camera.status.*'), 1);
    expect(retained.map((m) => [m.topic, m.payload])).toEqual([['camera.status.cam-01', { state: 'offline' }]]);
    expect(status).toContainEqual(['camera.status.cam-02', undefined]);
    expect(status).toContainEqual(['camera.status.cam-01', { state: 'offline' }]);

    const polite = await bus.client({ name: 'polite', will: { topic: 'camera.status.cam-03', payload: { state: 'offline' } } });
    polite.publish<string>('camera.status.cam-03', { state: 'online' }, { retain: true, owned: true });
    await polite.flush();
    const disc2 = firstMatching(watcher.subscribe('$SYS.client.disconnected'), (m) => (m.payload as { name: string }).name === 'polite');
    await watcher.flush();
    await polite.close();
    const d2 = await disc2;
    expect(d2.payload).toMatchObject({ reason: 'bye', clean: true });
    expect(status.filter(([t, p]) => t === 'camera.status.cam-03' && p !== undefined && (p as { state: string }).state === 'offline')).toEqual([]);
  });
});

describe('lifecycle', () => {
  it('close() right after publish() in the same tick sends the whole bye: a clean close, no will', async () => {
    const watcher = await bus.client();
    const wills: unknown[] = [];
    watcher.subscribe('camera.status.cam-09').subscribe((m) => wills.push(m.payload));
    const disc = firstMatching(watcher.subscribe('$SYS.client.disconnected'), (m) => (m.payload as { name: string }).name === 'hasty');
    await watcher.flush();
    const hasty = await bus.client({ name: 'hasty', will: { topic: 'camera.status.cam-09', payload: { state: 'offline' } }, reconnect: false });
    hasty.publish<string>('camera.event.cam-09.motion', { active: true });
    await hasty.close();
    expect((await disc).payload).toMatchObject({ reason: 'bye', clean: true });
    await watcher.flush();
    expect(wills).toEqual([]);
  });

  it('close() resolves closed() with the reason and completes observables', async () => {
    const c = await bus.client();
    let completed = false;
    c.subscribe('a.b').subscribe({ complete: () => (completed = true) });
    await c.close();
    expect(await c.closed()).toEqual({ reason: 'closed' });
    expect(completed).toBe(true);
    expect(() => c.publish('a.b', 1)).toThrow(UdsbusError);
  });
});

describe('$SYS', () => {
  it('answers $SYS.req.stats and $SYS.req.clients on demand', async () => {
    const c = await bus.client({ name: 'stats-reader' });
    c.subscribe('camera.>').subscribe(() => undefined);
    c.publish('camera.x', 1);
    await c.flush();
    const stats = await c.request<{ connections: number; msgsIn: number; subscriptions: number }>('$SYS.req.stats');
    expect(stats.connections).toBe(1);
    expect(stats.subscriptions).toBeGreaterThanOrEqual(1);
    const clients = await c.request<Array<{ name: string; subscriptions: Array<{ pattern: string }> }>>('$SYS.req.clients');
    expect(clients[0]!.name).toBe('stats-reader');
    expect(clients[0]!.subscriptions.map((s) => s.pattern)).toContain('camera.>');
    await expect(c.request('$SYS.req.nothing')).rejects.toThrow(/NO_RESPONDERS/);
  });
});

describe('publisher identity', () => {
  it('stamps every delivery with the kernel-verified publisher identity, which a client cannot forge', async () => {
    const sub = await bus.client();
    const got = takeN(sub.subscribe('who.>'), 2);
    await sub.flush();
    const pub = await bus.client({ name: 'camera-worker' });
    pub.publish('who.a', 1);
    const raw = await bus.raw();
    await raw.hello({ name: 'forger' });
    raw.send({ op: 'pub', topic: 'who.b', payload: Buffer.alloc(0), from: { uid: 0, pid: 1, name: 'root' } });
    const [a, b] = await got;
    const { loadPeerCred } = await import('../bus/security/peercred.js');
    if (!loadPeerCred().available) {
      console.warn('peer credentials unavailable; checking the anonymous stamp only');
      expect(a!.from).toMatchObject({ name: 'camera-worker', anonymous: true });
      return;
    }
    expect(a!.from).toMatchObject({ name: 'camera-worker', uid: process.getuid!(), gid: process.getgid!(), pid: process.pid });
    expect(b!.from).toMatchObject({ name: 'forger', uid: process.getuid!(), pid: process.pid });
    expect(b!.from).not.toMatchObject({ name: 'root' });
  });
});
