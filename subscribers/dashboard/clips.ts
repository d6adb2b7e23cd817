/**
 * Recording sessions and their clips, read from the recording subscriber's session index, and
 * the one rule for serving a clip: the file must resolve (symlinks followed) to a regular file
 * inside the configured recordings directory. The page asks for a clip by session id, never by
 * path, so a path in the index or in a `recording.clip.*` message written by anyone on the bus
 * cannot make the dashboard serve /etc/shadow.
 */
import { realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, sep } from 'node:path';
import { readJsonl } from '../common/jsonl.js';
import { clipFrom, type SessionRow } from './model.js';

/**
 * Sessions in an index file. Tolerant of the format growing (issue 19 adds clip records): any
 * record with a `sessionId` contributes what it has — `open` the camera and start, `close` the
 * end and reason, and any record with a `path`/`file` (a recorder's output or a clip) the clip.
 */
export function readIndexSessions(file: string): SessionRow[] {
  const { records } = readJsonl<Record<string, unknown>>(file);
  const byId = new Map<string, SessionRow>();
  for (const r of records) {
    const id = typeof r['sessionId'] === 'string' ? r['sessionId'] : undefined;
    if (id === undefined) continue;
    let s = byId.get(id);
    if (s === undefined) {
      if (typeof r['cameraId'] !== 'string') continue; // a line for a session whose open was not seen
      s = { sessionId: id, cameraId: r['cameraId'] };
      byId.set(id, s);
    }
    if (typeof r['start'] === 'string') s.start = r['start'];
    if (r['type'] === 'close') {
      if (typeof r['end'] === 'string') s.end = r['end'];
      if (typeof r['reason'] === 'string') s.reason = r['reason'];
    }
    if (r['type'] === 'recorder' && r['event'] === 'failed') continue;
    const clip = clipFrom(r);
    if (clip !== undefined) s.clip = { ...s.clip, ...clip };
  }
  return [...byId.values()];
}

export type ClipResolution = { ok: true; path: string; size: number } | { ok: false; status: number; reason: string };

/** Where a clip may be served from, or why not. */
export function resolveClip(dir: string | undefined, file: string): ClipResolution {
  if (dir === undefined) return { ok: false, status: 403, reason: 'no recordings directory is configured, so no clip is served' };
  let root: string;
  let real: string;
  try {
    root = realpathSync(dir);
    real = realpathSync(isAbsolute(file) ? file : join(root, file));
  } catch {
    return { ok: false, status: 404, reason: 'the clip file does not exist (yet, or any more)' };
  }
  if (!real.startsWith(root.endsWith(sep) ? root : root + sep)) return { ok: false, status: 404, reason: 'the clip is outside the recordings directory' };
  const st = statSync(real, { throwIfNoEntry: false });
  if (st === undefined || !st.isFile()) return { ok: false, status: 404, reason: 'the clip is not a regular file' };
  return { ok: true, path: real, size: st.size };
}

const TYPES: Record<string, string> = { mp4: 'video/mp4', m4v: 'video/mp4', mov: 'video/mp4', webm: 'video/webm', mkv: 'video/x-matroska', ts: 'video/mp2t' };

export function clipType(path: string): string {
  const ext = path.slice(path.lastIndexOf('.') + 1).toLowerCase();
  return TYPES[ext] ?? 'application/octet-stream';
}
