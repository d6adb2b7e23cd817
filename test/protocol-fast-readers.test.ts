/**
 * The fixed-shape readers against the generic checked decoder: on frames from the real writers
 * they must agree field by field; on anything else they must return undefined (never throw,
 * never return data that decodeFrame would not).
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CBOR_ENCODING, CBOR_REFS_ENCODING } from '../bus/broker/encoding.js';
import { msgFrameSize, Published, whoFrame, writeMsgFrame, type Origin } from '../bus/broker/message.js';
import { encodePub, type PubFields } from '../bus/client/frames.js';
import { decodeFrame, encodeFrame, encodeValue } from '../bus/protocol/codec.js';
import { FrameParser } from '../bus/protocol/parser.js';
import { MsgFields, ReadCache, readMsgFrame, readMsgFrameAt, type FromMap, type MsgFrame } from '../bus/protocol/msg-reader.js';
import { readPubFrame, readPubFrameAt, type PubFrame } from '../bus/protocol/pub-reader.js';

// Deterministic PRNG so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}
type Rand = ReturnType<typeof rng>;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

const TOKEN = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~%@:=';
function token(r: Rand, max: number): string {
  let s = '';
  const n = 1 + int(r, max);
  for (let i = 0; i < n; i++) s += TOKEN[int(r, TOKEN.length)];
  return s;
}
function topic(r: Rand): string {
  const tokens = 1 + int(r, 6);
  const parts: string[] = [];
  // Long tokens now and then so topics cross the 1-byte and 2-byte head boundaries.
  for (let i = 0; i < tokens; i++) parts.push(token(r, r() < 0.1 ? 120 : 12));
  return (r() < 0.1 ? '$SYS.' : '') + parts.join('.');
}
const UINTS = [0, 1, 23, 24, 255, 256, 65535, 65536, 0xffffffff, 0x100000000, 2 ** 40, Number.MAX_SAFE_INTEGER];
function uint(r: Rand): number {
  return r() < 0.5 ? pick(r, UINTS) : int(r, 100_000);
}
const TEXTS = ['', 'x', 'ünïcødé', 'emoji 📷', 'a'.repeat(30), 'b'.repeat(300), 'content-type'];
function text(r: Rand): string {
  return r() < 0.5 ? pick(r, TEXTS) : token(r, 20);
}
function payload(r: Rand): Buffer {
  const n = pick(r, [0, 1, 5, 23, 24, 200, 255, 256, 1024, 65535, 65536, 70_000]);
  const b = Buffer.alloc(n, int(r, 256));
  for (let i = 0; i < Math.min(n, 64); i++) b[int(r, n)] = int(r, 256);
  return b;
}
function hdr(r: Rand): Record<string, string> {
  const h: Record<string, string> = {};
  const n = int(r, 5);
  for (let i = 0; i < n; i++) h[text(r) || 'k'] = text(r);
  return h;
}
function origin(r: Rand): Origin {
  const from: Record<string, unknown> = { cid: `c${int(r, 1000)}`, name: text(r) };
  if (r() < 0.7) {
    from.uid = uint(r);
    from.gid = uint(r);
    from.pid = uint(r);
  } else {
    from.anonymous = true;
  }
  return { cid: from.cid as string, cbor: encodeValue(from), json: JSON.stringify(from) };
}

function randomPublished(r: Rand): Published {
  const durable = r() < 0.3 ? { mid: uint(r), redelivered: r() < 0.5 } : undefined;
  return new Published(
    topic(r),
    payload(r),
    r() < 0.3 ? topic(r) : undefined,
    r() < 0.3 ? hdr(r) : undefined,
    r() < 0.3,
    r() < 0.7 ? origin(r) : undefined,
    durable,
  );
}

/** A `msg` frame body as the broker writes it (length prefix stripped). */
function msgBody(sid: number, seq: number, m: Published): Buffer {
  const buf = Buffer.allocUnsafe(msgFrameSize(sid, seq, m));
  const end = writeMsgFrame(buf, 0, sid, seq, m);
  expect(end).toBe(buf.length);
  return buf.subarray(4);
}

function randomPub(r: Rand): PubFields {
  const p: PubFields = { topic: topic(r), payload: payload(r) };
  if (r() < 0.3) p.reply = topic(r);
  if (r() < 0.3) p.retain = true;
  if (r() < 0.2) p.owned = true;
  if (r() < 0.3) p.hdr = hdr(r);
  if (r() < 0.4) p.id = uint(r);
  if (r() < 0.2) p.confirm = true;
  return p;
}
const pubBody = (p: PubFields) => encodePub(p).subarray(4);

const MSG_KEYS = new Set(['op', 'sid', 'seq', 'topic', 'payload', 'reply', 'hdr', 'retained', 'from', 'mid', 'redelivered']);
const PUB_KEYS = new Set(['op', 'topic', 'payload', 'reply', 'retain', 'owned', 'hdr', 'id', 'confirm']);

/**
 * Why `got` differs from what decodeFrame reads in `body`, or null when they agree field by field.
 * A plain function rather than a chain of expects: the fuzz calls it tens of thousands of times.
 */
function diffMsg(body: Uint8Array, got: MsgFrame): string | null {
  const r = decodeFrame(body);
  if (!r.ok) return `decodeFrame refused: ${r.text}`;
  const f = r.frame;
  for (const k of Object.keys(f)) if (!MSG_KEYS.has(k)) return `extra key ${k}`;
  if (f.op !== 'msg') return 'op';
  if (got.sid !== f.sid) return 'sid';
  if (got.seq !== f.seq) return 'seq';
  if (got.topic !== f.topic) return 'topic';
  if (!(f.payload instanceof Uint8Array) || Buffer.compare(got.payload, f.payload) !== 0) return 'payload';
  if (got.reply !== f.reply) return 'reply';
  if (!isDeepStrictEqual(got.hdr, f.hdr)) return 'hdr';
  if (got.retained !== (f.retained === true) || (f.retained !== undefined && f.retained !== true)) return 'retained';
  if (!isDeepStrictEqual(got.from, f.from)) return 'from';
  if (got.mid !== f.mid) return 'mid';
  if (got.redelivered !== (f.redelivered === true) || (f.redelivered !== undefined && f.redelivered !== true)) return 'redelivered';
  return null;
}

function diffPub(body: Uint8Array, got: PubFrame): string | null {
  const r = decodeFrame(body);
  if (!r.ok) return `decodeFrame refused: ${r.text}`;
  const f = r.frame;
  for (const k of Object.keys(f)) if (!PUB_KEYS.has(k)) return `extra key ${k}`;
  if (f.op !== 'pub') return 'op';
  if (got.topic !== f.topic) return 'topic';
  if (!(f.payload instanceof Uint8Array) || Buffer.compare(got.payload, f.payload) !== 0) return 'payload';
  if (got.reply !== f.reply) return 'reply';
  for (const k of ['retain', 'owned', 'confirm'] as const) {
    if (got[k] !== (f[k] === true) || (f[k] !== undefined && f[k] !== true)) return k;
  }
  if (!isDeepStrictEqual(got.hdr, f.hdr)) return 'hdr';
  if (got.id !== f.id) return 'id';
  return null;
}

function agreesMsg(body: Uint8Array, got: MsgFrame | undefined): void {
  if (got === undefined) expect.fail(`reader refused ${Buffer.from(body).toString('hex').slice(0, 400)}`);
  const d = diffMsg(body, got);
  if (d !== null) expect.fail(`${d} differs in ${Buffer.from(body).toString('hex').slice(0, 400)}`);
}

function agreesPub(body: Uint8Array, got: PubFrame | undefined): void {
  if (got === undefined) expect.fail(`reader refused ${Buffer.from(body).toString('hex').slice(0, 400)}`);
  const d = diffPub(body, got);
  if (d !== null) expect.fail(`${d} differs in ${Buffer.from(body).toString('hex').slice(0, 400)}`);
}

/** The pieces of a map, re-encodable with other heads, orders or extra keys. */
type Pair = [string, Uint8Array];
const item = (v: unknown) => encodeValue(v);
function mapBytes(pairs: Pair[], head = Buffer.from([0xa0 | pairs.length])): Buffer {
  return Buffer.concat([head, ...pairs.flatMap(([k, v]) => [item(k), v])]);
}
function msgPairs(): Pair[] {
  return [
    ['op', item('msg')],
    ['sid', item(7)],
    ['seq', item(300)],
    ['topic', item('cam.1.motion')],
    ['payload', item(Buffer.from([0xa1, 0x61, 0x78, 0x01]))],
    ['reply', item('_INBOX.abc.1')],
    ['hdr', item({ a: 'b' })],
    ['retained', item(true)],
    ['from', item({ cid: 'c1', name: 'cam', uid: 1000, gid: 1000, pid: 42 })],
    ['mid', item(9)],
    ['redelivered', item(true)],
  ];
}
function pubPairs(): Pair[] {
  return [
    ['op', item('pub')],
    ['topic', item('cam.1.motion')],
    ['payload', item(Buffer.from([0x01]))],
    ['reply', item('_INBOX.abc.1')],
    ['retain', item(true)],
    ['owned', item(true)],
    ['hdr', item({ a: 'b' })],
    ['id', item(5)],
    ['confirm', item(true)],
  ];
}

/** Variants the writers never produce; each must go to the generic path. */
function unusual(pairs: () => Pair[]): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  const base = pairs();
  const swap = pairs();
  [swap[1], swap[2]] = [swap[2]!, swap[1]!];
  out.push(['required keys swapped', mapBytes(swap)]);
  const optSwap = pairs();
  [optSwap[optSwap.length - 1], optSwap[optSwap.length - 2]] = [optSwap[optSwap.length - 2]!, optSwap[optSwap.length - 1]!];
  out.push(['optional keys swapped', mapBytes(optSwap)]);
  out.push(['op first missing', mapBytes(pairs().slice(1))]);
  out.push(['extra key at the end', mapBytes([...pairs(), ['extra', item(1)]])]);
  out.push(['extra key in the middle', mapBytes([...pairs().slice(0, 4), ['x', item(1)], ...pairs().slice(4)])]);
  out.push(['duplicate optional key', mapBytes([...pairs(), pairs()[pairs().length - 1]!])]);
  out.push(['map head in 2 bytes', mapBytes(base, Buffer.from([0xb8, base.length]))]);
  out.push(['indefinite map (real)', Buffer.concat([Buffer.from([0xbf]), mapBytes(base).subarray(1), Buffer.from([0xff])])]);
  out.push(['map count too high', mapBytes(base, Buffer.from([0xa0 | (base.length + 1)]))]);
  out.push(['map count too low', mapBytes(base, Buffer.from([0xa0 | (base.length - 1)]))]);
  const set = (name: string, v: Uint8Array) => pairs().map(([k, x]): Pair => [k, k === name ? v : x]);
  out.push(['op is another text', mapBytes(set('op', item('err')))]);
  out.push(['non-ASCII topic', mapBytes(set('topic', item('cäm.1')))]);
  out.push(['non-ASCII reply', mapBytes(set('reply', item('_INBOX.ä')))]);
  out.push(['topic with invalid UTF-8', mapBytes(set('topic', Buffer.from([0x62, 0xc3, 0x28])))]);
  out.push(['topic head padded', mapBytes(set('topic', Buffer.concat([Buffer.from([0x78, 12]), Buffer.from('cam.1.motion')])))]);
  out.push(['topic as indefinite text', mapBytes(set('topic', Buffer.concat([Buffer.from([0x7f, 0x63]), Buffer.from('cam'), Buffer.from([0xff])])))]);
  out.push(['topic as bytes', mapBytes(set('topic', item(Buffer.from('cam'))))]);
  out.push(['payload as text', mapBytes(set('payload', item('x')))]);
  out.push(['payload head padded', mapBytes(set('payload', Buffer.from([0x59, 0x00, 0x01, 0x01])))]);
  out.push(['payload as indefinite bytes', mapBytes(set('payload', Buffer.from([0x5f, 0x41, 0x01, 0xff])))]);
  out.push(['payload length past the end', mapBytes(set('payload', Buffer.from([0x45, 0x01])))]);
  out.push(['payload with a tag', mapBytes(set('payload', Buffer.from([0xd8, 0x40, 0x41, 0x01])))]);
  out.push(['hdr value not text', mapBytes(set('hdr', item({ a: 1 })))]);
  out.push(['hdr nested', mapBytes(set('hdr', item({ a: { b: 'c' } })))]);
  out.push(['hdr not a map', mapBytes(set('hdr', item(['a'])))]);
  out.push(['hdr invalid UTF-8', mapBytes(set('hdr', Buffer.from([0xa1, 0x61, 0x61, 0x62, 0xc3, 0x28])))]);
  out.push(['hdr indefinite map', mapBytes(set('hdr', Buffer.from([0xbf, 0x61, 0x61, 0x61, 0x62, 0xff])))]);
  out.push(['retained/retain false', mapBytes(pairs().map(([k, x]): Pair => [k, k.startsWith('retain') ? item(false) : x]))]);
  out.push(['flag is 1', mapBytes(pairs().map(([k, x]): Pair => [k, k === 'confirm' || k === 'redelivered' ? item(1) : x]))]);
  out.push(['a text value is null', mapBytes(set('reply', item(null)))]);
  out.push(['trailing byte', Buffer.concat([mapBytes(base), Buffer.from([0x00])])]);
  out.push(['trailing item', Buffer.concat([mapBytes(base), item('x')])]);
  out.push(['empty', Buffer.alloc(0)]);
  out.push(['not a map', item(['msg', 1])]);
  return out;
}

function msgIntVariants(): [string, Buffer][] {
  const set = (name: string, v: Uint8Array) => msgPairs().map(([k, x]): Pair => [k, k === name ? v : x]);
  return [
    ['sid padded to 1 byte', mapBytes(set('sid', Buffer.from([0x18, 0x07])))],
    ['seq padded to 4 bytes', mapBytes(set('seq', Buffer.from([0x1a, 0, 0, 1, 0x2c])))],
    ['seq padded to 8 bytes', mapBytes(set('seq', Buffer.from([0x1b, 0, 0, 0, 0, 0, 0, 1, 0x2c])))],
    ['mid at 2^53', mapBytes(set('mid', Buffer.from([0x1b, 0, 0x20, 0, 0, 0, 0, 0, 0])))],
    ['mid at 2^64-1', mapBytes(set('mid', Buffer.alloc(9, 0xff).fill(0x1b, 0, 1)))],
    ['sid negative', mapBytes(set('sid', item(-1)))],
    ['sid a float', mapBytes(set('sid', Buffer.from([0xf9, 0x3c, 0x00])))],
    ['sid reserved head', mapBytes(set('sid', Buffer.from([0x1c])))],
    ['from nested', mapBytes(set('from', item({ cid: 'c', name: { x: 1 } })))],
    ['from with a byte string', mapBytes(set('from', item({ cid: 'c', name: Buffer.from('n') })))],
    ['from with a float cut short', mapBytes(set('from', Buffer.from([0xa1, 0x61, 0x61, 0xfb, 0x01])))],
    ['from with a tag', mapBytes(set('from', Buffer.from([0xa1, 0x61, 0x61, 0xc1, 0x01])))],
  ];
}

/** `n` whole `msg` frames (length prefix included) of random messages, sid i + 1 and seq i. */
function randomMsgFrames(r: Rand, n: number): Buffer[] {
  const frames: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const m = randomPublished(r);
    const buf = Buffer.allocUnsafe(msgFrameSize(i + 1, i, m));
    writeMsgFrame(buf, 0, i + 1, i, m);
    frames.push(buf);
  }
  return frames;
}

describe('readMsgFrame', () => {
  it('agrees with decodeFrame on random frames from writeMsgFrame', () => {
    const r = rng(1);
    const cache = new ReadCache();
    for (let i = 0; i < 3000; i++) {
      const body = msgBody(uint(r) || 1, uint(r), randomPublished(r));
      agreesMsg(body, readMsgFrame(body, cache));
    }
  });

  it('reads the hand-built full layout and the smallest one', () => {
    const full = mapBytes(msgPairs());
    agreesMsg(full, readMsgFrame(full));
    const small = mapBytes(msgPairs().slice(0, 5));
    const got = readMsgFrame(small);
    expect(got).toMatchObject({ sid: 7, seq: 300, topic: 'cam.1.motion', reply: undefined, retained: false, from: undefined, mid: undefined });
    agreesMsg(small, got);
  });

  it('reads 8-byte integers below 2^53 exactly', () => {
    const m = new Published('a', Buffer.from([1]), undefined, undefined, false, undefined, { mid: Number.MAX_SAFE_INTEGER, redelivered: false });
    const got = readMsgFrame(msgBody(0xffffffff, 2 ** 52 + 1, m))!;
    expect(got.seq).toBe(2 ** 52 + 1);
    expect(got.mid).toBe(Number.MAX_SAFE_INTEGER);
  });

  it('returns undefined for every layout the broker does not write', () => {
    for (const [what, body] of [...unusual(msgPairs), ...msgIntVariants()]) {
      expect({ what, got: readMsgFrame(body) }).toEqual({ what, got: undefined });
    }
  });

  it('returns undefined for every truncation and any trailing byte', () => {
    const r = rng(2);
    for (let i = 0; i < 50; i++) {
      const body = msgBody(uint(r) || 1, uint(r), new Published(topic(r), payload(r).subarray(0, 40), topic(r), hdr(r), true, origin(r), { mid: uint(r), redelivered: true }));
      for (let n = 0; n < body.length; n++) expect(readMsgFrame(body.subarray(0, n))).toBeUndefined();
      expect(readMsgFrame(Buffer.concat([body, Buffer.from([int(r, 256)])]))).toBeUndefined();
    }
  });

  it('decodes a repeated `from` once per distinct bytes, and shares one frozen object', () => {
    const r = rng(3);
    const a = origin(r);
    const b = { ...origin(r), cbor: encodeValue({ cid: 'other', name: 'b', uid: 1 }) };
    const cache = new ReadCache();
    const seen = new Set<unknown>();
    for (let i = 0; i < 1000; i++) {
      const body = msgBody(1, i, new Published('t', Buffer.from([i & 0xff]), undefined, undefined, false, i % 3 === 0 ? b : a));
      const got = readMsgFrame(body, cache)!;
      seen.add(got.from);
    }
    expect(cache.fromDecodes).toBe(2);
    expect(seen.size).toBe(2);
    for (const f of seen) expect(Object.isFrozen(f)).toBe(true);
    // More distinct publishers than slots: still correct, just decoded again.
    const small = new ReadCache(1);
    for (let i = 0; i < 10; i++) {
      const o = i % 2 === 0 ? a : b;
      const body = msgBody(1, i, new Published('t', Buffer.alloc(0), undefined, undefined, false, o));
      agreesMsg(body, readMsgFrame(body, small));
    }
    expect(small.fromDecodes).toBe(10);
  });

  it('never answers a stale topic from the memo', () => {
    const cache = new ReadCache();
    const topics = ['cam.a', 'cam.b', 'cam.b', 'cam.a', 'cam.ab', 'cam.a', 'x'.repeat(300), 'y'.repeat(300), 'cam.a', 'cam.a'];
    for (const [i, t] of topics.entries()) {
      const body = msgBody(1, i, new Published(t, Buffer.alloc(0), undefined, undefined, false, undefined));
      expect(readMsgFrame(body, cache)!.topic).toBe(t);
      expect(readPubFrame(pubBody({ topic: t, payload: Buffer.alloc(0) }), cache)!.topic).toBe(t);
    }
    // A non-ASCII topic of the memo's length is refused, not matched.
    const body = msgBody(1, 1, new Published('cam.a', Buffer.alloc(0), undefined, undefined, false, undefined));
    readMsgFrame(body, cache);
    const at = body.indexOf('cam.a');
    body[at + 4] = 0xe1;
    expect(readMsgFrame(body, cache)).toBeUndefined();
  });

  it('tells apart topics that differ in one byte anywhere, at every length (4-byte compares)', () => {
    // The memo is compared a word at a time with the last word overlapping: a byte missed by
    // that layout would answer the memo for a different topic.
    const cache = new ReadCache();
    for (let n = 1; n <= 40; n++) {
      const base = 'abcdefghijklmnopqrstuvwxyz0123456789ABCD'.slice(0, n);
      for (let i = 0; i < n; i++) {
        const other = base.slice(0, i) + (base[i] === 'z' ? 'y' : 'z') + base.slice(i + 1);
        for (const t of [base, other, base]) {
          const at = 1 + Math.floor(Math.random() * 5); // any alignment of the frame in its chunk
          const body = msgBody(1, 1, new Published(t, Buffer.alloc(0), undefined, undefined, false, undefined));
          const chunk = Buffer.concat([Buffer.alloc(at), body]);
          const f = new MsgFields();
          expect(readMsgFrameAt(chunk, at, chunk.length, f, cache, 32)).toBe(true);
          expect(f.topic).toBe(t);
          expect(readPubFrame(pubBody({ topic: t, payload: Buffer.alloc(0) }), cache)!.topic).toBe(t);
        }
      }
    }
  });

  it('keeps the payload a view into the body', () => {
    const body = msgBody(1, 2, new Published('t', Buffer.from([1, 2, 3]), undefined, undefined, false, undefined));
    const got = readMsgFrame(body)!;
    expect(got.payload.buffer).toBe(body.buffer);
    body[body.length - 1] = 9;
    expect(got.payload[2]).toBe(9);
  });

  it('reads a plain Uint8Array body as well as a Buffer', () => {
    const body = msgBody(3, 4, new Published('cam.x', Buffer.from([5]), 'r.y', { k: 'v' }, true, origin(rng(4))));
    const plain = new Uint8Array(body);
    agreesMsg(plain, readMsgFrame(plain));
  });

  it('respects maxNesting like decodeFrame', () => {
    const body = msgBody(1, 1, new Published('t', Buffer.alloc(0), undefined, { a: 'b' }, false, undefined));
    expect(readMsgFrame(body, undefined, 1)).toBeUndefined();
    expect(decodeFrame(body, 1).ok).toBe(false);
    const bare = msgBody(1, 1, new Published('t', Buffer.alloc(0), undefined, undefined, false, undefined));
    expect(readMsgFrame(bare, undefined, 1)).toBeDefined();
  });

  it('reads frames that arrived byte by byte through FrameParser', () => {
    const frames = randomMsgFrames(rng(5), 40);
    const stream = Buffer.concat(frames);
    let n = 0;
    const p = new FrameParser(1 << 20, (body) => {
      agreesMsg(body, readMsgFrame(body));
      n++;
    }, (e) => {
      throw new Error(e.text);
    });
    for (let i = 0; i < stream.length; i++) p.push(stream.subarray(i, i + 1));
    expect(n).toBe(frames.length);
  });

  it('reads in place (readMsgFrameAt) exactly what it reads from a body, through FrameParser offsets at any chunking', () => {
    const r = rng(6);
    const frames = randomMsgFrames(r, 300);
    const stream = Buffer.concat(frames);
    const cache = new ReadCache();
    const f = new MsgFields();
    let n = 0;
    let inPlace = 0;
    const p = new FrameParser(
      1 << 20,
      () => {
        throw new Error('onFrame must not be called when onFrameAt is given');
      },
      (e) => {
        throw new Error(e.text);
      },
      (buf, start, end) => {
        const body = Buffer.from(buf.subarray(start, end));
        const want = readMsgFrame(body)!;
        expect(readMsgFrameAt(buf, start, end, f, cache, 32)).toBe(true);
        expect({ sid: f.sid, seq: f.seq, topic: f.topic, payload: Buffer.from(buf.subarray(f.pstart, f.pend)), reply: f.reply, hdr: f.hdr, retained: f.retained, from: f.from, mid: f.mid, redelivered: f.redelivered }).toEqual({ ...want, payload: Buffer.from(want.payload) });
        if (start > 0 || end < buf.length) inPlace++;
        n++;
      },
    );
    // Random chunk sizes: frames whole inside a chunk (read in place) and split across chunks.
    for (let pos = 0; pos < stream.length; ) {
      const len = 1 + int(r, 3000);
      p.push(stream.subarray(pos, pos + len));
      pos += len;
    }
    expect(n).toBe(frames.length);
    expect(inPlace).toBeGreaterThan(0);
    // Bytes around a frame never change what is read, and a frame cut short is refused.
    const one = frames[7]!.subarray(4);
    const padded = Buffer.concat([Buffer.alloc(9, 0xa7), one, Buffer.alloc(5, 0xa7)]);
    expect(readMsgFrameAt(padded, 9, 9 + one.length, f, cache, 32)).toBe(true);
    expect(readMsgFrameAt(padded, 9, 9 + one.length - 1, f, cache, 32)).toBe(false);
    expect(readMsgFrameAt(padded, 9, 9 + one.length + 1, f, cache, 32)).toBe(false);
  });
});

describe('readMsgFrame with from by reference', () => {
  it('reads `fref` as the map its `who` frame told, and leaves an unknown reference to decodeFrame', () => {
    const r = rng(13);
    let byRefs = 0;
    for (let i = 0; i < 500; i++) {
      const p = randomPub(r);
      const got = readPubFrame(pubBody(p))!;
      const from = origin(r);
      const lent = new Published(got.topic, got.payload, got.reply, got.hdr, false, from, undefined, got.shared);
      const sid = uint(r) || 1;
      const seq = uint(r);
      const whole = Buffer.alloc(CBOR_ENCODING.msgSize(sid, seq, lent));
      CBOR_ENCODING.writeMsg(whole, 0, sid, seq, lent);
      const byRef = Buffer.alloc(CBOR_REFS_ENCODING.msgSize(sid, seq, lent));
      CBOR_REFS_ENCODING.writeMsg(byRef, 0, sid, seq, lent);
      const expected = readMsgFrame(whole.subarray(4), new ReadCache())!;
      const cache = new ReadCache();
      const generic = decodeFrame(byRef.subarray(4));
      expect(generic.ok).toBe(true);
      const f = (generic as { frame: Record<string, unknown> }).frame;
      if (lent.tail.length === 0) {
        // Built messages (reply, headers) carry `from` whole on every connection.
        expect(byRef.equals(whole)).toBe(true);
        continue;
      }
      expect(byRef.length).toBeLessThan(whole.length);
      expect(f.from).toBeUndefined();
      // Unknown reference: the fixed-shape reader declines.
      expect(readMsgFrame(byRef.subarray(4), cache)).toBeUndefined();
      // Told by the broker's own `who` frame: the same fields as the whole frame.
      const who = decodeFrame(whoFrame(from).subarray(4));
      expect(who.ok).toBe(true);
      const w = (who as { frame: Record<string, unknown> }).frame;
      expect(w.ref).toBe(f.fref);
      cache.refs.set(w.ref as number, Object.freeze(w.from as FromMap));
      const read = readMsgFrame(byRef.subarray(4), cache)!;
      expect({ ...read, payload: undefined }).toEqual({ ...expected, payload: undefined });
      expect(Buffer.from(read.payload).equals(Buffer.from(expected.payload))).toBe(true);
      byRefs++;
    }
    expect(byRefs).toBeGreaterThan(50);
  });
});

describe('readPubFrame', () => {
  it('agrees with decodeFrame on random frames from encodePub', () => {
    const r = rng(11);
    const cache = new ReadCache();
    for (let i = 0; i < 3000; i++) {
      const body = pubBody(randomPub(r));
      agreesPub(body, readPubFrame(body, cache));
    }
  });

  it('reads in place (readPubFrameAt) what it reads from a body, at any offset, and nothing past end', () => {
    const r = rng(14);
    const cache = new ReadCache();
    for (let i = 0; i < 1000; i++) {
      const body = pubBody(randomPub(r));
      const before = Math.floor(r() * 9);
      const chunk = Buffer.concat([Buffer.alloc(before, 0xf5), body, Buffer.alloc(3, 0x01)]);
      const got = readPubFrameAt(chunk, before, before + body.length, cache, 32);
      agreesPub(body, got);
      // The views are into the chunk, where the frame lies.
      expect(got!.shared.buffer).toBe(chunk.buffer);
      expect(Buffer.from(got!.shared).equals(Buffer.from(readPubFrame(body)!.shared))).toBe(true);
      // One byte short of the frame is not the frame.
      expect(readPubFrameAt(chunk, before, before + body.length - 1, cache, 32)).toBeUndefined();
    }
  });

  it('reads the hand-built full layout and the smallest one', () => {
    const full = mapBytes(pubPairs());
    agreesPub(full, readPubFrame(full));
    const small = mapBytes(pubPairs().slice(0, 3));
    const got = readPubFrame(small);
    expect(got).toMatchObject({ topic: 'cam.1.motion', reply: undefined, retain: false, owned: false, hdr: undefined, id: undefined, confirm: false });
    agreesPub(small, got);
  });

  it('returns undefined for every layout the client does not write', () => {
    for (const [what, body] of unusual(pubPairs)) {
      expect({ what, got: readPubFrame(body) }).toEqual({ what, got: undefined });
    }
    // A generic encoder's pub with a non-uint id: the broker ignores such an id; the reader refuses.
    expect(readPubFrame(encodeFrame({ op: 'pub', topic: 'a', payload: Buffer.alloc(1), id: 'x' }).subarray(4))).toBeUndefined();
    // A msg frame is not a pub frame, and the other way round.
    expect(readPubFrame(mapBytes(msgPairs()))).toBeUndefined();
    expect(readMsgFrame(mapBytes(pubPairs()))).toBeUndefined();
  });

  it('returns undefined for every truncation and any trailing byte', () => {
    const r = rng(12);
    for (let i = 0; i < 50; i++) {
      const body = pubBody({ topic: topic(r), payload: payload(r).subarray(0, 40), reply: topic(r), retain: true, owned: true, hdr: hdr(r), id: uint(r), confirm: true });
      for (let n = 0; n < body.length; n++) expect(readPubFrame(body.subarray(0, n))).toBeUndefined();
      expect(readPubFrame(Buffer.concat([body, Buffer.from([int(r, 256)])]))).toBeUndefined();
    }
  });

  it('matches generic frames byte for byte when the generic encoder happens to write the same layout', () => {
    // cbor-x writes minimal heads and keeps key order: the same bytes, so the same answer.
    const body = encodeFrame({ op: 'pub', topic: 'a.b', payload: Buffer.from([1, 2]), reply: 'c', id: 3 }).subarray(4);
    // The views are plain Uint8Arrays over the body's memory (ReadCache.slice).
    expect(readPubFrame(body)).toEqual({ topic: 'a.b', payload: new Uint8Array([1, 2]), reply: 'c', retain: false, owned: false, hdr: undefined, id: 3, confirm: false, shared: new Uint8Array(body.subarray(1 + 3 + 4, 1 + 3 + 4 + 6 + 4 + 8 + 3)) });
  });

  it('hands the broker topic and payload pairs from which it writes the same msg frame as from a built message', () => {
    // The broker borrows `shared` instead of copying topic and payload (message.ts): every
    // delivery must come out byte for byte as from a message built field by field.
    const r = rng(12);
    let borrowed = 0;
    for (let i = 0; i < 2000; i++) {
      const p = randomPub(r);
      const got = readPubFrame(pubBody(p))!;
      const from = origin(r);
      const built = new Published(got.topic, got.payload, got.reply, got.hdr, false, from);
      const lent = new Published(got.topic, got.payload, got.reply, got.hdr, false, from, undefined, got.shared);
      const sid = uint(r) || 1;
      const seq = uint(r);
      const a = Buffer.alloc(msgFrameSize(sid, seq, built));
      const b = Buffer.alloc(msgFrameSize(sid, seq, lent));
      expect(a.length).toBe(b.length);
      writeMsgFrame(a, 0, sid, seq, built);
      writeMsgFrame(b, 0, sid, seq, lent);
      expect(b.equals(a)).toBe(true);
      expect(Buffer.from(lent.payload).equals(Buffer.from(built.payload))).toBe(true);
      if (got.reply === undefined && got.hdr === undefined) {
        // Borrowed: the same memory as the frame, not a copy.
        const view = lent.body;
        expect([view.buffer, view.byteOffset, view.length]).toEqual([got.shared.buffer, got.shared.byteOffset, got.shared.length]);
        borrowed++;
      }
    }
    expect(borrowed).toBeGreaterThan(100);
  });
});

describe('fuzz: whatever the readers accept, decodeFrame reads the same', () => {
  function mutate(r: Rand, b: Buffer): Buffer {
    const out = Buffer.from(b);
    const k = 1 + int(r, 3);
    let cur = out;
    for (let j = 0; j < k; j++) {
      const op = int(r, 5);
      const at = int(r, Math.max(1, cur.length));
      if (op === 0 || cur.length === 0) {
        cur = Buffer.concat([cur.subarray(0, at), Buffer.from([int(r, 256)]), cur.subarray(at)]);
      } else if (op === 1) {
        cur = Buffer.concat([cur.subarray(0, at), cur.subarray(at + 1)]);
      } else if (op === 2) {
        cur = cur.subarray(0, at);
      } else if (op === 3) {
        cur[at] = cur[at]! ^ (1 << int(r, 8));
      } else {
        // Heads and small values are where the interesting bytes are: pick one near the start.
        cur[int(r, Math.min(cur.length, 64))] = pick(r, [0x00, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1f, 0x5f, 0x7f, 0xbf, 0xff, 0xf4, 0xf5, 0xf6, 0xa0, 0xab, 0x60, 0x40, 0xc0, 0xd8]);
      }
    }
    return cur;
  }

  it('20,000 mutations of msg and pub frames', () => {
    const r = rng(21);
    const cache = new ReadCache();
    let accepted = 0;
    for (let i = 0; i < 10_000; i++) {
      const m = new Published(topic(r), payload(r).subarray(0, 64), r() < 0.3 ? topic(r) : undefined, r() < 0.3 ? hdr(r) : undefined, r() < 0.3, r() < 0.7 ? origin(r) : undefined, r() < 0.3 ? { mid: uint(r), redelivered: r() < 0.5 } : undefined);
      const body = mutate(r, msgBody(uint(r) || 1, uint(r), m));
      const got = readMsgFrame(body, cache);
      if (got !== undefined) {
        accepted++;
        const d = diffMsg(body, got);
        if (d !== null) expect.fail(`${d} differs in ${body.toString('hex')}`);
      }
      const pbody = mutate(r, pubBody({ ...randomPub(r), payload: payload(r).subarray(0, 64) }));
      const pgot = readPubFrame(pbody);
      if (pgot !== undefined) {
        accepted++;
        const d = diffPub(pbody, pgot);
        if (d !== null) expect.fail(`${d} differs in ${pbody.toString('hex')}`);
      }
    }
    // Some mutations keep the layout (a changed payload byte, a different topic letter).
    expect(accepted).toBeGreaterThan(1000);
  });
});
