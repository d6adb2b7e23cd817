/**
 * The audit log writer: appends chained records in order, fsyncs by policy, rotates files by size
 * and age without breaking the chain, applies retention (recorded in the chain before anything
 * is deleted), and never leaves a partial line: a batch is written with positional writes and,
 * if any write or fsync fails (ENOSPC, EIO), the file is cut back to the last good offset and the
 * in-memory chain state is rolled back, so the caller can simply retry the same batch later.
 */
import { open, unlink, type FileHandle } from 'node:fs/promises';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock, type Clock } from '../common/clock.js';
import type { Logger } from '../common/logger.js';
import { fileName, firstLine, fsyncDirSync, lastLine, listLogFiles, readLines, readManifest, seqOfName, writeManifest, type Manifest } from './files.js';
import { encodeRecord, GENESIS, parseRecordLine, type AuditRecord, type RecordBody } from './record.js';

/** 'always': fsync every batch before append() resolves; intervalMs: the owner calls sync() on a timer. */
export type FsyncPolicy = 'always' | { intervalMs: number };

export type Retention = {
  /** Keep at most this many files (the current one included). */
  maxFiles?: number | undefined;
  /** Delete closed files whose last record is older than this. */
  maxAgeMs?: number | undefined;
  /** Keep the total size under this (closed files are deleted oldest first). */
  maxBytes?: number | undefined;
};

/** How bytes reach the file; injectable so tests can fail writes (ENOSPC) at will. */
export type WriteFn = (fh: FileHandle, buf: Buffer, position: number) => Promise<number>;

export type WriterOptions = {
  dir: string;
  fsync?: FsyncPolicy | undefined;
  /** Rotate when the current file reaches this size (default 64 MiB). */
  maxFileBytes?: number | undefined;
  /** Rotate when the current file is older than this (default 24 h). */
  maxFileAgeMs?: number | undefined;
  retention?: Retention | undefined;
  /** Rewrite the manifest checkpoint at most this often (default 10 s). */
  checkpointMs?: number | undefined;
  clock?: Clock | undefined;
  writeFn?: WriteFn | undefined;
  logger?: Logger | undefined;
};

type FileMeta = { name: string; firstSeq: number; lastSeq: number; lastHash: string; lastTime: number; bytes: number };
type Current = { name: string; fh: FileHandle; offset: number; created: number; needsHeader: boolean; previous: string | null };

/** Thrown at open when a log file is damaged before its last line (not a crash: run verify). */
export class DamagedLogError extends Error {
  override readonly name = 'DamagedLogError';
}

const defaultWrite: WriteFn = async (fh, buf, position) => (await fh.write(buf, 0, buf.length, position)).bytesWritten;

export class AuditWriter {
  private seqValue = 0;
  private hashValue = GENESIS;
  private syncedSeqValue = 0;
  private current: Current | undefined;
  private closedFiles: FileMeta[] = [];
  private currentMeta: FileMeta | undefined;
  private readonly mids = new Map<string, number>();
  private manifest: Manifest;
  private lastCheckpoint = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly clock: Clock;
  private readonly writeFn: WriteFn;
  /** Records the owner should write first: repairs found at open. */
  readonly recovered: RecordBody[] = [];

  private constructor(private readonly opts: WriterOptions) {
    this.clock = opts.clock ?? systemClock;
    this.writeFn = opts.writeFn ?? defaultWrite;
    this.manifest = { format: 'udsbus-audit/1', start: { seq: 1, prevHash: GENESIS }, files: [], deleted: [] };
  }

  /** Open (creating the directory), find where the chain ends, cut a torn last line. */
  static async open(opts: WriterOptions): Promise<AuditWriter> {
    const w = new AuditWriter(opts);
    await w.recover();
    return w;
  }

  get dir(): string {
    return this.opts.dir;
  }
  /** Sequence number of the last record written. */
  get seq(): number {
    return this.seqValue;
  }
  get lastHash(): string {
    return this.hashValue;
  }
  /** Sequence number of the last record known to be fsynced. */
  get syncedSeq(): number {
    return this.syncedSeqValue;
  }
  /** The last durable message id written per queue (for dropping redeliveries). */
  lastMid(queue: string): number | undefined {
    return this.mids.get(queue);
  }

  private async recover(): Promise<void> {
    const { dir } = this.opts;
    mkdirSync(dir, { recursive: true });
    const existing = readManifest(dir);
    if (existing !== undefined) {
      this.manifest.start = existing.start;
      this.manifest.deleted = existing.deleted ?? [];
    }
    const names = listLogFiles(dir);
    for (const name of names.slice(0, -1)) this.closedFiles.push(this.metaOfClosed(name));
    const lastName = names.at(-1);
    const prev = this.closedFiles.at(-1);
    if (prev !== undefined) {
      this.seqValue = prev.lastSeq;
      this.hashValue = prev.lastHash;
    }
    if (lastName !== undefined) {
      const path = join(dir, lastName);
      const { lines, size } = readLines(path);
      let goodEnd = 0;
      let lastTime = 0;
      let created = this.clock.now();
      let headerSeen = false;
      for (let i = 0; i < lines.length; i++) {
        const { text, offset } = lines[i]!;
        const p = parseRecordLine(text);
        const chained = p.ok && p.record.seq === this.seqValue + 1 && p.record.prevHash === this.hashValue;
        if (!chained) {
          // A crash can only leave garbage at the end: if no intact record follows, cut from here.
          const laterIntact = lines.slice(i + 1).findIndex((l) => parseRecordLine(l.text).ok);
          if (laterIntact < 0) break;
          throw new DamagedLogError(
            `${path} line ${i + 1} is damaged (${p.ok ? 'does not continue the chain' : p.reason}) but intact records follow it at line ${i + 2 + laterIntact}; refusing to append to a damaged audit log — run "udsbus audit verify ${dir}" and move the damaged file away`,
          );
        }
        const r = p.record;
        if (i === 0 && r.kind === 'file') {
          headerSeen = true;
          created = Date.parse(r.time);
        }
        this.track(r);
        this.seqValue = r.seq;
        this.hashValue = r.hash;
        lastTime = Date.parse(r.time);
        goodEnd = offset + Buffer.byteLength(text) + 1;
      }
      const fh = await open(path, 'r+');
      if (goodEnd < size) {
        await fh.truncate(goodEnd);
        await fh.sync();
        this.recovered.push({ kind: 'repair', time: new Date(this.clock.now()).toISOString(), file: lastName, truncatedBytes: size - goodEnd, reason: 'torn or incomplete last line after a crash' });
      }
      if (!headerSeen && prev !== undefined) this.loadMidsFrom(prev.name); // crashed right after rotating
      this.current = { name: lastName, fh, offset: goodEnd, created, needsHeader: goodEnd === 0, previous: prev?.name ?? null };
      this.currentMeta = { name: lastName, firstSeq: seqOfName(lastName) ?? this.seqValue + 1, lastSeq: this.seqValue, lastHash: this.hashValue, lastTime, bytes: goodEnd };
    }
    this.syncedSeqValue = this.seqValue;
    await this.saveManifest(false);
  }

  private metaOfClosed(name: string): FileMeta {
    const path = join(this.opts.dir, name);
    const last = lastLine(path);
    const p = last === undefined ? undefined : parseRecordLine(last);
    if (p === undefined || !p.ok) throw new DamagedLogError(`${path}: its last record is unreadable; run "udsbus audit verify ${this.opts.dir}"`);
    const first = firstLine(path);
    const f = first === undefined ? undefined : parseRecordLine(first);
    return {
      name,
      firstSeq: f?.ok === true ? f.record.seq : (seqOfName(name) ?? 0),
      lastSeq: p.record.seq,
      lastHash: p.record.hash,
      lastTime: Date.parse(p.record.time),
      bytes: statSync(path).size,
    };
  }

  private loadMidsFrom(name: string): void {
    for (const { text } of readLines(join(this.opts.dir, name)).lines) {
      const p = parseRecordLine(text);
      if (p.ok) this.track(p.record);
    }
  }

  private track(r: AuditRecord | (RecordBody & { seq: number })): void {
    if (r.kind === 'file' && r['mids'] !== null && typeof r['mids'] === 'object') {
      for (const [q, mid] of Object.entries(r['mids'] as Record<string, number>)) this.mids.set(q, mid);
    } else if (r.kind === 'msg' && typeof r['q'] === 'string' && typeof r['mid'] === 'number') {
      this.mids.set(r['q'], Math.max(r['mid'], this.mids.get(r['q']) ?? 0));
    }
  }

  /**
   * Append records in order as one write. Resolves when written (and fsynced under 'always');
   * rejects with the I/O error (e.g. code ENOSPC) after cutting the file back, leaving nothing
   * of the batch behind and the writer ready to retry.
   */
  append(bodies: readonly RecordBody[]): Promise<{ firstSeq: number; lastSeq: number }> {
    return this.serialized(async () => {
      let firstSeq: number | undefined;
      let lastSeq = this.seqValue;
      for (let i = 0; i < bodies.length; ) {
        const r = await this.appendNow(bodies.slice(i));
        firstSeq ??= r.firstSeq;
        lastSeq = r.lastSeq;
        i += r.written;
      }
      return { firstSeq: firstSeq ?? this.seqValue + 1, lastSeq };
    });
  }

  /**
   * Like append(), but writes only what fits in the current file and returns how many bodies
   * were written: on failure nothing of this call is on disk, and records of earlier calls are
   * complete. The audit service uses this so that a failure never leaves it unsure what to retry.
   */
  appendSome(bodies: readonly RecordBody[]): Promise<{ written: number; firstSeq: number; lastSeq: number }> {
    return this.serialized(() => this.appendNow(bodies));
  }

  /** One operation at a time: a sync must not meet a rotation closing the file under it. */
  private serialized<T>(f: () => Promise<T>): Promise<T> {
    const run = this.queue.then(f, f);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /**
   * Write as many of `bodies` as fit in the current file (at least one; rotating first if the
   * file is full or old) and return how many were written. A batch never spans two files, so a
   * failure can always be undone completely.
   */
  private async appendNow(bodies: readonly RecordBody[]): Promise<{ written: number; firstSeq: number; lastSeq: number }> {
    if (bodies.length === 0) return { written: 0, firstSeq: this.seqValue + 1, lastSeq: this.seqValue };
    const now = this.clock.now();
    const maxBytes = this.opts.maxFileBytes ?? 64 * 1024 * 1024;
    let rotated = false;
    const cur = this.current;
    if (cur === undefined || cur.offset >= maxBytes || (cur.offset > 0 && now - cur.created >= (this.opts.maxFileAgeMs ?? 86_400_000))) {
      await this.rotate(now);
      rotated = true;
    }
    const c = this.current!;
    const header: RecordBody[] = c.needsHeader
      ? [{ kind: 'file', time: new Date(now).toISOString(), file: c.name, previous: c.previous, mids: Object.fromEntries(this.mids) }]
      : [];
    let seq = this.seqValue;
    let hash = this.hashValue;
    const lines: string[] = [];
    let bytes = c.offset;
    let taken = 0;
    for (const b of [...header, ...bodies]) {
      const e = encodeRecord(seq + 1, b, hash);
      const size = Buffer.byteLength(e.line) + 1;
      const isHeader = lines.length < header.length;
      if (!isHeader && taken > 0 && bytes + size > maxBytes) break; // the rest goes to the next file
      seq++;
      hash = e.hash;
      lines.push(e.line);
      bytes += size;
      if (!isHeader) taken++;
    }
    const all = [...header, ...bodies.slice(0, taken)];
    const buf = Buffer.from(`${lines.join('\n')}\n`);
    const start = c.offset;
    try {
      for (let done = 0; done < buf.length; ) {
        const n = await this.writeFn(c.fh, buf.subarray(done), start + done);
        if (n <= 0) throw Object.assign(new Error('write returned no progress'), { code: 'EIO' });
        done += n;
      }
      if (this.opts.fsync === undefined || this.opts.fsync === 'always') await c.fh.datasync();
    } catch (err) {
      await c.fh.truncate(start).catch(() => undefined); // never leave half a record behind
      throw err;
    }
    const firstSeq = this.seqValue + 1;
    c.offset += buf.length;
    c.needsHeader = false;
    this.seqValue = seq;
    this.hashValue = hash;
    all.forEach((b, i) => this.track({ ...b, seq: firstSeq + i }));
    const meta = this.currentMeta!;
    Object.assign(meta, { lastSeq: seq, lastHash: hash, lastTime: now, bytes: c.offset });
    if (this.opts.fsync === undefined || this.opts.fsync === 'always') {
      this.syncedSeqValue = seq;
      await this.maybeCheckpoint(now);
    }
    if (rotated) {
      // The records are on disk whatever happens here; a failed retention is retried at the next rotation.
      await this.applyRetention(now).catch((err: unknown) => this.opts.logger?.warn({ err: (err as Error).message }, 'audit retention failed; will retry at the next rotation'));
    }
    return { written: taken, firstSeq: firstSeq + header.length, lastSeq: seq };
  }

  /** fdatasync the current file (interval policy); afterwards everything written is durable. */
  sync(): Promise<number> {
    return this.serialized(() => this.syncNow());
  }

  private async syncNow(): Promise<number> {
    const c = this.current;
    const seq = this.seqValue;
    if (c !== undefined && seq > this.syncedSeqValue) {
      await c.fh.datasync();
      this.syncedSeqValue = seq;
      await this.maybeCheckpoint(this.clock.now());
    }
    return this.syncedSeqValue;
  }

  private async rotate(now: number): Promise<void> {
    const old = this.current;
    if (old !== undefined && old.offset > 0) {
      await old.fh.datasync();
      await old.fh.close();
      this.syncedSeqValue = this.seqValue;
      this.closedFiles.push(this.currentMeta!);
    } else if (old !== undefined) {
      // An empty file (a failed earlier rotation): reuse it.
      return;
    }
    const name = fileName(this.seqValue + 1);
    const fh = await open(join(this.opts.dir, name), 'w+');
    fsyncDirSync(this.opts.dir);
    this.current = { name, fh, offset: 0, created: now, needsHeader: true, previous: old?.name ?? this.closedFiles.at(-1)?.name ?? null };
    this.currentMeta = { name, firstSeq: this.seqValue + 1, lastSeq: this.seqValue, lastHash: this.hashValue, lastTime: now, bytes: 0 };
    await this.saveManifest(false);
  }

  private async applyRetention(now: number): Promise<void> {
    const r = this.opts.retention;
    if (r === undefined || this.closedFiles.length === 0) return;
    const files = [...this.closedFiles, this.currentMeta!];
    let k = -1; // delete closedFiles[0..k]
    if (r.maxFiles !== undefined) k = Math.max(k, files.length - r.maxFiles - 1);
    if (r.maxAgeMs !== undefined) this.closedFiles.forEach((f, i) => f.lastTime < now - r.maxAgeMs! && (k = Math.max(k, i)));
    if (r.maxBytes !== undefined) {
      let total = files.reduce((s, f) => s + f.bytes, 0);
      for (let i = 0; i < this.closedFiles.length && total > r.maxBytes; i++) {
        total -= this.closedFiles[i]!.bytes;
        k = Math.max(k, i);
      }
    }
    k = Math.min(k, this.closedFiles.length - 1);
    if (k < 0) return;
    const doomed = this.closedFiles.slice(0, k + 1);
    const lastDoomed = doomed.at(-1)!;
    const keep = this.closedFiles[k + 1] ?? this.currentMeta!;
    const start = { seq: keep.firstSeq, prevHash: lastDoomed.lastHash };
    // First the chain says what is deleted and where it now starts; then the files go.
    await this.appendNow([
      {
        kind: 'retention',
        time: new Date(now).toISOString(),
        deleted: doomed.map((f) => ({ name: f.name, firstSeq: f.firstSeq, lastSeq: f.lastSeq, lastHash: f.lastHash })),
        start,
      },
    ]);
    if (this.opts.fsync !== undefined && this.opts.fsync !== 'always') await this.syncNow();
    this.manifest.start = start;
    this.manifest.deleted.push(...doomed.map((f) => ({ name: f.name, firstSeq: f.firstSeq, lastSeq: f.lastSeq, lastHash: f.lastHash, time: new Date(now).toISOString() })));
    this.closedFiles = this.closedFiles.slice(k + 1);
    await this.saveManifest(false);
    for (const f of doomed) await unlink(join(this.opts.dir, f.name)).catch(() => undefined);
    fsyncDirSync(this.opts.dir);
  }

  private async maybeCheckpoint(now: number): Promise<void> {
    if (now - this.lastCheckpoint >= (this.opts.checkpointMs ?? 10_000)) await this.saveManifest(false);
  }

  private async saveManifest(clean: boolean): Promise<void> {
    const now = this.clock.now();
    this.lastCheckpoint = now;
    const files = [...this.closedFiles.map((f) => ({ ...f, closed: true })), ...(this.currentMeta === undefined ? [] : [this.currentMeta])];
    this.manifest.files = files.map((f) => ({ name: f.name, firstSeq: f.firstSeq, lastSeq: f.lastSeq, lastHash: f.lastHash, ...('closed' in f ? { closed: true } : {}) }));
    // Only what is fsynced: a crash must never leave the log shorter than its checkpoint.
    if (this.seqValue > 0 && this.syncedSeqValue === this.seqValue) {
      this.manifest.checkpoint = { seq: this.seqValue, hash: this.hashValue, time: new Date(now).toISOString(), clean };
    }
    try {
      await writeManifest(this.opts.dir, this.manifest);
    } catch {
      // Advisory only (and typically ENOSPC, which the log writes report loudly).
    }
  }

  /** fsync, write the final checkpoint (clean: true) and close the file. */
  close(): Promise<void> {
    return this.serialized(() => this.closeNow());
  }

  private async closeNow(): Promise<void> {
    const c = this.current;
    if (c === undefined) return;
    await this.syncNow().catch(() => undefined);
    await this.saveManifest(true);
    await c.fh.close();
    this.current = undefined;
  }
}
