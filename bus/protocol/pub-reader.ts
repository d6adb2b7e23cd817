/**
 * Fixed-shape reader for the client's `pub` frame, as `encodePub` (client/frames.ts) lays it
 * out: a map of `op`, `topic`, `payload`, then any of `reply`, `retain`, `owned`, `hdr`, `id`,
 * `confirm` in that order, with minimal heads and ASCII text. Anything else returns undefined and
 * the broker takes the generic path (`decodeFrame`, codec.ts), whose checks write the error
 * messages. The reader only recognises the layout: the broker still checks the topic grammar,
 * permissions and header limits on what it returns. Never throws; the payload is not copied.
 *
 * Example:
 *   const p = readPubFrame(body, this.readCache);
 *   if (p === undefined) return this.onFrame(decodeFrame(body));
 */
import { Buffer } from 'node:buffer';
import { key } from './cbor-writer.js';
import { asciiAt, bytesAt, cursor, decodeHeaders, keyAt, ReadCache, skipFlatMap, uintAt, wordKey, wordsAt } from './fixed-shape.js';

export { ReadCache } from './fixed-shape.js';

/** One `pub` frame as read by `readPubFrame`; field for field what `decodeFrame` yields. */
export type PubFrame = {
  /** ASCII, not yet checked against the topic grammar. */
  readonly topic: string;
  /** The payload's CBOR bytes: a view into the frame body, not decoded, not copied. */
  readonly payload: Uint8Array;
  /** ASCII, not yet checked against the topic grammar. */
  readonly reply: string | undefined;
  readonly retain: boolean;
  readonly owned: boolean;
  /** Text to text, decoded through the checked path; header count and size limits not applied. */
  readonly hdr: Record<string, string> | undefined;
  readonly id: number | undefined;
  readonly confirm: boolean;
  /**
   * The frame's `topic` and `payload` pairs as they lie in the body (a view): byte for byte the
   * start of the broker's `msg` map (message.ts), since both are written with minimal heads.
   */
  readonly shared: Uint8Array;
};

const PREFIX = wordKey(Buffer.concat([key('op'), key('pub'), key('topic')]));
// Where the `topic` key starts in a body: after the map head, `op` and "pub".
const TOPIC_PAIR = 1 + PREFIX.bytes.length - key('topic').length;
const K_PAYLOAD = wordKey(key('payload'));
const K_REPLY = key('reply');
const K_RETAIN = key('retain');
const K_OWNED = key('owned');
const K_HDR = key('hdr');
const K_ID = key('id');
const K_CONFIRM = key('confirm');
const TRUE = 0xf5;

// For callers without a connection of their own (tools, tests); memoised values are immutable.
const defaultCache = new ReadCache();

/**
 * Reads a `pub` frame body (without its 4-byte length prefix), or returns undefined for anything
 * that is not exactly the client's layout. `cache` remembers the last topic; give each connection
 * its own. `maxNesting` is the limit `decodeFrame` would apply
 * (a frame with `hdr` nests 2 deep).
 */
export function readPubFrame(body: Uint8Array, cache: ReadCache = defaultCache, maxNesting = 32): PubFrame | undefined {
  return readPubFrameAt(body, 0, body.length, cache, maxNesting);
}

/**
 * The same reader over `body[start..end)` (a frame in place in a read chunk: no view of the
 * whole frame); `payload` and `shared` are views into `body`.
 */
export function readPubFrameAt(body: Uint8Array, start: number, end: number, cache: ReadCache, maxNesting: number): PubFrame | undefined {
  // 3 required pairs, at most 6 optional ones: the map head is always one byte, 0xa3..0xa9.
  const head = start < end ? body[start]! : -1;
  if (head < 0xa3 || head > 0xa9 || maxNesting < 1) return undefined;
  const v = cache.view(body);
  if (!wordsAt(v, body, start + 1, end, PREFIX)) return undefined;
  const topic = cache.ascii(body, start + 1 + PREFIX.bytes.length, end, v);
  if (topic === undefined) return undefined;
  let pos = cursor.pos;
  if (!wordsAt(v, body, pos, end, K_PAYLOAD)) return undefined;
  const plen = bytesAt(body, pos + K_PAYLOAD.bytes.length, end);
  if (plen < 0) return undefined;
  const pstart = cursor.pos;
  pos = pstart + plen;

  let reply: string | undefined;
  let retain = false;
  let owned = false;
  let hdr: Record<string, string> | undefined;
  let id: number | undefined;
  let confirm = false;
  let pairs = head - 0xa3;
  // Each optional key may follow only the ones before it, in encodePub's order.
  let next = 0;
  while (pairs > 0) {
    pairs--;
    if (next <= 0 && keyAt(body, pos, end, K_REPLY)) {
      reply = asciiAt(body, pos + K_REPLY.length, end);
      if (reply === undefined) return undefined;
      pos = cursor.pos;
      next = 1;
    } else if (next <= 1 && keyAt(body, pos, end, K_RETAIN)) {
      pos += K_RETAIN.length;
      if (body[pos] !== TRUE) return undefined;
      pos++;
      retain = true;
      next = 2;
    } else if (next <= 2 && keyAt(body, pos, end, K_OWNED)) {
      pos += K_OWNED.length;
      if (body[pos] !== TRUE) return undefined;
      pos++;
      owned = true;
      next = 3;
    } else if (next <= 3 && keyAt(body, pos, end, K_HDR)) {
      const s = pos + K_HDR.length;
      const e = skipFlatMap(body, s, end, false);
      if (e < 0 || maxNesting < 2) return undefined;
      hdr = decodeHeaders(body, s, e);
      if (hdr === undefined) return undefined;
      pos = e;
      next = 4;
    } else if (next <= 4 && keyAt(body, pos, end, K_ID)) {
      id = uintAt(body, pos + K_ID.length, end);
      if (id < 0) return undefined;
      pos = cursor.pos;
      next = 5;
    } else if (next <= 5 && keyAt(body, pos, end, K_CONFIRM)) {
      pos += K_CONFIRM.length;
      if (body[pos] !== TRUE) return undefined;
      pos++;
      confirm = true;
      next = 6;
    } else {
      return undefined;
    }
  }
  if (pos !== end) return undefined;
  return { topic, payload: cache.slice(pstart, pstart + plen), reply, retain, owned, hdr, id, confirm, shared: cache.slice(start + TOPIC_PAIR, pstart + plen) };
}
