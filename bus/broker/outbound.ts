/**
 * One connection's outbound path. While the peer keeps up, deliveries are appended to a pending
 * batch (no object per message) and written once per event-loop turn or per BATCH_BYTES. When the
 * socket's buffer passes its high-water mark, deliveries wait in a bounded queue where each
 * subscription's overflow policy applies to its own share (PROTOCOL.md §10), and every drop is
 * counted so the subscriber gets a `loss` notice.
 */
import { Buffer } from 'node:buffer';
import { Socket } from 'node:net';
import { copyInto } from '../protocol/cbor-writer.js';
import { CBOR_ENCODING, type WireEncoding } from './encoding.js';
import { whoFrame, forgetFrame, type Origin, type Published } from './message.js';
import { OutRing, type RingSub } from './out-ring.js';

import type { Policy } from '../protocol/wire-types.js';

export { POLICIES, type Policy } from '../protocol/wire-types.js';

/** What the outbound path needs to know of a subscription. */
export interface OutSub extends RingSub {
  readonly sid: number;
  readonly policy: Policy;
  readonly maxMsgs: number;
  readonly maxBytes: number;
  seq: number;
  /** Drops not yet announced, and the highest dropped seq. */
  lost: number;
  lastLostSeq: number;
  /** Drops over the subscription's life. */
  dropped: number;
  delivered: number;
  qMsgs: number;
  qBytes: number;
}

export interface Sink {
  write(chunk: Buffer): boolean;
  readonly writableLength: number;
}

export interface OutboundOwner {
  /** Ask for flush() on the next turn of the event loop. */
  scheduleFlush(): void;
  /** A `disconnect`-policy subscription overflowed, or control frames piled up. */
  slowConsumer(sub: OutSub | undefined): void;
  /** Count a drop, per policy, for broker statistics. */
  countDrop(policy: Policy, n: number): void;
  /** The queue drained (publishers held for it may go on). */
  relieved(): void;
}

export type OutboundConfig = { queueBytes: number; queueMsgs: number; highWater: number; batchBytes: number };

// One batch buffer shared by every connection's flush. A socket write that the kernel takes
// whole, synchronously, leaves the stream holding nothing (writableLength is 0 right after it), so
// the buffer can serve the next flush: no batch-sized allocation per write in the common case. A write
// that stays buffered keeps the buffer, and the next flush allocates a fresh one.
let scratch: Buffer | undefined;
const SCRATCH_MIN = 256 * 1024;

function takeScratch(n: number): Buffer {
  const b = scratch;
  if (b !== undefined && b.length >= n) {
    scratch = undefined;
    return b;
  }
  return Buffer.allocUnsafeSlow(Math.max(n, SCRATCH_MIN));
}

export class Outbound {
  // Fast path: frames not yet written, the first pendN entries of parallel arrays. A Buffer is a
  // complete control frame; an OutSub is a delivery whose seq and message sit at the same index.
  // The arrays keep their length between batches (no regrowing them on every flush).
  private pend: (Buffer | OutSub | undefined)[] = [];
  private pendSeq: number[] = [];
  private pendMsg: (Published | undefined)[] = [];
  private pendN = 0;
  private pendBytes = 0;
  // Slow path: a ring of preallocated slots, no object per queued delivery.
  private readonly ring = new OutRing<OutSub>();
  /** Bytes and deliveries waiting in the queue (control frames included in bytes). */
  qBytes = 0;
  qMsgs = 0;
  private ctrlBytes = 0;
  private drainExpected = false;
  private written = 0;
  private readonly lossy = new Set<OutSub>();
  subCount = 0;
  closed = false;
  /** How frames are written; set once the peer's first byte chose (PROTOCOL.md §1). */
  encoding: WireEncoding = CBOR_ENCODING;
  /**
   * Publishers this connection was told about with `who`, when it takes `from` by reference
   * (hello `fromRefs`, §7); undefined otherwise. `lastOrigin` spares the lookup for a run of
   * messages from one publisher.
   */
  refs: Set<Origin> | undefined;
  private lastOrigin: Origin | undefined;
  /** The per-uid queue quota shared by all of the uid's connections, under an ACL. */
  usage: { queueBytes: number; quota: { readonly queueBytes: number } } | undefined;

  /** Only a real socket copies a chunk out before write() returns; other streams may keep it. */
  private readonly reusesBatch: boolean;

  constructor(
    private readonly sink: Sink,
    private readonly owner: OutboundOwner,
    private readonly cfg: OutboundConfig,
  ) {
    this.reusesBatch = sink instanceof Socket;
  }

  get congested(): boolean {
    return this.ring.live > 0;
  }

  /** Bytes this connection holds in the broker: batch, queue and socket buffer. */
  get heldBytes(): number {
    return this.pendBytes + this.qBytes + this.sink.writableLength;
  }

  /** The socket drained: move queued frames into it. */
  onDrain(): void {
    this.drainExpected = false;
    if (this.ring.live > 0 || this.lossy.size > 0) this.pump();
    // The last pump may have emptied the queue and stopped at a full socket: publishers held
    // for this connection go on now (pacing), or they would wait for a drain that never comes.
    else if (!this.closed) this.owner.relieved();
  }

  sendControl(frame: Buffer): void {
    if (this.closed) return;
    if (this.ring.live === 0 && this.sink.writableLength + this.pendBytes + frame.length <= this.cfg.highWater) {
      this.pendPush(frame, 0, undefined);
      this.pendBytes += frame.length;
      this.afterPend();
      return;
    }
    this.flushPend();
    this.ring.pushFrame(undefined, frame, 0);
    this.ctrlBytes += frame.length;
    this.qBytes += frame.length;
    if (this.ctrlBytes > 2 * this.cfg.queueBytes) this.owner.slowConsumer(undefined);
    else this.kick();
  }

  /** Returns true when the delivery had to wait in the queue (the peer is behind). */
  deliver(sub: OutSub, msg: Published, seq: number): boolean {
    if (this.closed) return false;
    // A borrowed message names its publisher by reference: tell who it is first, once.
    if (this.refs !== undefined && msg.tail.length > 0 && msg.origin !== this.lastOrigin) this.introduce(msg.origin!);
    const size = this.encoding.msgSize(sub.sid, seq, msg);
    if (this.ring.live === 0 && this.sink.writableLength + this.pendBytes + size <= this.cfg.highWater) {
      if (sub.lost > 0) this.pendLoss(sub);
      this.pendPush(sub, seq, msg);
      this.pendBytes += size;
      sub.delivered++;
      this.afterPend();
      return false;
    }
    this.flushPend();
    this.enqueue(sub, msg, seq, size);
    return true;
  }

  /** Write the pending batch now (called once per event-loop turn by the broker). */
  flush(): void {
    this.flushPend();
    if ((this.ring.live > 0 || this.lossy.size > 0) && !this.drainExpected) this.pump();
  }

  /** A subscription ended: its queued deliveries go (they are not losses). */
  dropSub(sub: OutSub): void {
    for (let pos = this.ring.oldestOf(sub); pos >= 0; pos = this.ring.oldestOf(sub)) this.kill(pos);
    this.ring.dropSub(sub);
    this.lossy.delete(sub);
  }

  private introduce(o: Origin): void {
    this.lastOrigin = o;
    if (this.refs!.has(o)) return;
    this.refs!.add(o);
    (o.holders ??= new Set()).add(this);
    this.sendControl(whoFrame(o));
  }

  /** The publisher `o` is gone: its reference is withdrawn, after every message it sent here. */
  forget(o: Origin): void {
    if (this.refs?.delete(o) !== true) return;
    if (this.lastOrigin === o) this.lastOrigin = undefined;
    this.sendControl(forgetFrame(o));
  }

  /** Forget everything queued (the connection is going away). */
  discard(): void {
    if (this.refs !== undefined) {
      for (const o of this.refs) o.holders?.delete(this);
      this.refs.clear();
      this.lastOrigin = undefined;
    }
    if (this.usage !== undefined) this.usage.queueBytes -= this.qBytes - this.ctrlBytes;
    this.pend = [];
    this.pendSeq = [];
    this.pendMsg = [];
    this.pendN = 0;
    this.pendBytes = 0;
    this.ring.clear();
    this.qBytes = 0;
    this.qMsgs = 0;
    this.ctrlBytes = 0;
    this.lossy.clear();
  }

  private afterPend(): void {
    if (this.pendBytes >= this.cfg.batchBytes) this.flushPend();
    else if (this.pendN === 1) this.owner.scheduleFlush();
  }

  private pendPush(item: Buffer | OutSub, seq: number, msg: Published | undefined): void {
    const i = this.pendN++;
    this.pend[i] = item;
    this.pendSeq[i] = seq;
    this.pendMsg[i] = msg;
  }

  private kick(): void {
    if (!this.drainExpected) this.owner.scheduleFlush();
  }

  private pendLoss(sub: OutSub): void {
    const frame = lossFrame(sub, this.encoding);
    this.pendPush(frame, 0, undefined);
    this.pendBytes += frame.length;
  }

  private flushPend(): void {
    const n = this.pendN;
    if (n === 0) return;
    const reuse = this.reusesBatch;
    const out = reuse ? takeScratch(this.pendBytes) : Buffer.allocUnsafe(this.pendBytes);
    const pend = this.pend;
    const pendMsg = this.pendMsg;
    const enc = this.encoding;
    let off = 0;
    for (let i = 0; i < n; i++) {
      const item = pend[i]!;
      const msg = pendMsg[i];
      if (msg === undefined) {
        off = copyInto(out, off, item as Buffer);
      } else {
        off = enc.writeMsg(out, off, (item as OutSub).sid, this.pendSeq[i]!, msg);
        pendMsg[i] = undefined; // no message outlives its batch here
      }
      pend[i] = undefined;
    }
    this.pendN = 0;
    this.pendBytes = 0;
    this.write(off === out.length ? out : out.subarray(0, off));
    if (reuse && this.sink.writableLength === 0) scratch = out;
  }

  /** Bytes the peer has taken off the socket so far (pacing's sign of life). */
  get taken(): number {
    return this.written - this.sink.writableLength;
  }

  private write(chunk: Buffer): void {
    this.written += chunk.length;
    if (!this.sink.write(chunk)) this.drainExpected = true;
  }

  private enqueue(sub: OutSub, msg: Published, seq: number, size: number): void {
    const share = Math.max(1, this.subCount);
    const maxMsgs = Math.max(1, Math.min(sub.maxMsgs, Math.floor(this.cfg.queueMsgs / share)));
    const maxBytes = Math.min(sub.maxBytes, Math.floor(this.cfg.queueBytes / share));
    const u = this.usage;
    const ring = this.ring;
    while (sub.qMsgs + 1 > maxMsgs || sub.qBytes + size > maxBytes || (u !== undefined && u.queueBytes + size > u.quota.queueBytes)) {
      if (sub.policy === 'disconnect') {
        this.lose(sub, seq);
        this.owner.slowConsumer(sub);
        return;
      }
      if (sub.policy === 'drop-newest') {
        this.lose(sub, seq);
        return;
      }
      let victim = sub.policy === 'latest-per-topic' ? ring.latestOf(sub, msg.topic) : -1;
      if (victim < 0) victim = ring.oldestOf(sub);
      if (victim < 0) {
        // Larger than the whole share: it can never be queued.
        this.lose(sub, seq);
        return;
      }
      const victimSeq = ring.seqAt(victim);
      this.kill(victim);
      this.lose(sub, victimSeq);
    }
    // The frame is written into the queue now: nothing of the message (or its publisher's read
    // buffer) is held, and the queue's bytes are exactly what it counts.
    const off = ring.reserve(size);
    this.encoding.writeMsg(ring.buf, off, sub.sid, seq, msg);
    const latest = sub.policy === 'latest-per-topic';
    const pos = ring.push(sub, off, seq, size, latest ? msg.topic : undefined);
    sub.qMsgs++;
    sub.qBytes += size;
    this.qMsgs++;
    this.qBytes += size;
    if (u !== undefined) u.queueBytes += size;
    if (latest) (sub.byTopic ??= new Map()).set(msg.topic, pos);
    this.kick();
  }

  /** Take a queued entry out (delivered, dropped or discarded). */
  private kill(pos: number): void {
    const ring = this.ring;
    const size = ring.sizeAt(pos);
    const sub = ring.subAt(pos);
    this.qBytes -= size;
    if (sub !== undefined) {
      if (this.usage !== undefined) this.usage.queueBytes -= size;
      sub.qMsgs--;
      sub.qBytes -= size;
      this.qMsgs--;
    } else {
      this.ctrlBytes -= size;
    }
    ring.kill(pos);
    // Dropped entries in the middle of the ring would otherwise pile up behind a paused reader.
    ring.maybeCompact();
  }

  private lose(sub: OutSub, seq: number): void {
    sub.lost++;
    sub.dropped++;
    if (seq > sub.lastLostSeq) sub.lastLostSeq = seq;
    this.lossy.add(sub);
    this.owner.countDrop(sub.policy, 1);
  }

  /** Move queued frames into the socket until it pushes back. */
  private pump(): void {
    const hw = this.cfg.highWater;
    while (!this.closed && this.ring.live > 0 && this.sink.writableLength < hw) {
      // Batch through the pending arrays (empty while the queue is live): one buffer per batch,
      // each queued frame copied into it. The views stay valid until flushPend: nothing is
      // queued in between.
      const ring = this.ring;
      for (let pos = ring.first(); pos >= 0 && this.pendBytes < this.cfg.batchBytes; pos = ring.first()) {
        const sub = ring.subAt(pos);
        if (sub !== undefined) {
          // The notice goes after older queued messages, before the first newer one (§10).
          if (sub.lost > 0 && ring.seqAt(pos) > sub.lastLostSeq) this.pendLoss(sub);
          sub.delivered++;
        }
        this.pendPush(ring.frameAt(pos), 0, undefined);
        this.pendBytes += ring.sizeAt(pos);
        this.kill(pos);
      }
      this.flushPend();
      if (this.drainExpected) return;
    }
    if (this.ring.live === 0 && !this.closed) this.owner.relieved();
    // Queue drained: announce losses that no later delivery carried.
    if (this.ring.live === 0 && this.lossy.size > 0 && !this.closed) {
      const parts: Buffer[] = [];
      for (const sub of this.lossy) if (sub.lost > 0) parts.push(lossFrame(sub, this.encoding));
      this.lossy.clear();
      if (parts.length > 0) this.write(Buffer.concat(parts));
    }
  }
}

function lossFrame(sub: OutSub, encoding: WireEncoding): Buffer {
  const frame = encoding.control({ op: 'loss', sid: sub.sid, lost: sub.lost, policy: sub.policy, lastSeq: sub.lastLostSeq });
  sub.lost = 0;
  return frame;
}
