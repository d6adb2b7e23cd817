/**
 * PROTOCOL.md and the broker agree (issue 14): one test per decision, each against a real broker
 * on a real socket in a fresh temp dir, speaking raw frames the way a client in another language
 * would. Each test names the PROTOCOL.md section it holds the broker to.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from '../bus/protocol/codec.js';
import { RawConn, ROOT, spawnCli, startTestBus, tempDir, type TestBus } from './helpers/harness.js';

const doc = readFileSync(`${ROOT}PROTOCOL.md`, 'utf8');

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function bus(opts: Parameters<typeof startTestBus>[0] = {}): Promise<TestBus> {
  const b = await startTestBus(opts);
  cleanups.push(() => b.close());
  return b;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits until a frame matching pred has arrived, without consuming it. */
async function until(r: RawConn, pred: (f: Record<string, unknown>) => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!r.frames.some(pred)) {
    if (Date.now() > deadline) throw new Error(`timed out; have ${JSON.stringify(r.frames).slice(0, 500)}`);
    await sleep(10);
  }
}

/** What a raw connection received for one sid, in order, without consuming it. */
function ops(r: RawConn, sid: number): string[] {
  return r.frames.filter((f) => f.sid === sid).map((f) => (f.op === 'msg' ? `msg:${String(f.seq)}` : f.op === 'loss' ? `loss:${String(f.lost)}@${String(f.lastSeq)}` : String(f.op)));
}

/** A peer that reads raw bytes: for JSON mode, and for checking which encoding an answer uses. */
class ByteConn {
  data = Buffer.alloc(0);
  closed = false;
  private constructor(readonly sock: Socket) {
    sock.on('data', (c: Buffer) => (this.data = Buffer.concat([this.data, c])));
    sock.on('close', () => (this.closed = true));
    sock.on('error', () => undefined);
  }
  static open(path: string): Promise<ByteConn> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => {
        const c = new ByteConn(s);
        cleanups.push(() => void s.destroy());
        resolve(c);
      });
      s.once('error', reject);
    });
  }
  async untilClosed(ms = 5000): Promise<Buffer> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`not closed; got ${this.data.toString('hex').slice(0, 200)}`);
      await sleep(20);
    }
    return this.data;
  }
  lines(): Record<string, unknown>[] {
    return this.data
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }
  async line(pred: (f: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = this.lines().find(pred);
      if (f !== undefined) return f;
      if (Date.now() > deadline || this.closed) throw new Error(`no such line; got ${this.data.toString('utf8').slice(0, 500)}`);
      await sleep(20);
    }
  }
}

/** A CBOR frame body from its parts (for bytes the encoder would never produce). */
function rawFrame(body: number[]): Buffer {
  const b = Buffer.alloc(4 + body.length);
  b.writeUInt32BE(body.length, 0);
  Buffer.from(body).copy(b, 4);
  return b;
}

async function helloed(b: TestBus, extra: object = {}): Promise<RawConn> {
  const r = await b.raw();
  await r.hello(extra);
  return r;
}

describe('PROTOCOL.md and the broker agree (issue 14)', () => {
  // 1. §17 Loss: an expired durable message is announced with policy "expired".
  it('1: expired durable messages are announced with loss policy "expired"', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const b = await bus({ dataDir: dir, sweepMs: 20 });
    const c = await helloed(b);
    c.send({ op: 'sub', sid: 1, pattern: 'exp.>', durable: 'exp', durableMaxAgeMs: 100, id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    c.send({ op: 'unsub', sid: 1, id: 2 });
    await c.next((f) => f.op === 'ok' && f.id === 2);
    for (let i = 0; i < 3; i++) c.send({ op: 'pub', topic: `exp.${i}`, payload: encodeValue(i) });
    c.send({ op: 'ping', id: 3 });
    await c.next((f) => f.op === 'pong' && f.id === 3);
    await sleep(300); // older than durableMaxAgeMs, and several sweeps later
    c.send({ op: 'sub', sid: 2, pattern: 'exp.>', durable: 'exp', id: 4 });
    const loss = await c.next((f) => f.op === 'loss');
    expect(loss).toMatchObject({ sid: 2, lost: 3, policy: 'expired' });
    expect(c.frames.filter((f) => f.op === 'msg')).toEqual([]);
    expect(doc).toMatch(/policy: "expired"/);
  });

  // 2. §17 Redelivery: unacknowledged messages come again with redelivered: true after a restart.
  it('2: messages redelivered after a broker restart carry redelivered: true', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const first = await startTestBus({ dataDir: dir });
    const c = await first.raw();
    await c.hello();
    c.send({ op: 'sub', sid: 1, pattern: 'rd.>', durable: 'rd', id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    for (let i = 1; i <= 3; i++) c.send({ op: 'pub', topic: `rd.${i}`, payload: encodeValue(i), confirm: true, id: 10 + i });
    await c.next((f) => f.op === 'ok' && f.id === 13);
    const before = [await c.next((f) => f.op === 'msg'), await c.next((f) => f.op === 'msg'), await c.next((f) => f.op === 'msg')];
    expect(before.map((m) => m.redelivered)).toEqual([undefined, undefined, undefined]);
    c.send({ op: 'ack', sid: 1, mid: before[0]!.mid, id: 2 }); // the first is done; two are not
    await c.next((f) => f.op === 'ok' && f.id === 2);
    await first.close();

    const second = await bus({ dataDir: dir });
    const d = await helloed(second);
    d.send({ op: 'sub', sid: 1, pattern: 'rd.>', durable: 'rd', id: 1 });
    const again = [await d.next((f) => f.op === 'msg'), await d.next((f) => f.op === 'msg')];
    expect(again.map((m) => [m.topic, m.mid, m.redelivered])).toEqual([
      ['rd.2', before[1]!.mid, true],
      ['rd.3', before[2]!.mid, true],
    ]);
    d.send({ op: 'pub', topic: 'rd.4', payload: encodeValue(4) });
    const fresh = await d.next((f) => f.op === 'msg');
    expect(fresh.topic).toBe('rd.4');
    expect(fresh.redelivered).toBeUndefined();
  });

  // 3. §17 Management: a durable that does not exist is `not-found` in the reply envelope; the
  // request itself is answered ok, and no err UNKNOWN_DURABLE (64) is sent.
  it('3: management of an unknown durable answers not-found in the envelope, never err 64', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const b = await bus({ dataDir: dir });
    const c = await helloed(b);
    c.send({ op: 'sub', sid: 1, pattern: '_INBOX.t3.>', id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    for (const [i, action] of ['info', 'purge', 'delete'].entries()) {
      c.send({ op: 'pub', topic: `$SYS.req.durable.${action}`, payload: encodeValue({ name: 'nope' }), reply: `_INBOX.t3.${i}`, id: 10 + i });
      await c.next((f) => f.op === 'ok' && f.id === 10 + i);
      const reply = await c.next((f) => f.op === 'msg' && f.topic === `_INBOX.t3.${i}`);
      expect(decodeValue(reply.payload as Uint8Array)).toMatchObject({ ok: false, error: { code: 'not-found' } });
    }
    expect(c.frames.filter((f) => f.op === 'err')).toEqual([]);
    expect(doc).toMatch(/\| 64 \| `UNKNOWN_DURABLE` \| — \|/);
  });

  // 4. §8 Reply envelope: every failure reply carries hdr {status: "error"} — the broker's own
  // `$SYS.req` answers and the TypeScript client's serve(), also when the result cannot be encoded.
  it('4: failure replies carry hdr.status "error", from the broker and from serve()', async () => {
    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const b = await bus({ dataDir: dir });
    const c = await helloed(b);
    c.send({ op: 'sub', sid: 1, pattern: '_INBOX.t4.>', id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    c.send({ op: 'pub', topic: '$SYS.req.durable.info', payload: encodeValue({ name: 'nope' }), reply: '_INBOX.t4.1' });
    const failed = await c.next((f) => f.op === 'msg' && f.topic === '_INBOX.t4.1');
    expect(failed.hdr).toEqual({ status: 'error' });
    c.send({ op: 'pub', topic: '$SYS.req.durable.list', payload: encodeValue({}), reply: '_INBOX.t4.2' });
    const listed = await c.next((f) => f.op === 'msg' && f.topic === '_INBOX.t4.2');
    expect(decodeValue(listed.payload as Uint8Array)).toMatchObject({ ok: true });
    expect(listed.hdr).toBeUndefined();

    const server = await b.client({ name: 'server' });
    const errors: Error[] = [];
    server.on('error', (e: Error) => errors.push(e));
    server.serve<{ kind: string }>('rpc.t4', (req) => {
      if (req.payload.kind === 'throw') throw Object.assign(new Error('nope'), { code: 'camera-fault' });
      return new Date(0); // a tag: cannot be sent (§3)
    });
    await server.flush();
    c.send({ op: 'pub', topic: 'rpc.t4', payload: encodeValue({ kind: 'throw' }), reply: '_INBOX.t4.3' });
    const thrown = await c.next((f) => f.op === 'msg' && f.topic === '_INBOX.t4.3');
    expect(thrown.hdr).toEqual({ status: 'error' });
    expect(decodeValue(thrown.payload as Uint8Array)).toEqual({ ok: false, error: { code: 'camera-fault', message: 'nope' } });
    c.send({ op: 'pub', topic: 'rpc.t4', payload: encodeValue({ kind: 'date' }), reply: '_INBOX.t4.4' });
    const unencodable = await c.next((f) => f.op === 'msg' && f.topic === '_INBOX.t4.4');
    expect(unencodable.hdr).toEqual({ status: 'error' });
    expect(decodeValue(unencodable.payload as Uint8Array)).toMatchObject({ ok: false, error: { code: 'internal' } });
    expect(errors.map((e) => (e as { codeName?: string }).codeName)).toEqual(['UNSUPPORTED_CBOR']);
  });

  // 5. §14: connections refused or timed out before `welcome` were never announced, so they get
  // no $SYS.client.disconnected; the reasons handshake-timeout and too-many-connections do not exist.
  it('5: connections that never got a welcome are not announced on $SYS.client.disconnected', async () => {
    const b = await bus({ limits: { maxConnections: 2, handshakeTimeoutMs: 200 }, sweepMs: 20 });
    const watcher = await helloed(b);
    watcher.send({ op: 'sub', sid: 1, pattern: '$SYS.client.disconnected', id: 1 });
    await watcher.next((f) => f.op === 'ok' && f.id === 1);
    const silent = await b.raw(); // takes the second place until its handshake times out
    const refused = await b.raw();
    expect(await refused.next((f) => f.op === 'err')).toMatchObject({ name: 'TOO_MANY_CONNECTIONS', fatal: true });
    await refused.waitClosed();
    expect(await silent.next((f) => f.op === 'err')).toMatchObject({ name: 'HANDSHAKE_TIMEOUT', fatal: true });
    await silent.waitClosed();
    await sleep(100); // the broker has seen both close and freed their places
    const polite = await helloed(b, { name: 'polite' });
    polite.send({ op: 'bye' });
    const ev = await watcher.next((f) => f.op === 'msg');
    // Broker messages arrive in order: an announcement of the two would have come first.
    expect(decodeValue(ev.payload as Uint8Array)).toMatchObject({ name: 'polite', reason: 'bye', clean: true });
    expect(watcher.frames.filter((f) => f.op === 'msg')).toEqual([]);
    const reasons = /`reason` is one of ([^\n]*)/.exec(doc)![1]!;
    expect(reasons).not.toContain('handshake-timeout');
    expect(reasons).not.toContain('too-many-connections');
  });

  // 6. §5/§13: the keepalive floor is 2 × the deadline-check interval, at least 100 ms, never above
  // the broker's default keepalive; the ceiling 600,000 ms; welcome says the value used.
  it('6: hello.keepalive is clamped exactly as documented', async () => {
    const asked = async (b: TestBus, keepalive: number): Promise<[number, number]> => {
      const r = await b.raw();
      const w = await r.hello({ keepalive });
      return [w.keepalive as number, (w.limits as { keepaliveMs: number }).keepaliveMs];
    };
    const plain = await bus(); // default: deadlines checked every 1,000 ms
    expect(await asked(plain, 1)).toEqual([2000, 2000]);
    expect(await asked(plain, 0)).toEqual([2000, 2000]);
    expect(await asked(plain, 1999)).toEqual([2000, 2000]);
    expect(await asked(plain, 45_000)).toEqual([45_000, 45_000]);
    expect(await asked(plain, 10_000_000)).toEqual([600_000, 600_000]);
    const fast = await bus({ sweepMs: 20 });
    expect(await asked(fast, 1)).toEqual([100, 100]);
    const short = await bus({ limits: { keepaliveMs: 500 }, sweepMs: 1000 });
    expect(await asked(short, 1)).toEqual([500, 500]);
    expect(doc).toContain('2,000 ms on a default broker');
  });

  // 7. §4: `bye` is not answered (not even with an id); the broker writes everything queued for
  // the connection, ignores frames after the bye, then closes.
  it('7: bye flushes queued deliveries, gets no answer, and ends processing', async () => {
    const b = await bus({ socketHighWater: 1 }); // every delivery waits in the outbound queue
    const c = await helloed(b);
    c.send({ op: 'sub', sid: 1, pattern: 'bye.>', id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    const big = encodeValue(Buffer.alloc(64 * 1024, 7));
    const parts: Buffer[] = [];
    const { encodeFrame } = await import('../bus/protocol/codec.js');
    for (let i = 0; i < 20; i++) parts.push(encodeFrame({ op: 'pub', topic: `bye.${i}`, payload: big }));
    parts.push(encodeFrame({ op: 'bye', id: 99 }));
    parts.push(encodeFrame({ op: 'pub', topic: 'bye.after', payload: big }));
    parts.push(encodeFrame({ op: 'ping', id: 100 }));
    c.sendBytes(Buffer.concat(parts)); // one write: the pubs are queued when the bye is read
    await c.waitClosed();
    const msgs = c.frames.filter((f) => f.op === 'msg');
    expect(msgs.map((m) => m.topic)).toEqual([...Array(20).keys()].map((i) => `bye.${i}`));
    expect(c.frames.filter((f) => f.op !== 'msg')).toEqual([]); // no ok for the bye, no pong
  });

  // 8. §1/§15: before the first byte chose JSON, the broker answers in CBOR (BAD_PREAMBLE, and
  // refusals at accept even to a JSON peer); once it chose JSON, every answer is a JSON line.
  it('8: which errors arrive as CBOR before the handshake', async () => {
    const b = await bus({ limits: { maxConnections: 2 } });
    const pre = await b.raw();
    pre.sendBytes(Buffer.from([0x01, 0x02]));
    expect(await pre.next((f) => f.op === 'err')).toMatchObject({ name: 'BAD_PREAMBLE', fatal: true });
    await pre.waitClosed();

    const json = await ByteConn.open(b.socket);
    json.sock.write('{not json\n');
    const answer = await json.untilClosed();
    expect(answer[0]).toBe(0x7b);
    expect(json.lines()[0]).toMatchObject({ op: 'err', name: 'BAD_FRAME', fatal: true });

    const json2 = await ByteConn.open(b.socket);
    json2.sock.write('{"op":"ping","id":1}\n');
    await json2.untilClosed();
    expect(json2.lines()[0]).toMatchObject({ op: 'err', name: 'HANDSHAKE_REQUIRED', fatal: true });

    await sleep(50); // the broker has seen those three close
    // Full: one open connection and one that has not spoken yet hold both places.
    await helloed(b);
    await b.raw();
    const late = await ByteConn.open(b.socket);
    late.sock.write('{"op":"hello","v":1}\n');
    const bytes = await late.untilClosed();
    expect(bytes[0]).toBe(0x00); // CBOR, though the peer speaks JSON: refused at accept
    const body = bytes.subarray(4, 4 + bytes.readUInt32BE(0));
    expect(decodeValue(body)).toMatchObject({ op: 'err', name: 'TOO_MANY_CONNECTIONS', fatal: true });
  });

  // 9. §4: how `id` is answered — ok for sub/unsub/ack/pub, welcome and pong echo it, errors carry
  // it, pong and bye are never answered.
  it('9: every frame with an id gets exactly its documented answer, in order', async () => {
    const b = await bus();
    const c = await b.raw();
    const welcome = await c.hello({ id: 7 });
    expect(welcome.id).toBe(7);
    c.send({ op: 'sub', sid: 1, pattern: 'id.>', id: 1 });
    c.send({ op: 'unsub', sid: 1, id: 2 });
    c.send({ op: 'ping', id: 3 });
    c.send({ op: 'pub', topic: 'id.x', payload: Buffer.alloc(0), id: 4 });
    c.send({ op: 'pub', topic: 'id..x', payload: Buffer.alloc(0), id: 5 });
    c.send({ op: 'frobnicate', id: 6 });
    c.send({ op: 'pong', id: 7 });
    c.send({ op: 'unsub', sid: 42, id: 8 });
    c.send({ op: 'ping', id: 9 });
    await c.next((f) => f.op === 'pong' && f.id === 9);
    expect(c.frames.map((f) => [f.op, f.id, f.name])).toEqual([
      ['ok', 1, undefined],
      ['ok', 2, undefined],
      ['pong', 3, undefined],
      ['ok', 4, undefined],
      ['err', 5, 'INVALID_TOPIC'],
      ['err', 6, 'UNKNOWN_OP'],
      ['err', 8, 'UNKNOWN_SID'],
    ]);
  });

  // 10. §4/§12: an optional field of the wrong type is refused with BAD_FRAME (fatal in hello),
  // never silently read as absent.
  it('10: wrong types in optional fields are refused with BAD_FRAME', async () => {
    const b = await bus();
    const c = await helloed(b);
    c.send({ op: 'sub', sid: 1, pattern: 'ty.>', id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    const p = { op: 'pub', topic: 'ty.x', payload: encodeValue(1) };
    const cases: Array<[object, string]> = [
      [{ ...p, retain: 'yes', id: 10 }, 'BAD_FRAME'],
      [{ ...p, retain: true, owned: 1, id: 11 }, 'BAD_FRAME'],
      [{ ...p, confirm: 1, id: 12 }, 'BAD_FRAME'],
      [{ ...p, hdr: 5, id: 13 }, 'BAD_FRAME'],
      [{ ...p, hdr: { a: 1 }, id: 14 }, 'BAD_FRAME'],
      [{ ...p, reply: 5, id: 15 }, 'BAD_FRAME'],
      [{ ...p, reply: 'a..b', id: 16 }, 'INVALID_TOPIC'],
      [{ op: 'sub', sid: 2, pattern: 'ty.y', retained: 'no', id: 17 }, 'BAD_FRAME'],
      [{ op: 'sub', sid: 3, pattern: 'ty.y', queue: 5, id: 18 }, 'BAD_FRAME'],
      [{ op: 'ack', sid: 'x', mid: 1, id: 19 }, 'BAD_FRAME'],
    ];
    for (const [frame, name] of cases) {
      c.send(frame);
      const id = (frame as { id: number }).id;
      const answer = await c.next((f) => f.id === id);
      expect([id, answer.op, answer.name]).toEqual([id, 'err', name]);
    }
    // owned without retain is not an error: there is nothing to own, and it is ignored.
    c.send({ ...p, owned: true, retain: false, id: 20 });
    expect(await c.next((f) => f.id === 20)).toMatchObject({ op: 'ok' });
    c.send({ op: 'ping', id: 'x' });
    expect(await c.next((f) => f.op === 'err')).toMatchObject({ name: 'BAD_FRAME' });
    // Only the valid publish was delivered.
    c.send({ op: 'ping', id: 21 });
    await c.next((f) => f.op === 'pong' && f.id === 21);
    expect(c.frames.filter((f) => f.op === 'msg').length).toBe(1);
    expect(c.frames.filter((f) => f.op === 'err')).toEqual([]);

    const h = await b.raw();
    h.send({ op: 'hello', v: 1, will: { topic: 'ty.will', payload: Buffer.alloc(0), retain: 'yes' } });
    expect(await h.next((f) => f.op === 'err')).toMatchObject({ name: 'BAD_FRAME', fatal: true });
  });

  // 11. §3/§7: the broker checks frames, not the contents of byte strings: a payload is forwarded
  // as sent, tags and all; a tag in the frame itself is refused.
  it('11: CBOR checks apply to the frame, not inside the payload byte string', async () => {
    const b = await bus();
    const c = await helloed(b);
    c.send({ op: 'sub', sid: 1, pattern: 'cb.>', id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    const json = await ByteConn.open(b.socket);
    json.sock.write('{"op":"hello","v":1}\n{"op":"sub","sid":1,"pattern":"cb.>","id":1}\n');
    await json.line((f) => f.op === 'ok');
    const tagged = Buffer.from([0xc1, 0x1a, 0, 0, 0, 0]); // tag 1 (epoch time) 0
    c.send({ op: 'pub', topic: 'cb.x', payload: tagged, id: 2 });
    expect(await c.next((f) => f.id === 2)).toMatchObject({ op: 'ok' });
    const m = await c.next((f) => f.op === 'msg');
    expect(Buffer.from(m.payload as Uint8Array)).toEqual(tagged);
    expect(await json.line((f) => f.op === 'msg')).toMatchObject({ payload: { $bytes: 'c11a00000000' } });
    // {"op": "ping", "id": tag1(0)}: a tag in the frame itself.
    c.sendBytes(rawFrame([0xa2, 0x62, 0x6f, 0x70, 0x64, 0x70, 0x69, 0x6e, 0x67, 0x62, 0x69, 0x64, 0xc1, 0x00]));
    expect(await c.next((f) => f.op === 'err')).toMatchObject({ name: 'UNSUPPORTED_CBOR', fatal: true });
  });

  // 12. §10: a loss notice comes after the still-queued messages older than what it announces and
  // before the first newer delivery (or once the queue drained).
  it('12: loss notices sit in seq order among queued deliveries', async () => {
    const b = await bus({ socketHighWater: 1 }); // every delivery waits in the outbound queue
    const sub = await helloed(b);
    sub.send({ op: 'sub', sid: 1, pattern: 'ln.>', policy: 'drop-newest', maxMsgs: 3, id: 1 });
    sub.send({ op: 'sub', sid: 2, pattern: 'll.>', policy: 'latest-per-topic', maxMsgs: 3, id: 2 });
    await sub.next((f) => f.op === 'ok' && f.id === 2);
    sub.frames.length = 0;
    const pub = await helloed(b);
    const { encodeFrame } = await import('../bus/protocol/codec.js');
    const one = (topic: string) => encodeFrame({ op: 'pub', topic, payload: encodeValue(topic) });
    // One write: all are routed in one turn, before the queue is written.
    pub.sendBytes(Buffer.concat(['ln.1', 'ln.2', 'ln.3', 'ln.4', 'ln.5', 'ln.6'].map(one)));
    await until(sub, (f) => f.op === 'loss' && f.sid === 1);
    // drop-newest dropped 4, 5 and 6: the notice follows 1, 2 and 3, which are older.
    expect(ops(sub, 1)).toEqual(['msg:1', 'msg:2', 'msg:3', 'loss:3@6']);
    pub.sendBytes(Buffer.concat(['ll.a', 'll.b', 'll.c', 'll.b'].map(one)));
    await until(sub, (f) => f.op === 'msg' && f.sid === 2 && f.seq === 4);
    await sleep(50);
    // latest-per-topic replaced seq 2 (ll.b) by seq 4: the notice sits between seq 1 and seq 3.
    expect(ops(sub, 2)).toEqual(['msg:1', 'loss:1@2', 'msg:3', 'msg:4']);
  });

  // 13. §14: the stats shapes are exactly what the doc lists, and the interval is an option.
  it('13: $SYS.req.stats and $SYS.req.clients have the documented keys; --stats-interval works', async () => {
    const b = await bus();
    const c = await helloed(b);
    c.send({ op: 'sub', sid: 1, pattern: '_INBOX.t13.>', id: 1 });
    await c.next((f) => f.op === 'ok' && f.id === 1);
    const ask = async (topic: string, n: number) => {
      c.send({ op: 'pub', topic, payload: Buffer.alloc(0), reply: `_INBOX.t13.${n}` });
      const m = await c.next((f) => f.op === 'msg' && f.topic === `_INBOX.t13.${n}`);
      return (decodeValue(m.payload as Uint8Array) as { result: unknown }).result;
    };
    const section = doc.slice(doc.indexOf('## 14.'), doc.indexOf('## 15.'));
    const documented = (label: string) => {
      const row = new RegExp(`^\\| ${label} \\|([^\\n]*)$`, 'm').exec(section);
      expect(row, label).not.toBeNull();
      return [...row![1]!.matchAll(/`(\w+)`/g)].map((x) => x[1]!).sort();
    };
    const stats = (await ask('$SYS.req.stats', 1)) as Record<string, unknown>;
    expect(Object.keys(stats).sort()).toEqual(documented('stats'));
    expect(Object.keys(stats.memory as object).sort()).toEqual(documented('stats.memory'));
    const clients = (await ask('$SYS.req.clients', 2)) as Array<Record<string, unknown>>;
    expect(clients.length).toBe(1);
    c.send({ op: 'sub', sid: 2, pattern: 'q.>', queue: 'w', id: 2 });
    await c.next((f) => f.op === 'ok' && f.id === 2);
    const withSubs = (await ask('$SYS.req.clients', 3)) as Array<{ subscriptions: Array<Record<string, unknown>> } & Record<string, unknown>>;
    const clientKeys = documented('clients');
    for (const k of Object.keys(withSubs[0]!)) expect(clientKeys).toContain(k);
    for (const k of ['cid', 'name', 'transport', 'connectedAt', 'msgsIn', 'bytesIn', 'queuedBytes', 'queuedMsgs', 'dropped', 'subscriptions']) expect(Object.keys(withSubs[0]!)).toContain(k);
    expect(Object.keys(withSubs[0]!.subscriptions.find((s) => s.sid === 2)!).sort()).toEqual(documented('clients.subscriptions'));

    const { dir, cleanup } = tempDir();
    cleanups.push(cleanup);
    const socket = join(dir, 'bus.sock');
    const child = spawnCli(['broker', '--socket', socket, '--stats-interval', '200', '-q']);
    cleanups.push(() => void child.kill('SIGKILL'));
    for (let i = 0; i < 100 && !existsSync(socket); i++) await sleep(50);
    const r = await RawConn.open(socket);
    cleanups.push(() => r.destroy());
    await r.hello();
    r.send({ op: 'sub', sid: 1, pattern: '$SYS.broker.stats', id: 1 });
    await r.next((f) => f.op === 'ok' && f.id === 1);
    const tick = await r.next((f) => f.op === 'msg', 2000); // the default would be 10 s
    expect(Object.keys(decodeValue(tick.payload as Uint8Array) as object).sort()).toEqual(documented('stats'));
    expect(section).toContain('--stats-interval');
  });
});
