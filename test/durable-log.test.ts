/**
 * DurableLog (bus/durable): round trips, restarts, acks, torn and corrupt tails, quota, expiry,
 * bounded reads. A "crash" here is a copy of the directory taken while the log is open: exactly
 * what a kill -9 leaves behind (everything written with write(2), nothing closed or sealed).
 * The real kill -9 test is durable-log-crash.test.ts; memory is durable-log-memory.test.ts.
 */
import { cpSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync, writeSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import * as zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { DurableLog, type DurableLogOptions, type StoredRecord } from '../bus/durable/index.js';
import { crc32, crc32Table, nativeCrc32 } from '../bus/durable/crc32.js';
import { SEAL_RECORD_BYTES, SEGMENT_HEADER_BYTES, measureHeaders, messageRecordBytes } from '../bus/durable/record.js';
import { currentBootId, decodeState, encodeState, parseStateName, stateName } from '../bus/durable/state.js';
import { BASE_TIME, gen } from './durable-log-gen.js';

const dirs: string[] = [];
const logs: DurableLog[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'udsbus-durable-'));
  dirs.push(d);
  return d;
}

function open(dir: string, opts: DurableLogOptions = {}): DurableLog {
  const log = DurableLog.open(dir, { fsync: 'never', ...opts });
  logs.push(log);
  return log;
}

afterEach(() => {
  for (const l of logs.splice(0)) l.close();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Appends gen(n) for each n; returns the mids. */
function appendGen(log: DurableLog, ns: number[]): number[] {
  return ns.map((n) => {
    const r = gen(n);
    const res = log.append(r.topic, r.payload, r.hdr, r.time);
    if ('error' in res) throw new Error(res.text);
    return res.mid;
  });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** Everything readable, in pages. */
function readAll(log: DurableLog, from = 1, page = 100): StoredRecord[] {
  const out: StoredRecord[] = [];
  let next = from;
  for (;;) {
    const recs = log.read(next, page, 1 << 20);
    if (recs.length === 0) return out;
    out.push(...recs);
    next = recs[recs.length - 1]!.mid + 1;
  }
}

/** Each record is exactly gen(time − BASE_TIME). */
function expectGenRecords(recs: StoredRecord[]): number[] {
  return recs.map((r) => {
    const n = r.time - BASE_TIME;
    const g = gen(n);
    expect(r.topic).toBe(g.topic);
    expect(r.payload.equals(g.payload)).toBe(true);
    expect(r.hdr).toEqual(g.hdr);
    return n;
  });
}

function segFiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.seg')).sort();
}

/** The size of gen(n)'s record on disk. */
function genRecordBytes(n: number): number {
  const g = gen(n);
  return messageRecordBytes(Buffer.byteLength(g.topic), measureHeaders(g.hdr), g.payload.length);
}

/** A copy of the directory as it is now: what kill -9 would leave. */
function snapshot(dir: string): string {
  const copy = tempDir();
  cpSync(dir, copy, { recursive: true });
  return copy;
}

describe('crc32', () => {
  it('the table fallback equals zlib.crc32 and the check value', () => {
    expect(crc32Table(Buffer.from('123456789'))).toBe(0xcbf43926);
    for (let i = 0; i < 50; i++) {
      const b = randomBytes(i * 37);
      expect(crc32Table(b)).toBe(crc32(b));
      if (nativeCrc32) expect(crc32(b)).toBe((zlib as unknown as { crc32: (d: Uint8Array) => number }).crc32(b) >>> 0);
    }
  });
});

describe('append, read, ack, reopen', () => {
  it('reads back exactly what was appended: topics, headers, empty and large payloads', () => {
    const log = open(tempDir());
    const big = randomBytes(200 * 1024); // larger than the 64 KiB read buffer
    // Header names that are special to JavaScript objects survive as plain entries.
    const hdrProto: Record<string, string> = Object.fromEntries([['constructor', 'y']]);
    Object.defineProperty(hdrProto, '__proto__', { value: 'x', enumerable: true });
    const input: Array<[string, Buffer, Record<string, string> | undefined, number]> = [
      ['camera.event.cam-01.motion', Buffer.from('hello'), { a: '1', 'ü': 'ß€' }, 1000],
      ['t', Buffer.alloc(0), undefined, 1001],
      ['camera.raw', big, {}, 1002],
      ['h', Buffer.from([0, 1, 2]), hdrProto, 1003],
      ['kamera.ü', Buffer.from('z'), { empty: '' }, 1004],
    ];
    const mids = input.map(([t, p, h, time]) => log.append(t, p, h, time));
    expect(mids).toEqual([{ mid: 1 }, { mid: 2 }, { mid: 3 }, { mid: 4 }, { mid: 5 }]);
    const recs = log.read(1, 100, 10 << 20);
    expect(recs.map((r) => r.mid)).toEqual([1, 2, 3, 4, 5]);
    recs.forEach((r, i) => {
      const [topic, payload, hdr, time] = input[i]!;
      expect(r.topic).toBe(topic);
      expect(r.time).toBe(time);
      expect(r.payload.equals(payload)).toBe(true);
      expect(Object.entries(r.hdr ?? {})).toEqual(Object.entries(hdr ?? {}));
      expect(r.hdr === undefined).toBe(hdr === undefined);
    });
    // Returned payloads are copies: later reads reuse the buffer without touching them.
    const first = Buffer.from(recs[0]!.payload);
    log.read(3, 10, 10 << 20);
    expect(recs[0]!.payload.equals(first)).toBe(true);
    expect(log.read(6, 10, 100)).toEqual([]);
    expect(log.read(4, 10, 100).map((r) => r.mid)).toEqual([4, 5]);
  });

  it('mids go on across clean reopens, the ack mark survives, acked segments are deleted', () => {
    const dir = tempDir();
    let log = open(dir, { segmentBytes: 8192 });
    expect(appendGen(log, range(1, 100))).toEqual(range(1, 100));
    const before = segFiles(dir);
    expect(before.length).toBeGreaterThan(4);
    log.ack(60);
    const after = segFiles(dir);
    // Every segment whose last record is ≤ 60 is gone, the one holding 61 stays.
    expect(after.length).toBeLessThan(before.length);
    expect(Number(after[0]!.slice(0, 20))).toBeLessThanOrEqual(61);
    expect(log.stats()).toMatchObject({ firstMid: 61, lastMid: 100, count: 40 });
    log.close();

    log = open(dir, { segmentBytes: 8192 });
    expect(log.recovery).toBeUndefined();
    expect(log.stats()).toMatchObject({ firstMid: 61, lastMid: 100, count: 40 });
    expect(expectGenRecords(readAll(log))).toEqual(range(61, 100));
    expect(readAll(log).map((r) => r.mid)).toEqual(range(61, 100));
    expect(appendGen(log, [101, 102])).toEqual([101, 102]);
    log.ack(5); // below the mark: ignored
    expect(log.stats().firstMid).toBe(61);
    log.ack(1e9); // beyond the last mid: acks what exists
    expect(log.stats()).toMatchObject({ firstMid: 103, lastMid: 102, count: 0, oldestTime: undefined });
    log.close();

    log = open(dir, { segmentBytes: 8192 });
    expect(log.stats()).toMatchObject({ firstMid: 103, lastMid: 102, count: 0 });
    expect(log.read(1, 10, 1000)).toEqual([]);
    expect(log.append('x', Buffer.from('y'))).toEqual({ mid: 103 });
  });

  it('the ack mark reaches the disk within ackFlushMs, syncAcks() waits for it', async () => {
    const dir = tempDir();
    const log = open(dir, { ackFlushMs: 10_000 });
    appendGen(log, range(1, 30));
    log.ack(20);
    const early = DurableLog.open(snapshot(dir), { fsync: 'never' });
    expect(early.stats().firstMid).toBe(1); // not written yet: redelivered after a crash
    early.close();
    await log.syncAcks();
    const late = DurableLog.open(snapshot(dir), { fsync: 'never' });
    expect(late.stats()).toMatchObject({ firstMid: 21, count: 10 });
    late.close();
  });

  it('mids are never reused after a crash, even when everything was acked or purged', () => {
    const dir = tempDir();
    const log = open(dir, { segmentBytes: 8192, ackFlushMs: 60_000 });
    appendGen(log, range(1, 100));
    log.ack(100); // ack mark still only in memory
    let crashed = DurableLog.open(snapshot(dir), { fsync: 'never' });
    // The ack was lost with the crash (some records come again), but no mid is handed out twice.
    expect(crashed.stats().lastMid).toBe(100);
    expect(crashed.append('a', Buffer.from('b'))).toEqual({ mid: 101 });
    crashed.close();

    appendGen(log, range(101, 150));
    expect(log.purge()).toBe(50);
    expect(segFiles(dir)).toEqual([]);
    crashed = DurableLog.open(snapshot(dir), { fsync: 'never' });
    expect(crashed.stats()).toMatchObject({ count: 0, lastMid: 150 });
    expect(crashed.append('a', Buffer.from('b'))).toEqual({ mid: 151 });
    crashed.close();
    expect(log.append('a', Buffer.from('b'))).toEqual({ mid: 151 });
  });

  it('after a crash and a reboot, mids jump past the lease instead of reusing lost ones', () => {
    const dir = tempDir();
    const log = open(dir);
    appendGen(log, range(1, 10));
    const copy = snapshot(dir);
    // Pretend the snapshot was taken in another boot: records not fsynced could have been lost.
    const name = readdirSync(copy).find((f) => parseStateName(f) !== undefined)!;
    const st = decodeState(readFileSync(join(copy, name)))!;
    const other = Buffer.from(currentBootId());
    other[0] = (other[0]! ^ 0xff) | 1;
    writeFileSync(join(copy, stateName(st.seq)), encodeState({ ...st, boot: other }));
    const rebooted = DurableLog.open(copy, { fsync: 'never' });
    const r = rebooted.append('after', Buffer.from('reboot'));
    expect('mid' in r && r.mid).toBe(st.lease + 1);
    expect(st.lease).toBeGreaterThan(10);
    expect(readAll(rebooted).map((x) => x.mid)).toEqual([...range(1, 10), st.lease + 1]);
    rebooted.close();
    // A clean close leaves no gap for the next open.
    const again = DurableLog.open(copy, { fsync: 'never' });
    expect(again.append('x', Buffer.from('y'))).toEqual({ mid: st.lease + 2 });
    again.close();
  });

  it('sync() resolves per policy, and rejects nothing in normal operation', async () => {
    for (const fsync of ['always', 'batch', 'never'] as const) {
      const log = open(tempDir(), { fsync, batchMs: 2 });
      await log.sync(); // nothing appended
      const ps: Array<Promise<void>> = [];
      for (let i = 0; i < 50; i++) {
        log.append('t', Buffer.from(String(i)));
        ps.push(log.sync());
      }
      await Promise.all(ps);
      const st = log.stats();
      if (fsync === 'always') expect(st.fsyncs).toBe(50);
      if (fsync === 'batch') expect(st.fsyncs).toBeGreaterThanOrEqual(1);
      if (fsync === 'batch') expect(st.fsyncs).toBeLessThan(10); // group commit: shared rounds
      if (fsync === 'never') expect(st.fsyncs).toBe(0);
    }
  });

  it("'batch' group commit: each confirm waits for a round that started after its append, at most one round per batchMs", async () => {
    const log = open(tempDir(), { fsync: 'batch', batchMs: 40 });
    const t0 = performance.now();
    const checks: Array<Promise<void>> = [];
    for (let i = 0; i < 20; i++) {
      for (let j = 0; j < 10; j++) {
        log.append('g', Buffer.from(`${i}.${j}`));
        const roundsBefore = log.stats().fsyncs;
        checks.push(log.sync().then(() => expect(log.stats().fsyncs).toBeGreaterThan(roundsBefore)));
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    await Promise.all(checks);
    const elapsed = performance.now() - t0;
    const rounds = log.stats().fsyncs;
    expect(rounds).toBeGreaterThanOrEqual(2);
    expect(rounds).toBeLessThanOrEqual(Math.ceil(elapsed / 40) + 1);
  });

  it("'batch': a record appended while a round is in flight waits for the next round", async () => {
    const log = open(tempDir(), { fsync: 'batch', batchMs: 0 });
    log.append('g', Buffer.from('1'));
    const first = log.sync();
    // The round was scheduled with setImmediate; after ours runs, its fdatasync is in flight.
    await new Promise((r) => setImmediate(r));
    log.append('g', Buffer.from('2'));
    const second = log.sync().then(() => log.stats().fsyncs);
    await first;
    expect(await second).toBeGreaterThanOrEqual(2);
  });

  it('close() settles pending confirms; append after close throws', async () => {
    const log = open(tempDir(), { fsync: 'batch', batchMs: 1000 });
    log.append('t', Buffer.from('x'));
    const p = log.sync();
    log.close();
    await expect(p).resolves.toBeUndefined();
    expect(() => log.append('t', Buffer.from('x'))).toThrow(/closed/);
    expect(() => log.read(1, 1, 1)).toThrow(/closed/);
  });

  it('destroy() removes the directory', () => {
    const dir = tempDir();
    const log = DurableLog.open(join(dir, 'q'), { fsync: 'never' });
    log.append('t', Buffer.from('x'));
    log.destroy();
    expect(readdirSync(dir)).toEqual([]);
  });

  it('rejects invalid arguments', () => {
    const log = open(tempDir());
    expect(() => log.append('t', 'x' as unknown as Uint8Array)).toThrow(TypeError);
    expect(() => log.append('t', Buffer.from('x'), undefined, -1)).toThrow(RangeError);
    expect(() => log.append('t', Buffer.from('x'), undefined, 1.5)).toThrow(RangeError);
    expect(() => log.append('x'.repeat(70_000), Buffer.from('x'))).toThrow(RangeError);
    expect(() => log.append('t', Buffer.from('x'), { a: 1 as unknown as string })).toThrow(TypeError);
    expect(() => log.ack(Number.NaN)).toThrow(RangeError);
    expect(log.stats().lastMid).toBe(0);
  });
});

describe('recovery of torn and corrupt tails', () => {
  /** A log of gen(1..n) in one segment, closed (sealed); returns the segment path. */
  function written(n: number, opts: DurableLogOptions = {}): { dir: string; seg: string } {
    const dir = tempDir();
    const log = DurableLog.open(dir, { fsync: 'never', ...opts });
    appendGen(log, range(1, n));
    log.close();
    const segs = segFiles(dir);
    return { dir, seg: join(dir, segs[segs.length - 1]!) };
  }

  /** Offset of record n (1-based) in a single-segment log of gen(1..). */
  function offsetOf(n: number): number {
    let off = SEGMENT_HEADER_BYTES;
    for (let i = 1; i < n; i++) off += genRecordBytes(i);
    return off;
  }

  function reopenAndCheck(dir: string, expectedNs: number[], nextMid: number): DurableLog {
    const log = open(dir);
    expect(expectGenRecords(readAll(log))).toEqual(expectedNs);
    const r = log.append('after.recovery', Buffer.from('works'));
    expect(r).toEqual({ mid: nextMid });
    const last = log.read(nextMid, 1, 100)[0]!;
    expect(last.payload.toString()).toBe('works');
    return log;
  }

  it('a file truncated in the middle of its last record is cut before that record', () => {
    const { dir, seg } = written(20);
    const start = offsetOf(20);
    const cutAt = start + Math.floor(genRecordBytes(20) / 2);
    truncateSync(seg, cutAt); // the seal goes too, as in a crash
    const log = reopenAndCheck(dir, range(1, 19), 21); // 20 was handed out once: never reused
    expect(log.recovery).toMatchObject({ cutBytes: cutAt - start, segment: seg.split('/').pop(), reason: expect.stringMatching(/truncated/) });
    expect(log.recovery!.cuts).toHaveLength(1);
    expect(log.recovery!.cuts[0]!.offset).toBe(start);
    log.close();
    // The next open finds nothing to cut.
    const again = open(dir);
    expect(again.recovery).toBeUndefined();
    expect(readAll(again).map((r) => r.mid)).toEqual([...range(1, 19), 21]);
  });

  it('overwritten bytes in the last record fail its CRC: cut there', () => {
    const { dir, seg } = written(20);
    const start = offsetOf(20);
    const fd = openSync(seg, 'r+');
    writeSync(fd, Buffer.from([0xde, 0xad]), 0, 2, start + genRecordBytes(20) - 3); // inside the payload
    closeSync(fd);
    const size = statSync(seg).size;
    const log = reopenAndCheck(dir, range(1, 19), 21);
    expect(log.recovery).toMatchObject({ cutBytes: size - start, reason: expect.stringMatching(/CRC mismatch/) });
  });

  it('garbage after the seal, and garbage after an unsealed tail, is cut', () => {
    const a = written(10);
    const sizeA = statSync(a.seg).size;
    appendFileSync(a.seg, randomBytes(777));
    const logA = reopenAndCheck(a.dir, range(1, 10), 11);
    expect(logA.recovery).toMatchObject({ cutBytes: 777, reason: expect.stringMatching(/after the seal/) });
    expect(logA.recovery!.cuts[0]!.offset).toBe(sizeA);

    for (const garbage of [randomBytes(500), Buffer.alloc(4096), Buffer.from([0, 0, 0])]) {
      const b = written(10);
      truncateSync(b.seg, statSync(b.seg).size - SEAL_RECORD_BYTES); // unsealed, as after kill -9
      const end = statSync(b.seg).size;
      appendFileSync(b.seg, garbage);
      const logB = reopenAndCheck(b.dir, range(1, 10), 11);
      expect(logB.recovery).toMatchObject({ cutBytes: garbage.length });
      expect(logB.recovery!.cuts[0]!.offset).toBe(end);
    }
  });

  it('a valid record with the wrong mid is not believed', () => {
    const { dir, seg } = written(5);
    truncateSync(seg, statSync(seg).size - SEAL_RECORD_BYTES);
    // Append a copy of record 3: a well-formed record whose mid is not the one that must follow.
    const buf = readFileSync(seg).subarray(offsetOf(3), offsetOf(4));
    appendFileSync(seg, buf);
    const log = reopenAndCheck(dir, range(1, 5), 6);
    expect(log.recovery?.reason).toMatch(/mid 3 where 6 must follow/);
  });

  it('a crash snapshot (unsealed last segment) with a torn record recovers; several segments', () => {
    const dir = tempDir();
    const log = open(dir, { segmentBytes: 16 * 1024 });
    appendGen(log, range(1, 60));
    const copy = snapshot(dir);
    const segs = segFiles(copy);
    expect(segs.length).toBeGreaterThan(2);
    const last = join(copy, segs[segs.length - 1]!);
    const firstInLast = Number(segs[segs.length - 1]!.slice(0, 20));
    truncateSync(last, statSync(last).size - 5);
    const rec = open(copy);
    expect(rec.recovery).toMatchObject({ segment: segs[segs.length - 1], reason: expect.stringMatching(/truncated/) });
    expect(expectGenRecords(readAll(rec))).toEqual(range(1, 59));
    expect(firstInLast).toBeLessThan(60);
  });

  it('a torn header of a fresh last segment removes it', () => {
    const dir = tempDir();
    const log = open(dir, { segmentBytes: 8192 });
    appendGen(log, range(1, 40));
    log.close();
    writeFileSync(join(dir, `${String(1000).padStart(20, '0')}.seg`), Buffer.from([0x55, 0x44])); // 2 bytes of a header
    const again = open(dir, { segmentBytes: 8192 });
    expect(again.recovery).toMatchObject({ cutBytes: 2, reason: expect.stringMatching(/header/) });
    expect(segFiles(dir)).not.toContain(`${String(1000).padStart(20, '0')}.seg`);
    expect(expectGenRecords(readAll(again))).toEqual(range(1, 40));
    again.close();
    // Killed right after creating the file: nothing was in it, nothing is reported.
    writeFileSync(join(dir, `${String(2000).padStart(20, '0')}.seg`), '');
    const third = open(dir, { segmentBytes: 8192 });
    expect(third.recovery).toBeUndefined();
    expect(segFiles(dir)).not.toContain(`${String(2000).padStart(20, '0')}.seg`);
  });

  it('a CRC failure inside a sealed older segment is found on read: cut, counted, reading goes on', () => {
    const dir = tempDir();
    let log = open(dir, { segmentBytes: 16 * 1024 });
    appendGen(log, range(1, 80));
    log.close();
    const segs = segFiles(dir);
    expect(segs.length).toBeGreaterThan(3);
    const victim = segs[1]!;
    const from = Number(victim.slice(0, 20));
    const nextFirst = Number(segs[2]!.slice(0, 20));
    // Flip a byte in the third record of the second segment.
    let off = SEGMENT_HEADER_BYTES + genRecordBytes(from) + genRecordBytes(from + 1) + 20;
    const fd = openSync(join(dir, victim), 'r+');
    writeSync(fd, Buffer.from([0xff ^ readFileSync(join(dir, victim))[off]!]), 0, 1, off);
    closeSync(fd);
    off = 0;

    log = open(dir, { segmentBytes: 16 * 1024 });
    expect(log.recovery).toBeUndefined(); // sealed segments are believed until read
    const warn = process.emitWarning;
    process.emitWarning = () => undefined;
    let recs: StoredRecord[];
    try {
      recs = readAll(log);
    } finally {
      process.emitWarning = warn;
    }
    const expected = [...range(1, from + 1), ...range(nextFirst, 80)];
    expect(expectGenRecords(recs)).toEqual(expected);
    const lost = nextFirst - (from + 2);
    expect(log.stats()).toMatchObject({ corrupt: lost, count: 80 - lost });
    expect(log.takeLost()).toEqual({ dropped: 0, expired: 0, corrupt: lost });
    log.close();
    // The cut is on disk now: the next open reads the same without finding anything new.
    log = open(dir, { segmentBytes: 16 * 1024 });
    expect(expectGenRecords(readAll(log))).toEqual(expected);
    expect(log.stats().corrupt).toBe(0);
  });
});

describe('quota', () => {
  const payload = Buffer.alloc(1000, 7);

  it("'reject' returns FULL at the quota and accepts again after acks", () => {
    const log = open(tempDir(), { maxBytes: 64 * 1024, overflow: 'reject' });
    let mids = 0;
    let full: { error: 'FULL'; text: string } | undefined;
    for (let i = 0; i < 1000; i++) {
      const r = log.append('q', payload);
      if ('error' in r) {
        full = r;
        break;
      }
      mids = r.mid;
      expect(log.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    }
    expect(full).toMatchObject({ error: 'FULL', text: expect.stringMatching(/full/) });
    expect(mids).toBeGreaterThan(40);
    expect(mids).toBeLessThan(64);
    expect(log.stats()).toMatchObject({ count: mids, lastMid: mids, dropped: 0 });
    expect(log.append('q', payload)).toMatchObject({ error: 'FULL' });
    log.ack(Math.floor(mids / 2));
    expect(log.append('q', payload)).toEqual({ mid: mids + 1 });
    expect(log.stats().bytes).toBeLessThanOrEqual(64 * 1024);
  });

  it('a record larger than the quota is FULL under both policies and drops nothing', () => {
    for (const overflow of ['reject', 'drop-oldest'] as const) {
      const log = open(tempDir(), { maxBytes: 64 * 1024, overflow });
      log.append('q', payload);
      expect(log.append('q', Buffer.alloc(70 * 1024))).toMatchObject({ error: 'FULL', text: expect.stringMatching(/never fit/) });
      expect(log.stats()).toMatchObject({ count: 1, dropped: 0 });
    }
  });

  it("'drop-oldest' keeps the newest records and counts every dropped one", () => {
    const log = open(tempDir(), { maxBytes: 64 * 1024, overflow: 'drop-oldest' });
    for (let i = 1; i <= 500; i++) {
      expect(log.append('q', Buffer.concat([Buffer.from(String(i).padStart(8)), payload]))).toEqual({ mid: i });
      expect(log.stats().bytes).toBeLessThanOrEqual(64 * 1024);
    }
    const st = log.stats();
    expect(st.dropped).toBeGreaterThan(400);
    expect(st.dropped + st.count).toBe(500);
    const recs = readAll(log);
    expect(recs.map((r) => r.mid)).toEqual(range(501 - st.count, 500));
    expect(recs.map((r) => Number(r.payload.subarray(0, 8).toString()))).toEqual(range(501 - st.count, 500));
    expect(log.takeDropped()).toBe(st.dropped);
    expect(log.takeDropped()).toBe(0);
    // Acked records are not counted as dropped when their segment goes.
    log.ack(480);
    for (let i = 0; i < 20; i++) log.append('q', payload);
    expect(log.stats().dropped).toBe(st.dropped);
    expect(log.takeLost()).toEqual({ dropped: 0, expired: 0, corrupt: 0 });
  });
});

describe('expiry with an injected clock', () => {
  it('never reads an expired record, expire() removes and counts them', () => {
    let now = 1_000_000;
    const dir = tempDir();
    const log = open(dir, { maxAgeMs: 10_000, segmentBytes: 4096, now: () => now });
    for (let i = 1; i <= 100; i++) {
      log.append('e', Buffer.alloc(100, i));
      now += 100; // record i has time 1_000_000 + (i − 1) × 100
    }
    expect(log.stats()).toMatchObject({ count: 100, oldestTime: 1_000_000 });
    const segsBefore = segFiles(dir).length;
    now = 1_000_000 + 30 * 100 + 10_000; // records 1..30 are older than 10 s
    expect(log.read(1, 1000, 1 << 20).map((r) => r.mid)).toEqual(range(31, 100));
    // read() removed the expired head and counted it.
    expect(log.stats()).toMatchObject({ firstMid: 31, count: 70, expired: 30 });
    expect(segFiles(dir).length).toBeLessThan(segsBefore);
    expect(log.expire()).toBe(0);
    now += 50 * 100;
    expect(log.expire()).toBe(50);
    expect(log.stats()).toMatchObject({ firstMid: 81, count: 20, expired: 80, oldestTime: 1_000_000 + 80 * 100 });
    expect(log.takeLost()).toEqual({ dropped: 0, expired: 80, corrupt: 0 });
    now += 1_000_000;
    expect(log.expire()).toBe(20);
    expect(segFiles(dir)).toEqual([]);
    expect(log.stats()).toMatchObject({ count: 0, lastMid: 100 });
    expect(log.append('e', Buffer.from('x'))).toEqual({ mid: 101 });
  });

  it('records with out-of-order times are filtered one by one', () => {
    let now = 100_000;
    const log = open(tempDir(), { maxAgeMs: 1000, now: () => now });
    const times = [99_500, 50_000, 99_900, 10, 100_000];
    for (const t of times) log.append('o', Buffer.from(String(t)), undefined, t);
    expect(log.read(1, 10, 1000).map((r) => r.time)).toEqual([99_500, 99_900, 100_000]);
    now = 100_550; // 99_500 and 50_000 form the expired head; 10 is expired behind a live one
    expect(log.read(1, 10, 1000).map((r) => r.time)).toEqual([99_900, 100_000]);
    expect(log.stats()).toMatchObject({ expired: 2, count: 3 });
  });
});

describe('bounded reads', () => {
  it('read() honours maxCount and maxBytes, and returns one oversized record alone', () => {
    const log = open(tempDir());
    for (let i = 1; i <= 50; i++) log.append('b', Buffer.alloc(i === 25 ? 5000 : 100, i));
    expect(log.read(1, 10, 1 << 20).map((r) => r.mid)).toEqual(range(1, 10));
    expect(log.read(1, 100, 350).map((r) => r.mid)).toEqual([1, 2, 3]);
    expect(log.read(1, 100, 300).map((r) => r.mid)).toEqual([1, 2, 3]);
    expect(log.read(1, 100, 299).map((r) => r.mid)).toEqual([1, 2]);
    expect(log.read(24, 100, 1000).map((r) => r.mid)).toEqual([24]);
    expect(log.read(25, 100, 1000).map((r) => r.mid)).toEqual([25]);
    expect(log.read(25, 100, 1000)[0]!.payload.length).toBe(5000);
    expect(log.read(26, 100, 0).map((r) => r.mid)).toEqual([26]);
    expect(log.read(1, 0, 1000)).toEqual([]);
  });

  it('random access into a large multi-segment log finds the right record', () => {
    const log = open(tempDir(), { segmentBytes: 64 * 1024 });
    appendGen(log, range(1, 400).map((n) => n * 97 + 1)); // no 300 KB records: n % 97 = 1
    const fds = readdirSync('/proc/self/fd').length;
    for (const mid of [1, 2, 63, 64, 65, 129, 200, 399, 400, 3, 398, 100, 300, 5]) {
      const r = log.read(mid, 1, 1 << 20)[0]!;
      expect(r.mid).toBe(mid);
      expect(expectGenRecords([r])).toEqual([mid * 97 + 1]);
    }
    // Reading all over the log keeps at most two read descriptors open.
    expect(readdirSync('/proc/self/fd').length - fds).toBeLessThanOrEqual(2);
  });
});
