import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeFrame } from '../bus/protocol/codec.js';
import { encodePub } from '../bus/client/frames.js';
import { ErrorCodes } from '../bus/protocol/errors.js';
import { startTestBus, takeN, type TestBus, RawConn } from './helpers/harness.js';

let bus: TestBus;
beforeEach(async () => {
  bus = await startTestBus({ limits: { maxFrameBytes: 4096, maxSubscriptions: 3, handshakeTimeoutMs: 300, keepaliveMs: 200 }, sweepMs: 20 });
});
afterEach(async () => {
  await bus.close();
});

function frameOf(bodyHex: string): Buffer {
  const body = Buffer.from(bodyHex, 'hex');
  const h = Buffer.alloc(4);
  h.writeUInt32BE(body.length);
  return Buffer.concat([h, body]);
}

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function expectFatal(r: RawConn, name: keyof typeof ErrorCodes): Promise<void> {
  const f = await r.next((x) => x.op === 'err');
  expect(f).toMatchObject({ code: ErrorCodes[name], name, fatal: true });
  await r.waitClosed();
}

describe('bad input gets its error code; the broker survives', () => {
  it('BAD_PREAMBLE for a first byte that selects no encoding', async () => {
    const r = await bus.raw();
    r.sendBytes(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
    await expectFatal(r, 'BAD_PREAMBLE');
  });

  it('FRAME_TOO_LARGE from the header alone', async () => {
    const r = await bus.raw();
    await r.hello();
    r.sendBytes(Buffer.from([0, 0, 0x20, 0]));
    await expectFatal(r, 'FRAME_TOO_LARGE');
  });

  it('BAD_CBOR for bytes that are not CBOR or have trailing bytes', async () => {
    const r = await bus.raw();
    await r.hello();
    r.sendBytes(frameOf('a1626f70'));
    await expectFatal(r, 'BAD_CBOR');
  });

  it('UNSUPPORTED_CBOR for tags (e.g. cbor-x packed/shared refs) and indefinite lengths', async () => {
    for (const hex of ['d81c80', 'bf626f7063707562ff', 'c11a00000000']) {
      const r = await bus.raw();
      await r.hello();
      r.sendBytes(frameOf(hex));
      await expectFatal(r, 'UNSUPPORTED_CBOR');
    }
  });

  it('TOO_DEEP past maxNesting', async () => {
    const r = await bus.raw();
    await r.hello();
    r.sendBytes(frameOf(`a162617${'0'}`.slice(0, 0) + 'a1627878' + '81'.repeat(40) + '01'));
    await expectFatal(r, 'TOO_DEEP');
  });

  it('HANDSHAKE_REQUIRED, UNSUPPORTED_VERSION, HANDSHAKE_TIMEOUT', async () => {
    const a = await bus.raw();
    a.send({ op: 'sub', sid: 1, pattern: '>' });
    await expectFatal(a, 'HANDSHAKE_REQUIRED');
    const b = await bus.raw();
    b.send({ op: 'hello', v: 99 });
    await expectFatal(b, 'UNSUPPORTED_VERSION');
    const c = await bus.raw();
    await expectFatal(c, 'HANDSHAKE_TIMEOUT');
    const d = await bus.raw();
    d.sendBytes(Buffer.from([0, 0])); // a partial header and then silence
    await expectFatal(d, 'HANDSHAKE_TIMEOUT');
  });

  it('non-fatal errors keep the connection: UNKNOWN_OP, BAD_FRAME, topics, sids, limits', async () => {
    const r = await bus.raw();
    await r.hello();
    const cases: Array<[object, keyof typeof ErrorCodes]> = [
      [{ op: 'frobnicate', id: 1 }, 'UNKNOWN_OP'],
      [{ op: 'pub', topic: 'a.b', id: 2 }, 'BAD_FRAME'],
      [{ op: 'pub', topic: 'a..b', payload: Buffer.alloc(0), id: 3 }, 'INVALID_TOPIC'],
      [{ op: 'pub', topic: 'a'.repeat(300), payload: Buffer.alloc(0), id: 4 }, 'TOPIC_TOO_LONG'],
      [{ op: 'pub', topic: Array(20).fill('a').join('.'), payload: Buffer.alloc(0), id: 5 }, 'TOPIC_TOO_DEEP'],
      [{ op: 'pub', topic: '$SYS.x', payload: Buffer.alloc(0), id: 6 }, 'RESERVED_TOPIC'],
      [{ op: 'sub', sid: 1, pattern: 'a.>.b', id: 7 }, 'INVALID_PATTERN'],
      [{ op: 'unsub', sid: 42, id: 8 }, 'UNKNOWN_SID'],
      [{ op: 'pub', topic: 'no.one', payload: Buffer.alloc(0), reply: 'x.y', id: 9 }, 'NO_RESPONDERS'],
      [{ op: 'hello', v: 1, id: 10 }, 'BAD_FRAME'],
      [{ op: 'sub', sid: 1, pattern: 'a', policy: 'yolo', id: 11 }, 'BAD_FRAME'],
    ];
    for (const [frame, name] of cases) {
      r.send(frame);
      const e = await r.next((f) => f.op === 'err');
      expect([name, e.code, e.fatal]).toEqual([name, ErrorCodes[name], undefined]);
    }
    r.send({ op: 'sub', sid: 1, pattern: 'a', id: 20 });
    r.send({ op: 'sub', sid: 1, pattern: 'b', id: 21 });
    expect(await r.next((f) => f.id === 20)).toMatchObject({ op: 'ok' });
    expect(await r.next((f) => f.id === 21)).toMatchObject({ code: ErrorCodes.DUPLICATE_SID });
    r.send({ op: 'sub', sid: 2, pattern: 'b' });
    r.send({ op: 'sub', sid: 3, pattern: 'c' });
    r.send({ op: 'sub', sid: 4, pattern: 'd', id: 22 });
    expect(await r.next((f) => f.id === 22)).toMatchObject({ code: ErrorCodes.TOO_MANY_SUBSCRIPTIONS });
    r.send({ op: 'ping', id: 23 });
    expect(await r.next((f) => f.op === 'pong')).toMatchObject({ id: 23 });
  });

  it('KEEPALIVE_TIMEOUT drops a peer that stops answering pings, and frees its subscriptions', async () => {
    const r = await bus.raw();
    await r.hello({ keepalive: 200 });
    r.send({ op: 'sub', sid: 1, pattern: '>', id: 1 });
    await r.next((f) => f.id === 1);
    await r.next((f) => f.op === 'ping', 3000);
    await expectFatal(r, 'KEEPALIVE_TIMEOUT');
    await until(() => bus.broker.broker.getStats().subscriptions === 0);
  });

  it('a client that answers pings stays connected', async () => {
    const c = await bus.client({ keepaliveMs: 200 });
    const r = await bus.raw();
    await r.hello({ keepalive: 200 });
    for (let i = 0; i < 3; i++) {
      const p = await r.next((f) => f.op === 'ping', 3000);
      r.send({ op: 'pong', ...(p.id === undefined ? {} : { id: p.id }) });
    }
    expect(r.closed).toBe(false);
    expect(c.connected).toBe(true);
  });

  it('random bytes and well-formed-but-wrong frames from many connections leave ordinary clients working', async () => {
    let seed = 1234;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const wrongFrames = [
      { op: 'pub' },
      { op: 'sub', sid: -1, pattern: 7 },
      { op: 'sub', sid: 1.5, pattern: '>' },
      { op: 'unsub' },
      { op: 42 },
      { nothing: true },
      { op: 'pub', topic: ['a'], payload: 'not bytes' },
      { op: 'hello', v: 1, will: { topic: '$bad', payload: Buffer.alloc(0) } },
      { op: 'pub', topic: 'x', payload: Buffer.alloc(0), hdr: { a: 1 } },
      [1, 2, 3],
      'just a string',
    ];
    const good = await bus.client({ name: 'good-sub' });
    const got = takeN(good.subscribe('ok.>'), 200, 15_000);
    await good.flush();
    const attackers = await Promise.all(Array.from({ length: 40 }, () => bus.raw()));
    attackers.forEach((a, i) => {
      if (i % 2 === 0) a.send({ op: 'hello', v: 1, name: `evil${i}` });
      for (let k = 0; k < 30; k++) {
        if (rand() < 0.5) {
          const junk = Buffer.alloc(1 + Math.floor(rand() * 64));
          for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rand() * 256);
          if (junk.length >= 4 && rand() < 0.5) junk.writeUInt32BE(Math.min(junk.length - 4, Math.floor(rand() * 60)) >>> 0, 0);
          a.sendBytes(junk);
        } else {
          a.sendBytes(encodeFrame(wrongFrames[Math.floor(rand() * wrongFrames.length)] as object));
        }
      }
    });
    const pub = await bus.client({ name: 'good-pub' });
    for (let i = 0; i < 200; i++) pub.publish(`ok.${i}`, { i });
    const msgs = await got;
    expect(msgs.map((m) => (m.payload as { i: number }).i)).toEqual([...Array(200).keys()]);
    expect(await pub.request('$SYS.req.stats')).toMatchObject({ connections: expect.any(Number) });
  });

  it('a topic checked once is not trusted for another: repeated, reserved and invalid topics in the client\'s own pub layout', async () => {
    // The broker skips re-checking a topic it just accepted on the same connection (the fixed-shape
    // reader returns the same string for the same bytes); nothing else may ride on that.
    const r = await bus.raw();
    await r.hello();
    const sub = await bus.client();
    const got = takeN(sub.subscribe('ok.>'), 3);
    await sub.flush();
    const pub = (topic: string, id: number) => r.sendBytes(encodePub({ topic, payload: new Uint8Array([0x01]), id, confirm: true }));
    const answer = (id: number) => r.next((f) => f.id === id && (f.op === 'ok' || f.op === 'err'));
    pub('ok.a', 1);
    pub('ok.a', 2);
    pub('$SYS.x', 3);
    pub('$SYS.x', 4);
    pub('ok..b', 5);
    pub('ok..b', 6);
    pub('ok.a', 7);
    expect((await answer(1)).op).toBe('ok');
    expect((await answer(2)).op).toBe('ok');
    for (const id of [3, 4]) expect(await answer(id)).toMatchObject({ op: 'err', name: 'RESERVED_TOPIC' });
    for (const id of [5, 6]) expect(await answer(id)).toMatchObject({ op: 'err', name: 'INVALID_TOPIC' });
    expect((await answer(7)).op).toBe('ok');
    expect((await got).map((m) => m.topic)).toEqual(['ok.a', 'ok.a', 'ok.a']);
  });
});
