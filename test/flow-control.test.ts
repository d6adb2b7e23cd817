/**
 * Issue 3: a subscriber that stops reading must not hurt anyone else, broker memory stays within
 * its budget, and the slow one is told exactly what it missed — for every policy.
 */
import { createConnection, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeValue } from '../bus/protocol/codec.js';
import { ErrorCodes } from '../bus/protocol/errors.js';
import { startTestBus, type TestBus, RawConn } from './helpers/harness.js';

const N = Number(process.env.FLOW_N ?? 500_000);
const BUDGET = 1024 * 1024;
let bus: TestBus | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

type Tally = { msgs: number; lost: number; lastSeq: number; lastLossSeq: number; outOfOrder: number; gapsUnexplained: number; lossFrames: number; topics: Map<string, number> };

function tally(r: RawConn, sid: number): Tally {
  // Consume frames as they arrive so the test holds no backlog of its own.
  const t: Tally = { msgs: 0, lost: 0, lastSeq: 0, lastLossSeq: 0, outOfOrder: 0, gapsUnexplained: 0, lossFrames: 0, topics: new Map() };
  let pendingLoss = 0;
  const drain = () => {
    const keep: Record<string, unknown>[] = [];
    for (const f of r.frames.splice(0)) {
      if (f.sid !== sid || (f.op !== 'msg' && f.op !== 'loss')) {
        keep.push(f);
        continue;
      }
      if (f.op === 'loss') {
        t.lost += f.lost as number;
        pendingLoss += f.lost as number;
        t.lossFrames++;
        t.lastLossSeq = Math.max(t.lastLossSeq, f.lastSeq as number);
      } else if (f.op === 'msg') {
        const seq = f.seq as number;
        if (seq <= t.lastSeq) t.outOfOrder++;
        const gap = seq - t.lastSeq - 1;
        if (gap > 0) {
          if (gap > pendingLoss) t.gapsUnexplained += gap - pendingLoss;
          pendingLoss = Math.max(0, pendingLoss - gap);
        }
        t.lastSeq = Math.max(t.lastSeq, seq);
        t.msgs++;
        const p = (f.payload as Uint8Array).length;
        t.topics.set(f.topic as string, seq + p * 0);
      }
    }
    r.frames.push(...keep);
  };
  r.sock.on('data', () => setImmediate(drain));
  (t as unknown as { drain: () => void }).drain = drain;
  return t;
}

/** The largest outbound queue of any one connection: the budget is per connection. */
function maxConnQueued(b: TestBus): number {
  return Math.max(0, ...b.broker.broker.clientStats().map((c) => c.queuedBytes));
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

async function scenario(policy: 'drop-oldest' | 'drop-newest' | 'latest-per-topic' | 'disconnect', n: number, topics = 1) {
  // A generous close grace: the paused client must still be able to read why it was closed.
  // The events hook hears of drops summed per turn, not once per dropped message.
  const dropEvents = { calls: 0, n: 0 };
  bus = await startTestBus({
    limits: { outQueueBytes: BUDGET, outQueueMsgs: 100_000 },
    statsIntervalMs: 0,
    closeGraceMs: 120_000,
    events: {
      dropped: (_c, _p, k) => {
        dropEvents.calls++;
        dropEvents.n += k;
      },
    },
  });
  const healthy = await bus.raw();
  await healthy.hello({ name: 'healthy' });
  healthy.send({ op: 'sub', sid: 1, pattern: 'flow.>', id: 1 });
  await healthy.next((f) => f.id === 1);
  const h = tally(healthy, 1);

  const slow = await bus.raw();
  await slow.hello({ name: 'slow' });
  slow.send({ op: 'sub', sid: 7, pattern: 'flow.>', policy, id: 1 });
  await slow.next((f) => f.id === 1);
  slow.sock.pause(); // stops reading: the kernel buffer fills, then the broker's queue
  const s = tally(slow, 7);

  const pub = await bus.client({ name: 'pub' });
  const payload = encodeValue({ cameraId: 'cam-01', kind: 'motion', active: true, pad: 'x'.repeat(40) });
  let maxQueued = 0;
  let maxRss = 0;
  const drainH = (h as unknown as { drain: () => void }).drain;
  for (let i = 0; i < n; i++) {
    if (!pub.publish(`flow.t${i % topics}`, payload)) await pub.drain();
    // Everything runs in this one process: let the healthy reader keep pace (as a separate
    // process would), so the only slow consumer is the paused one.
    if (i % 2000 === 0) await until(() => (drainH(), i - h.msgs < 1500), 30_000, 'healthy reader keeping pace');
    if (i % 20_000 === 0) {
      await pub.flush();
      maxQueued = Math.max(maxQueued, maxConnQueued(bus));
      maxRss = Math.max(maxRss, process.memoryUsage().rss);
    }
  }
  await pub.flush();
  await until(() => (drainH(), h.msgs === n), 60_000, `healthy got ${h.msgs}/${n}`);
  const stats = bus.broker.broker.getStats();
  maxQueued = Math.max(maxQueued, maxConnQueued(bus));
  await new Promise((r) => setImmediate(r));
  return { healthy: h, slow: s, slowConn: slow, pub, maxQueued, maxRss, stats, dropEvents };
}

describe('slow consumer, one policy at a time', () => {
  for (const policy of ['drop-oldest', 'drop-newest'] as const) {
    it(`${policy}: healthy gets all ${N}; broker queue stays within budget; the paused one is told exactly what it lost`, async () => {
      const r = await scenario(policy, N);
      expect(r.healthy.msgs).toBe(N);
      expect(r.healthy.lost).toBe(0);
      expect(r.maxQueued).toBeLessThanOrEqual(BUDGET);
      expect(r.maxRss).toBeLessThan(1.5 * 1024 ** 3);
      r.slowConn.sock.resume();
      const drainS = (r.slow as unknown as { drain: () => void }).drain;
      await until(() => (drainS(), r.slow.msgs + r.slow.lost === N), 60_000, `slow msgs ${r.slow.msgs} + lost ${r.slow.lost} != ${N}`);
      expect(r.slow.lost).toBeGreaterThan(0);
      // The last seq is either delivered or announced as lost.
      expect(Math.max(r.slow.lastSeq, r.slow.lastLossSeq)).toBe(N);
      expect(r.slow.outOfOrder).toBe(0);
      expect(r.slow.gapsUnexplained).toBe(0);
      expect(r.stats.drops[policy]).toBe(r.slow.lost);
      expect(r.dropEvents.n).toBe(r.slow.lost);
      expect(r.dropEvents.calls).toBeLessThan(r.slow.lost / 10);
    }, 180_000);
  }

  it('latest-per-topic: after a resume, the newest message of every topic is delivered', async () => {
    const TOPICS = 50;
    const n = N;
    const r = await scenario('latest-per-topic', n, TOPICS);
    expect(r.healthy.msgs).toBe(n);
    expect(r.maxQueued).toBeLessThanOrEqual(BUDGET);
    r.slowConn.sock.resume();
    const drainS = (r.slow as unknown as { drain: () => void }).drain;
    await until(() => (drainS(), r.slow.msgs + r.slow.lost === n), 60_000, `slow msgs ${r.slow.msgs} + lost ${r.slow.lost} != ${n}`);
    expect(r.slow.lost).toBeGreaterThan(0);
    expect(r.slow.topics.size).toBe(TOPICS);
    // The last TOPICS messages published are one per topic; each must have arrived.
    const newestSeqOf = (i: number) => n - ((n - 1 - i) % TOPICS);
    for (let t = 0; t < TOPICS; t++) expect(r.slow.topics.get(`flow.t${t}`)).toBe(newestSeqOf(t));
  }, 180_000);

  it('disconnect: the slow client is closed with SLOW_CONSUMER and others are unaffected', async () => {
    const n = N;
    const r = await scenario('disconnect', n);
    expect(r.healthy.msgs).toBe(n);
    r.slowConn.sock.resume();
    const err = await r.slowConn.next((f) => f.op === 'err', 30_000);
    expect(err).toMatchObject({ code: ErrorCodes.SLOW_CONSUMER, name: 'SLOW_CONSUMER', fatal: true, sid: 7 });
    await r.slowConn.waitClosed(10_000);
    await until(() => bus!.broker.broker.getStats().connections === 2, 5000, 'slow connection gone');
    const st = await r.pub.request<{ connections: number; drops: Record<string, number> }>('$SYS.req.stats');
    expect(st.drops.disconnect).toBeGreaterThan(0);
  }, 180_000);
});

describe('shares within one connection', () => {
  it("one subscription's policy never drops another subscription's messages", async () => {
    bus = await startTestBus({ limits: { outQueueBytes: 256 * 1024 }, statsIntervalMs: 0 });
    const c = await bus.raw();
    await c.hello();
    c.send({ op: 'sub', sid: 1, pattern: 'noisy.>', policy: 'drop-oldest', id: 1 });
    c.send({ op: 'sub', sid: 2, pattern: 'rare.>', policy: 'drop-newest', id: 2 });
    await c.next((f) => f.id === 2);
    c.sock.pause();
    const pub = await bus.client();
    const payload = encodeValue('y'.repeat(200));
    for (let i = 0; i < 50_000; i++) {
      if (!pub.publish('noisy.x', payload)) await pub.drain();
      if (i % 5000 === 0) pub.publish('rare.x', i);
    }
    await pub.flush();
    c.sock.resume();
    const rare: unknown[] = [];
    let noisyLost = 0;
    await until(
      () => {
        for (const f of c.frames.splice(0)) {
          if (f.sid === 2 && f.op === 'msg') rare.push(f.topic);
          if (f.sid === 2 && f.op === 'loss') throw new Error('rare subscription lost messages');
          if (f.sid === 1 && f.op === 'loss') noisyLost += f.lost as number;
        }
        return rare.length === 10;
      },
      30_000,
      'rare messages',
    );
    expect(noisyLost).toBeGreaterThan(0);
  }, 60_000);
});

describe('the client library surfaces loss', () => {
  it('emits a loss event and marks the next message with how many were lost', async () => {
    bus = await startTestBus({ limits: { outQueueBytes: 64 * 1024 }, statsIntervalMs: 0 });
    // Dial the socket ourselves so the test can stop reading it.
    let sock!: Socket;
    const sub = await bus.client({ name: 'lossy', dial: () => (sock = createConnection(bus!.socket)) });
    const seen: Array<{ seq: number; lost: number }> = [];
    const events: Array<{ lost: number; pattern: string }> = [];
    sub.on('loss', (l) => events.push(l));
    sub.subscribe('burst.>', { policy: 'drop-oldest' }).subscribe((m) => seen.push({ seq: m.seq, lost: m.lost }));
    await sub.flush();
    sock.pause();
    const pub = await bus.client();
    const payload = encodeValue('z'.repeat(500));
    for (let i = 0; i < 20_000; i++) if (!pub.publish('burst.x', payload)) await pub.drain();
    await pub.flush();
    sock.resume();
    await until(() => seen.length > 0 && seen[seen.length - 1]!.seq === 20_000, 20_000, 'last message');
    const lostTotal = events.reduce((a, e) => a + e.lost, 0);
    expect(lostTotal).toBeGreaterThan(0);
    expect(seen.length + lostTotal).toBe(20_000);
    expect(seen.reduce((a, m) => a + m.lost, 0)).toBe(lostTotal);
    expect(events[0]!.pattern).toBe('burst.>');
  }, 60_000);
});
