/**
 * The on-disk format of a durable log: segment header, message record, seal record. Integers are
 * big-endian (like the wire protocol); 64-bit fields hold values below 2^53.
 *
 * Segment file `<firstMid, 20 digits>.seg`:
 *
 *   header (16 bytes)   magic "UDSD" u32 · version u8 (=1) · 3 zero bytes · firstMid u64
 *   record …            one per message, mids firstMid, firstMid+1, … without gaps
 *   seal (optional)     written when the segment is closed for appends; always last
 *
 * Every record (message or seal):
 *
 *   len  u32            length of `body` (not counting these 8 bytes)
 *   crc  u32            CRC-32 (IEEE) of `body`
 *   body                type u8, then the fields of that type
 *
 * Message body (type 1):
 *   mid u64 · time u64 (ms since epoch) · topicLen u16 · hdrLen u32 · topic (UTF-8) ·
 *   hdr (hdrLen bytes; 0 = no headers) · payload (the rest of the body)
 *   hdr = count u16, then per entry keyLen u16 · key (UTF-8) · valueLen u16 · value (UTF-8)
 *
 * Seal body (type 2, 37 bytes, so a seal record is 45 bytes):
 *   firstMid u64 · lastMid u64 · count u32 · minTime u64 · maxTime u64
 *
 * The CRC does not cover `len`, but a wrong `len` makes the CRC run over the wrong bytes, which
 * fails just as surely. A segment is valid up to the first record that is short, has an
 * impossible length, fails its CRC, has an unknown type, inconsistent field lengths, or a mid
 * other than the one that must come next; recovery cuts the file there.
 */
import { Buffer } from 'node:buffer';
import { crc32 } from './crc32.js';
import { closeSync, readSync } from 'node:fs';

export const SEGMENT_MAGIC = 0x55445344; // "UDSD"
export const FORMAT_VERSION = 1;
export const SEGMENT_HEADER_BYTES = 16;
export const RECORD_HEAD_BYTES = 8;
export const TYPE_MESSAGE = 1;
export const TYPE_SEAL = 2;
/** type + mid + time + topicLen + hdrLen */
export const MESSAGE_FIXED_BYTES = 1 + 8 + 8 + 2 + 4;
export const SEAL_BODY_BYTES = 1 + 8 + 8 + 4 + 8 + 8;
export const SEAL_RECORD_BYTES = RECORD_HEAD_BYTES + SEAL_BODY_BYTES;
/** Largest record body accepted on append and believed on recovery (the wire allows < 16 MiB). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
const TWO32 = 2 ** 32;

export function segmentName(firstMid: number): string {
  return `${String(firstMid).padStart(20, '0')}.seg`;
}

/** The first mid a segment file name stands for, or undefined for any other file. */
export function parseSegmentName(name: string): number | undefined {
  if (!/^\d{20}\.seg$/.test(name)) return undefined;
  const mid = Number(name.slice(0, 20));
  return Number.isSafeInteger(mid) && mid >= 1 ? mid : undefined;
}

export function writeU64(buf: Buffer, value: number, offset: number): void {
  buf.writeUInt32BE(Math.floor(value / TWO32), offset);
  buf.writeUInt32BE(value >>> 0, offset + 4);
}

/** Reads a u64; values ≥ 2^53 (never written by us) come back as NaN so checks reject them. */
export function readU64(buf: Buffer, offset: number): number {
  const hi = buf.readUInt32BE(offset);
  if (hi > 0x1fffff) return Number.NaN;
  return hi * TWO32 + buf.readUInt32BE(offset + 4);
}

export function encodeSegmentHeader(firstMid: number): Buffer {
  const b = Buffer.alloc(SEGMENT_HEADER_BYTES);
  b.writeUInt32BE(SEGMENT_MAGIC, 0);
  b.writeUInt8(FORMAT_VERSION, 4);
  writeU64(b, firstMid, 8);
  return b;
}

/** Why a segment header is not the one expected, or undefined when it is. */
export function checkSegmentHeader(b: Buffer, firstMid: number): string | undefined {
  if (b.length < SEGMENT_HEADER_BYTES) return 'truncated segment header';
  if (b.readUInt32BE(0) !== SEGMENT_MAGIC) return 'bad segment magic';
  if (b.readUInt8(4) !== FORMAT_VERSION) return `unsupported segment version ${b.readUInt8(4)}`;
  if (readU64(b, 8) !== firstMid) return 'segment header does not match its file name';
  return undefined;
}

// Topics and header names are short and almost always ASCII; a JS loop beats the C++ round
// trip of Buffer.byteLength / buf.write for them (measured: ~15% of an append).
const SHORT = 64;

/** UTF-8 length of `s`. */
export function utf8Length(s: string): number {
  if (s.length <= SHORT) {
    let i = 0;
    while (i < s.length && s.charCodeAt(i) < 0x80) i++;
    if (i === s.length) return i;
  }
  return Buffer.byteLength(s);
}

/** Writes `s` as UTF-8 at `p`; returns the bytes written. */
function putString(out: Buffer, s: string, p: number): number {
  if (s.length <= SHORT) {
    let i = 0;
    for (; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) break;
      out[p + i] = c;
    }
    if (i === s.length) return i;
  }
  return out.write(s, p, 'utf8');
}

/** Headers measured once, so the record can be sized before anything is written. */
export type EncodedHeaders = { entries: Array<[string, string, number, number]>; bytes: number };

export function measureHeaders(hdr: Record<string, string> | undefined): EncodedHeaders | undefined {
  if (hdr === undefined) return undefined;
  const entries: Array<[string, string, number, number]> = [];
  let bytes = 2;
  for (const [k, v] of Object.entries(hdr)) {
    if (typeof v !== 'string') throw new TypeError(`header ${JSON.stringify(k)} must be a string`);
    const kl = utf8Length(k);
    const vl = utf8Length(v);
    if (kl > 0xffff || vl > 0xffff) throw new RangeError(`header ${JSON.stringify(k)} is longer than 65535 bytes`);
    entries.push([k, v, kl, vl]);
    bytes += 4 + kl + vl;
  }
  if (entries.length > 0xffff) throw new RangeError('more than 65535 headers');
  return { entries, bytes };
}

/** Size of a message record (head + body) for these parts. */
export function messageRecordBytes(topicBytes: number, hdr: EncodedHeaders | undefined, payloadBytes: number): number {
  return RECORD_HEAD_BYTES + MESSAGE_FIXED_BYTES + topicBytes + (hdr?.bytes ?? 0) + payloadBytes;
}

/** Writes a complete message record into `out` (sized by messageRecordBytes) at 0. */
export function encodeMessage(
  out: Buffer,
  mid: number,
  time: number,
  topic: string,
  topicBytes: number,
  hdr: EncodedHeaders | undefined,
  payload: Uint8Array,
): number {
  const size = messageRecordBytes(topicBytes, hdr, payload.length);
  let p = RECORD_HEAD_BYTES;
  out.writeUInt8(TYPE_MESSAGE, p);
  writeU64(out, mid, p + 1);
  writeU64(out, time, p + 9);
  out.writeUInt16BE(topicBytes, p + 17);
  out.writeUInt32BE(hdr?.bytes ?? 0, p + 19);
  p += MESSAGE_FIXED_BYTES;
  p += putString(out, topic, p);
  if (hdr !== undefined) {
    out.writeUInt16BE(hdr.entries.length, p);
    p += 2;
    for (const [k, v, kl, vl] of hdr.entries) {
      out.writeUInt16BE(kl, p);
      p += 2;
      p += putString(out, k, p);
      out.writeUInt16BE(vl, p);
      p += 2;
      p += putString(out, v, p);
    }
  }
  out.set(payload, p);
  const body = out.subarray(RECORD_HEAD_BYTES, size);
  out.writeUInt32BE(body.length, 0);
  out.writeUInt32BE(crc32(body), 4);
  return size;
}

export type SealInfo = { firstMid: number; lastMid: number; count: number; minTime: number; maxTime: number };

export function encodeSeal(s: SealInfo): Buffer {
  const out = Buffer.alloc(SEAL_RECORD_BYTES);
  const p = RECORD_HEAD_BYTES;
  out.writeUInt8(TYPE_SEAL, p);
  writeU64(out, s.firstMid, p + 1);
  writeU64(out, s.lastMid, p + 9);
  out.writeUInt32BE(s.count, p + 17);
  writeU64(out, s.minTime, p + 21);
  writeU64(out, s.maxTime, p + 29);
  out.writeUInt32BE(SEAL_BODY_BYTES, 0);
  out.writeUInt32BE(crc32(out.subarray(p)), 4);
  return out;
}

/** A message record parsed in place: `buf` is a view valid until the reader's next call. */
export type MessageView = {
  type: 'message';
  /** Bytes the record occupies in the file (head + body). */
  size: number;
  mid: number;
  time: number;
  buf: Buffer;
  topicStart: number;
  topicEnd: number;
  hdrStart: number;
  hdrEnd: number;
  payloadStart: number;
  payloadEnd: number;
};
export type SealView = { type: 'seal'; size: number } & SealInfo;
export type RecordView = MessageView | SealView;
export type ParseResult = RecordView | { type: 'end' } | { type: 'bad'; reason: string };

/**
 * Reads a file through one reusable buffer: sequential records cost one read per buffer-full,
 * and memory stays at the buffer size whatever the file size (a record larger than the buffer
 * gets a one-off buffer of its own).
 */
export class ChunkReader {
  private start = 0;
  private len = 0;

  constructor(
    private fd: number,
    /** File offset at which valid data ends; nothing at or past it is read. */
    private limit: number,
    private readonly buf: Buffer,
  ) {}

  /**
   * Points the reader at (the same file's) descriptor and a new limit, keeping what it has
   * buffered: the file only grows past the old limit, so those bytes are still right. Whoever
   * truncates or replaces the file must make a new reader instead.
   */
  retarget(fd: number, limit: number): void {
    this.fd = fd;
    this.limit = limit;
    if (this.start + this.len > limit) this.len = Math.max(0, limit - this.start);
  }

  /** Exactly `n` bytes at `offset`, or undefined when the limit comes first. */
  view(offset: number, n: number): Buffer | undefined {
    if (offset + n > this.limit) return undefined;
    if (offset >= this.start && offset + n <= this.start + this.len) {
      return this.buf.subarray(offset - this.start, offset - this.start + n);
    }
    if (n > this.buf.length) {
      const big = Buffer.allocUnsafe(n);
      return readFully(this.fd, big, n, offset) === n ? big : undefined;
    }
    const want = Math.min(this.buf.length, this.limit - offset);
    this.start = offset;
    this.len = readFully(this.fd, this.buf, want, offset);
    return this.len >= n ? this.buf.subarray(0, n) : undefined;
  }

  /** Parses the record at `offset`; 'end' exactly at the limit. */
  parse(offset: number): ParseResult {
    if (offset === this.limit) return { type: 'end' };
    const head = this.view(offset, RECORD_HEAD_BYTES);
    if (head === undefined) return { type: 'bad', reason: 'truncated record header' };
    const len = head.readUInt32BE(0);
    const crc = head.readUInt32BE(4);
    if (len < MESSAGE_FIXED_BYTES || len > MAX_BODY_BYTES) return { type: 'bad', reason: `impossible record length ${len}` };
    const whole = this.view(offset, RECORD_HEAD_BYTES + len);
    if (whole === undefined) return { type: 'bad', reason: 'truncated record' };
    const body = whole.subarray(RECORD_HEAD_BYTES);
    if (crc32(body) !== crc) return { type: 'bad', reason: 'CRC mismatch' };
    const size = RECORD_HEAD_BYTES + len;
    const type = body.readUInt8(0);
    if (type === TYPE_SEAL) {
      if (len !== SEAL_BODY_BYTES) return { type: 'bad', reason: 'seal record of the wrong length' };
      return {
        type: 'seal',
        size,
        firstMid: readU64(body, 1),
        lastMid: readU64(body, 9),
        count: body.readUInt32BE(17),
        minTime: readU64(body, 21),
        maxTime: readU64(body, 29),
      };
    }
    if (type !== TYPE_MESSAGE) return { type: 'bad', reason: `unknown record type ${type}` };
    const mid = readU64(body, 1);
    const time = readU64(body, 9);
    const topicLen = body.readUInt16BE(17);
    const hdrLen = body.readUInt32BE(19);
    const topicStart = RECORD_HEAD_BYTES + MESSAGE_FIXED_BYTES;
    const hdrStart = topicStart + topicLen;
    const payloadStart = hdrStart + hdrLen;
    if (!Number.isFinite(mid) || !Number.isFinite(time) || payloadStart > size || (hdrLen !== 0 && hdrLen < 2)) {
      return { type: 'bad', reason: 'inconsistent record fields' };
    }
    if (hdrLen > 0 && !headersWellFormed(whole, hdrStart, payloadStart)) return { type: 'bad', reason: 'malformed header block' };
    return {
      type: 'message',
      size,
      mid,
      time,
      buf: whole,
      topicStart,
      topicEnd: hdrStart,
      hdrStart,
      hdrEnd: payloadStart,
      payloadStart,
      payloadEnd: size,
    };
  }
}

function headersWellFormed(b: Buffer, start: number, end: number): boolean {
  const n = b.readUInt16BE(start);
  let p = start + 2;
  for (let i = 0; i < n; i++) {
    if (p + 2 > end) return false;
    p += 2 + b.readUInt16BE(p);
    if (p + 2 > end) return false;
    p += 2 + b.readUInt16BE(p);
  }
  return p === end;
}

/** Decodes the header block of a message view (checked by parse); undefined when there is none. */
export function decodeHeaders(v: MessageView): Record<string, string> | undefined {
  if (v.hdrEnd === v.hdrStart) return undefined;
  const b = v.buf;
  const n = b.readUInt16BE(v.hdrStart);
  let p = v.hdrStart + 2;
  const out: Record<string, string> = {};
  for (let i = 0; i < n; i++) {
    const kl = b.readUInt16BE(p);
    const k = b.toString('utf8', p + 2, p + 2 + kl);
    p += 2 + kl;
    const vl = b.readUInt16BE(p);
    const value = b.toString('utf8', p + 2, p + 2 + vl);
    // A plain assignment to "__proto__" would be swallowed; define it as an own property instead.
    if (k === '__proto__') Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true });
    else out[k] = value;
    p += 2 + vl;
  }
  return out;
}

/** pread until `n` bytes or end of file; returns the bytes read. */
export function readFully(fd: number, buf: Buffer, n: number, position: number): number {
  let got = 0;
  while (got < n) {
    const r = readSync(fd, buf, got, n - got, position + got);
    if (r === 0) break;
    got += r;
  }
  return got;
}

export function closeQuietly(fd: number | undefined): void {
  if (fd === undefined) return;
  try {
    closeSync(fd);
  } catch {
    // Already closed or never valid: nothing left to release.
  }
}
