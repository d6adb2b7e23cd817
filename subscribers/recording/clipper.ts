/**
 * Clip recording for the recording subscriber: one segment ring per camera (ring.ts), and per
 * closed session a clip cut from it (clips.ts), listed in the session index, announced on
 * `recording.clip.<cameraId>`, then retention of that camera's clip directory.
 *
 * Layout under `clips.dir`:
 *   <cameraId>/<sessionId>.mp4       finished clips (what the index lists)
 *   <cameraId>/<sessionId>.mp4.partial   a clip being written (never listed; swept at start)
 *   .ring/<cameraId>/r0001-000042.ts  the segment ring (emptied at start)
 *
 * A session pins its camera's ring from its start (pre-roll included) until its clip is
 * written, so a long session is never cut from under it; `maxDurationMs` bounds how much a
 * pin can hold.
 */
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Client } from 'udsbus';
import type { Alert, RecordingClip } from '../../schemas/payloads.js';
import { topics } from '../../schemas/topics.js';
import { validatorFor } from '../../schemas/validate.js';
import { errFields, type Logger } from '../common/logger.js';
import { applyRetention, ClipError, sweepPartials, writeClip, type ClipInfo } from './clips.js';
import type { ClipsConfig } from './config.js';
import { gapsIn, SegmentRing } from './ring.js';
import type { ClipRecord, IndexRecord } from './session-index.js';
import type { Session } from './sessions.js';

/** Payload of `recording.clip.<cameraId>` (schemas/payloads.ts RecordingClip, validated before publishing). */
export type { RecordingClip } from '../../schemas/payloads.js';

export const CLIP_DEFAULTS = {
  segmentSeconds: 2,
  ringBytes: 256 * 1024 * 1024,
  budgetBytes: 10 * 1024 * 1024 * 1024,
  stallTimeoutMs: 5_000,
  streamUriTimeoutMs: 5_000,
  /** How long a closed session waits for the ring to reach its end before cutting what there is. */
  coverTimeoutMs: 15_000,
} as const;

export const clipTopic = (cameraId: string): string => topics.recordingClip(cameraId);

type Deps = {
  cfg: ClipsConfig;
  client: Client;
  log: Logger;
  preRollMs: number;
  append(what: string, r: IndexRecord): void;
  publish(topic: string, payload: object): void;
};

const iso = (ms: number) => new Date(ms).toISOString();

export class ClipRecorder {
  private readonly rings = new Map<string, SegmentRing>();
  private readonly jobs = new Set<Promise<void>>();
  private readonly ringMs: number;
  private active = 0;
  private readonly queue: Array<() => void> = [];
  /** Clips written, failed, deleted: for logs, tests and the demo. */
  readonly stats = { written: 0, failed: 0, deleted: 0 };

  constructor(private readonly d: Deps) {
    // Enough history for the pre-roll plus a cover wait, however short the configured ring.
    this.ringMs = Math.max(d.cfg.ringSeconds === undefined ? 60_000 : d.cfg.ringSeconds * 1000, d.preRollMs + 2 * 1000 * (d.cfg.segmentSeconds ?? CLIP_DEFAULTS.segmentSeconds));
    mkdirSync(d.cfg.dir, { recursive: true });
    for (const f of sweepPartials(d.cfg.dir)) d.log.warn({ file: f }, 'removed a partial clip left by a crash');
  }

  /** Cameras with a static stream URI get their ring at once. */
  startStatic(wanted: (cameraId: string) => boolean): void {
    for (const id of Object.keys(this.d.cfg.streams ?? {})) if (wanted(id)) this.ensure(id);
  }

  ring(cameraId: string): SegmentRing | undefined {
    return this.rings.get(cameraId);
  }

  /** Start the camera's ring if it is not running. */
  ensure(cameraId: string): SegmentRing {
    let r = this.rings.get(cameraId);
    if (r !== undefined) return r;
    const cfg = this.d.cfg;
    r = new SegmentRing({
      cameraId,
      dir: join(cfg.dir, '.ring', cameraId),
      uri: () => this.streamUri(cameraId),
      ffmpeg: cfg.ffmpeg ?? 'ffmpeg',
      segmentSeconds: cfg.segmentSeconds ?? CLIP_DEFAULTS.segmentSeconds,
      ringMs: this.ringMs,
      ringBytes: cfg.ringBytes ?? CLIP_DEFAULTS.ringBytes,
      stallTimeoutMs: cfg.stallTimeoutMs ?? CLIP_DEFAULTS.stallTimeoutMs,
      log: this.d.log,
    });
    this.rings.set(cameraId, r);
    r.start();
    this.d.log.info({ cameraId, ringMs: this.ringMs }, 'segment ring started');
    return r;
  }

  /** The camera is gone (camera.lost): stop its ring once no session needs it. */
  async drop(cameraId: string): Promise<void> {
    const r = this.rings.get(cameraId);
    if (r === undefined) return;
    await Promise.all([...this.jobs]);
    if (this.rings.get(cameraId) !== r) return;
    this.rings.delete(cameraId);
    await r.stop();
  }

  onOpen(s: Session): void {
    this.ensure(s.cameraId).pin(s.sessionId, s.start);
  }

  onClose(s: Session, end: number): void {
    const p = this.cut(s, end).catch((err) => this.d.log.error({ ...errFields(err), sessionId: s.sessionId }, 'clip job failed'));
    this.jobs.add(p);
    void p.finally(() => this.jobs.delete(p));
  }

  /** A session left open by a crash: its ring died with the process, so there is no clip. */
  onRecovered(sessionId: string): void {
    this.d.append('clip failure', { type: 'clip-failed', at: iso(Date.now()), sessionId, code: 'recovered', message: 'the recorder stopped before the session ended; its segments were not kept' });
  }

  /** Stop every ring (each lists the segment it was writing), then finish pending clips. */
  async stop(): Promise<void> {
    await Promise.all([...this.rings.values()].map((r) => r.stop()));
    await Promise.all([...this.jobs]);
    this.rings.clear();
  }

  private async streamUri(cameraId: string): Promise<string> {
    const fixed = this.d.cfg.streams?.[cameraId];
    if (fixed !== undefined) return fixed;
    const topic = topics.cameraRpc(cameraId, 'stream-uri');
    const req = this.d.cfg.profile === undefined ? {} : { profile: this.d.cfg.profile };
    const reply = await this.d.client.request(topic, req, { timeout: this.d.cfg.streamUriTimeoutMs ?? CLIP_DEFAULTS.streamUriTimeoutMs });
    const r = validatorFor(topic, { reply: true })?.({ ok: true, result: reply });
    if (r !== undefined && !r.ok) throw new Error(`${topic} answered an invalid result: ${r.errors.join('; ')}`);
    return (reply as { uri: string }).uri;
  }

  private async slot<T>(f: () => Promise<T>): Promise<T> {
    // Two clips at a time: each is a short ffmpeg copy, and the machine has other work.
    if (this.active >= 2) await new Promise<void>((r) => this.queue.push(r));
    this.active++;
    try {
      return await f();
    } finally {
      this.active--;
      this.queue.shift()?.();
    }
  }

  private async cut(s: Session, end: number): Promise<void> {
    const ring = this.rings.get(s.cameraId);
    const fail = (code: string, message: string) => {
      this.stats.failed++;
      this.d.log.error({ cameraId: s.cameraId, sessionId: s.sessionId, code }, `no clip: ${message}`);
      this.d.append('clip failure', { type: 'clip-failed', at: iso(Date.now()), sessionId: s.sessionId, code, message });
      this.alert(s.cameraId, code === 'disk-full' ? 'critical' : 'warning', `no clip for session ${s.sessionId}: ${message}`);
    };
    if (ring === undefined) return fail('no-stream', 'no segment ring for this camera');
    try {
      await ring.waitCovered(end, this.d.cfg.coverTimeoutMs ?? CLIP_DEFAULTS.coverTimeoutMs);
      const segs = ring.between(s.start, end);
      const gaps = gapsIn(segs, s.start, end);
      const dir = join(this.d.cfg.dir, s.cameraId);
      mkdirSync(dir, { recursive: true });
      const out = join(dir, `${s.sessionId}.mp4`);
      const write = () =>
        this.slot(() =>
          writeClip({ segs, start: s.start, end, gaps, out, ffmpeg: this.d.cfg.ffmpeg ?? 'ffmpeg', ffprobe: this.d.cfg.ffprobe ?? 'ffprobe', title: s.sessionId }),
        );
      let clip: ClipInfo;
      try {
        clip = await write();
      } catch (err) {
        if (!(err instanceof ClipError)) throw err;
        if (err.code !== 'disk-full') return fail(err.code, err.message);
        // Disk full, like the audit log: nothing partial stays, retention frees what it may, one retry.
        this.alert(s.cameraId, 'critical', `disk full writing the clip of ${s.sessionId}; applying retention and retrying once`);
        this.retain();
        try {
          clip = await write();
        } catch (err2) {
          return fail(err2 instanceof ClipError ? err2.code : 'io', (err2 as Error).message);
        }
      }
      const rec: ClipRecord = {
        path: clip.path,
        start: iso(clip.start),
        end: iso(clip.end),
        durationS: clip.durationS,
        bytes: clip.bytes,
        sha256: clip.sha256,
        gaps: clip.gaps.map((g) => ({ from: iso(g.from), to: iso(g.to) })),
      };
      this.d.append('clip', { type: 'clip', at: iso(Date.now()), sessionId: s.sessionId, ...rec });
      this.stats.written++;
      this.d.log.info({ cameraId: s.cameraId, sessionId: s.sessionId, file: clip.path, durationS: clip.durationS, bytes: clip.bytes, gaps: rec.gaps.length }, 'clip written');
      const payload: RecordingClip = { v: 1, sessionId: s.sessionId, cameraId: s.cameraId, ...rec };
      this.d.publish(clipTopic(s.cameraId), payload);
      this.retain(s.cameraId);
    } finally {
      ring.unpin(s.sessionId);
    }
  }

  /** Retention for one camera (or all), recording each deletion in the index. */
  retain(cameraId?: string): void {
    const cams = cameraId === undefined ? [...this.rings.keys()] : [cameraId];
    for (const c of cams) {
      const deleted = applyRetention(join(this.d.cfg.dir, c), {
        budgetBytes: this.d.cfg.budgetBytes ?? CLIP_DEFAULTS.budgetBytes,
        maxAgeMs: this.d.cfg.maxAgeHours === undefined ? undefined : this.d.cfg.maxAgeHours * 3_600_000,
      });
      for (const x of deleted) {
        this.stats.deleted++;
        this.d.log.info({ cameraId: c, file: x.path, bytes: x.bytes, reason: x.reason }, 'retention deleted a clip');
        this.d.append('clip deletion', { type: 'clip-deleted', at: iso(Date.now()), sessionId: basename(x.path, '.mp4'), path: x.path, reason: x.reason });
      }
    }
  }

  private alert(cameraId: string, severity: Alert['severity'], message: string): void {
    const a: Alert = { v: 1, ruleId: 'clip-failed', cameraId, topic: clipTopic(cameraId), severity, message: message.slice(0, 2000), time: iso(Date.now()) };
    this.d.publish(topics.alert('clip-failed'), a);
  }
}
