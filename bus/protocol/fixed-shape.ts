/**
 * Primitives for the fixed-shape readers (msg-reader.ts, pub-reader.ts): they read the two hot
 * frames exactly as this codebase's own writers lay them out (cbor-writer.ts: minimal heads,
 * ASCII text, pre-encoded keys in a fixed order) and give up on anything else, so the caller falls
 * back to the checked generic decoder (codec.ts `decodeFrame`). Giving up is always safe; reading
 * wrongly is not, so every function here refuses rather than guesses.
 *
 * Why: cbor-x's generic decode of every `msg` envelope was 59% of a subscriber's CPU (issue 15),
 * and a fixed layout can be read with a handful of byte compares and no intermediate objects.
 *
 * The functions return their value and leave the offset after it in `cursor.pos`, so the hot path
 * allocates no result tuples. Failure is -1 (numbers) or undefined (strings).
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { decodeValue } from './codec.js';

/** Offset after the last item read; valid only right after a successful call. */
export const cursor = { pos: 0 };

const EMPTY_VIEW: DataView = new DataView(new ArrayBuffer(0));

const TWO_32 = 0x100000000;
// Topics are at most 256 bytes by default (limits.ts maxTopicBytes); longer ones are not memoised.
const TOPIC_MEMO_BYTES = 256;

/**
 * The argument of a head of `major` at `pos`, or -1 when the byte there is another major type,
 * indefinite or reserved, truncated, not minimal (a writer in this codebase never pads a head), or
 * not a safe integer.
 */
export function headArg(b: Uint8Array, pos: number, end: number, major: number): number {
  if (pos >= end) return -1;
  const ib = b[pos]!;
  if (ib >> 5 !== major) return -1;
  const info = ib & 31;
  if (info < 24) {
    cursor.pos = pos + 1;
    return info;
  }
  if (info === 24) {
    if (pos + 2 > end) return -1;
    const v = b[pos + 1]!;
    if (v < 24) return -1;
    cursor.pos = pos + 2;
    return v;
  }
  if (info === 25) {
    if (pos + 3 > end) return -1;
    const v = (b[pos + 1]! << 8) | b[pos + 2]!;
    if (v < 0x100) return -1;
    cursor.pos = pos + 3;
    return v;
  }
  if (info === 26) {
    if (pos + 5 > end) return -1;
    const v = b[pos + 1]! * 0x1000000 + ((b[pos + 2]! << 16) | (b[pos + 3]! << 8) | b[pos + 4]!);
    if (v < 0x10000) return -1;
    cursor.pos = pos + 5;
    return v;
  }
  if (info === 27) {
    if (pos + 9 > end) return -1;
    const hi = b[pos + 1]! * 0x1000000 + ((b[pos + 2]! << 16) | (b[pos + 3]! << 8) | b[pos + 4]!);
    // 2^53 - 1 is the largest integer a number holds exactly: hi < 2^21.
    if (hi === 0 || hi >= 0x200000) return -1;
    const lo = b[pos + 5]! * 0x1000000 + ((b[pos + 6]! << 16) | (b[pos + 7]! << 8) | b[pos + 8]!);
    cursor.pos = pos + 9;
    return hi * TWO_32 + lo;
  }
  return -1;
}

/** A uint item (major 0). */
export function uintAt(b: Uint8Array, pos: number, end: number): number {
  return headArg(b, pos, end, 0);
}

/** Does `key` (a pre-encoded item, see cbor-writer.ts `key`) sit at `pos`? */
export function keyAt(b: Uint8Array, pos: number, end: number, key: Uint8Array): boolean {
  const n = key.length;
  if (pos + n > end) return false;
  for (let i = 0; i < n; i++) if (b[pos + i] !== key[i]) return false;
  return true;
}

/**
 * A pre-encoded key with its bytes as big-endian 32-bit words at offsets 0, 4, 8, … and the last
 * at n − 4 (overlapping the one before it), for `wordsAt`. Keys under 4 bytes have no words.
 */
export type WordKey = { readonly bytes: Uint8Array; readonly words: Int32Array };

export function wordKey(bytes: Uint8Array): WordKey {
  const n = bytes.length;
  const words = new Int32Array(n < 4 ? 0 : Math.ceil(n / 4));
  fillWords(new DataView(bytes.buffer, bytes.byteOffset, n), 0, n, words);
  return { bytes, words };
}

function fillWords(v: DataView, s: number, n: number, words: Int32Array): void {
  const c = n < 4 ? 0 : Math.ceil(n / 4);
  for (let i = 0; i < c; i++) words[i] = v.getInt32(s + Math.min(4 * i, n - 4));
}

/**
 * keyAt, 4 bytes per compare through `v`, a DataView of the same bytes as `b` (ReadCache.view):
 * a byte-by-byte loop over typed arrays costs about 1 ns a byte, and the readers' fixed keys and
 * repeated topic are most of what they read.
 */
export function wordsAt(v: DataView, b: Uint8Array, pos: number, end: number, k: WordKey): boolean {
  const n = k.bytes.length;
  if (pos + n > end) return false;
  const w = k.words;
  return w.length === 0 ? keyAt(b, pos, end, k.bytes) : sameWords(v, pos, n, w, w.length);
}

/** The n ≥ 4 bytes at `pos` equal the `c` words of `w` (wordKey's layout, last one overlapping). */
function sameWords(v: DataView, pos: number, n: number, w: Int32Array, c: number): boolean {
  for (let i = 0; i < c - 1; i++) if (v.getInt32(pos + 4 * i) !== w[i]) return false;
  return v.getInt32(pos + n - 4) === w[c - 1];
}

/**
 * A text item of ASCII bytes only (topics are ASCII by grammar, topics.ts), as a string; undefined
 * for anything else. Non-ASCII goes to the generic path, whose topic check names the problem.
 */
export function asciiAt(b: Uint8Array, pos: number, end: number): string | undefined {
  const n = headArg(b, pos, end, 3);
  if (n < 0) return undefined;
  const s = cursor.pos;
  const e = s + n;
  if (e > end) return undefined;
  for (let i = s; i < e; i++) if (b[i]! > 0x7f) return undefined;
  cursor.pos = e;
  return latin1(b, s, e);
}

const latin1Decoder = new TextDecoder('latin1');

function latin1(b: Uint8Array, s: number, e: number): string {
  // Buffer's native slice is the fastest way to a string; a plain Uint8Array takes the decoder.
  if (Buffer.isBuffer(b)) return b.toString('latin1', s, e);
  return latin1Decoder.decode(b.subarray(s, e));
}

/** A byte-string item: returns its length and leaves `cursor.pos` at its first byte. */
export function bytesAt(b: Uint8Array, pos: number, end: number): number {
  const n = headArg(b, pos, end, 2);
  if (n < 0 || cursor.pos + n > end) return -1;
  return n;
}

/**
 * Skips a flat map (no nested containers) of text keys to text values, or, when `scalars` is
 * set, to text, integers, floats, false, true or null: the shapes of `hdr` and of the broker's
 * `from`. Returns the offset after it, or -1. Text must be valid UTF-8 (cbor-x would decode invalid bytes to
 * U+FFFD silently; the generic path decides what to do with such a frame). Heads here may be any
 * width: these maps are encoded by cbor-x (codec.ts `encodeValue`), not by hand.
 */
export function skipFlatMap(b: Uint8Array, pos: number, end: number, scalars: boolean): number {
  const pairs = anyHead(b, pos, end, 5);
  if (pairs < 0 || pairs > end - cursor.pos) return -1;
  pos = cursor.pos;
  for (let i = 0; i < pairs; i++) {
    pos = skipText(b, pos, end);
    if (pos < 0) return -1;
    if (pos >= end) return -1;
    const major = b[pos]! >> 5;
    if (major === 3) {
      pos = skipText(b, pos, end);
      if (pos < 0) return -1;
    } else if (!scalars) {
      return -1;
    } else if (major === 0 || major === 1) {
      if (anyHead(b, pos, end, major) < 0) return -1;
      pos = cursor.pos;
    } else if (b[pos] === 0xf4 || b[pos] === 0xf5 || b[pos] === 0xf6) {
      pos++;
    } else if (b[pos] === 0xf9 || b[pos] === 0xfa || b[pos] === 0xfb) {
      // cbor-x writes integers past 2^32 as float64.
      pos += b[pos] === 0xf9 ? 3 : b[pos] === 0xfa ? 5 : 9;
      if (pos > end) return -1;
    } else {
      return -1;
    }
  }
  return pos;
}

function skipText(b: Uint8Array, pos: number, end: number): number {
  const n = anyHead(b, pos, end, 3);
  if (n < 0) return -1;
  const s = cursor.pos;
  if (n > end - s) return -1;
  const e = s + n;
  // Most text here is ASCII; only text with other bytes pays for the native UTF-8 check.
  for (let i = s; i < e; i++) if (b[i]! > 0x7f) return isUtf8(b.subarray(s, e)) ? e : -1;
  return e;
}

/** Like headArg but any width is accepted (cbor-x's choice), still only safe integers. */
function anyHead(b: Uint8Array, pos: number, end: number, major: number): number {
  if (pos >= end) return -1;
  const ib = b[pos]!;
  if (ib >> 5 !== major) return -1;
  const info = ib & 31;
  if (info < 24) {
    cursor.pos = pos + 1;
    return info;
  }
  const w = info === 24 ? 1 : info === 25 ? 2 : info === 26 ? 4 : info === 27 ? 8 : 0;
  if (w === 0 || pos + 1 + w > end) return -1;
  let v = 0;
  for (let i = 1; i <= w; i++) v = v * 256 + b[pos + i]!;
  if (v > Number.MAX_SAFE_INTEGER) return -1;
  cursor.pos = pos + 1 + w;
  return v;
}

/**
 * Decodes an `hdr` map already shaped by `skipFlatMap(…, false)`, through the checked path
 * (checkPortableCbor, then cbor-x); undefined when that path refuses it.
 */
export function decodeHeaders(b: Uint8Array, s: number, e: number): Record<string, string> | undefined {
  return decodeFlat(b, s, e) as Record<string, string> | undefined;
}

function decodeFlat(b: Uint8Array, s: number, e: number): Record<string, unknown> | undefined {
  let v: unknown;
  try {
    v = decodeValue(b.subarray(s, e));
  } catch {
    return undefined;
  }
  if (v === null || typeof v !== 'object' || Array.isArray(v) || v instanceof Uint8Array || v instanceof Map) return undefined;
  return v as Record<string, unknown>;
}

/** The decoded `from` map; shared by every message that carried the same bytes, so frozen. */
export type FromMap = Readonly<Record<string, unknown>>;

/**
 * Per-connection memory that lets the readers skip work on what repeats from frame to frame:
 *
 * - `from` maps, decoded once per distinct byte string. Publishers stamp the same `from` bytes on
 *   every message of a connection (connection.ts `fromCbor`), so a subscriber sees a handful of
 *   distinct values over and over; comparing ~50 bytes costs far less than cbor-x building an
 *   object each time. A few slots so interleaved publishers do not evict each other; the bytes
 *   are copied so a slot never pins a socket's read buffer.
 * - the last topic: a stream of frames mostly repeats its topic, and comparing its bytes is
 *   cheaper than making a new string.
 */
export class ReadCache {
  private readonly bytes: (Buffer | undefined)[];
  private readonly values: (FromMap | undefined)[];
  private next = 0;
  /** Number of `from` decodes so far (for tests and benchmarks). */
  fromDecodes = 0;
  /**
   * What each `fref` stands for on this connection (`who` frames, PROTOCOL.md §7). Emptied when
   * a new connection starts: references are the broker's, per connection.
   */
  readonly refs = new Map<number, FromMap>();
  private readonly topicBytes = new Uint8Array(TOPIC_MEMO_BYTES);
  // The memo's bytes as words (wordKey's layout), for comparing through a DataView.
  private readonly topicWords = new Int32Array(TOPIC_MEMO_BYTES / 4);
  private topicLen = -1;
  private topic = '';
  // The read chunk the readers look at, and a DataView of it: one per chunk, not per frame.
  private viewed: Uint8Array | undefined = undefined;
  private dv: DataView = EMPTY_VIEW;
  private ab: ArrayBufferLike = EMPTY_VIEW.buffer;
  private base = 0;

  constructor(readonly slots = 4) {
    this.bytes = new Array<Buffer | undefined>(slots).fill(undefined);
    this.values = new Array<FromMap | undefined>(slots).fill(undefined);
  }

  /**
   * The decoded `from` map that starts at b[s], or undefined when the bytes there are not a flat
   * map of text keys to scalars (`skipFlatMap(…, true)`) or the checked decoder refuses them.
   * Leaves the offset after the map in `cursor.pos`.
   */
  read(b: Uint8Array, s: number, end: number): FromMap | undefined {
    // A hit needs no walk: a cached entry is one complete CBOR item, and an item's bytes are never
    // the prefix of another item, so equal bytes at s are exactly that item.
    for (let i = 0; i < this.slots; i++) {
      const c = this.bytes[i];
      if (c === undefined) continue;
      const n = c.length;
      if (s + n > end) continue;
      // A JS loop beats Buffer#compare's native call for maps this short (~50 bytes).
      let j = 0;
      while (j < n && c[j] === b[s + j]) j++;
      if (j === n) {
        cursor.pos = s + n;
        return this.values[i];
      }
    }
    const e = skipFlatMap(b, s, end, true);
    if (e < 0) return undefined;
    const v = decodeFlat(b, s, e);
    if (v === undefined) return undefined;
    this.fromDecodes++;
    const slot = this.next;
    this.next = (slot + 1) % this.slots;
    this.bytes[slot] = Buffer.from(b.subarray(s, e));
    this.values[slot] = Object.freeze(v);
    cursor.pos = e;
    return this.values[slot];
  }

  /** A DataView of `b` for wordsAt and ascii: made once per read chunk, not per frame. */
  view(b: Uint8Array): DataView {
    if (b !== this.viewed) {
      this.viewed = b;
      this.ab = b.buffer;
      this.base = b.byteOffset;
      this.dv = new DataView(this.ab, this.base, b.byteLength);
    }
    return this.dv;
  }

  /**
   * `b.subarray(s, e)` of the chunk last given to view(), as a plain Uint8Array: made from the
   * chunk's ArrayBuffer directly, without Buffer#subarray's look-ups of buffer and offset (the
   * broker makes two per publish).
   */
  slice(s: number, e: number): Uint8Array {
    return new Uint8Array(this.ab, this.base + s, e - s);
  }

  /** Let go of the last chunk (call when a read is done: an idle connection pins no buffer). */
  release(): void {
    this.viewed = undefined;
    this.dv = EMPTY_VIEW;
    this.ab = EMPTY_VIEW.buffer;
  }

  /**
   * A text item of ASCII only at `pos`, like `asciiAt`, answered from the memo when it holds
   * the same bytes. `v` is `view(b)`.
   */
  ascii(b: Uint8Array, pos: number, end: number, v: DataView = this.view(b)): string | undefined {
    const n = headArg(b, pos, end, 3);
    if (n < 0) return undefined;
    const s = cursor.pos;
    const e = s + n;
    if (e > end) return undefined;
    // The memo's bytes were checked ASCII when stored: equal bytes need no check of their own.
    if (n === this.topicLen && this.sameAsMemo(v, b, s, n)) {
      cursor.pos = e;
      return this.topic;
    }
    for (let i = s; i < e; i++) if (b[i]! > 0x7f) return undefined;
    cursor.pos = e;
    const str = latin1(b, s, e);
    if (n <= TOPIC_MEMO_BYTES) {
      const t = this.topicBytes;
      for (let i = s; i < e; i++) t[i - s] = b[i]!;
      fillWords(v, s, n, this.topicWords);
      this.topicLen = n;
      this.topic = str;
    }
    return str;
  }

  private sameAsMemo(v: DataView, b: Uint8Array, s: number, n: number): boolean {
    if (n < 4) {
      const t = this.topicBytes;
      for (let i = 0; i < n; i++) if (b[s + i] !== t[i]) return false;
      return true;
    }
    return sameWords(v, s, n, this.topicWords, Math.ceil(n / 4));
  }
}
