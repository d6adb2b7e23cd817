/**
 * One segment file in memory: a handful of numbers plus a sparse offset index (one entry per
 * INDEX_EVERY records), never the records themselves. Also the two ways a segment is learned at
 * open: trusting its seal, or scanning it record by record.
 */
import { Buffer } from 'node:buffer';
import { fstatSync } from 'node:fs';
import {
  ChunkReader,
  MESSAGE_FIXED_BYTES,
  RECORD_HEAD_BYTES,
  SEAL_RECORD_BYTES,
  SEGMENT_HEADER_BYTES,
  checkSegmentHeader,
  readFully,
  segmentName,
  type SealInfo,
} from './record.js';

/** One index entry per this many records: locating a mid reads at most this many records. */
export const INDEX_EVERY = 64;

export class Segment {
  readonly name: string;
  /** Mid of the last record; firstMid − 1 while empty. Mids in a segment have no gaps. */
  lastMid: number;
  /** File size in bytes (header, records, seal if sealed). */
  size: number;
  /** Offset just past the last message record. */
  dataEnd: number;
  minTime = Number.POSITIVE_INFINITY;
  maxTime = Number.NEGATIVE_INFINITY;
  /** A seal record ends the file: no more appends. */
  sealed = false;

  // Sparse index over the part of the file already walked: idxMid[i] starts at idxOff[i].
  private readonly idxMid: number[] = [];
  private readonly idxOff: number[] = [];
  /** The first record not walked yet: mid `frontierMid` starts at `frontierOff`. */
  private frontierMid: number;
  private frontierOff = SEGMENT_HEADER_BYTES;

  constructor(readonly firstMid: number) {
    this.name = segmentName(firstMid);
    this.lastMid = firstMid - 1;
    this.size = SEGMENT_HEADER_BYTES;
    this.dataEnd = SEGMENT_HEADER_BYTES;
    this.frontierMid = firstMid;
  }

  get count(): number {
    return this.lastMid - this.firstMid + 1;
  }

  /** What this segment's seal record says. */
  sealInfo(): SealInfo {
    return { firstMid: this.firstMid, lastMid: this.lastMid, count: this.count, minTime: this.minTime, maxTime: this.maxTime };
  }

  /** Bytes charged to the quota: an unsealed segment is charged for the seal it will get. */
  get chargedBytes(): number {
    return this.size + (this.sealed ? 0 : SEAL_RECORD_BYTES);
  }

  /** A known record position at or before `mid` (mid ≥ firstMid): where a walk to it starts. */
  locate(mid: number): { mid: number; offset: number } {
    if (mid >= this.frontierMid) return { mid: this.frontierMid, offset: this.frontierOff };
    let lo = 0;
    let hi = this.idxMid.length - 1;
    while (lo < hi) {
      const m = (lo + hi + 1) >> 1;
      if (this.idxMid[m]! <= mid) lo = m;
      else hi = m - 1;
    }
    return { mid: this.idxMid[lo]!, offset: this.idxOff[lo]! };
  }

  /** Tells the index that record `mid` of `size` bytes starts at `offset` (any order of calls). */
  learn(mid: number, offset: number, size: number): void {
    if (mid !== this.frontierMid) return;
    if ((mid - this.firstMid) % INDEX_EVERY === 0) {
      this.idxMid.push(mid);
      this.idxOff.push(offset);
    }
    this.frontierMid = mid + 1;
    this.frontierOff = offset + size;
  }

  /** Records a message appended at dataEnd. */
  appended(mid: number, time: number, size: number): void {
    this.learn(mid, this.dataEnd, size);
    this.lastMid = mid;
    this.dataEnd += size;
    this.size = this.dataEnd;
    if (time < this.minTime) this.minTime = time;
    if (time > this.maxTime) this.maxTime = time;
  }

  /** Forgets everything at or after `offset` (a cut at a record boundary). */
  cutAt(offset: number, lastMid: number): void {
    this.dataEnd = offset;
    this.size = offset;
    this.lastMid = lastMid;
    this.sealed = false;
    while (this.idxOff.length > 0 && this.idxOff[this.idxOff.length - 1]! >= offset) {
      this.idxOff.pop();
      this.idxMid.pop();
    }
    if (this.frontierOff > offset) {
      this.frontierMid = lastMid + 1;
      this.frontierOff = offset;
    }
  }
}

export type ScanResult = {
  seg: Segment;
  /** Offset at which the valid part of the file ends (the seal included when valid). */
  validEnd: number;
  fileSize: number;
  /** Why bytes after validEnd are invalid; undefined when the file is valid to its end. */
  problem: string | undefined;
};

/**
 * Walks a segment file from its header, checking every record (length, CRC, type, field lengths,
 * the mid that must come next) and a seal, if any, against what was walked. Stops at the first
 * invalid byte. Memory: the shared read buffer only.
 */
export function scanSegment(fd: number, firstMid: number, buf: Buffer): ScanResult {
  const fileSize = fstatSync(fd).size;
  const seg = new Segment(firstMid);
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
  const headProblem = checkSegmentHeader(head.subarray(0, readFully(fd, head, SEGMENT_HEADER_BYTES, 0)), firstMid);
  if (headProblem !== undefined) return { seg, validEnd: 0, fileSize, problem: headProblem };
  const reader = new ChunkReader(fd, fileSize, buf);
  let offset = SEGMENT_HEADER_BYTES;
  for (;;) {
    const r = reader.parse(offset);
    if (r.type === 'end') return { seg, validEnd: offset, fileSize, problem: undefined };
    if (r.type === 'bad') return { seg, validEnd: offset, fileSize, problem: `${r.reason} at offset ${offset}` };
    if (r.type === 'seal') {
      const consistent =
        r.firstMid === firstMid &&
        r.lastMid === seg.lastMid &&
        r.count === seg.count &&
        seg.count > 0 &&
        // A segment cut after a read-time CRC failure keeps its old time bounds: bounds, not equality.
        r.minTime <= seg.minTime &&
        r.maxTime >= seg.maxTime;
      if (!consistent) return { seg, validEnd: offset, fileSize, problem: `seal disagrees with the records at offset ${offset}` };
      seg.sealed = true;
      seg.size = offset + r.size;
      const validEnd = offset + r.size;
      return { seg, validEnd, fileSize, problem: validEnd === fileSize ? undefined : `bytes after the seal at offset ${validEnd}` };
    }
    const expected = seg.lastMid + 1;
    if (r.mid !== expected) return { seg, validEnd: offset, fileSize, problem: `mid ${r.mid} where ${expected} must follow at offset ${offset}` };
    seg.appended(r.mid, r.time, r.size);
    offset += r.size;
  }
}

/**
 * Learns a sealed segment from its header and its seal alone (two small reads), without walking
 * it; undefined when the file does not end in a valid seal that agrees with its name and size.
 * Records are still checked one by one when they are read.
 */
export function trustSeal(fd: number, firstMid: number, buf: Buffer): Segment | undefined {
  const fileSize = fstatSync(fd).size;
  if (fileSize < SEGMENT_HEADER_BYTES + SEAL_RECORD_BYTES) return undefined;
  const head = Buffer.alloc(SEGMENT_HEADER_BYTES);
  if (checkSegmentHeader(head.subarray(0, readFully(fd, head, SEGMENT_HEADER_BYTES, 0)), firstMid) !== undefined) return undefined;
  const sealAt = fileSize - SEAL_RECORD_BYTES;
  const r = new ChunkReader(fd, fileSize, buf).parse(sealAt);
  if (r.type !== 'seal') return undefined;
  if (r.firstMid !== firstMid || r.count < 1 || r.lastMid - r.firstMid + 1 !== r.count) return undefined;
  if (r.minTime > r.maxTime || sealAt < SEGMENT_HEADER_BYTES + r.count * (RECORD_HEAD_BYTES + MESSAGE_FIXED_BYTES)) return undefined;
  const seg = new Segment(firstMid);
  seg.lastMid = r.lastMid;
  seg.dataEnd = sealAt;
  seg.size = fileSize;
  seg.minTime = r.minTime;
  seg.maxTime = r.maxTime;
  seg.sealed = true;
  return seg;
}
