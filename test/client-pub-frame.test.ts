/**
 * The client writes a byte payload into its `pub` frame without the CBOR encoder (frames.ts,
 * `bytesValue`). That frame must be byte for byte the one the encoder path builds, at every head
 * size of both byte strings it nests, with and without the optional fields.
 */
import { describe, expect, it } from 'vitest';
import { encodePub, pubSize, writePub, type PubFields } from '../bus/client/frames.js';
import { decodeFrame, decodeValue, encodeValue } from '../bus/protocol/codec.js';

const SIZES = [0, 1, 21, 22, 23, 24, 252, 253, 255, 256, 65_532, 65_533, 65_535, 65_536, 70_000];
const EXTRAS: Array<Partial<PubFields>> = [{}, { reply: '_INBOX.x.1', id: 7 }, { retain: true, owned: true, hdr: { k: 'v' } }, { id: 300, confirm: true }];

function bytes(n: number): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7) & 0xff;
  return b;
}

describe('pub frame with a byte payload', () => {
  it('is the frame the encoder path builds, for every head size and optional field', () => {
    let checked = 0;
    for (const n of SIZES) {
      const value = bytes(n);
      for (const extra of EXTRAS) {
        const viaEncoder = encodePub({ topic: 'cam.01.clip', payload: encodeValue(value), ...extra });
        const direct = encodePub({ topic: 'cam.01.clip', payload: Buffer.alloc(0), bytesValue: value, ...extra });
        expect(direct.equals(viaEncoder), `size ${n} ${JSON.stringify(extra)}`).toBe(true);
        const r = decodeFrame(direct.subarray(4));
        expect(r.ok).toBe(true);
        if (r.ok) expect(Buffer.from(decodeValue(r.frame.payload as Uint8Array) as Uint8Array).equals(Buffer.from(value))).toBe(true);
        checked++;
      }
    }
    expect(checked).toBe(SIZES.length * EXTRAS.length);
  });

  it('writes in place at an offset, leaving the bytes around it alone', () => {
    const p: PubFields = { topic: 'a.b', payload: Buffer.alloc(0), bytesValue: bytes(300), hdr: { x: 'y' } };
    const size = pubSize(p);
    const buf = Buffer.alloc(size + 20, 0xee);
    expect(writePub(buf, 10, size, p)).toBe(10 + size);
    expect(buf.subarray(10, 10 + size).equals(encodePub(p))).toBe(true);
    expect(buf.subarray(0, 10).every((x) => x === 0xee) && buf.subarray(10 + size).every((x) => x === 0xee)).toBe(true);
  });
});
