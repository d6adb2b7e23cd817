/**
 * `from` by reference (PROTOCOL.md §7): a connection that says `fromRefs: true` in hello hears
 * who each publisher is once (`who {ref, from}`), then gets `fref: ref` in place of the `from` map
 * on plain messages, and `forget {ref}` after the publisher's last message when it goes. Every
 * other connection keeps getting `from` whole.
 */
import { createConnection } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestBus, type RawConn, type TestBus } from './helpers/harness.js';

let bus: TestBus | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

type Frame = Record<string, unknown>;
const msgs = (c: RawConn) => c.frames.filter((f) => f.op === 'msg');

/** Waits until `done()` holds, looking again whenever a frame arrives (bounded by `ms`). */
async function until(c: RawConn, done: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out; have ${c.frames.length} frames: ${JSON.stringify(c.frames.slice(-3)).slice(0, 400)}`);
    await c.next(() => false, 20).catch(() => undefined);
  }
}

/** Every `fref` comes after the `who` that explains it, and never after its `forget`. */
function checkRefOrder(frames: Frame[]): Map<number, Frame> {
  const told = new Map<number, Frame>();
  const forgotten = new Set<number>();
  for (const f of frames) {
    if (f.op === 'who') {
      expect(told.has(f.ref as number), `who ${String(f.ref)} twice`).toBe(false);
      told.set(f.ref as number, f.from as Frame);
    } else if (f.op === 'forget') {
      expect(told.has(f.ref as number)).toBe(true);
      forgotten.add(f.ref as number);
    } else if (f.op === 'msg' && f.fref !== undefined) {
      expect(told.has(f.fref as number), `fref ${String(f.fref)} before its who`).toBe(true);
      expect(forgotten.has(f.fref as number), `fref ${String(f.fref)} after its forget`).toBe(false);
      expect(f.from).toBeUndefined();
    }
  }
  return told;
}

describe('from by reference', () => {
  it('tells each publisher once, then sends its number; plain-from connections see no change', async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    const refs = await bus.raw();
    const plain = await bus.raw();
    expect((await refs.hello({ fromRefs: true })).fromRefs).toBe(true);
    expect((await plain.hello()).fromRefs).toBeUndefined();
    for (const c of [refs, plain]) {
      c.send({ op: 'sub', sid: 1, pattern: 'refs.>', id: 1 });
      await c.next((f) => f.op === 'ok');
    }
    const p1 = await bus.client({ name: 'camera-1' });
    const p2 = await bus.raw();
    await p2.hello({ name: 'camera-2' });
    for (let i = 0; i < 3; i++) p1.publish('refs.a', i);
    await p1.flush();
    for (let i = 0; i < 2; i++) p2.send({ op: 'pub', topic: 'refs.b', payload: Buffer.from([i]) });
    // Not a plain message (headers): its `from` goes whole on every connection.
    p1.publish('refs.c', 'h', { hdr: { k: 'v' } });
    await p1.flush();
    await until(refs, () => msgs(refs).length === 6);
    await until(plain, () => msgs(plain).length === 6);

    const told = checkRefOrder(refs.frames);
    expect(told.size).toBe(2);
    const plainFrom = new Map(msgs(plain).map((m) => [m.topic as string, m.from as Frame]));
    expect(plainFrom.get('refs.a')).toMatchObject({ name: 'camera-1', pid: process.pid });
    for (const m of msgs(refs)) {
      const from = m.fref !== undefined ? told.get(m.fref as number) : (m.from as Frame);
      expect(from).toEqual(plainFrom.get(m.topic as string));
    }
    const withHdr = msgs(refs).find((m) => m.topic === 'refs.c')!;
    expect(withHdr.fref).toBeUndefined();
    expect(withHdr.from).toMatchObject({ name: 'camera-1' });
    expect(msgs(refs).filter((m) => m.fref !== undefined)).toHaveLength(5);
    expect(plain.frames.some((f) => f.op === 'who' || f.fref !== undefined)).toBe(false);

    // The publisher goes: the reference is withdrawn, once, on the connection that was told.
    const ref2 = msgs(refs).find((m) => m.topic === 'refs.b')!.fref;
    p2.destroy();
    const forget = await refs.next((f) => f.op === 'forget');
    expect(forget.ref).toBe(ref2);
    // A round trip on the plain connection: anything sent to it before now has arrived.
    plain.send({ op: 'ping', id: 7 });
    await plain.next((f) => f.op === 'pong' && f.id === 7);
    expect(plain.frames.some((f) => f.op === 'forget' || f.op === 'who')).toBe(false);
  });

  it('keeps who → msg → forget in order for a subscriber that fell behind and lost messages', async () => {
    bus = await startTestBus({ statsIntervalMs: 0, paceStallMs: 50, limits: { outQueueBytes: 256 * 1024 } });
    const sub = await bus.raw();
    await sub.hello({ fromRefs: true });
    sub.send({ op: 'sub', sid: 1, pattern: 'behind', policy: 'drop-oldest', id: 1 });
    await sub.next((f) => f.op === 'ok');
    sub.sock.pause();
    const pub = await bus.client({ name: 'fast', flow: 'drop' });
    const payload = new Uint8Array(2000);
    for (let i = 0; i < 2000; i++) pub.publish('behind', payload);
    await pub.flush();
    await pub.close();
    sub.sock.resume();
    await until(sub, () => sub.frames.some((f) => f.op === 'forget'));
    const told = checkRefOrder(sub.frames);
    expect(told.size).toBe(1);
    const delivered = msgs(sub);
    const lost = sub.frames.filter((f) => f.op === 'loss').reduce((n, f) => n + (f.lost as number), 0);
    expect(lost).toBeGreaterThan(0);
    expect(delivered.length + lost).toBe(2000);
    expect(delivered.every((m) => m.fref !== undefined)).toBe(true);
  });

  it('a publisher cannot forge the stamp: from, fref or who in its pub are ignored', async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    const sub = await bus.raw();
    await sub.hello({ fromRefs: true });
    sub.send({ op: 'sub', sid: 1, pattern: 'forge', id: 1 });
    await sub.next((f) => f.op === 'ok');
    const pub = await bus.raw();
    await pub.hello({ name: 'honest' });
    pub.send({ op: 'pub', topic: 'forge', payload: Buffer.from([1]), fref: 1, from: { name: 'root', uid: 0 }, who: { ref: 1 } });
    await until(sub, () => msgs(sub).length === 1);
    const told = checkRefOrder(sub.frames);
    const m = msgs(sub)[0]!;
    const from = m.fref !== undefined ? told.get(m.fref as number) : (m.from as Frame);
    expect(from).toMatchObject({ name: 'honest', uid: process.getuid!() });
  });

  it('refuses a fromRefs that is not a bool, and a JSON-mode connection keeps from whole', async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    const bad = await bus.raw();
    bad.send({ op: 'hello', v: 1, fromRefs: 1 });
    expect(await bad.next((f) => f.op === 'err')).toMatchObject({ name: 'BAD_FRAME', fatal: true });

    const json = createConnection(bus.socket);
    let text = '';
    json.setEncoding('utf8');
    json.on('data', (d: string) => (text += d));
    json.write(`${JSON.stringify({ op: 'hello', v: 1, fromRefs: true })}\n${JSON.stringify({ op: 'sub', sid: 1, pattern: 'j', id: 1 })}\n`);
    const lines = async (n: number) => {
      for (let i = 0; i < 500 && text.split('\n').length <= n; i++) await new Promise((r) => setTimeout(r, 10));
      return text.trim().split('\n').map((l) => JSON.parse(l) as Frame);
    };
    expect((await lines(2))[0]).not.toHaveProperty('fromRefs');
    const pub = await bus.client({ name: 'cbor-pub' });
    pub.publish('j', 1);
    const got = (await lines(3))[2]!;
    json.destroy();
    expect(got).toMatchObject({ op: 'msg', from: { name: 'cbor-pub' } });
    expect(got).not.toHaveProperty('fref');
  });

  it('the client library resolves references: from is the publisher, across its reconnects', async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    const sub = await bus.client({ name: 'watcher' });
    const got: Array<{ name: unknown; cid: unknown; from: object | undefined }> = [];
    sub.subscribe('lib.>').subscribe((m) => got.push({ name: m.from?.name, cid: m.from?.cid, from: m.from }));
    await sub.flush();
    for (const name of ['first', 'second']) {
      const pub = await bus.client({ name });
      for (let i = 0; i < 3; i++) pub.publish('lib.x', i);
      await pub.flush();
      await pub.close();
    }
    for (let i = 0; i < 200 && got.length < 6; i++) await new Promise((r) => setTimeout(r, 10));
    expect(got.map((g) => g.name)).toEqual(['first', 'first', 'first', 'second', 'second', 'second']);
    expect(new Set(got.map((g) => g.cid)).size).toBe(2);
    // One frozen object per publisher, not one per message.
    expect(got[0]!.from).toBe(got[2]!.from);
    expect(Object.isFrozen(got[0]!.from)).toBe(true);
  });
});
