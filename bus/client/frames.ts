/** Client-side frame builders; the `pub` frame is built by hand because it is the hot one. */
import { asciiSize, headSize, key, writeAscii, writeBytes, writeHead } from '../protocol/cbor-writer.js';
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

export type PubFields = {
  topic: string;
  payload: Uint8Array;
  reply?: string | undefined;
  retain?: boolean | undefined;
  owned?: boolean | undefined;
  hdr?: Record<string, string> | undefined;
  id?: number | undefined;
  confirm?: boolean | undefined;
};

/** A complete `pub` frame, length prefix included. */
export function encodePub(p: PubFields): Buffer {
  const hdrBytes = p.hdr === undefined ? undefined : encodeValue(p.hdr);
  let pairs = 3;
  let size = 4 + K_OP.length + V_PUB.length + K_TOPIC.length + asciiSize(p.topic) + K_PAYLOAD.length + headSize(p.payload.length) + p.payload.length;
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
  if (hdrBytes !== undefined) {
    pairs++;
    size += K_HDR.length + hdrBytes.length;
  }
  if (p.id !== undefined) {
    pairs++;
    size += K_ID.length + headSize(p.id);
  }
  if (p.confirm) {
    pairs++;
    size += K_CONFIRM.length + 1;
  }
  size += headSize(pairs);
  const buf = Buffer.allocUnsafe(size);
  buf.writeUInt32BE(size - 4, 0);
  let off = writeHead(buf, 4, 5, pairs);
  off += K_OP.copy(buf, off);
  off += V_PUB.copy(buf, off);
  off += K_TOPIC.copy(buf, off);
  off = writeAscii(buf, off, p.topic);
  off += K_PAYLOAD.copy(buf, off);
  off = writeBytes(buf, off, p.payload);
  if (p.reply !== undefined) {
    off += K_REPLY.copy(buf, off);
    off = writeAscii(buf, off, p.reply);
  }
  if (p.retain) {
    off += K_RETAIN.copy(buf, off);
    buf[off++] = 0xf5;
  }
  if (p.owned) {
    off += K_OWNED.copy(buf, off);
    buf[off++] = 0xf5;
  }
  if (hdrBytes !== undefined) {
    off += K_HDR.copy(buf, off);
    off += hdrBytes.copy(buf, off);
  }
  if (p.id !== undefined) {
    off += K_ID.copy(buf, off);
    off = writeHead(buf, off, 0, p.id);
  }
  if (p.confirm) {
    off += K_CONFIRM.copy(buf, off);
    buf[off++] = 0xf5;
  }
  return buf;
}
