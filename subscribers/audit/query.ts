/**
 * Forensic queries over an audit directory: records in chain order filtered by camera, time
 * and topic pattern. Reads the files as they are; run verifyAuditLog() to know they are intact.
 */
import { join } from 'node:path';
import { patternMatches } from 'udsbus';
import { parseTopic } from '../../schemas/topics.js';
import { listLogFiles, readLines } from './files.js';
import { parseRecordLine, type AuditRecord, type RecordKind } from './record.js';

export type AuditQuery = {
  /** Messages about this camera: payload cameraId or the id in a camera/recording topic. */
  camera?: string | undefined;
  /** Received at or after (ms since the epoch). */
  since?: number | undefined;
  /** Received before (ms since the epoch). */
  until?: number | undefined;
  /** Topic pattern (wildcards * and >). */
  topic?: string | undefined;
  /** Record kinds (default: only bus messages, 'msg'). */
  kinds?: readonly RecordKind[] | undefined;
  limit?: number | undefined;
};

export type QueryHit = { file: string; line: number; record: AuditRecord };

export function* queryAuditLog(dir: string, q: AuditQuery = {}): Generator<QueryHit> {
  const kinds = new Set<string>(q.kinds ?? ['msg']);
  let n = 0;
  for (const file of listLogFiles(dir)) {
    const { lines } = readLines(join(dir, file));
    for (let i = 0; i < lines.length; i++) {
      const p = parseRecordLine(lines[i]!.text);
      if (!p.ok) continue;
      const r = p.record;
      if (!kinds.has(r.kind)) continue;
      const t = Date.parse(r.time);
      if (q.since !== undefined && t < q.since) continue;
      if (q.until !== undefined && t >= q.until) continue;
      const topic = typeof r['topic'] === 'string' ? r['topic'] : undefined;
      if (q.topic !== undefined && (topic === undefined || !patternMatches(q.topic, topic))) continue;
      if (q.camera !== undefined && cameraOf(r, topic) !== q.camera) continue;
      yield { file, line: i + 1, record: r };
      if (q.limit !== undefined && ++n >= q.limit) return;
    }
  }
}

function cameraOf(r: AuditRecord, topic: string | undefined): string | undefined {
  const payload = r['payload'] as { cameraId?: unknown } | undefined;
  if (typeof payload?.cameraId === 'string') return payload.cameraId;
  const info = topic === undefined ? undefined : parseTopic(topic);
  return info !== undefined && 'cameraId' in info ? info.cameraId : undefined;
}

/** "2024-05-01T12:00:00Z", "2024-05-01", or a duration before now: "90s", "15m", "2h", "7d". */
export function parseTime(s: string, now = Date.now()): number {
  const rel = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(s.trim());
  if (rel !== null) {
    const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 'ms' | 's' | 'm' | 'h' | 'd'];
    return now - Number(rel[1]) * unit;
  }
  const t = Date.parse(s);
  if (Number.isNaN(t)) throw new Error(`cannot read "${s}" as a time: use ISO 8601 (2024-05-01T12:00:00Z) or a duration ago (15m, 2h, 7d)`);
  return t;
}
