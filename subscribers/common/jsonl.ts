/**
 * Append-only JSON-lines files with fsync: the simplest durable store that a person can read
 * with `tail`/`jq`. Each record is one line written with one write() and fdatasync()ed before
 * append() returns, so after a crash the file holds every appended record and at most one torn
 * (partial) last line, which readers skip and the next writer truncates away before appending.
 */
import { closeSync, constants, fdatasyncSync, fstatSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, readSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export type JsonlReadResult<T> = {
  records: T[];
  /** Lines that are not JSON objects (line numbers are 1-based); a torn last line is one of these. */
  skipped: Array<{ line: number; reason: string }>;
};

/** All records of a JSON-lines file; a missing file is empty. Unparseable lines are skipped and listed. */
export function readJsonl<T = Record<string, unknown>>(file: string): JsonlReadResult<T> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], skipped: [] };
    throw err;
  }
  const lines = text.split('\n');
  const records: T[] = [];
  const skipped: Array<{ line: number; reason: string }> = [];
  lines.forEach((line, i) => {
    if (line === '') return;
    const last = i === lines.length - 1; // no newline after it: the write was cut short
    try {
      const v = JSON.parse(line) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      if (last) throw new Error('no newline at the end (torn write)');
      records.push(v as T);
    } catch (err) {
      skipped.push({ line: i + 1, reason: last ? `torn last line: ${(err as Error).message}` : (err as Error).message });
    }
  });
  return { records, skipped };
}

/** A JSON-lines file opened for appending with fsync per record. Not for concurrent writers. */
export class JsonlAppender {
  private fd: number;
  private offset: number;
  /** Bytes of a torn last line removed when the file was opened. */
  readonly repairedBytes: number;

  constructor(readonly file: string) {
    mkdirSync(dirname(file), { recursive: true });
    // Positional writes (not O_APPEND) so a failed write can be cut back to `offset` exactly.
    this.fd = openSync(file, constants.O_RDWR | constants.O_CREAT, 0o644);
    const size = fstatSync(this.fd).size;
    const keep = size === 0 ? 0 : lastNewlineEnd(this.fd, size);
    this.repairedBytes = size - keep;
    if (this.repairedBytes > 0) {
      ftruncateSync(this.fd, keep);
      fsyncSync(this.fd);
    }
    this.offset = keep;
    if (size === 0) fsyncDir(dirname(file));
  }

  /** Write one record as one line and fdatasync it. Throws on I/O errors (nothing partial is left). */
  append(record: object): void {
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    try {
      let done = 0;
      while (done < line.length) done += writeSync(this.fd, line, done, line.length - done, this.offset + done);
      fdatasyncSync(this.fd);
      this.offset += line.length;
    } catch (err) {
      try {
        ftruncateSync(this.fd, this.offset); // never leave half a line behind
      } catch {
        /* the next open() truncates the torn line */
      }
      throw err;
    }
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}

/** Offset just after the last '\n' in the file (0 if none). */
function lastNewlineEnd(fd: number, size: number): number {
  const chunk = Buffer.alloc(64 * 1024);
  let end = size;
  while (end > 0) {
    const start = Math.max(0, end - chunk.length);
    const n = readSync(fd, chunk, 0, end - start, start);
    const i = chunk.subarray(0, n).lastIndexOf(10);
    if (i >= 0) return start + i + 1;
    end = start;
  }
  return 0;
}

/** Make a new directory entry durable (a freshly created file survives a power cut). */
export function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* not supported on every file system; the data itself is already synced */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
