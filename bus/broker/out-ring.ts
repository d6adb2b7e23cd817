/**
 * The slow-path queue of one connection. Each queued delivery is its finished frame, written once
 * into the ring's own byte buffer when it is queued; the bookkeeping sits in parallel arrays of
 * preallocated slots indexed by `pos & mask`. So a queue holds no object per delivery: not the
 * message, not a copy of its payload. A reader stopped for minutes with drop-oldest turns over
 * the whole queue every few thousand messages; held as objects, every one of those would live
 * long enough to be promoted and then collected by a full GC, which cost the healthy subscribers
 * a third of their rate. Positions are absolute and only grow; a slot is live while its byte
 * offset is set and its `pos` matches.
 *
 * Each subscription keeps the positions of its own queued deliveries (plain numbers, oldest
 * first) so its overflow policy finds its oldest, or its newest per topic, without a scan. Dead
 * slots in the middle are compacted away once they outnumber the live ones, and the
 * subscriptions' position lists are rebuilt then (a generation number marks stale lists). The
 * byte buffer is used circularly: frames go after the newest one, wrapping to the start when the
 * oldest live frame has moved far enough along, so a queue turned over oldest-first (drop-oldest
 * under a stopped reader) never moves a byte. Dead bytes in the middle (one subscription's drops
 * among another's live frames) are squeezed out only when there is no room, into a buffer at
 * least twice the live bytes.
 */
import { Buffer } from 'node:buffer';

/** What the ring keeps per subscription (fields of the broker's subscription object). */
export interface RingSub {
  /** Positions of this subscription's queued deliveries, oldest first, from `qPosHead`. */
  qPos: number[];
  qPosHead: number;
  /** The ring generation `qPos` belongs to; a list from an older generation is empty. */
  qGen: number;
  /** latest-per-topic: the queued delivery per topic. */
  byTopic: Map<string, number> | undefined;
}

const INITIAL = 64;
const INITIAL_BYTES = 4096;
/** An empty ring keeps a buffer up to this size for the next congestion; a larger one is let go. */
const KEEP_BYTES = 256 * 1024;

export class OutRing<S extends RingSub> {
  private mask = INITIAL - 1;
  private subs: (S | undefined)[] = new Array(INITIAL).fill(undefined);
  // The topic of a latest-per-topic delivery, for its subscription's byTopic index.
  private topics: (string | undefined)[] = new Array(INITIAL).fill(undefined);
  // Where the entry's frame starts in `bytes`; -1 once dead or delivered.
  private offs = new Float64Array(INITIAL).fill(-1);
  private seqs = new Float64Array(INITIAL);
  private sizes = new Uint32Array(INITIAL);
  private poss = new Float64Array(INITIAL).fill(-1);
  private head = 0;
  private tail = 0;
  private gen = 1;
  /** Frames of the entries, in position order; `bytesEnd` is where the next one goes. */
  private bytes: Buffer | undefined;
  private bytesEnd = 0;
  private liveBytes = 0;
  /** Live entries (deliveries and control frames). */
  live = 0;

  get span(): number {
    return this.tail - this.head;
  }

  /** The buffer that `reserve` returned an offset into. */
  get buf(): Buffer {
    return this.bytes!;
  }

  /** Room for a frame of `size` bytes: the offset in `buf` to write it at, then `push` it. */
  reserve(size: number): number {
    const b = this.bytes;
    if (b === undefined) {
      this.makeRoom(size);
      return this.bytesEnd;
    }
    const end = this.bytesEnd;
    if (this.live === 0) {
      // Everything is dead: start over at the front.
      if (size <= b.length) return (this.bytesEnd = 0);
    } else {
      // The head is live whenever the ring is not empty (kill and first move it along).
      const first = this.offs[this.head & this.mask]!;
      if (end > first) {
        // Live frames lie in [first, end): after them, or wrap to the front.
        if (end + size <= b.length) return end;
        if (size <= first) return 0;
      } else if (end + size <= first) {
        // Wrapped: live frames lie in [first, ...) and [0, end).
        return end;
      }
    }
    this.makeRoom(size);
    return this.bytesEnd;
  }

  /** Queues the frame just written at `off` (from `reserve`). `topic` only for latest-per-topic. */
  push(sub: S | undefined, off: number, seq: number, size: number, topic?: string): number {
    if (this.tail - this.head > this.mask) this.grow();
    const pos = this.tail++;
    const i = pos & this.mask;
    this.subs[i] = sub;
    this.topics[i] = topic;
    this.offs[i] = off;
    this.seqs[i] = seq;
    this.sizes[i] = size;
    this.poss[i] = pos;
    this.bytesEnd = off + size;
    this.liveBytes += size;
    this.live++;
    if (sub !== undefined) {
      if (sub.qGen !== this.gen) {
        sub.qPos = [];
        sub.qPosHead = 0;
        sub.qGen = this.gen;
        sub.byTopic?.clear();
      }
      sub.qPos.push(pos);
    }
    return pos;
  }

  /** Queues a finished frame (a control frame): copied in. */
  pushFrame(sub: S | undefined, frame: Uint8Array, seq: number): number {
    const off = this.reserve(frame.length);
    this.bytes!.set(frame, off);
    return this.push(sub, off, seq, frame.length);
  }

  /** Is `pos` a live entry? */
  isLive(pos: number): boolean {
    const i = pos & this.mask;
    return pos >= this.head && pos < this.tail && this.poss[i] === pos && this.offs[i]! >= 0;
  }

  subAt(pos: number): S | undefined {
    return this.subs[pos & this.mask];
  }
  seqAt(pos: number): number {
    return this.seqs[pos & this.mask]!;
  }
  sizeAt(pos: number): number {
    return this.sizes[pos & this.mask]!;
  }
  /** The entry's frame, as a view valid until the next `reserve` or `push`. */
  frameAt(pos: number): Buffer {
    const i = pos & this.mask;
    const off = this.offs[i]!;
    return this.bytes!.subarray(off, off + this.sizes[i]!);
  }

  /** The oldest live delivery of `sub`, or -1. */
  oldestOf(sub: S): number {
    if (sub.qGen !== this.gen) return -1;
    const list = sub.qPos;
    while (sub.qPosHead < list.length && !this.isLive(list[sub.qPosHead]!)) sub.qPosHead++;
    if (sub.qPosHead > 1024 && sub.qPosHead * 2 > list.length) {
      sub.qPos = list.slice(sub.qPosHead);
      sub.qPosHead = 0;
    }
    return sub.qPosHead < sub.qPos.length ? sub.qPos[sub.qPosHead]! : -1;
  }

  /** The live queued delivery of `sub` on `topic` (latest-per-topic), or -1. */
  latestOf(sub: S, topic: string): number {
    if (sub.qGen !== this.gen || sub.byTopic === undefined) return -1;
    const pos = sub.byTopic.get(topic);
    return pos !== undefined && this.isLive(pos) ? pos : -1;
  }

  /** Take a live entry out (delivered, dropped or discarded). */
  kill(pos: number): void {
    const i = pos & this.mask;
    const sub = this.subs[i];
    const topic = this.topics[i];
    if (topic !== undefined && sub?.byTopic !== undefined && sub.byTopic.get(topic) === pos) sub.byTopic.delete(topic);
    this.offs[i] = -1;
    this.subs[i] = undefined;
    this.topics[i] = undefined;
    this.liveBytes -= this.sizes[i]!;
    this.live--;
    // Dropping the oldest (a paused reader under drop-oldest) moves the head along, so the ring
    // is not rebuilt every time its dead prefix outgrows the live part.
    if (pos === this.head) {
      let h = pos + 1;
      while (h < this.tail && this.offs[h & this.mask]! < 0) h++;
      this.head = h;
    }
  }

  /** The next live position from the head, or -1 when the ring is empty; dead slots are passed. */
  first(): number {
    while (this.head < this.tail && this.offs[this.head & this.mask]! < 0) this.head++;
    if (this.head === this.tail) {
      // Empty: start over at 0 so positions stay small.
      this.head = this.tail = 0;
      this.gen++;
      this.bytesEnd = 0;
      this.liveBytes = 0;
      if (this.bytes !== undefined && this.bytes.length > KEEP_BYTES) this.bytes = undefined;
      return -1;
    }
    return this.head;
  }

  /** Every live delivery of `sub` goes (the subscription ended). */
  dropSub(sub: S): void {
    if (sub.qGen === this.gen) {
      for (let k = sub.qPosHead; k < sub.qPos.length; k++) {
        const pos = sub.qPos[k]!;
        if (this.isLive(pos)) this.kill(pos);
      }
    }
    sub.qPos = [];
    sub.qPosHead = 0;
    sub.byTopic?.clear();
  }

  clear(): void {
    this.subs.fill(undefined);
    this.topics.fill(undefined);
    this.offs.fill(-1);
    this.head = this.tail = 0;
    this.live = 0;
    this.gen++;
    this.bytes = undefined;
    this.bytesEnd = 0;
    this.liveBytes = 0;
  }

  /** Dropped entries outnumber live ones in a long ring (a paused reader): squeeze them out. */
  maybeCompact(): void {
    const span = this.tail - this.head;
    if (span > 1024 && span > 2 * this.live) this.rebuild(this.mask + 1);
  }

  /**
   * Room for `size` more bytes: the live frames, in queue order, are moved to the front of the
   * buffer (when they do not wrap around its end), or of a new one at least twice their size.
   */
  private makeRoom(size: number): void {
    const old = this.bytes;
    const need = this.liveBytes + size;
    let cap = old === undefined ? INITIAL_BYTES : old.length;
    while (cap < 2 * need) cap *= 2;
    const wrapped = old !== undefined && this.live > 0 && this.bytesEnd <= this.offs[this.head & this.mask]!;
    const to = old !== undefined && cap === old.length && !wrapped ? old : Buffer.allocUnsafeSlow(cap);
    let end = 0;
    if (old !== undefined) {
      const { offs, sizes, mask } = this;
      for (let pos = this.head; pos < this.tail; pos++) {
        const i = pos & mask;
        const off = offs[i]!;
        if (off < 0) continue;
        const n = sizes[i]!;
        if (to === old) {
          if (off !== end) old.copyWithin(end, off, off + n);
        } else {
          to.set(old.subarray(off, off + n), end);
        }
        offs[i] = end;
        end += n;
      }
    }
    this.bytes = to;
    this.bytesEnd = end;
  }

  private grow(): void {
    this.rebuild(2 * (this.mask + 1));
  }

  /** Copy the live entries' slots to fresh arrays of `capacity` (at least twice the live count); their bytes stay. */
  private rebuild(capacity: number): void {
    let cap = INITIAL;
    while (cap < capacity || cap < 2 * this.live) cap *= 2;
    const { subs, topics, offs, seqs, sizes, mask } = this;
    this.subs = new Array(cap).fill(undefined);
    this.topics = new Array(cap).fill(undefined);
    this.offs = new Float64Array(cap).fill(-1);
    this.seqs = new Float64Array(cap);
    this.sizes = new Uint32Array(cap);
    this.poss = new Float64Array(cap).fill(-1);
    this.mask = cap - 1;
    const from = this.head;
    const to = this.tail;
    this.head = this.tail = 0;
    this.live = 0;
    this.liveBytes = 0;
    // A new generation: every subscription's position list is rebuilt from what is copied.
    this.gen++;
    for (let pos = from; pos < to; pos++) {
      const i = pos & mask;
      const off = offs[i]!;
      if (off < 0) continue;
      const sub = subs[i];
      const topic = topics[i];
      const p = this.push(sub, off, seqs[i]!, sizes[i]!, topic);
      if (topic !== undefined && sub?.byTopic !== undefined) sub.byTopic.set(topic, p);
    }
  }
}
