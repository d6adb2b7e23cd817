/**
 * The outbound queue's ring (bus/broker/out-ring.ts) holds each queued frame as bytes in its own
 * buffer, moving them when it compacts or grows. Random pushes, drops of a subscription's oldest
 * or of its newest per topic, and drains from the head are checked against a plain array model:
 * the same entries stay live, in the same order, and every frame's bytes are the ones written.
 */
import { describe, expect, it } from 'vitest';
import { OutRing, type RingSub } from '../bus/broker/out-ring.js';

type Sub = RingSub & { id: number };
type Entry = { pos: number; sub: Sub | undefined; seq: number; bytes: Uint8Array; topic: string | undefined };

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function frame(r: () => number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = Math.floor(r() * 256);
  return b;
}

function check(ring: OutRing<Sub>, model: Entry[]): void {
  expect(ring.live).toBe(model.length);
  for (const e of model) {
    expect(ring.isLive(e.pos)).toBe(true);
    expect(ring.subAt(e.pos)).toBe(e.sub);
    expect(ring.seqAt(e.pos)).toBe(e.seq);
    expect(Buffer.from(ring.frameAt(e.pos)).equals(Buffer.from(e.bytes))).toBe(true);
  }
}

describe('OutRing', () => {
  it('keeps every live frame intact and in order through random pushes, drops and drains', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const r = rng(seed);
      const subs: Sub[] = [0, 1, 2].map((id) => ({ id, qPos: [], qPosHead: 0, qGen: 0, byTopic: new Map() }));
      const ring = new OutRing<Sub>();
      let model: Entry[] = [];
      let seq = 0;
      for (let step = 0; step < 4000; step++) {
        const op = r();
        if (op < 0.55) {
          // A frame from 1 byte to 20 KiB, so compaction and growth both happen.
          const size = r() < 0.1 ? 1 + Math.floor(r() * 20_000) : 1 + Math.floor(r() * 300);
          const bytes = frame(r, size);
          const sub = r() < 0.1 ? undefined : subs[Math.floor(r() * subs.length)]!;
          const topic = sub !== undefined && r() < 0.5 ? `t${Math.floor(r() * 4)}` : undefined;
          // latest-per-topic: the newer delivery on a topic replaces the queued one.
          if (sub !== undefined && topic !== undefined) {
            const old = ring.latestOf(sub, topic);
            const inModel = model.find((e) => e.sub === sub && e.topic === topic);
            expect(old).toBe(inModel?.pos ?? -1);
            if (old >= 0) {
              ring.kill(old);
              model = model.filter((e) => e.pos !== old);
            }
          }
          const off = ring.reserve(size);
          ring.buf.set(bytes, off);
          const pos = ring.push(sub, off, ++seq, size, topic);
          if (sub !== undefined && topic !== undefined) sub.byTopic!.set(topic, pos);
          model.push({ pos, sub, seq, bytes, topic });
        } else if (op < 0.8) {
          // Drop a subscription's oldest (drop-oldest at a full share).
          const sub = subs[Math.floor(r() * subs.length)]!;
          const pos = ring.oldestOf(sub);
          const want = model.find((e) => e.sub === sub);
          expect(pos).toBe(want?.pos ?? -1);
          if (pos >= 0) {
            ring.kill(pos);
            model = model.filter((e) => e.pos !== pos);
            ring.maybeCompact();
          }
        } else {
          // Drain a few from the head, as pump does.
          const n = 1 + Math.floor(r() * 8);
          for (let k = 0; k < n; k++) {
            const pos = ring.first();
            expect(pos).toBe(model[0]?.pos ?? -1);
            if (pos < 0) {
              // Positions start over at 0 after the ring ran empty; the model's are gone with it.
              break;
            }
            expect(Buffer.from(ring.frameAt(pos)).equals(Buffer.from(model[0]!.bytes))).toBe(true);
            ring.kill(pos);
            model.shift();
          }
        }
        if (step % 97 === 0) check(ring, model);
      }
      check(ring, model);
      // Drain all: frames come out in push order.
      for (let pos = ring.first(); pos >= 0; pos = ring.first()) {
        expect(Buffer.from(ring.frameAt(pos)).equals(Buffer.from(model.shift()!.bytes))).toBe(true);
        ring.kill(pos);
      }
      expect(model).toEqual([]);
      expect(ring.live).toBe(0);
    }
  });

  it('a queue turned over many times by drop-oldest wraps around its buffer: no growth, no copies', () => {
    const sub: Sub = { id: 0, qPos: [], qPosHead: 0, qGen: 0, byTopic: undefined };
    const ring = new OutRing<Sub>();
    const size = 250;
    const keep = 4000; // ~1 MB live
    let largest = 0;
    let settled: Buffer | undefined;
    let moves = 0;
    let wraps = 0;
    let last = -1;
    const at: number[] = [];
    for (let i = 0; i < 200_000; i++) {
      if (ring.live >= keep) ring.kill(ring.oldestOf(sub));
      const off = ring.reserve(size);
      if (off < last) wraps++;
      last = off;
      ring.buf.fill(i & 0xff, off, off + size);
      ring.push(sub, off, i, size);
      largest = Math.max(largest, ring.buf.length);
      at[i] = off;
      // Once full, no frame is moved: the oldest is still where it was written, in the same buffer.
      if (i === 20_000) settled = ring.buf;
      if (i > 20_000) {
        const oldest = ring.oldestOf(sub);
        const f = ring.frameAt(oldest);
        if (ring.buf !== settled || f.byteOffset - ring.buf.byteOffset !== at[ring.seqAt(oldest)]) moves++;
      }
    }
    expect(ring.live).toBe(keep);
    expect(largest).toBeLessThanOrEqual(4 * keep * size);
    expect(moves).toBe(0);
    expect(wraps).toBeGreaterThan(10);
    // The survivors are the newest, intact.
    let want = 200_000 - keep;
    for (let pos = ring.first(); pos >= 0; pos = ring.first()) {
      const f = ring.frameAt(pos);
      expect(ring.seqAt(pos)).toBe(want);
      expect(f.every((b) => b === (want & 0xff))).toBe(true);
      ring.kill(pos);
      want++;
    }
    expect(want).toBe(200_000);
  });
});
