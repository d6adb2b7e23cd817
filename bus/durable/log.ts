/**
 * DurableLog: the on-disk queue behind one durable subscription. Append-only segment files with a
 * CRC per record, a tiny state file for the ack mark, group-committed fsync. It knows nothing of
 * the broker, topics or connections. Format: record.ts; state file: state.ts; guarantees:
 * docs/durable-storage.md.
 *
 * @example
 * const log = DurableLog.open('/var/lib/udsbus/durable/recorder', { fsync: 'batch' });
 * if (log.recovery) console.warn('cut a torn tail', log.recovery);
 * const r = log.append('camera.event.cam-01.motion', payload, { source: 'onvif' });
 * if ('error' in r) reject(r.text);
 * else await log.sync(); // now r.mid survives kill -9 and power loss
 * for (const rec of log.read(log.stats().firstMid, 100, 1 << 20)) deliver(rec);
 * log.ack(lastProcessedMid);
 * log.close();
 */
import { Buffer } from 'node:buffer';
import {
  constants,
  fdatasync,
  fdatasyncSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  rmSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  ChunkReader,
  MAX_BODY_BYTES,
  RECORD_HEAD_BYTES,
  SEAL_RECORD_BYTES,
  SEGMENT_HEADER_BYTES,
  closeQuietly,
  decodeHeaders,
  encodeMessage,
  encodeSeal,
  encodeSegmentHeader,
  measureHeaders,
  messageRecordBytes,
  parseSegmentName,
  segmentName,
  utf8Length,
  type MessageView,
} from './record.js';
import { Segment, scanSegment, trustSeal } from './segment.js';
import { StateStore, parseStateName, readLatestState, sameBoot, type LogState } from './state.js';

/**
 * When appended records reach the disk (see docs/durable-storage.md for what survives what):
 * - `always`: append() fdatasyncs before it returns. Survives power loss once append returns.
 * - `batch`: a background fdatasync at most every `batchMs`, shared by every record appended
 *   before it started (group commit); sync() resolves when that covers the caller's records.
 *   Survives power loss once sync() resolves; kill -9 loses nothing append() returned.
 * - `never`: no fsync of records. Survives kill -9 (the data is in the OS page cache once append
 *   returns), not power loss or a kernel crash.
 */
export type FsyncPolicy = 'always' | 'batch' | 'never';

/** What append() does when the quota (maxBytes) would be exceeded. */
export type OverflowPolicy = 'reject' | 'drop-oldest';

export interface DurableLogOptions {
  /** Quota: bytes of segment files on disk, never exceeded. Default 256 MiB. */
  maxBytes?: number;
  /** Records older than this (by their `time`) are never read and are removed by expire(). 0 = keep forever (default). */
  maxAgeMs?: number;
  /** Default 'reject': append() returns FULL. 'drop-oldest' deletes the oldest segment(s) instead, counting their unacked records as dropped. */
  overflow?: OverflowPolicy;
  /** Default 'batch'. */
  fsync?: FsyncPolicy;
  /** 'batch' only: the group-commit window, at most one fsync round per window. Default 5 ms. */
  batchMs?: number;
  /** A segment file is closed for appends past this size (one bigger record still fits). Default 8 MiB, at most maxBytes/4. */
  segmentBytes?: number;
  /** Acks are written to disk at most this long after ack(). Default 100 ms. */
  ackFlushMs?: number;
  /** The clock for record times and expiry (tests inject one). Default Date.now. */
  now?: () => number;
}

/** One stored message as read back. `payload` is a copy the caller owns. */
export interface StoredRecord {
  /** Message id: strictly increasing within a log, never reused; contiguous within one boot (see append). */
  mid: number;
  /** Milliseconds since the epoch, as given to append(). */
  time: number;
  topic: string;
  hdr?: Record<string, string>;
  payload: Buffer;
}

export type AppendResult = { mid: number } | { error: 'FULL'; text: string };

/** One place recovery cut a file: everything from `offset` on (`cutBytes` bytes) was invalid. */
export interface RecoveryCut {
  segment: string;
  offset: number;
  cutBytes: number;
  reason: string;
}

/**
 * What open() cut. `segment`/`reason` describe the first cut, `cutBytes` sums all of them. The
 * number of records lost is not known: past the first bad byte nothing can be trusted, not even
 * the record lengths. (Records confirmed by sync() are never in a cut, unless the disk lied.)
 */
export interface RecoveryReport {
  cutBytes: number;
  segment: string;
  reason: string;
  cuts: RecoveryCut[];
}

export interface DurableLogStats {
  /** The first mid still stored (not acked, purged, dropped or expired); lastMid + 1 when empty. */
  firstMid: number;
  /** The highest mid stored or acked so far (0 before the first append). */
  lastMid: number;
  /** Records stored and not yet acked, purged, dropped or expired. */
  count: number;
  /** Bytes of segment files on disk (what the quota counts). */
  bytes: number;
  /** `time` of the first stored record, or undefined when empty. */
  oldestTime: number | undefined;
  /** Unacked records deleted by 'drop-oldest' since open. */
  dropped: number;
  /** Records removed by expire() since open. */
  expired: number;
  /** Records lost to a failed CRC found by read() since open (bit rot; should stay 0). */
  corrupt: number;
  segments: number;
  /** Completed fsync rounds of records ('batch') or fsyncs ('always') since open. */
  fsyncs: number;
}

/** Losses not yet reported to the consumer; takeLost() returns and resets them. */
export interface Losses {
  dropped: number;
  expired: number;
  corrupt: number;
}

const MiB = 1024 * 1024;
/** Mids handed out beyond the last durable state file; a crash skips at most this many. */
const LEASE_MIDS = 1 << 20;
const READ_BUFFER_BYTES = 64 * 1024;
const SCRATCH_BYTES = 64 * 1024;
const MIN_SEGMENT_BYTES = 4096;

type Resolved = Required<DurableLogOptions>;
type WriteHandle = { seg: Segment; fd: number; writes: number; synced: number; deleted: boolean };
type Waiter = { resolve: () => void; reject: (err: Error) => void };
type FlushRound = { seq: number; waiters: Waiter[] };

function resolveOptions(o: DurableLogOptions): Resolved {
  const maxBytes = o.maxBytes ?? 256 * MiB;
  const r: Resolved = {
    maxBytes,
    maxAgeMs: o.maxAgeMs ?? 0,
    overflow: o.overflow ?? 'reject',
    fsync: o.fsync ?? 'batch',
    batchMs: o.batchMs ?? 5,
    segmentBytes: Math.max(MIN_SEGMENT_BYTES, Math.min(o.segmentBytes ?? 8 * MiB, Math.floor(maxBytes / 4))),
    ackFlushMs: o.ackFlushMs ?? 100,
    now: o.now ?? Date.now,
  };
  if (!(Number.isSafeInteger(maxBytes) && maxBytes >= 4 * MIN_SEGMENT_BYTES)) throw new RangeError(`maxBytes must be an integer ≥ ${4 * MIN_SEGMENT_BYTES}`);
  if (!(r.maxAgeMs >= 0)) throw new RangeError('maxAgeMs must be ≥ 0');
  if (!(r.batchMs >= 0) || !(r.ackFlushMs >= 0)) throw new RangeError('batchMs and ackFlushMs must be ≥ 0');
  if (!['always', 'batch', 'never'].includes(r.fsync)) throw new RangeError(`unknown fsync policy ${String(r.fsync)}`);
  if (!['reject', 'drop-oldest'].includes(r.overflow)) throw new RangeError(`unknown overflow policy ${String(r.overflow)}`);
  return r;
}

export class DurableLog {
  /** What open() had to cut from torn or corrupt segment tails; undefined when nothing. */
  readonly recovery: RecoveryReport | undefined;

  private readonly o: Resolved;
  private readonly dirFd: number;
  private readonly segments: Segment[] = [];
  private active: WriteHandle | undefined;
  private retired: WriteHandle[] = [];
  private readonly readBuf = Buffer.allocUnsafe(READ_BUFFER_BYTES);
  private readonly scratch = Buffer.allocUnsafe(SCRATCH_BYTES);
  /** At most two read descriptors, least recently used first. */
  private readonly readFds = new Map<string, number>();
  /** The reader of the last walk, kept so the next walk nearby (the next page, the head record for stats) costs no read(2). */
  private cachedReader: { name: string; reader: ChunkReader } | undefined;

  /** Every mid ≤ floor is acked or discarded. */
  private floor = 0;
  /** Highest mid stored or acked. */
  private lastMid = 0;
  private nextMid = 1;
  private diskBytes = 0;

  /** The state file: ack mark, mid high-water mark, lease. */
  private readonly state: StateStore;
  /** The lease asked of the state file (≥ every mid handed out). */
  private leaseWanted = 0;

  // Group commit.
  private appendSeq = 0;
  private syncedSeq = 0;
  private waiters: Waiter[] = [];
  private flushing: FlushRound | undefined;
  private cancelFlush: (() => void) | undefined;
  private lastFlushStart = Number.NEGATIVE_INFINITY;
  private dirDirty = false;

  private failed: Error | undefined;
  private closed = false;
  private headCache: { mid: number; time: number } | undefined;
  private readonly counts = { dropped: 0, expired: 0, corrupt: 0, fsyncs: 0 };
  private readonly pending: Losses = { dropped: 0, expired: 0, corrupt: 0 };

  /**
   * Opens (creating if needed) the log in `dir`, which it owns: one DurableLog per directory, and
   * nothing else writing there. Synchronous. Recovery: every segment that does not end in a
   * valid seal — always including the last one — is checked record by record and cut at the
   * first invalid byte (see `recovery`); sealed segments are believed from their seal, and each
   * of their records is still checked when read.
   */
  static open(dir: string, opts: DurableLogOptions = {}): DurableLog {
    const o = resolveOptions(opts);
    mkdirSync(dir, { recursive: true });
    return new DurableLog(dir, o);
  }

  private constructor(
    readonly dir: string,
    o: Resolved,
  ) {
    this.o = o;
    this.dirFd = openSync(dir, 'r');
    const names = readdirSync(dir);
    const stateSeqs = names.map(parseStateName).filter((s) => s !== undefined);
    this.state = new StateStore(dir, this.dirFd, stateSeqs, () => ({ floor: this.floor, hwm: this.nextMid - 1, lease: this.leaseWanted }));
    try {
      this.recovery = this.recover(names, stateSeqs);
    } catch (err) {
      closeQuietly(this.dirFd);
      throw err;
    }
  }

  private recover(names: string[], stateSeqs: number[]): RecoveryReport | undefined {
    const segMids = names.map(parseSegmentName).filter((m) => m !== undefined);
    segMids.sort((a, b) => a - b);
    const st: LogState = readLatestState(this.dir, stateSeqs) ?? { seq: 0, floor: 0, hwm: 0, lease: 0, boot: Buffer.alloc(16) };

    const cuts: RecoveryCut[] = [];
    for (let i = 0; i < segMids.length; i++) {
      const seg = this.recoverSegment(segMids[i]!, i === segMids.length - 1, cuts);
      if (seg === undefined) continue;
      const prev = this.segments[this.segments.length - 1];
      if (prev !== undefined && seg.firstMid <= prev.lastMid) {
        throw new Error(`durable log ${this.dir}: segment ${seg.name} overlaps ${prev.name}; the directory was modified by something else`);
      }
      this.segments.push(seg);
    }

    this.floor = st.floor;
    // Wholly acked segments go, except the newest: its name and records keep the high-water mark.
    while (this.segments.length > 1 && this.segments[0]!.lastMid <= this.floor) this.unlinkSegment(this.segments.shift()!);
    const first = this.segments[0];
    if (first !== undefined) this.floor = Math.max(this.floor, first.firstMid - 1);
    this.lastMid = Math.max(this.floor, st.hwm, this.segments[this.segments.length - 1]?.lastMid ?? 0);
    // Within one boot everything a dead process wrote is still there to be read, so lastMid is the
    // last mid it handed out. After a reboot, mids up to the lease may have been handed out (and
    // delivered) without reaching the disk: skip them all rather than reuse one.
    this.nextMid = (sameBoot(st.boot) ? this.lastMid : Math.max(this.lastMid, st.lease)) + 1;
    for (const s of this.segments) this.diskBytes += s.chargedBytes;
    this.leaseWanted = this.nextMid - 1 + LEASE_MIDS;
    this.state.writeNow();

    const firstCut = cuts[0];
    if (firstCut === undefined) return undefined;
    return {
      cutBytes: cuts.reduce((n, c) => n + c.cutBytes, 0),
      segment: firstCut.segment,
      reason: firstCut.reason,
      cuts,
    };
  }

  /** Learns one segment at open, cutting and sealing it when needed; undefined when it ends up empty. */
  private recoverSegment(firstMid: number, isLast: boolean, cuts: RecoveryCut[]): Segment | undefined {
    const path = join(this.dir, segmentName(firstMid));
    const fd = openSync(path, 'r+');
    try {
      const trusted = isLast ? undefined : trustSeal(fd, firstMid, this.readBuf);
      if (trusted !== undefined) return trusted;
      const r = scanSegment(fd, firstMid, this.readBuf);
      const seg = r.seg;
      let changed = false;
      if (r.problem !== undefined) {
        // An empty file (killed between creating a segment and writing its header) lost nothing.
        if (r.fileSize > 0) cuts.push({ segment: seg.name, offset: r.validEnd, cutBytes: r.fileSize - r.validEnd, reason: r.problem });
        ftruncateSync(fd, r.validEnd);
        changed = true;
      }
      if (seg.count === 0) {
        closeQuietly(fd);
        unlinkSync(path);
        return undefined;
      }
      if (!seg.sealed) {
        // Appends always go to a new segment after open, so this one is finished: seal it.
        writeSync(fd, encodeSeal(seg.sealInfo()), 0, SEAL_RECORD_BYTES, seg.size);
        seg.size += SEAL_RECORD_BYTES;
        seg.sealed = true;
        changed = true;
      }
      if (changed) fdatasyncSync(fd);
      return seg;
    } finally {
      closeQuietly(fd);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Appending

  /**
   * Stores one message and returns its mid, or FULL when it does not fit the quota under
   * 'reject' (or is larger than the quota itself). The record is in the OS (write(2)) when this
   * returns, so read() sees it and kill -9 cannot lose it; power-loss durability per `fsync`.
   *
   * Mids start at 1 and strictly increase for the life of the directory, across restarts,
   * acks and purges, and are never reused. Within one boot of the machine they are contiguous;
   * after a crash followed by a reboot (power loss, kernel panic) the next mid jumps past every
   * mid the crashed process might have handed out without storing it (at most 2^20 ahead). So a
   * mid gap is not a loss; losses are reported by takeLost().
   *
   * Throws on I/O errors (e.g. ENOSPC; a partly written record is removed first), after a
   * failed fsync (the log must be reopened), after close(), and for invalid arguments.
   */
  append(topic: string, payload: Uint8Array, hdr?: Record<string, string>, time?: number): AppendResult {
    this.assertWritable();
    if (typeof topic !== 'string') throw new TypeError('topic must be a string');
    if (!(payload instanceof Uint8Array)) throw new TypeError('payload must be a Uint8Array');
    const t = time ?? this.o.now();
    if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`time must be a non-negative integer (ms since epoch), got ${t}`);
    const topicBytes = utf8Length(topic);
    if (topicBytes > 0xffff) throw new RangeError('topic is longer than 65535 bytes');
    const h = measureHeaders(hdr);
    const size = messageRecordBytes(topicBytes, h, payload.length);
    if (size - RECORD_HEAD_BYTES > MAX_BODY_BYTES) throw new RangeError(`a record of ${size} bytes is larger than ${MAX_BODY_BYTES}`);

    const full = this.makeRoom(size);
    if (full !== undefined) return full;

    let w = this.active;
    if (w !== undefined && w.seg.count > 0 && w.seg.size + size + SEAL_RECORD_BYTES > this.o.segmentBytes) {
      this.retireActive(true);
      w = undefined;
    }
    const mid = this.nextMid;
    if (w === undefined) {
      w = this.createSegment(mid);
      this.dropAcked();
    }
    const leased = this.state.leaseDurable;
    if (mid > leased) {
      // The background extension did not land in time (a stalled disk): extend it synchronously.
      this.leaseWanted = mid + LEASE_MIDS;
      this.state.writeNow();
    } else if (mid > leased - LEASE_MIDS / 2 && this.leaseWanted <= leased) {
      this.leaseWanted = leased + LEASE_MIDS;
      this.state.request(0);
    }

    const buf = size <= SCRATCH_BYTES ? this.scratch : Buffer.allocUnsafe(size);
    encodeMessage(buf, mid, t, topic, topicBytes, h, payload);
    this.writeAll(w, buf, size);
    w.seg.appended(mid, t, size);
    w.writes++;
    this.appendSeq++;
    this.diskBytes += size;
    this.nextMid = mid + 1;
    this.lastMid = mid;
    if (this.o.fsync === 'always') {
      this.syncHandle(w);
      this.syncedSeq = this.appendSeq;
    } else if (this.o.fsync === 'batch') {
      this.scheduleFlush();
    }
    return { mid };
  }

  /** Frees space for a record of `size` bytes per the overflow policy, or says FULL. */
  private makeRoom(size: number): { error: 'FULL'; text: string } | undefined {
    if (size + SEGMENT_HEADER_BYTES + SEAL_RECORD_BYTES > this.o.maxBytes) {
      return { error: 'FULL', text: `a record of ${size} bytes can never fit the quota of ${this.o.maxBytes} bytes` };
    }
    for (;;) {
      const head = this.segments[0];
      if (head !== undefined && this.liveIn(head) === 0 && this.diskBytes + size + SEGMENT_HEADER_BYTES + SEAL_RECORD_BYTES > this.o.maxBytes) {
        this.dropSegment(head); // acked already: free space, not a loss
        continue;
      }
      const w = this.active;
      const fresh = w === undefined || (w.seg.count > 0 && w.seg.size + size + SEAL_RECORD_BYTES > this.o.segmentBytes);
      const cost = size + (fresh ? SEGMENT_HEADER_BYTES + SEAL_RECORD_BYTES : 0);
      if (this.diskBytes + cost <= this.o.maxBytes) return undefined;
      const oldest = this.segments[0];
      if (this.o.overflow === 'reject' || oldest === undefined) {
        return { error: 'FULL', text: `durable queue full: ${this.diskBytes} of ${this.o.maxBytes} bytes used, ${this.liveCount()} records unacked` };
      }
      const n = this.liveIn(oldest);
      this.counts.dropped += n;
      this.pending.dropped += n;
      this.dropSegment(oldest);
    }
  }

  private createSegment(firstMid: number): WriteHandle {
    const seg = new Segment(firstMid);
    const path = join(this.dir, seg.name);
    const fd = openSync(path, constants.O_CREAT | constants.O_EXCL | constants.O_WRONLY | constants.O_APPEND, 0o640);
    const w: WriteHandle = { seg, fd, writes: 1, synced: 0, deleted: false };
    try {
      this.writeAll(w, encodeSegmentHeader(firstMid), SEGMENT_HEADER_BYTES);
    } catch (err) {
      closeQuietly(fd);
      unlinkSync(path);
      throw err;
    }
    this.segments.push(seg);
    this.diskBytes += seg.chargedBytes;
    this.active = w;
    // The new file's directory entry must be durable too, or its records vanish with it.
    if (this.o.fsync === 'always') fsyncSync(this.dirFd);
    else if (this.o.fsync === 'batch') this.dirDirty = true;
    return w;
  }

  /** write(2) the whole buffer; on failure remove what part of it got written, then throw. */
  private writeAll(w: WriteHandle, buf: Buffer, len: number): void {
    let done = 0;
    try {
      while (done < len) done += writeSync(w.fd, buf, done, len - done);
    } catch (err) {
      if (done > 0) {
        try {
          ftruncateSync(w.fd, w.seg.size);
        } catch (truncErr) {
          this.fail(truncErr as Error);
        }
      }
      throw err;
    }
  }

  private syncHandle(w: WriteHandle): void {
    try {
      fdatasyncSync(w.fd);
    } catch (err) {
      this.fail(err as Error);
      throw err;
    }
    w.synced = w.writes;
    this.counts.fsyncs++;
  }

  /** Ends appends to the active segment (sealing it when asked); its fd closes once synced. */
  private retireActive(seal: boolean): void {
    const w = this.active;
    if (w === undefined) return;
    this.active = undefined;
    this.retired.push(w); // first: if sealing throws, close() still closes it
    if (seal && !w.deleted && w.seg.count > 0) {
      const s = w.seg;
      this.writeAll(w, encodeSeal(s.sealInfo()), SEAL_RECORD_BYTES);
      s.size += SEAL_RECORD_BYTES;
      s.sealed = true;
      w.writes++;
      if (this.o.fsync === 'always') this.syncHandle(w);
    }
    this.reap();
  }

  /** Closes retired write handles that need no more fsync, unless a round is using them. */
  private reap(): void {
    if (this.flushing !== undefined) return;
    this.retired = this.retired.filter((w) => {
      const done = w.deleted || this.o.fsync !== 'batch' || w.synced >= w.writes;
      if (done) closeQuietly(w.fd);
      return !done;
    });
  }

  // ---------------------------------------------------------------------------------------------
  // Group commit

  /**
   * Resolves once every record appended before this call is on stable storage per the policy:
   * 'batch' waits for the fsync round that covers it (callers share rounds, at most one per
   * batchMs); 'always' and 'never' resolve at once (the first has synced in append(), the second
   * never will). Rejects if the fsync fails — the log is then unusable and must be reopened,
   * because after a failed fsync the kernel may have dropped the unwritten pages.
   */
  sync(): Promise<void> {
    if (this.failed !== undefined) return Promise.reject(this.failed);
    if (this.closed || this.o.fsync !== 'batch') return Promise.resolve();
    const target = this.appendSeq;
    if (target <= this.syncedSeq) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const w = { resolve, reject };
      if (this.flushing !== undefined && this.flushing.seq >= target) this.flushing.waiters.push(w);
      else {
        this.waiters.push(w);
        this.scheduleFlush();
      }
    });
  }

  private scheduleFlush(): void {
    if (this.flushing !== undefined || this.cancelFlush !== undefined || this.closed) return;
    const wait = this.lastFlushStart + this.o.batchMs - performance.now();
    if (wait <= 0) {
      // Still after the current burst of appends, so one round covers all of them.
      const im = setImmediate(() => this.startFlush());
      this.cancelFlush = () => clearImmediate(im);
    } else {
      const t = setTimeout(() => this.startFlush(), wait);
      this.cancelFlush = () => clearTimeout(t);
    }
  }

  private startFlush(): void {
    this.cancelFlush = undefined;
    if (this.closed || this.failed !== undefined) return;
    const round: FlushRound = { seq: this.appendSeq, waiters: this.waiters };
    this.waiters = [];
    const targets: Array<{ w: WriteHandle; writes: number }> = [];
    for (const w of this.active === undefined ? this.retired : [this.active, ...this.retired]) {
      if (!w.deleted && w.writes > w.synced) targets.push({ w, writes: w.writes });
    }
    const dir = this.dirDirty;
    this.dirDirty = false;
    if (targets.length === 0 && !dir) {
      this.syncedSeq = Math.max(this.syncedSeq, round.seq);
      for (const w of round.waiters) w.resolve();
      return;
    }
    this.flushing = round;
    this.lastFlushStart = performance.now();
    let outstanding = targets.length + (dir ? 1 : 0);
    let error: Error | undefined;
    const done = (err: Error | null): void => {
      if (err !== null) error ??= err;
      if (--outstanding === 0) this.flushDone(round, targets, error);
    };
    for (const t of targets) fdatasync(t.w.fd, done);
    if (dir) fsync(this.dirFd, done);
  }

  private flushDone(round: FlushRound, targets: Array<{ w: WriteHandle; writes: number }>, error: Error | undefined): void {
    this.flushing = undefined;
    if (this.closed) {
      // close() synced everything synchronously and settled the waiters it could see.
      for (const w of round.waiters) w.resolve();
      return;
    }
    if (error !== undefined) {
      this.fail(error);
      for (const w of round.waiters) w.reject(error);
      return;
    }
    for (const t of targets) t.w.synced = Math.max(t.w.synced, t.writes);
    this.syncedSeq = Math.max(this.syncedSeq, round.seq);
    this.counts.fsyncs++;
    for (const w of round.waiters) w.resolve();
    this.reap();
    if (this.waiters.length > 0 || this.hasUnsynced()) this.scheduleFlush();
  }

  private hasUnsynced(): boolean {
    if (this.dirDirty || (this.active !== undefined && this.active.writes > this.active.synced)) return true;
    return this.retired.some((w) => !w.deleted && w.writes > w.synced);
  }

  private fail(err: Error): void {
    if (this.failed !== undefined) return;
    this.failed = err;
    for (const w of this.waiters) w.reject(err);
    this.waiters = [];
  }

  // ---------------------------------------------------------------------------------------------
  // Reading

  /**
   * Up to `maxCount` records with mid ≥ fromMid, in mid order, skipping acked, discarded and
   * expired ones. With maxAgeMs, expired records at the head of the log are first removed and
   * counted as expire() does, so with times in append order every expired record is counted. Stops before the record that would take the payload total past `maxBytes`,
   * but always returns at least one record when there is one, however large. Reads from disk
   * through one 64 KiB buffer and a sparse offset index (one entry per 64 records), so memory
   * does not depend on the backlog; each record's CRC is checked again. A record that fails it
   * (bit rot in a sealed segment) ends that segment: it and the rest of the segment are cut and
   * counted in `corrupt`, and reading goes on in the next segment.
   */
  read(fromMid: number, maxCount: number, maxBytes: number): StoredRecord[] {
    this.assertOpen();
    const out: StoredRecord[] = [];
    if (!(maxCount >= 1)) return out;
    const cutoff = this.cutoff();
    // Expired records at the head are removed (and counted) before anything can skip them.
    if (cutoff > Number.NEGATIVE_INFINITY && this.failed === undefined) this.expireHead(cutoff);
    let bytes = 0;
    this.walk(fromMid, (v) => {
      if (v.time < cutoff) return true;
      const plen = v.payloadEnd - v.payloadStart;
      if (out.length > 0 && bytes + plen > maxBytes) return false;
      const rec: StoredRecord = {
        mid: v.mid,
        time: v.time,
        topic: v.buf.toString('utf8', v.topicStart, v.topicEnd),
        payload: Buffer.from(v.buf.subarray(v.payloadStart, v.payloadEnd)),
      };
      const hdr = decodeHeaders(v);
      if (hdr !== undefined) rec.hdr = hdr;
      out.push(rec);
      bytes += plen;
      return out.length < maxCount && bytes < maxBytes;
    });
    return out;
  }

  /** Visits stored records with mid ≥ from in order until `visit` returns false. */
  private walk(from: number, visit: (v: MessageView) => boolean): void {
    const start = Math.max(from, this.floor + 1, 1);
    let i = this.segmentIndexFor(start);
    while (i < this.segments.length) {
      const seg = this.segments[i]!;
      let { mid, offset } = seg.locate(Math.max(start, seg.firstMid));
      const reader = this.readerFor(seg);
      let broken = false;
      while (offset < seg.dataEnd) {
        const r = reader.parse(offset);
        if (r.type !== 'message' || r.mid !== mid) {
          const why = r.type === 'bad' ? r.reason : r.type === 'message' ? `mid ${r.mid} where ${mid} must be` : `unexpected ${r.type}`;
          this.cutCorrupt(seg, offset, mid, why);
          broken = true;
          break;
        }
        seg.learn(mid, offset, r.size);
        if (mid >= start && !visit(r)) return;
        offset += r.size;
        mid++;
      }
      i = broken ? this.segmentIndexFor(mid) : i + 1;
    }
  }

  private readerFor(seg: Segment): ChunkReader {
    const fd = this.readFd(seg);
    const c = this.cachedReader;
    if (c !== undefined && c.name === seg.name) {
      c.reader.retarget(fd, seg.dataEnd);
      return c.reader;
    }
    const reader = new ChunkReader(fd, seg.dataEnd, this.readBuf);
    this.cachedReader = { name: seg.name, reader };
    return reader;
  }

  /** Index of the first segment holding a mid ≥ mid. */
  private segmentIndexFor(mid: number): number {
    let lo = 0;
    let hi = this.segments.length;
    while (lo < hi) {
      const m = (lo + hi) >> 1;
      if (this.segments[m]!.lastMid < mid) lo = m + 1;
      else hi = m;
    }
    return lo;
  }

  private readFd(seg: Segment): number {
    let fd = this.readFds.get(seg.name);
    if (fd !== undefined) {
      this.readFds.delete(seg.name);
      this.readFds.set(seg.name, fd);
      return fd;
    }
    fd = openSync(join(this.dir, seg.name), 'r');
    this.readFds.set(seg.name, fd);
    if (this.readFds.size > 2) {
      const [oldest, oldFd] = this.readFds.entries().next().value!;
      this.readFds.delete(oldest);
      closeQuietly(oldFd);
    }
    return fd;
  }

  /** A record in `seg` at `offset` (expected mid `mid`) is invalid: cut the segment there. */
  private cutCorrupt(seg: Segment, offset: number, mid: number, reason: string): void {
    const lost = Math.max(0, seg.lastMid - Math.max(mid - 1, this.floor));
    this.counts.corrupt += lost;
    this.pending.corrupt += lost;
    process.emitWarning(`durable log ${this.dir}: ${seg.name}: ${reason} at offset ${offset}; cut ${lost} records`, 'DurableLogCorruption');
    if (this.active?.seg === seg) {
      // Its mids would no longer be contiguous: new appends go to a new segment.
      this.active.deleted = true;
      this.retireActive(false);
    }
    for (const w of this.retired) if (w.seg === seg) w.deleted = true;
    const before = seg.chargedBytes;
    this.cachedReader = undefined;
    seg.cutAt(offset, mid - 1);
    if (this.liveIn(seg) === 0) {
      this.diskBytes += seg.chargedBytes - before;
      this.dropSegment(seg);
      return;
    }
    const fd = openSync(join(this.dir, seg.name), 'r+');
    try {
      ftruncateSync(fd, offset);
      writeSync(fd, encodeSeal(seg.sealInfo()), 0, SEAL_RECORD_BYTES, offset);
      if (this.o.fsync !== 'never') fdatasyncSync(fd);
    } finally {
      closeQuietly(fd);
    }
    seg.size += SEAL_RECORD_BYTES;
    seg.sealed = true;
    this.diskBytes += seg.chargedBytes - before;
  }

  // ---------------------------------------------------------------------------------------------
  // Removing

  /**
   * Acknowledges every mid ≤ upToMid (cumulative; smaller values are ignored). Segments holding
   * only acked records are deleted at once (the newest one when the next segment starts, or when
   * its space is needed: it keeps the mid high-water mark on disk for free); the ack mark reaches the disk within ackFlushMs
   * (syncAcks() waits for it). After a crash, acks not yet written are lost and those records
   * are read again: delivery is at least once.
   */
  ack(upToMid: number): void {
    this.assertWritable();
    if (!Number.isSafeInteger(upToMid)) throw new RangeError(`mid must be an integer, got ${upToMid}`);
    const target = Math.min(upToMid, this.lastMid);
    if (target <= this.floor) return;
    this.floor = target;
    this.dropAcked();
    this.state.request(this.o.ackFlushMs);
  }

  /** Discards every stored record (as if acked) and returns how many; mids go on from lastMid. */
  purge(): number {
    this.assertWritable();
    const n = this.liveCount();
    this.floor = this.lastMid;
    for (const seg of [...this.segments]) this.dropSegment(seg);
    this.state.request(0);
    return n;
  }

  /**
   * Removes records older than maxAgeMs and returns how many: every segment whose newest record
   * has expired, then the expired records at the head of the first remaining one. (read() never
   * returns an expired record, removed or not. Only when callers pass times out of order can an
   * expired record sit behind a live one; it stays on disk until acked past or its segment goes.)
   */
  expire(): number {
    this.assertWritable();
    if (this.o.maxAgeMs <= 0) return 0;
    const cutoff = this.cutoff();
    let n = 0;
    for (const seg of [...this.segments]) {
      if (seg.maxTime < cutoff) {
        n += this.liveIn(seg);
        this.dropSegment(seg);
      }
    }
    this.counts.expired += n;
    this.pending.expired += n;
    return n + this.expireHead(cutoff);
  }

  /** Removes the expired records at the head of the log (moving the floor); returns how many. */
  private expireHead(cutoff: number): number {
    const first = this.segments[0];
    if (first === undefined) return 0;
    const headMid = Math.max(this.floor + 1, first.firstMid);
    if (this.headCache !== undefined && this.headCache.mid === headMid && this.headCache.time >= cutoff) return 0;
    let head = this.floor;
    let n = 0;
    this.walk(headMid, (v) => {
      if (v.time >= cutoff) {
        this.headCache = { mid: v.mid, time: v.time };
        return false;
      }
      head = v.mid;
      n++;
      return true;
    });
    if (n === 0) return 0;
    this.floor = head;
    this.dropAcked();
    this.state.request(this.o.ackFlushMs);
    this.counts.expired += n;
    this.pending.expired += n;
    return n;
  }

  /** Deletes wholly acked segments but the newest. */
  private dropAcked(): void {
    while (this.segments.length > 1 && this.segments[0]!.lastMid <= this.floor) this.dropSegment(this.segments[0]!);
  }

  /**
   * Removes a segment from memory and disk; the first one moves the floor past it. Deleting the
   * newest one first writes the high-water mark to the state file (blocking; rare: purge, expiry
   * of an idle queue, a quota smaller than a segment), so its mids cannot come back after a crash.
   */
  private dropSegment(seg: Segment): void {
    const i = this.segments.indexOf(seg);
    if (i < 0) return;
    const newest = i === this.segments.length - 1;
    this.segments.splice(i, 1);
    if (i === 0) this.floor = Math.max(this.floor, seg.lastMid);
    this.diskBytes -= seg.chargedBytes;
    if (this.active?.seg === seg) {
      this.active.deleted = true;
      this.retireActive(false);
    }
    for (const w of this.retired) if (w.seg === seg) w.deleted = true;
    this.reap();
    if (newest && !this.closed) this.state.writeNow();
    this.unlinkSegment(seg);
  }

  private unlinkSegment(seg: Segment): void {
    if (this.cachedReader?.name === seg.name) this.cachedReader = undefined;
    const fd = this.readFds.get(seg.name);
    if (fd !== undefined) {
      this.readFds.delete(seg.name);
      closeQuietly(fd);
    }
    try {
      unlinkSync(join(this.dir, seg.name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  /** Resolves once the ack mark (and purges, expiry) as of this call is on disk. */
  syncAcks(): Promise<void> {
    return this.state.flushed();
  }

  // ---------------------------------------------------------------------------------------------
  // Lifecycle and numbers

  /**
   * Seals the active segment, fsyncs what is unsynced (unless fsync is 'never'), writes the ack
   * mark, and releases every file descriptor. Pending sync() promises resolve. Idempotent.
   * A clean close keeps mids contiguous across the restart.
   */
  close(): void {
    if (this.closed) return;
    let error: unknown;
    try {
      if (this.failed === undefined) this.retireActive(true);
    } catch (err) {
      error = err;
    }
    this.closed = true;
    this.cancelFlush?.();
    this.cancelFlush = undefined;
    try {
      if (this.failed === undefined && this.o.fsync !== 'never') {
        for (const w of this.retired) if (!w.deleted && w.writes > w.synced) fdatasyncSync(w.fd);
        if (this.dirDirty) fsyncSync(this.dirFd);
      }
      // Every mid ever handed out is ≤ nextMid − 1 (including a crashed predecessor's lease).
      this.state.close(this.nextMid - 1);
    } catch (err) {
      error ??= err;
    }
    for (const w of this.retired) closeQuietly(w.fd);
    this.retired = [];
    for (const fd of this.readFds.values()) closeQuietly(fd);
    this.readFds.clear();
    closeQuietly(this.dirFd);
    const settle = [...this.waiters, ...(this.flushing?.waiters ?? [])];
    this.waiters = [];
    if (this.flushing !== undefined) this.flushing.waiters = [];
    const failure = (error as Error | undefined) ?? this.failed;
    for (const w of settle) {
      if (failure === undefined) w.resolve();
      else w.reject(failure);
    }
    if (error !== undefined) throw error;
  }

  /** Closes the log and deletes its directory with everything in it. */
  destroy(): void {
    try {
      this.close();
    } finally {
      rmSync(this.dir, { recursive: true, force: true, maxRetries: 3 });
    }
  }

  stats(): DurableLogStats {
    const first = this.segments[0];
    const firstMid = first === undefined ? this.lastMid + 1 : Math.max(this.floor + 1, first.firstMid);
    return {
      firstMid,
      lastMid: this.lastMid,
      count: this.liveCount(),
      bytes: this.diskBytes,
      oldestTime: this.closed ? undefined : this.headTime(firstMid),
      dropped: this.counts.dropped,
      expired: this.counts.expired,
      corrupt: this.counts.corrupt,
      segments: this.segments.length,
      fsyncs: this.counts.fsyncs,
    };
  }

  /**
   * Unacked records deleted by 'drop-oldest' since the last call (the consumer must be told it
   * will never see them); resets that count. takeLost() also reports expiry and corruption.
   */
  takeDropped(): number {
    const n = this.pending.dropped;
    this.pending.dropped = 0;
    return n;
  }

  /**
   * Records removed without an ack since the last call — by 'drop-oldest', expiry or a failed
   * CRC — so the consumer can be told how many it will never see; resets the counts.
   */
  takeLost(): Losses {
    const l = { ...this.pending };
    this.pending.dropped = 0;
    this.pending.expired = 0;
    this.pending.corrupt = 0;
    return l;
  }

  private headTime(firstMid: number): number | undefined {
    if (this.segments.length === 0) return undefined;
    if (this.headCache?.mid === firstMid) return this.headCache.time;
    let found: { mid: number; time: number } | undefined;
    this.walk(firstMid, (v) => {
      found = { mid: v.mid, time: v.time };
      return false;
    });
    this.headCache = found;
    return found?.time;
  }

  private liveIn(seg: Segment): number {
    return Math.max(0, seg.lastMid - Math.max(this.floor, seg.firstMid - 1));
  }

  private liveCount(): number {
    let n = 0;
    for (const s of this.segments) n += this.liveIn(s);
    return n;
  }

  private cutoff(): number {
    return this.o.maxAgeMs > 0 ? this.o.now() - this.o.maxAgeMs : Number.NEGATIVE_INFINITY;
  }

  private assertOpen(): void {
    if (this.closed) throw new Error(`durable log ${this.dir} is closed`);
  }

  /** True after a failed fsync or truncate: the log refuses appends until it is reopened. */
  get broken(): boolean {
    return this.failed !== undefined;
  }

  private assertWritable(): void {
    this.assertOpen();
    if (this.failed !== undefined) throw new Error(`durable log ${this.dir} failed and must be reopened: ${this.failed.message}`, { cause: this.failed });
  }
}
