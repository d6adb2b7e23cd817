import { describe, expect, it } from 'vitest';
import { Encoder } from 'cbor-x';
import { checkPortableCbor } from '../bus/protocol/cbor-check.js';
import { decodeFrame, decodeValue, encodeValue } from '../bus/protocol/codec.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');

describe('portable CBOR check', () => {
  it('accepts the subset', () => {
    for (const v of [0, -1, 2 ** 40, -(2 ** 40), 1.5, 'text', true, false, null, [1, [2, [3]]], { a: { b: 'c' } }, Buffer.from([1, 2, 3]), 'ü€𝄞']) {
      expect(checkPortableCbor(encodeValue(v))).toBeNull();
    }
    expect(checkPortableCbor(hex('f7'))).toBeNull(); // undefined
    expect(checkPortableCbor(hex('f93c00'))).toBeNull(); // float16 1.0
  });

  it('rejects tags, indefinite lengths, reserved heads and bad simple values', () => {
    const cases: Array<[string, string]> = [
      ['c11a5f5e1000', 'UNSUPPORTED_CBOR'], // tag 1 date
      ['d9010300', 'UNSUPPORTED_CBOR'], // tag 259
      ['d81c80', 'UNSUPPORTED_CBOR'], // shared ref tag 28
      ['c249010000000000000000', 'UNSUPPORTED_CBOR'], // bignum
      ['5f4101ff', 'UNSUPPORTED_CBOR'], // indefinite bytes
      ['9f01ff', 'UNSUPPORTED_CBOR'], // indefinite array
      ['bf6161 01ff', 'UNSUPPORTED_CBOR'], // indefinite map
      ['ff', 'UNSUPPORTED_CBOR'], // stray break
      ['e0', 'UNSUPPORTED_CBOR'], // simple(0)
      ['f820', 'UNSUPPORTED_CBOR'], // simple(32)
      ['1c', 'BAD_CBOR'], // reserved additional info
      ['62 61', 'BAD_CBOR'], // truncated text
      ['0102', 'BAD_CBOR'], // trailing bytes
      ['9b 00000001 00000000', 'BAD_CBOR'], // array of 2^32 items in 9 bytes
      ['', 'BAD_CBOR'],
    ];
    for (const [h, want] of cases) expect([h, checkPortableCbor(hex(h))]).toEqual([h, want]);
  });

  it('rejects what cbor-x would blow up: packed CBOR, records, typed arrays', () => {
    const risky = new Encoder({ pack: true, useRecords: true } as never);
    const packed = risky.encode([{ aaaaaaaa: 'bbbbbbbbbbbb' }, { aaaaaaaa: 'bbbbbbbbbbbb' }, { aaaaaaaa: 'bbbbbbbbbbbb' }]);
    expect(checkPortableCbor(packed)).toBe('UNSUPPORTED_CBOR');
    const typed = new Encoder({}).encode(new Float32Array([1, 2]));
    expect(checkPortableCbor(typed)).toBe('UNSUPPORTED_CBOR');
  });

  it('answers a lone byte or text string (the short path) exactly as the walk would, at every head width', () => {
    for (const n of [0, 1, 23, 24, 255, 256, 65_535, 65_536]) {
      for (const v of [Buffer.alloc(n, 7), 'a'.repeat(n)]) {
        const item = encodeValue(v);
        // In the middle of a larger buffer: only [start, end) counts.
        const buf = Buffer.concat([Buffer.from([0xff, 0xff]), item, Buffer.from([0x01, 0xff])]);
        const s = 2;
        const e = 2 + item.length;
        expect(checkPortableCbor(buf, s, e)).toBeNull();
        expect(checkPortableCbor(buf, s, e - 1)).toBe('BAD_CBOR'); // truncated
        expect(checkPortableCbor(buf, s, e + 1)).toBe('BAD_CBOR'); // a trailing byte
      }
    }
  });

  it('enforces the nesting limit', () => {
    const deep = Buffer.concat([Buffer.alloc(40, 0x81), Buffer.from([0x01])]);
    expect(checkPortableCbor(deep, 0, deep.length, 32)).toBe('TOO_DEEP');
    expect(checkPortableCbor(deep, 0, deep.length, 41)).toBeNull();
  });

  it('decodeFrame returns typed problems and never throws on junk', () => {
    expect(decodeFrame(hex('c100'))).toMatchObject({ ok: false, problem: 'UNSUPPORTED_CBOR' });
    expect(decodeFrame(hex('83010203'))).toMatchObject({ ok: false, problem: 'BAD_FRAME' });
    let seed = 3;
    for (let i = 0; i < 2000; i++) {
      const b = Buffer.alloc(1 + (i % 40));
      for (let j = 0; j < b.length; j++) b[j] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      expect(() => decodeFrame(b)).not.toThrow();
    }
  });

  it('encodeValue refuses values that would need tags and decodeValue round-trips the rest', () => {
    expect(() => encodeValue(new Date())).toThrow(/UNSUPPORTED_CBOR/);
    expect(() => encodeValue(new Set([1]))).toThrow(/UNSUPPORTED_CBOR/);
    expect(decodeValue(encodeValue({ m: new Map([['k', 1]]), u: new Uint8Array([9]) }))).toEqual({ m: { k: 1 }, u: Buffer.from([9]) });
    expect(decodeValue(Buffer.alloc(0))).toBeUndefined();
  });
});
