/**
 * Clips: a session's span cut from the segment ring into one MP4, written atomically, and the
 * retention that keeps the clip directories inside a disk budget.
 *
 * Atomic: ffmpeg writes `<clip>.partial` (its concat list beside it as `<clip>.partial.txt`),
 * the file is fsynced, probed and hashed, then renamed to its name and the directory fsynced.
 * Only then does the index get its `clip` line. A crash at any point leaves at most a
 * `.partial` file, which is never listed and is swept at the next start (sweepPartials), or a
 * complete clip that the index does not list yet (counted by retention like any other file).
 *
 * The cut: whole segments from the one containing the session start (a key frame at or before
 * it, so pre-roll is never short by more than one segment) to the session end, trimmed at the
 * end with `-t` (copy mode can end anywhere, it only has to start on a key frame). A gap in the
 * ring (a stream drop) is skipped by the concat demuxer, so the clip is shorter than the
 * session by the gap; the gaps are returned, put in the index and in the MP4 comment.
 */
import { closeSync, fsyncSync, openSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { probeDuration, runTool, sha256File } from './media.js';
import type { Gap, Segment } from './ring.js';

export type ClipInfo = {
  path: string;
  /** Wall-clock span of the video in the clip (ms since the epoch). */
  start: number;
  end: number;
  /** ffprobe's container duration, seconds. */
  durationS: number;
  bytes: number;
  sha256: string;
  gaps: Gap[];
};

export class ClipError extends Error {
  override readonly name = 'ClipError';
  constructor(
    message: string,
    readonly code: 'no-video' | 'ffmpeg' | 'io' | 'disk-full',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const PARTIAL = '.partial';

function fsyncPath(p: string): void {
  const fd = openSync(p, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Write the clip for [start, end] from `segs` (sorted, overlapping the span) to `out`.
 * Throws ClipError; leaves nothing behind on failure.
 */
export async function writeClip(o: {
  segs: readonly Segment[];
  start: number;
  end: number;
  gaps: Gap[];
  out: string;
  ffmpeg?: string;
  ffprobe?: string;
  title?: string;
}): Promise<ClipInfo> {
  const segs = o.segs;
  const first = segs[0];
  const last = segs.at(-1);
  if (first === undefined || last === undefined) throw new ClipError('no video in the ring for this span (stream down?)', 'no-video');
  const tmp = `${o.out}${PARTIAL}`;
  const list = `${tmp}.txt`;
  const videoEnd = Math.min(o.end, last.end);
  const gapMs = o.gaps.reduce((n, g) => n + Math.max(0, Math.min(g.to, videoEnd) - Math.max(g.from, first.start)), 0);
  const seconds = Math.max(0.1, (videoEnd - first.start - gapMs) / 1000);
  const comment = o.gaps.length === 0 ? 'gaps: none' : `gaps: ${o.gaps.map((g) => `${new Date(g.from).toISOString()}/${new Date(g.to).toISOString()}`).join(' ')}`;
  try {
    writeFileSync(list, segs.map((s) => `file '${s.file.replace(/'/g, "'\\''")}'\n`).join(''));
    const r = await runTool(o.ffmpeg ?? 'ffmpeg', [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-f', 'concat', '-safe', '0', '-i', list,
      '-map', '0:v:0', '-c', 'copy', '-t', seconds.toFixed(3),
      '-metadata', `creation_time=${new Date(first.start).toISOString()}`,
      '-metadata', `comment=${comment}`,
      ...(o.title === undefined ? [] : ['-metadata', `title=${o.title}`]),
      '-movflags', '+faststart', '-f', 'mp4', '-y', tmp,
    ], 120_000);
    if (r.code !== 0) {
      const full = /No space left|ENOSPC/i.test(r.stderr);
      throw new ClipError(`ffmpeg could not write the clip: ${r.stderr.trim().split('\n').pop() ?? `exit ${r.code ?? r.signal}`}`, full ? 'disk-full' : 'ffmpeg');
    }
    fsyncPath(tmp);
    const durationS = await probeDuration(tmp, o.ffprobe);
    if (!Number.isFinite(durationS)) throw new ClipError('the written clip does not probe', 'ffmpeg');
    const sha256 = await sha256File(tmp);
    const bytes = statSync(tmp).size;
    renameSync(tmp, o.out);
    fsyncPath(dirname(o.out));
    return { path: o.out, start: first.start, end: videoEnd, durationS, bytes, sha256, gaps: o.gaps };
  } catch (err) {
    rmSync(tmp, { force: true });
    if (err instanceof ClipError) throw err;
    const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'disk-full' : 'io';
    throw new ClipError(`cannot write the clip ${basename(o.out)}: ${(err as Error).message}`, code, { cause: err });
  } finally {
    rmSync(list, { force: true });
  }
}

/** Remove `.partial` leftovers of a crash under `dir` (one level of camera directories). */
export function sweepPartials(dir: string): string[] {
  const removed: string[] = [];
  let cams: string[];
  try {
    cams = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const c of cams) {
    const d = join(dir, c);
    let files: string[];
    try {
      if (!statSync(d).isDirectory()) continue;
      files = readdirSync(d);
    } catch {
      continue;
    }
    for (const f of files) {
      if (f.includes(PARTIAL)) {
        rmSync(join(d, f), { force: true });
        removed.push(join(d, f));
      }
    }
  }
  return removed;
}

export type RetentionPolicy = {
  /** Most bytes of clips per camera directory. */
  budgetBytes?: number | undefined;
  /** Clips older than this (by mtime, ms) are deleted. */
  maxAgeMs?: number | undefined;
};

export type Deleted = { path: string; bytes: number; reason: 'age' | 'budget' };

/**
 * Apply retention to one camera's clip directory, oldest first. Files being written
 * (`.partial`) are never touched and not counted; the newest clip is kept even if it alone is
 * over budget (a budget smaller than one clip would otherwise delete every clip it writes).
 */
export function applyRetention(dir: string, p: RetentionPolicy, now = Date.now()): Deleted[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const clips = names
    .filter((n) => n.endsWith('.mp4'))
    .flatMap((n) => {
      try {
        const st = statSync(join(dir, n));
        return st.isFile() ? [{ path: join(dir, n), bytes: st.size, mtime: st.mtimeMs }] : [];
      } catch {
        return [];
      }
    })
    .sort((a, b) => a.mtime - b.mtime || a.path.localeCompare(b.path));
  const deleted: Deleted[] = [];
  let total = clips.reduce((n, c) => n + c.bytes, 0);
  for (let i = 0; i < clips.length - 1; i++) {
    const c = clips[i]!;
    const old = p.maxAgeMs !== undefined && now - c.mtime > p.maxAgeMs;
    const over = p.budgetBytes !== undefined && total > p.budgetBytes;
    if (!old && !over) break;
    rmSync(c.path, { force: true });
    total -= c.bytes;
    deleted.push({ path: c.path, bytes: c.bytes, reason: old ? 'age' : 'budget' });
  }
  // The newest may still be past its age.
  const newest = clips.at(-1);
  if (newest !== undefined && p.maxAgeMs !== undefined && now - newest.mtime > p.maxAgeMs) {
    rmSync(newest.path, { force: true });
    deleted.push({ path: newest.path, bytes: newest.bytes, reason: 'age' });
  }
  return deleted;
}
