/**
 * The slow-path queue of one connection, as a ring of preallocated slots: parallel arrays indexed
 * by `pos & mask`, so queueing a delivery allocates no object (the profile of a 600k-message
 * fan-out showed one entry object per queued delivery as the broker's main garbage). Positions
 * are absolute and only grow; a slot is live while its `msg` is set and its `pos` matches.
 *
 * Each subscription keeps the positions of its own queued deliveries (plain numbers, oldest
 * first) so its overflow policy finds its oldest, or its newest per topic, without a scan. Dropped
 * entries in the middle of the ring are compacted away once they outnumber the live ones, and
 * the subscriptions' position lists are rebuilt then (a generation number marks stale lists).
 */
import { Buffer } from 'node:buffer';
import type { Published } from './message.js';

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

export class OutRing<S extends RingSub> {
  private mask = INITIAL - 1;
  private subs: (S | undefined)[] = new Array(INITIAL).fill(undefined);
  // A Published for a delivery, a Buffer for a control frame, undefined once dead or delivered.
  private items: (Published | Buffer | undefined)[] = new Array(INITIAL).fill(undefined);
  private seqs = new Float64Array(INITIAL);
  private sizes = new Uint32Array(INITIAL);
  private poss = new Float64Array(INITIAL).fill(-1);
  private head = 0;
  private tail = 0;
  private gen = 1;
  /** Live entries (deliveries and control frames). */
  live = 0;

  get span(): number {
    return this.tail - this.head;
  }

  push(sub: S | undefined, item: Published | Buffer, seq: number, size: number): number {
    if (this.tail - this.head > this.mask) this.grow();
    const pos = this.tail++;
    const i = pos & this.mask;
    this.subs[i] = sub;
    this.items[i] = item;
    this.seqs[i] = seq;
    this.sizes[i] = size;
    this.poss[i] = pos;
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

  /** Is `pos` a live entry? */
  isLive(pos: number): boolean {
    const i = pos & this.mask;
    return pos >= this.head && pos < this.tail && this.poss[i] === pos && this.items[i] !== undefined;
  }

  subAt(pos: number): S | undefined {
    return this.subs[pos & this.mask];
  }
  itemAt(pos: number): Published | Buffer | undefined {
    return this.items[pos & this.mask];
  }
  seqAt(pos: number): number {
    return this.seqs[pos & this.mask]!;
  }
  sizeAt(pos: number): number {
    return this.sizes[pos & this.mask]!;
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
    const item = this.items[i];
    const sub = this.subs[i];
    const topic = topicOf(item);
    if (sub?.byTopic !== undefined && topic !== undefined && sub.byTopic.get(topic) === pos) sub.byTopic.delete(topic);
    this.items[i] = undefined;
    this.subs[i] = undefined;
    this.live--;
    // Dropping the oldest (a paused reader under drop-oldest) moves the head along, so the ring
    // is not rebuilt every time its dead prefix outgrows the live part.
    if (pos === this.head) {
      let h = pos + 1;
      while (h < this.tail && this.items[h & this.mask] === undefined) h++;
      this.head = h;
    }
  }

  /** The next live position from the head, or -1 when the ring is empty; dead slots are passed. */
  first(): number {
    while (this.head < this.tail && this.items[this.head & this.mask] === undefined) this.head++;
    if (this.head === this.tail) {
      // Empty: start over at 0 so positions stay small.
      this.head = this.tail = 0;
      this.gen++;
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
    this.items.fill(undefined);
    this.subs.fill(undefined);
    this.head = this.tail = 0;
    this.live = 0;
    this.gen++;
  }

  /** Dropped entries outnumber live ones in a long ring (a paused reader): squeeze them out. */
  maybeCompact(): void {
    const span = this.tail - this.head;
    if (span > 1024 && span > 2 * this.live) this.rebuild(this.mask + 1);
  }

  private grow(): void {
    this.rebuild(2 * (this.mask + 1));
  }

  /** Copy the live entries to fresh arrays of `capacity` (at least twice the live count). */
  private rebuild(capacity: number): void {
    let cap = INITIAL;
    while (cap < capacity || cap < 2 * this.live) cap *= 2;
    const { subs, items, seqs, sizes, mask } = this;
    this.subs = new Array(cap).fill(undefined);
    this.items = new Array(cap).fill(undefined);
    this.seqs = new Float64Array(cap);
    this.sizes = new Uint32Array(cap);
    this.poss = new Float64Array(cap).fill(-1);
    this.mask = cap - 1;
    const from = this.head;
    const to = this.tail;
    this.head = this.tail = 0;
    this.live = 0;
    // A new generation: every subscription's position list is rebuilt from what is copied.
    this.gen++;
    for (let pos = from; pos < to; pos++) {
      const i = pos & mask;
      const item = items[i];
      if (item === undefined) continue;
      const sub = subs[i];
      const p = this.push(sub, item, seqs[i]!, sizes[i]!);
      const topic = topicOf(item);
      if (sub?.byTopic !== undefined && topic !== undefined) sub.byTopic.set(topic, p);
    }
  }
}

/** The topic of a queued delivery; control frames (Buffers) have none. */
function topicOf(item: Published | Buffer | undefined): string | undefined {
  return item === undefined || Buffer.isBuffer(item) ? undefined : (item as Published).topic;
}
