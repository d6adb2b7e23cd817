/**
 * Fixed-shape reader for the broker's `msg` frame, as `writeMsgFrame` (broker/message.ts) lays it
 * out: a map of `op`, `sid`, `seq`, `topic`, `payload`, then any of `reply`, `hdr`, `retained`,
 * `from` (or `fref`, a reference the cache was told by `who`), `mid`, `redelivered` in that
 * order, with minimal heads and ASCII text. Anything else
 * (another key order, extra keys, padded or indefinite heads, non-ASCII text, `retained: false`,
 * truncation, trailing bytes) returns undefined and the caller uses `decodeFrame` (codec.ts),
 * which reads every valid frame. The reader never throws and never allocates for the payload.
 *
 * Example:
 *   const cache = new ReadCache(); // one per connection
 *   const m = readMsgFrame(body, cache) ?? slowPath(decodeFrame(body));
 *   // The hot path: no object per frame, the payload as offsets into the read buffer.
 *   const f = new MsgFields(); // one per connection
 *   if (readMsgFrameAt(chunk, start, end, f, cache, maxNesting)) deliver(f, chunk);
 */
import { Buffer } from 'node:buffer';
import { asciiAt, bytesAt, cursor, decodeHeaders, keyAt, ReadCache, skipFlatMap, uintAt, wordKey, wordsAt, type FromMap } from './fixed-shape.js';
import { key } from './cbor-writer.js';

export { ReadCache, type FromMap } from './fixed-shape.js';

/** One `msg` frame as read by `readMsgFrame`; field for field what `decodeFrame` yields. */
export type MsgFrame = {
  readonly sid: number;
  readonly seq: number;
  readonly topic: string;
  /** The payload's CBOR bytes: a view into the frame body, not decoded, not copied. */
  readonly payload: Uint8Array;
  readonly reply: string | undefined;
  /** Decoded through the checked path (checkPortableCbor, then cbor-x); text to text. */
  readonly hdr: Readonly<Record<string, string>> | undefined;
  /** True only when the frame says `retained: true` (the broker omits the key otherwise). */
  readonly retained: boolean;
  /** The publisher's `from` map, decoded once per distinct bytes by the ReadCache; frozen. */
  readonly from: FromMap | undefined;
  readonly mid: number | undefined;
  readonly redelivered: boolean;
};

// `op`, "msg", `sid` are always the first three keys' bytes after the map head.
const PREFIX = wordKey(Buffer.concat([key('op'), key('msg'), key('sid')]));
const K_SEQ = wordKey(key('seq'));
const K_TOPIC = wordKey(key('topic'));
const K_PAYLOAD = wordKey(key('payload'));
// Optional keys, in the order the broker writes them.
const OPTIONAL = [key('reply'), key('hdr'), key('retained'), key('from'), key('mid'), key('redelivered')] as const;
const [K_REPLY, K_HDR, K_RETAINED, K_FROM, K_MID, K_REDELIVERED] = OPTIONAL;
// In place of `from`, for a connection that takes it by reference (hello `fromRefs`).
const K_FREF = wordKey(key('fref'));
const TRUE = 0xf5;

// For callers without a connection of their own (tools, tests); memoised values are immutable.
const defaultCache = new ReadCache();

/**
 * What `readMsgFrameAt` read: one per connection, overwritten by every frame, so reading a
 * delivery allocates nothing. The payload is `pstart..pend` of the buffer that was read.
 */
export class MsgFields {
  sid = 0;
  seq = 0;
  topic = '';
  pstart = 0;
  pend = 0;
  reply: string | undefined = undefined;
  hdr: Readonly<Record<string, string>> | undefined = undefined;
  retained = false;
  from: FromMap | undefined = undefined;
  mid: number | undefined = undefined;
  redelivered = false;
}

/**
 * Reads a `msg` frame body (without its 4-byte length prefix), or returns undefined for anything
 * that is not exactly the broker's layout. `cache` decodes repeated `from` maps once and
 * remembers the last topic; give each connection its own. `maxNesting` is the limit `decodeFrame` would apply (a frame with `hdr` or
 * `from` nests 2 deep).
 */
export function readMsgFrame(body: Uint8Array, cache: ReadCache = defaultCache, maxNesting = 32): MsgFrame | undefined {
  const f = new MsgFields();
  if (!readMsgFrameAt(body, 0, body.length, f, cache, maxNesting)) return undefined;
  return { sid: f.sid, seq: f.seq, topic: f.topic, payload: body.subarray(f.pstart, f.pend), reply: f.reply, hdr: f.hdr, retained: f.retained, from: f.from, mid: f.mid, redelivered: f.redelivered };
}

/**
 * The same reader over `b[start..end)`, filling `out`; false (and `out` untouched) for anything
 * that is not exactly the broker's layout.
 */
export function readMsgFrameAt(b: Uint8Array, start: number, end: number, out: MsgFields, cache: ReadCache, maxNesting: number): boolean {
  // 5 required pairs, at most 6 optional ones: the map head is always one byte, 0xa5..0xab.
  const head = start < end ? b[start]! : -1;
  if (head < 0xa5 || head > 0xab || maxNesting < 1) return false;
  const v = cache.view(b);
  if (!wordsAt(v, b, start + 1, end, PREFIX)) return false;
  const sid = uintAt(b, start + 1 + PREFIX.bytes.length, end);
  if (sid < 0) return false;
  let pos = cursor.pos;
  if (!wordsAt(v, b, pos, end, K_SEQ)) return false;
  const seq = uintAt(b, pos + K_SEQ.bytes.length, end);
  if (seq < 0) return false;
  pos = cursor.pos;
  if (!wordsAt(v, b, pos, end, K_TOPIC)) return false;
  const topic = cache.ascii(b, pos + K_TOPIC.bytes.length, end, v);
  if (topic === undefined) return false;
  pos = cursor.pos;
  if (!wordsAt(v, b, pos, end, K_PAYLOAD)) return false;
  const plen = bytesAt(b, pos + K_PAYLOAD.bytes.length, end);
  if (plen < 0) return false;
  const pstart = cursor.pos;
  pos = pstart + plen;

  let reply: string | undefined;
  let hdr: Record<string, string> | undefined;
  let retained = false;
  let from: FromMap | undefined;
  let mid: number | undefined;
  let redelivered = false;
  let pairs = head - 0xa5;
  // Each optional key may follow only the ones before it in OPTIONAL.
  let next = 0;
  while (pairs > 0) {
    pairs--;
    if (next <= 0 && keyAt(b, pos, end, K_REPLY)) {
      reply = asciiAt(b, pos + K_REPLY.length, end);
      if (reply === undefined) return false;
      pos = cursor.pos;
      next = 1;
    } else if (next <= 1 && keyAt(b, pos, end, K_HDR)) {
      const s = pos + K_HDR.length;
      const e = skipFlatMap(b, s, end, false);
      if (e < 0 || maxNesting < 2) return false;
      hdr = decodeHeaders(b, s, e);
      if (hdr === undefined) return false;
      pos = e;
      next = 2;
    } else if (next <= 2 && keyAt(b, pos, end, K_RETAINED)) {
      pos += K_RETAINED.length;
      if (b[pos] !== TRUE) return false;
      pos++;
      retained = true;
      next = 3;
    } else if (next <= 3 && keyAt(b, pos, end, K_FROM)) {
      if (maxNesting < 2) return false;
      from = cache.read(b, pos + K_FROM.length, end);
      if (from === undefined) return false;
      pos = cursor.pos;
      next = 4;
    } else if (next <= 3 && wordsAt(v, b, pos, end, K_FREF)) {
      const ref = uintAt(b, pos + K_FREF.bytes.length, end);
      // A reference the broker never explained: the generic path reports it.
      from = ref < 0 ? undefined : cache.refs.get(ref);
      if (from === undefined) return false;
      pos = cursor.pos;
      next = 4;
    } else if (next <= 4 && keyAt(b, pos, end, K_MID)) {
      mid = uintAt(b, pos + K_MID.length, end);
      if (mid < 0) return false;
      pos = cursor.pos;
      next = 5;
    } else if (next <= 5 && keyAt(b, pos, end, K_REDELIVERED)) {
      pos += K_REDELIVERED.length;
      if (b[pos] !== TRUE) return false;
      pos++;
      redelivered = true;
      next = 6;
    } else {
      return false;
    }
  }
  if (pos !== end) return false;
  out.sid = sid;
  out.seq = seq;
  out.topic = topic;
  out.pstart = pstart;
  out.pend = pstart + plen;
  out.reply = reply;
  out.hdr = hdr;
  out.retained = retained;
  out.from = from;
  out.mid = mid;
  out.redelivered = redelivered;
  return true;
}
