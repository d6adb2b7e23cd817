/**
 * Writers for the few CBOR heads the hot path builds by hand (the `pub` frame in the client, the
 * `msg` frame in the broker), so a payload's bytes are copied into place once instead of being
 * re-encoded per subscriber. Everything else goes through cbor-x.
 */
import { Buffer } from 'node:buffer';

/** Size of a CBOR head (major type + argument) for the value n. */
export function headSize(n: number): number {
  if (n < 24) return 1;
  if (n < 0x100) return 2;
  if (n < 0x10000) return 3;
  if (n < 0x100000000) return 5;
  return 9;
}

/** Writes a CBOR head; returns the new offset. */
export function writeHead(buf: Buffer, off: number, major: number, n: number): number {
  const mt = major << 5;
  if (n < 24) {
    buf[off] = mt | n;
    return off + 1;
  }
  if (n < 0x100) {
    buf[off] = mt | 24;
    buf[off + 1] = n;
    return off + 2;
  }
  // Byte stores, not writeUInt16BE/32BE: their range checks cost more than the store (hot path).
  if (n < 0x10000) {
    buf[off] = mt | 25;
    buf[off + 1] = n >>> 8;
    buf[off + 2] = n & 0xff;
    return off + 3;
  }
  if (n < 0x100000000) {
    buf[off] = mt | 26;
    writeU32(buf, off + 1, n);
    return off + 5;
  }
  buf[off] = mt | 27;
  buf.writeUInt32BE(Math.floor(n / 0x100000000), off + 1);
  buf.writeUInt32BE(n >>> 0, off + 5);
  return off + 9;
}

/** A big-endian uint32 at `off` (a frame's length prefix, a head's argument). */
export function writeU32(buf: Uint8Array, off: number, n: number): void {
  buf[off] = n >>> 24;
  buf[off + 1] = (n >>> 16) & 0xff;
  buf[off + 2] = (n >>> 8) & 0xff;
  buf[off + 3] = n & 0xff;
}

/**
 * Copies `src` into `buf` at `off`; returns the offset after it. Short runs (keys, small heads)
 * go byte by byte: Uint8Array#set is a builtin call whose overhead exceeds such a copy.
 */
export function copyInto(buf: Uint8Array, off: number, src: Uint8Array): number {
  const n = src.length;
  if (n > 48) {
    buf.set(src, off);
    return off + n;
  }
  for (let i = 0; i < n; i++) buf[off + i] = src[i]!;
  return off + n;
}

/** Size of a text string item holding ASCII text (topics are ASCII by grammar). */
export function asciiSize(s: string): number {
  return headSize(s.length) + s.length;
}

export function writeAscii(buf: Buffer, off: number, s: string): number {
  off = writeHead(buf, off, 3, s.length);
  const n = s.length;
  // Topics are short: a plain loop beats Buffer#write's argument handling (~13% of the broker's
  // time in a fan-out profile went there). Long text takes the native path.
  if (n > 64) return off + buf.write(s, off, 'latin1');
  for (let i = 0; i < n; i++) buf[off + i] = s.charCodeAt(i);
  return off + n;
}

export function writeBytes(buf: Buffer, off: number, bytes: Uint8Array): number {
  return copyInto(buf, writeHead(buf, off, 2, bytes.length), bytes);
}

/** Pre-encoded text keys and values the hot frames use. */
export function key(s: string): Buffer {
  const b = Buffer.allocUnsafe(asciiSize(s));
  writeAscii(b, 0, s);
  return b;
}
