/**
 * The audit directory: log files `audit-<first seq, 12 digits>.jsonl` (so name order is chain
 * order) and `manifest.json`, a small summary rewritten atomically (tmp + fsync + rename) at
 * start, rotation, retention, checkpoints and clean shutdown. The chain in the log files is the
 * truth; the manifest adds what a chain cannot know by itself — where it ended at the last
 * checkpoint, so a log cut at a line boundary is still detected — and is easy to read.
 */
import { closeSync, fsyncSync, openSync, readdirSync, readFileSync, readSync, fstatSync } from 'node:fs';
import { open, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const MANIFEST = 'manifest.json';
const FILE_RE = /^audit-(\d{12})\.jsonl$/;

export function fileName(firstSeq: number): string {
  return `audit-${String(firstSeq).padStart(12, '0')}.jsonl`;
}

/** Log files in chain order. */
export function listLogFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => FILE_RE.test(n)).sort();
}

export function seqOfName(name: string): number | undefined {
  const m = FILE_RE.exec(name);
  return m === null ? undefined : Number(m[1]);
}

export type Manifest = {
  format: 'udsbus-audit/1';
  /** Where the chain legitimately starts (moves on retention). */
  start: { seq: number; prevHash: string };
  files: Array<{ name: string; firstSeq: number; lastSeq?: number; lastHash?: string; closed?: boolean }>;
  deleted: Array<{ name: string; firstSeq: number; lastSeq: number; lastHash: string; time: string }>;
  /** The last record known to be on disk (fsynced) when the manifest was written; `clean` after a shutdown. */
  checkpoint?: { seq: number; hash: string; time: string; clean: boolean };
};

export function readManifest(dir: string): Manifest | undefined {
  try {
    return JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as Manifest;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new Error(`${join(dir, MANIFEST)} is unreadable: ${(err as Error).message}`);
  }
}

/** Replace the manifest atomically; on failure (e.g. disk full) the old one stays intact. */
export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  const tmp = join(dir, `${MANIFEST}.tmp`);
  await writeFile(tmp, `${JSON.stringify(m, null, 2)}\n`);
  const fh = await open(tmp, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, join(dir, MANIFEST));
  fsyncDirSync(dir);
}

export function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    /* not supported everywhere */
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The first line of a file (without newline), or undefined if it has none. */
export function firstLine(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const buf = Buffer.alloc(64 * 1024);
    let text = '';
    for (let pos = 0; ; ) {
      const n = readSync(fd, buf, 0, buf.length, pos);
      if (n === 0) return undefined;
      const chunk = buf.subarray(0, n).toString('utf8');
      const i = chunk.indexOf('\n');
      if (i >= 0) return text + chunk.slice(0, i);
      text += chunk;
      pos += n;
    }
  } finally {
    closeSync(fd);
  }
}

/** The last complete line of a file (without newline), read backwards, or undefined. */
export function lastLine(path: string): string | undefined {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    let parts: Buffer[] = [];
    let end = size;
    let newlines = 0;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const n = readSync(fd, chunk, 0, end - start, start);
      const piece = Buffer.from(chunk.subarray(0, n));
      parts = [piece, ...parts];
      end = start;
      newlines += piece.filter((b) => b === 10).length;
      if (newlines >= 2) break;
    }
    const text = Buffer.concat(parts).toString('utf8');
    const complete = text.slice(0, text.lastIndexOf('\n'));
    if (complete === '' && !text.startsWith('\n')) return undefined;
    return complete.slice(complete.lastIndexOf('\n') + 1);
  } finally {
    closeSync(fd);
  }
}

/** Complete lines of a file with their start offsets, and the bytes after the last newline. */
export function readLines(path: string): { lines: Array<{ text: string; offset: number }>; tail: string; size: number } {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = Buffer.alloc(size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    const lines: Array<{ text: string; offset: number }> = [];
    let start = 0;
    for (let i = buf.indexOf(10); i >= 0; i = buf.indexOf(10, start)) {
      lines.push({ text: buf.subarray(start, i).toString('utf8'), offset: start });
      start = i + 1;
    }
    return { lines, tail: buf.subarray(start, got).toString('utf8'), size };
  } finally {
    closeSync(fd);
  }
}
