/**
 * Each camera's newest file in the ONVIF publisher's snapshot spool, read once at startup: events
 * are not retained, so without this a restarted dashboard would show no snapshot until every
 * camera's next event. Only the newest file per camera is read (to hash it, as the event's
 * reference would have); serving still goes through the server's confinement checks.
 */
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseSnapshotFileName } from '../../publishers/onvif/snapshots.js';
import type { SnapshotRow } from './model.js';

/** Larger files are skipped (the server would refuse them too). */
const MAX_BYTES = 8 * 1024 * 1024;

export function latestSnapshots(dir: string): Map<string, { row: SnapshotRow; path: string }> {
  const newest = new Map<string, { time: string; name: string }>();
  for (const name of readdirSync(dir)) {
    const p = parseSnapshotFileName(name);
    if (p === undefined) continue;
    const cur = newest.get(p.cameraId);
    // ISO times of one format compare as strings; a tie (same millisecond) takes either.
    if (cur === undefined || p.time > cur.time) newest.set(p.cameraId, { time: p.time, name });
  }
  const out = new Map<string, { row: SnapshotRow; path: string }>();
  for (const [cameraId, f] of newest) {
    const path = join(dir, f.name);
    try {
      const st = statSync(path);
      if (!st.isFile() || st.size > MAX_BYTES) continue;
      const sha256 = createHash('sha256').update(readFileSync(path)).digest('hex');
      out.set(cameraId, { row: { time: f.time, size: st.size, sha256 }, path });
    } catch {
      // Deleted by the spool since readdir, or unreadable: no snapshot to show for this camera.
    }
  }
  return out;
}
