/**
 * Recording sessions and their clips, read from the recording subscriber's session index, and
 * the one rule for serving a clip: the file must resolve (symlinks followed) to a regular file
 * inside the configured recordings directory. The page asks for a clip by session id, never by
 * path, so a path in the index or in a `recording.clip.*` message written by anyone on the bus
 * cannot make the dashboard serve /etc/shadow.
 */
import { closeSync, openSync, readSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import { clipFrom, type SessionRow } from './model.js';

/** Sessions kept from the index: the newest, so a years-old index costs bounded memory. */
const MAX_SESSIONS = 2000;
const CHUNK = 1 << 20;

/**
 * Follows the session index as it grows: each read() parses only the bytes appended since the
 * last one (a whole-file re-read per recording event would cost O(index size) — tens of MB
 * after a year), and returns the sessions those lines changed. A file that shrank (rotated,
 * replaced) is read again from the start.
 *
 * Tolerant of the format growing (issue 19 adds clip records): any record with a `sessionId`
 * contributes what it has — `open` the camera and start, `close` the end and reason, and any
 * record with a `path`/`file` (a recorder's output, a clip) the clip.
 */
export class IndexTail {
  private offset = 0;
  private ino = 0;
  private rest: Buffer = Buffer.alloc(0);
  private readonly sessions = new Map<string, SessionRow>();

  constructor(readonly file: string) {}

  read(): SessionRow[] {
    const st = statSync(this.file, { throwIfNoEntry: false });
    if (st === undefined) return [];
    if (st.size < this.offset || (this.ino !== 0 && st.ino !== this.ino)) {
      this.offset = 0;
      this.rest = Buffer.alloc(0);
      this.sessions.clear();
    }
    this.ino = st.ino;
    if (st.size === this.offset) return [];
    const changed = new Set<SessionRow>();
    const fd = openSync(this.file, 'r');
    try {
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const n = readSync(fd, buf, 0, CHUNK, this.offset);
        if (n === 0) break;
        this.offset += n;
        const data = this.rest.length > 0 ? Buffer.concat([this.rest, buf.subarray(0, n)]) : buf.subarray(0, n);
        const cut = data.lastIndexOf(10);
        // Only whole lines: a line still being written (or torn by a crash) waits for its newline.
        this.rest = Buffer.from(data.subarray(cut + 1));
        if (cut < 0) continue;
        for (const line of data.subarray(0, cut).toString('utf8').split('\n')) {
          const s = this.apply(line);
          if (s !== undefined) changed.add(s);
        }
      }
    } finally {
      closeSync(fd);
    }
    return [...changed].filter((s) => this.sessions.get(s.sessionId) === s);
  }

  private apply(line: string): SessionRow | undefined {
    let r: Record<string, unknown>;
    try {
      const v = JSON.parse(line) as unknown;
      if (v === null || typeof v !== 'object' || Array.isArray(v)) return undefined;
      r = v as Record<string, unknown>;
    } catch {
      return undefined;
    }
    const id = typeof r['sessionId'] === 'string' ? r['sessionId'] : undefined;
    if (id === undefined) return undefined;
    let s = this.sessions.get(id);
    if (s === undefined) {
      if (typeof r['cameraId'] !== 'string') return undefined; // a line for a session whose open we did not keep
      s = { sessionId: id, cameraId: r['cameraId'] };
      this.sessions.set(id, s);
      if (this.sessions.size > MAX_SESSIONS) this.sessions.delete(this.sessions.keys().next().value!);
    }
    if (typeof r['start'] === 'string') s.start = r['start'];
    if (r['type'] === 'close') {
      if (typeof r['end'] === 'string') s.end = r['end'];
      if (typeof r['reason'] === 'string') s.reason = r['reason'];
    }
    if (r['type'] === 'recorder' && r['event'] === 'failed') return s;
    const clip = clipFrom(r);
    if (clip !== undefined) s.clip = { ...s.clip, ...clip };
    return s;
  }
}

/** Every session in an index file (what a fresh IndexTail reads). */
export function readIndexSessions(file: string): SessionRow[] {
  return new IndexTail(file).read();
}

export type ClipResolution = { ok: true; path: string; size: number } | { ok: false; status: number; reason: string; code: 'off' | 'missing' | 'outside' | 'not-a-file' };

/** Where a clip may be served from, or why not. */
export function resolveClip(dir: string | undefined, file: string): ClipResolution {
  if (dir === undefined) return { ok: false, status: 403, reason: 'no recordings directory is configured, so no clip is served', code: 'off' };
  return resolveInside(dir, file, 'clip', 'recordings');
}

/**
 * `file` (absolute, or relative to `dir`) as a regular file inside `dir` once symlinks are
 * followed, or why not: the same rule for clips and for snapshots.
 */
export function resolveInside(dir: string, file: string, what: string, dirName: string): ClipResolution {
  let root: string;
  let real: string;
  try {
    root = realpathSync(dir);
    real = realpathSync(isAbsolute(file) ? file : join(root, file));
  } catch {
    return { ok: false, status: 404, reason: `the ${what} file does not exist (yet, or any more)`, code: 'missing' };
  }
  if (!real.startsWith(root.endsWith(sep) ? root : root + sep)) return { ok: false, status: 404, reason: `the ${what} is outside the ${dirName} directory`, code: 'outside' };
  const st = statSync(real, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) return { ok: false, status: 404, reason: `the ${what} is not a regular file`, code: 'not-a-file' };
  return { ok: true, path: real, size: st.size };
}

const TYPES: Record<string, string> = { mp4: 'video/mp4', m4v: 'video/mp4', mov: 'video/mp4', webm: 'video/webm', mkv: 'video/x-matroska', ts: 'video/mp2t' };

export function clipType(path: string): string {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return TYPES[ext] ?? 'application/octet-stream';
}
