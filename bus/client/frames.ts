/** Client-side frame builders; the `pub` frame is built by hand because it is the hot one. */
import { Buffer } from 'node:buffer';
import { asciiSize, copyInto, headSize, key, writeAscii, writeBytes, writeHead, writeU32 } from '../protocol/cbor-writer.js';
import { encodeValue } from '../protocol/codec.js';

const K_OP = key('op');
const V_PUB = key('pub');
const K_TOPIC = key('topic');
const K_PAYLOAD = key('payload');
const K_REPLY = key('reply');
const K_RETAIN = key('retain');
const K_OWNED = key('owned');
const K_HDR = key('hdr');
const K_ID = key('id');
const K_CONFIRM = key('confirm');
// `op`, "pub", `topic`: the start of every pub map, one copy.
const OP_PUB_TOPIC = Buffer.concat([K_OP, V_PUB, K_TOPIC]);

export type PubFields = {
  topic: string;
  /** The payload's CBOR encoding (empty: no payload). */
  payload: Uint8Array;
  /**
   * Instead of `payload`: a value that is itself a byte string. Its CBOR encoding is a head and
   * the bytes, so it is written straight into the frame without an encoder or a copy of its own.
   */
  bytesValue?: Uint8Array | undefined;
  reply?: string | undefined;
  retain?: boolean | undefined;
  owned?: boolean | undefined;
  hdr?: Record<string, string> | undefined;
  id?: number | undefined;
  confirm?: boolean | undefined;
};

// Headers are encoded once per frame: pubSize encodes them, and the writePub that follows it for
// the same headers object uses those bytes (the size it was given counts them).
let measuredHdr: Record<string, string> | undefined;
let measuredHdrBytes: Buffer = Buffer.alloc(0);

function hdrBytesOf(hdr: Record<string, string>): Buffer {
  return hdr === measuredHdr ? measuredHdrBytes : encodeValue(hdr);
}

/** Bytes of the `payload` field's value: a byte string holding the payload's CBOR. */
function payloadLen(p: PubFields): number {
  const b = p.bytesValue;
  return b === undefined ? p.payload.length : headSize(b.length) + b.length;
}

/** Size of the whole `pub` frame, length prefix included. */
export function pubSize(p: PubFields): number {
  let pairs = 3;
  const plen = payloadLen(p);
  let size = 4 + K_OP.length + V_PUB.length + K_TOPIC.length + asciiSize(p.topic) + K_PAYLOAD.length + headSize(plen) + plen;
  if (p.reply !== undefined) {
    pairs++;
    size += K_REPLY.length + asciiSize(p.reply);
  }
  if (p.retain) {
    pairs++;
    size += K_RETAIN.length + 1;
  }
  if (p.owned) {
    pairs++;
    size += K_OWNED.length + 1;
  }
  if (p.hdr !== undefined) {
    pairs++;
    measuredHdr = p.hdr;
    measuredHdrBytes = encodeValue(p.hdr);
    size += K_HDR.length + measuredHdrBytes.length;
  }
  if (p.id !== undefined) {
    pairs++;
    size += K_ID.length + headSize(p.id);
  }
  if (p.confirm) {
    pairs++;
    size += K_CONFIRM.length + 1;
  }
  return size + headSize(pairs);
}

/** A complete `pub` frame, length prefix included. */
export function encodePub(p: PubFields, size = pubSize(p)): Buffer {
  const buf = Buffer.allocUnsafe(size);
  writePub(buf, 0, size, p);
  return buf;
}

/** Writes the `pub` frame of `size` bytes at `start`, right after pubSize(p) measured it; returns the offset after it. */
export function writePub(buf: Buffer, start: number, size: number, p: PubFields): number {
  let pairs = 3;
  if (p.reply !== undefined) pairs++;
  if (p.retain) pairs++;
  if (p.owned) pairs++;
  if (p.hdr !== undefined) pairs++;
  if (p.id !== undefined) pairs++;
  if (p.confirm) pairs++;
  // Byte loops and stores (copyInto, writeU32), not Buffer#copy/writeUInt32BE: their argument
  // checks cost more than these few bytes (a publisher's perf profile: 8%).
  writeU32(buf, start, size - 4);
  let off = writeHead(buf, start + 4, 5, pairs);
  off = copyInto(buf, off, OP_PUB_TOPIC);
  off = writeAscii(buf, off, p.topic);
  off = copyInto(buf, off, K_PAYLOAD);
  const b = p.bytesValue;
  if (b === undefined) off = writeBytes(buf, off, p.payload);
  else off = writeBytes(buf, writeHead(buf, off, 2, headSize(b.length) + b.length), b);
  if (p.reply !== undefined) {
    off = copyInto(buf, off, K_REPLY);
    off = writeAscii(buf, off, p.reply);
  }
  if (p.retain) {
    off = copyInto(buf, off, K_RETAIN);
    buf[off++] = 0xf5;
  }
  if (p.owned) {
    off = copyInto(buf, off, K_OWNED);
    buf[off++] = 0xf5;
  }
  if (p.hdr !== undefined) {
    off = copyInto(buf, off, K_HDR);
    off = copyInto(buf, off, hdrBytesOf(p.hdr));
  }
  if (p.id !== undefined) {
    off = copyInto(buf, off, K_ID);
    off = writeHead(buf, off, 0, p.id);
  }
  if (p.confirm) {
    off = copyInto(buf, off, K_CONFIRM);
    buf[off++] = 0xf5;
  }
  return off;
}
