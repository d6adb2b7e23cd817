import { describe, expect, it } from 'vitest';
import { FrameParser, type ParseError } from '../bus/protocol/parser.js';
import { encodeFrame } from '../bus/protocol/codec.js';

function collect(maxFrame = 1024 * 1024) {
  const frames: Buffer[] = [];
  const errors: ParseError[] = [];
  const p = new FrameParser(maxFrame, (b) => frames.push(Buffer.from(b)), (e) => errors.push(e));
  return { p, frames, errors };
}

// Deterministic PRNG so a failure can be replayed.
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

const sample = [
  encodeFrame({ op: 'hello', v: 1, name: 'x' }),
  encodeFrame({ op: 'pub', topic: 'a.b', payload: Buffer.alloc(300, 7) }),
  encodeFrame({ op: 'ping' }),
  encodeFrame({ op: 'pub', topic: 'big', payload: Buffer.alloc(70_000, 1) }),
];
const stream = Buffer.concat(sample);
const bodies = sample.map((f) => f.subarray(4));
// Deep equality on big Buffers is slow in vitest; compare digests of the frame list instead.
const same = (got: Buffer[]) => got.length === bodies.length && got.every((b, i) => b.equals(bodies[i]!));

describe('FrameParser', () => {
  it('parses whole frames in one chunk', () => {
    const { p, frames, errors } = collect();
    p.push(stream);
    expect(errors).toEqual([]);
    expect(same(frames)).toBe(true);
  });

  it('parses one byte at a time', () => {
    const { p, frames } = collect();
    for (let i = 0; i < stream.length; i++) p.push(stream.subarray(i, i + 1));
    expect(same(frames)).toBe(true);
  });

  it('parses at random split points (200 runs)', () => {
    const r = rng(42);
    for (let run = 0; run < 200; run++) {
      const { p, frames } = collect();
      let pos = 0;
      while (pos < stream.length) {
        const n = 1 + Math.floor(r() * (r() < 0.5 ? 8 : 20_000));
        p.push(stream.subarray(pos, pos + n));
        pos += n;
      }
      expect(same(frames)).toBe(true);
    }
  });

  it('refuses an oversized frame from its header, before any body arrives', () => {
    const { p, errors, frames } = collect(1000);
    const header = Buffer.alloc(4);
    header.writeUInt32BE(1001);
    p.push(header);
    expect(errors).toEqual([{ code: 'FRAME_TOO_LARGE', text: expect.stringContaining('1001') }]);
    p.push(Buffer.alloc(2000));
    expect(frames).toEqual([]);
  });

  it('refuses a zero length', () => {
    const { p, errors } = collect();
    p.push(Buffer.from([0, 0, 0, 0, 1, 2]));
    expect(errors[0]!.code).toBe('BAD_FRAME');
  });

  it('holds only what was received of a trickled frame', () => {
    const { p } = collect();
    const f = encodeFrame({ op: 'pub', topic: 'x', payload: Buffer.alloc(500_000) });
    p.push(f.subarray(0, 10));
    expect(p.pendingBytes).toBe(6);
    p.push(f.subarray(10, 1010));
    expect(p.pendingBytes).toBe(1006);
  });

  it('survives random bytes (fuzz): every outcome is a frame or a typed error, never a throw', () => {
    const r = rng(7);
    for (let run = 0; run < 500; run++) {
      const { p, errors } = collect(4096);
      const junk = Buffer.alloc(1 + Math.floor(r() * 300));
      for (let i = 0; i < junk.length; i++) junk[i] = Math.floor(r() * 256);
      expect(() => p.push(junk)).not.toThrow();
      for (const e of errors) expect(['FRAME_TOO_LARGE', 'BAD_FRAME']).toContain(e.code);
    }
  });
});
