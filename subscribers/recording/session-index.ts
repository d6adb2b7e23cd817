/**
 * The durable session index: an append-only JSON-lines file, one fsynced line per fact
 * (open, extend, recorder, close, clip, clip-failed, clip-deleted). Why this format: it is simple (no database, no schema
 * migrations), inspectable (`jq 'select(.type=="close")' sessions.jsonl`), and crash-tolerant —
 * a crash can only tear the last line, which readers skip and the next start truncates, and
 * every earlier line was on disk before the bus heard about it.
 *
 * Folding the lines gives the sessions; a session with an `open` but no `close` was open when
 * the process died and is closed with reason `recovered` on the next start.
 */
import { JsonlAppender, readJsonl } from '../common/jsonl.js';
import type { CloseReason } from './sessions.js';
import type { Trigger } from './triggers.js';

export type IndexRecord =
  | { type: 'open'; at: string; sessionId: string; cameraId: string; start: string; triggers: Trigger[]; continued?: boolean }
  | { type: 'extend'; at: string; sessionId: string; trigger: Trigger }
  | { type: 'recorder'; at: string; sessionId: string; event: 'started' | 'exited' | 'failed'; pid?: number; argv0?: string; file?: string; message?: string }
  | { type: 'close'; at: string; sessionId: string; end: string; reason: CloseReason; triggerCount: number }
  | ({ type: 'clip'; at: string; sessionId: string } & ClipRecord)
  | { type: 'clip-failed'; at: string; sessionId: string; code: string; message: string }
  | { type: 'clip-deleted'; at: string; sessionId: string; path: string; reason: 'age' | 'budget' };

/** A clip as the index lists it: written completely (temp + fsync + rename) before this line. */
export type ClipRecord = {
  path: string;
  /** Wall-clock span of the video in the clip. */
  start: string;
  end: string;
  durationS: number;
  bytes: number;
  sha256: string;
  /** Stream drops inside the session, skipped in the video. */
  gaps: Array<{ from: string; to: string }>;
};

/** One session as folded from the index. */
export type IndexedSession = {
  sessionId: string;
  cameraId: string;
  start: string;
  /** Absent while the session is open (or was open when the process died). */
  end?: string;
  reason?: CloseReason;
  triggers: Trigger[];
  triggerCount: number;
  /** Time of the last line written for this session. */
  lastAt: string;
  recorder?: { pid?: number; argv0?: string; file?: string; failed?: string; running: boolean };
  /** The session's clip, once written; `deleted` when retention removed it. */
  clip?: ClipRecord & { deleted?: 'age' | 'budget' };
  /** Why no clip was written. */
  clipFailed?: { code: string; message: string };
};

export type IndexReadResult = { sessions: IndexedSession[]; skipped: Array<{ line: number; reason: string }> };

/** Sessions in the index, in the order they were opened. */
export function readSessionIndex(file: string): IndexReadResult {
  const { records, skipped } = readJsonl<IndexRecord>(file);
  const byId = new Map<string, IndexedSession>();
  for (const r of records) {
    if (r.type === 'open') {
      byId.set(r.sessionId, {
        sessionId: r.sessionId,
        cameraId: r.cameraId,
        start: r.start,
        triggers: [...r.triggers],
        triggerCount: r.triggers.length,
        lastAt: r.at,
      });
      continue;
    }
    const s = byId.get(r.sessionId);
    if (s === undefined) {
      skipped.push({ line: -1, reason: `${r.type} for unknown session ${r.sessionId}` });
      continue;
    }
    s.lastAt = r.at;
    if (r.type === 'extend') {
      s.triggerCount++;
      s.triggers.push(r.trigger);
    } else if (r.type === 'recorder') {
      const rec = s.recorder ?? { running: false };
      if (r.event === 'started') {
        rec.running = true;
        if (r.pid !== undefined) rec.pid = r.pid;
        if (r.argv0 !== undefined) rec.argv0 = r.argv0;
        if (r.file !== undefined) rec.file = r.file;
      } else {
        rec.running = false;
        if (r.event === 'failed') rec.failed = r.message ?? 'failed';
      }
      s.recorder = rec;
    } else if (r.type === 'clip') {
      const { type: _t, at: _a, sessionId: _s, ...clip } = r;
      s.clip = clip;
    } else if (r.type === 'clip-failed') {
      s.clipFailed = { code: r.code, message: r.message };
    } else if (r.type === 'clip-deleted') {
      if (s.clip !== undefined && s.clip.path === r.path) s.clip.deleted = r.reason;
    } else {
      s.end = r.end;
      s.reason = r.reason;
      s.triggerCount = r.triggerCount;
    }
  }
  return { sessions: [...byId.values()], skipped };
}

/** Appends index lines; each append() is on disk when it returns. */
export class SessionIndex {
  private readonly out: JsonlAppender;

  constructor(readonly file: string) {
    this.out = new JsonlAppender(file);
  }

  /** Bytes of a torn last line cut away when the index was opened (a crash mid-write). */
  get repairedBytes(): number {
    return this.out.repairedBytes;
  }

  append(record: IndexRecord): void {
    this.out.append(record);
  }

  close(): void {
    this.out.close();
  }
}
