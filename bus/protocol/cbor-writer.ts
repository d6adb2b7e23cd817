/**
 * Writers for the few CBOR heads the hot path builds by hand (the `pub` frame in the client, the
 * `msg` frame in the broker), so a payload's bytes are copied into place once instead of being
 * re-encoded per subscriber. Everything else goes through cbor-x.
 */

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
  if (n < 0x10000) {
    buf[off] = mt | 25;
    buf.writeUInt16BE(n, off + 1);
    return off + 3;
  }
  if (n < 0x100000000) {
    buf[off] = mt | 26;
    buf.writeUInt32BE(n, off + 1);
    return off + 5;
  }
  buf[off] = mt | 27;
  buf.writeUInt32BE(Math.floor(n / 0x100000000), off + 1);
  buf.writeUInt32BE(n >>> 0, off + 5);
  return off + 9;
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
  off = writeHead(buf, off, 2, bytes.length);
  buf.set(bytes, off);
  return off + bytes.length;
}

/** Pre-encoded text keys and values the hot frames use. */
export function key(s: string): Buffer {
  const b = Buffer.allocUnsafe(asciiSize(s));
  writeAscii(b, 0, s);
  return b;
}
