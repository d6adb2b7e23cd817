/**
 * The durable session index: an append-only JSON-lines file, one fsynced line per fact
 * (open, extend, recorder, close). Why this format: it is simple (no database, no schema
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
  | { type: 'close'; at: string; sessionId: string; end: string; reason: CloseReason; triggerCount: number };

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
