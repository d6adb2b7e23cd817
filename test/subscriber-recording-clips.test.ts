/**
 * Clip recording against real video: the simulated camera's RTSP stream (ffmpeg), a real broker,
 * the recording subscriber with a segment ring. A motion event at t gives a clip covering
 * [t − preRoll, release + postRoll] (ffprobe, and the burnt-in clock of its first frame); a stream
 * cut mid-session is reconnected and recorded as a gap; retention keeps a small budget, oldest
 * first; a SIGKILLed recorder process leaves no partial clip listed. Skips (with a printed reason)
 * only when ffmpeg is not installed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statfsSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client } from '../bus/client/client.js';
import { decodeBurntClock, findFfmpeg, startSimulatedStream, type SimulatedStream } from '../publishers/onvif/simulator/stream.js';
import { applyRetention, sweepPartials } from '../subscribers/recording/clips.js';
import { readSessionIndex, startRecording, type RecordingClip, type RecordingHandle } from '../subscribers/recording/index.js';
import { firstFrameGray, probeDuration, sha256File } from '../subscribers/recording/media.js';
import { gapsIn, SegmentRing } from '../subscribers/recording/ring.js';
import { CLI, runCli, startTestBus, tempDir, waitForLine, type TestBus } from './helpers/harness.js';
import { captureLogger, Collector, line, motion, publishThrough } from './subscribers/helpers.js';

const ffmpeg = findFfmpeg();
if (ffmpeg === undefined) console.warn('SKIP subscriber-recording-clips (video part): ffmpeg is not installed (apt-get install ffmpeg; .ci/run does)');

/** The simulator's GOP and so the ring's segment length (ms). */
const SEGMENT_MS = 1_000;

describe('retention and gaps (no video needed)', () => {
  it('deletes by age and then by budget, oldest first, keeps the newest, never touches .partial', () => {
    const { dir, cleanup } = tempDir('udsbus-retention-');
    try {
      const now = Date.now();
      const mk = (name: string, bytes: number, ageMs: number) => {
        writeFileSync(join(dir, name), Buffer.alloc(bytes));
        const t = (now - ageMs) / 1000;
        utimesSync(join(dir, name), t, t);
      };
      mk('a.mp4', 100, 50 * 3_600_000);
      mk('b.mp4', 100, 4_000);
      mk('c.mp4', 100, 3_000);
      mk('d.mp4', 100, 2_000);
      mk('e.mp4.partial', 10_000, 1_000);
      const deleted = applyRetention(dir, { budgetBytes: 250, maxAgeMs: 48 * 3_600_000 }, now);
      expect(deleted.map((d) => [d.path.split('/').pop(), d.reason])).toEqual([
        ['a.mp4', 'age'],
        ['b.mp4', 'budget'],
      ]);
      expect(readdirSync(dir).sort()).toEqual(['c.mp4', 'd.mp4', 'e.mp4.partial']);
      // A budget below one clip keeps the newest clip.
      applyRetention(dir, { budgetBytes: 1 }, now);
      expect(readdirSync(dir).sort()).toEqual(['d.mp4', 'e.mp4.partial']);
      // At start, partial clips of a crash are swept.
      mkdirSync(join(dir, 'cam'));
      writeFileSync(join(dir, 'cam', 'x.mp4.partial'), 'x');
      expect(sweepPartials(dir)).toEqual([join(dir, 'cam', 'x.mp4.partial')]);
    } finally {
      cleanup();
    }
  });

  it('gapsIn finds holes between segments, before the first and after the last', () => {
    const seg = (start: number, end: number) => ({ file: '', start, end, bytes: 0 });
    expect(gapsIn([seg(0, 1000), seg(1000, 2000)], 500, 1800)).toEqual([]);
    expect(gapsIn([seg(0, 1000), seg(4000, 5000)], 500, 4500)).toEqual([{ from: 1000, to: 4000 }]);
    expect(gapsIn([seg(2000, 3000)], 0, 5000)).toEqual([
      { from: 0, to: 2000 },
      { from: 3000, to: 5000 },
    ]);
  });
});

describe.skipIf(ffmpeg === undefined)('clips from the simulated camera stream (ffmpeg, real broker)', () => {
  let bus: TestBus;
  let stream: SimulatedStream;
  let recClient: Client;
  let pub: Client;
  let out: Collector;
  let rec: RecordingHandle | undefined;
  let dir: string;

  beforeEach(async () => {
    bus = await startTestBus();
    dir = join(bus.dir, 'clips');
    stream = await startSimulatedStream({ paths: ['/stream/Profile_1'] });
    recClient = await bus.client({ name: 'recording' });
    pub = await bus.client({ name: 'camera' });
    const watcher = await bus.client({ name: 'watcher' });
    out = new Collector(watcher.subscribe('recording.>'));
    await watcher.flush();
  }, 30_000);
  afterEach(async () => {
    await rec?.stop();
    rec = undefined;
    out.close();
    await stream.close();
    await bus.close();
  }, 30_000);

  const start = async (o: { preRollMs: number; postRollMs: number; budgetBytes?: number; stallTimeoutMs?: number }) => {
    rec = await startRecording({
      client: recClient,
      indexFile: join(bus.dir, 'sessions.jsonl'),
      preRollMs: o.preRollMs,
      postRollMs: o.postRollMs,
      maxDurationMs: 120_000,
      logger: captureLogger().logger,
      clips: {
        dir,
        streams: { 'cam-01': stream.url() },
        // The default (5 s) unless a test needs the watchdog: a loaded CI machine can lag 2 s.
        stallTimeoutMs: o.stallTimeoutMs ?? 5_000,
        ...(o.budgetBytes === undefined ? {} : { budgetBytes: o.budgetBytes }),
      },
    });
    const ring = rec.clips!.ring('cam-01')!;
    // Wait for video, then for pre-roll's worth of it (event-driven: the ring wakes us per segment).
    expect(await ring.waitCovered(0, 20_000)).toBe(true);
    const first = ring.segments[0]!.start;
    expect(await ring.waitCovered(first + o.preRollMs + 1_500, 20_000)).toBe(true);
    return ring;
  };
  const events = () => recClient.subscribe('camera.event.>');

  it('a motion event at t gives a clip covering [t − preRoll, release + postRoll], first frame at t − preRoll', async () => {
    const preRollMs = 3_000;
    const postRollMs = 1_000;
    await start({ preRollMs, postRollMs });
    const t = Date.now();
    await publishThrough(pub, events(), 'camera.event.cam-01.motion', motion('cam-01', true));
    const started = await out.next((m) => m.topic === 'recording.started.cam-01');
    await new Promise((r) => setTimeout(r, 2_000)); // motion lasts 2 s
    await publishThrough(pub, events(), 'camera.event.cam-01.motion', motion('cam-01', false));
    const stopped = await out.next((m) => m.topic === 'recording.stopped.cam-01', 10_000);
    const clipMsg = await out.next((m) => m.topic === 'recording.clip.cam-01', 30_000);

    const s = stopped.payload as { start: string; end: string; reason: string };
    expect(s.reason).toBe('idle');
    const from = Date.parse(s.start);
    const to = Date.parse(s.end);
    expect(from).toBeGreaterThanOrEqual(t - preRollMs);
    expect((started.payload as { start: string }).start).toBe(s.start);

    const clip = clipMsg.payload as RecordingClip;
    expect(existsSync(clip.path)).toBe(true);
    const d = await probeDuration(clip.path);
    const needed = (to - from) / 1000;
    expect(d).toBeGreaterThanOrEqual(needed - 0.2); // one frame at 10 fps, plus rounding
    expect(d).toBeLessThanOrEqual(needed + SEGMENT_MS / 1000 + 0.2);
    expect(clip.gaps).toEqual([]);

    // The first frame shows a time no later than t − preRoll + one segment.
    const burnt = decodeBurntClock(await firstFrameGray(clip.path), stream.width, from);
    expect(burnt).toBeLessThanOrEqual(from + SEGMENT_MS);
    expect(burnt).toBeGreaterThan(from - 2 * SEGMENT_MS);

    // Listed in the index with what is on disk.
    const listed = readSessionIndex(join(bus.dir, 'sessions.jsonl')).sessions.find((x) => x.sessionId === clip.sessionId)!;
    expect(listed.clip).toEqual({ path: clip.path, start: clip.start, end: clip.end, durationS: clip.durationS, bytes: clip.bytes, sha256: clip.sha256, gaps: [] });
    expect(statSync(clip.path).size).toBe(clip.bytes);
    expect(await sha256File(clip.path)).toBe(clip.sha256);
    expect(readdirSync(join(dir, 'cam-01'))).toEqual([`${clip.sessionId}.mp4`]);

    // The operator's view: udsbus recordings list|show|export.
    const index = join(bus.dir, 'sessions.jsonl');
    const list = await runCli(['recordings', 'list', '--index', index]);
    expect(list.code).toBe(0);
    expect(list.stdout).toContain(clip.sessionId);
    expect(list.stdout).toContain(clip.path);
    const show = await runCli(['recordings', 'show', clip.sessionId, '--index', index]);
    expect(show.code).toBe(0);
    expect(JSON.parse(show.stdout)).toMatchObject({ sessionId: clip.sessionId, clip: { sha256: clip.sha256 }, clipCheck: { ok: true } });
    const exportDir = join(bus.dir, 'export');
    mkdirSync(exportDir);
    const exp = await runCli(['recordings', 'export', clip.sessionId, exportDir, '--index', index]);
    expect(exp.code, exp.stderr).toBe(0);
    expect(await sha256File(join(exportDir, `${clip.sessionId}.mp4`))).toBe(clip.sha256);
    // A clip changed on disk is refused.
    appendFileSync(clip.path, 'x');
    expect((await runCli(['recordings', 'show', clip.sessionId, '--index', index])).code).toBe(1);
    const bad = await runCli(['recordings', 'export', clip.sessionId, join(bus.dir, 'bad.mp4'), '--index', index]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/bytes|sha256/);
    expect(existsSync(join(bus.dir, 'bad.mp4'))).toBe(false);
  }, 90_000);

  it('a stream cut mid-session: the ring reconnects, the clip records the gap, the session is kept', async () => {
    const ring = await start({ preRollMs: 1_000, postRollMs: 1_000 });
    await publishThrough(pub, events(), 'camera.event.cam-01.motion', motion('cam-01', true));
    await out.next((m) => m.topic === 'recording.started.cam-01');
    expect(await ring.waitCovered(Date.now() + 1_000, 10_000)).toBe(true);
    const connects = ring.stats.connects;
    const cutAt = Date.now();
    await stream.cut(3_000);
    // Video again after the reconnect.
    expect(await ring.waitCovered(Date.now() + 1_500, 30_000)).toBe(true);
    expect(ring.stats.connects).toBeGreaterThan(connects);
    expect(rec!.openSessions().map((x) => x.cameraId)).toEqual(['cam-01']);
    await publishThrough(pub, events(), 'camera.event.cam-01.motion', motion('cam-01', false));
    const stopped = await out.next((m) => m.topic === 'recording.stopped.cam-01', 10_000);
    expect((stopped.payload as { reason: string }).reason).toBe('idle');
    const clip = (await out.next((m) => m.topic === 'recording.clip.cam-01', 30_000)).payload as RecordingClip;
    expect(clip.gaps).toHaveLength(1);
    const gap = clip.gaps[0]!;
    const gapMs = Date.parse(gap.to) - Date.parse(gap.from);
    expect(Date.parse(gap.from)).toBeGreaterThanOrEqual(cutAt - SEGMENT_MS);
    expect(gapMs).toBeGreaterThanOrEqual(2_500);
    expect(gapMs).toBeLessThan(15_000);
    const s = stopped.payload as { start: string; end: string };
    const span = (Date.parse(s.end) - Date.parse(s.start)) / 1000;
    const d = await probeDuration(clip.path);
    expect(d).toBeGreaterThan(span - gapMs / 1000 - 0.5);
    expect(d).toBeLessThan(span - gapMs / 1000 + SEGMENT_MS / 1000 + 0.5);
  }, 120_000);

  it('a stream that goes silent with its connection open is noticed by the watchdog and reconnected', async () => {
    const ring = await start({ preRollMs: 1_000, postRollMs: 1_000, stallTimeoutMs: 2_000 });
    const drops = ring.stats.drops;
    const connects = ring.stats.connects;
    const frozenAt = Date.now();
    stream.freeze(5_000); // stallTimeoutMs is 2000 here
    expect(await ring.waitCovered(frozenAt + 6_000, 30_000)).toBe(true);
    expect(ring.stats.drops).toBeGreaterThan(drops);
    expect(ring.stats.connects).toBeGreaterThan(connects);
    expect(ring.lastError).toMatch(/stalled/);
    const after = ring.between(frozenAt, frozenAt + 6_000);
    expect(gapsIn(after, frozenAt, frozenAt + 6_000).map((g) => g.to - g.from).reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(2_000);
  }, 90_000);

  it('retention under a small budget deletes the oldest clips and says so in the index', async () => {
    const budget = 250_000; // about two clips of ~2.5 s at the simulator's ~350 kbit/s
    await start({ preRollMs: 1_000, postRollMs: 500, budgetBytes: budget });
    const clips: RecordingClip[] = [];
    for (let i = 0; i < 4; i++) {
      await publishThrough(pub, events(), 'camera.event.cam-01.line', line('cam-01', `Gate${i}`));
      clips.push((await out.next((m) => m.topic === 'recording.clip.cam-01', 30_000)).payload as RecordingClip);
    }
    const left = readdirSync(join(dir, 'cam-01')).filter((f) => f.endsWith('.mp4'));
    const total = left.reduce((n, f) => n + statSync(join(dir, 'cam-01', f)).size, 0);
    expect(total <= budget || left.length === 1).toBe(true);
    expect(left).toContain(`${clips[3]!.sessionId}.mp4`);
    const idx = readSessionIndex(join(bus.dir, 'sessions.jsonl')).sessions;
    const deleted = idx.filter((x) => x.clip?.deleted === 'budget').map((x) => x.sessionId);
    expect(deleted.length).toBeGreaterThanOrEqual(1);
    // Oldest first: every deleted clip is older than every kept one.
    const order = clips.map((c) => c.sessionId);
    const kept = left.map((f) => f.replace(/\.mp4$/, ''));
    expect(Math.max(...deleted.map((x) => order.indexOf(x)))).toBeLessThan(Math.min(...kept.map((x) => order.indexOf(x))));
    for (const x of deleted) expect(existsSync(join(dir, 'cam-01', `${x}.mp4`))).toBe(false);
  }, 180_000);
});

describe.skipIf(ffmpeg === undefined)('the segment ring alone (ffmpeg)', () => {
  it('is bounded by time and bytes, oldest first, except what a pin holds; its files are what it lists', async () => {
    const { dir, cleanup } = tempDir('udsbus-ring-');
    const stream = await startSimulatedStream({ paths: ['/s'] });
    const ring = new SegmentRing({ cameraId: 'cam-01', dir: join(dir, 'ring'), uri: async () => stream.url('/s'), ringMs: 3_000, ringBytes: 120_000, log: captureLogger().logger });
    try {
      ring.start();
      expect(await ring.waitCovered(0, 20_000)).toBe(true);
      const t0 = ring.segments[0]!.end;
      // Unpinned: after 8 s of video no more than ringMs of history (within one segment) and ringBytes (+ one segment).
      expect(await ring.waitCovered(t0 + 8_000, 30_000)).toBe(true);
      const span = ring.segments.at(-1)!.end - ring.segments[0]!.end;
      expect(span).toBeLessThanOrEqual(3_000 + SEGMENT_MS);
      const biggest = Math.max(...ring.segments.map((s) => s.bytes));
      expect(ring.bytes).toBeLessThanOrEqual(120_000 + biggest);
      expect(ring.stats.deleted).toBeGreaterThan(0);
      // On disk: the listed segments plus at most the one being written (deleted ones are gone).
      const onDisk = readdirSync(join(dir, 'ring')).filter((f) => f.endsWith('.ts'));
      expect(onDisk).toEqual(expect.arrayContaining(ring.segments.map((s) => s.file.split('/').pop()!)));
      expect(onDisk.length).toBeLessThanOrEqual(ring.segments.length + 1);
      // Pinned from now: nothing after the pin is deleted, however long.
      const pinAt = ring.segments.at(-1)!.end;
      ring.pin('s1', pinAt);
      expect(await ring.waitCovered(pinAt + 6_000, 30_000)).toBe(true);
      // The oldest kept segment is the one right after the pin (segments abut within jitter).
      expect(ring.segments[0]!.start).toBeLessThanOrEqual(pinAt + 250);
      // More than the unpinned bound (ringMs 3000 + one segment) is kept: ~5 s of it.
      expect(ring.segments.at(-1)!.end - ring.segments[0]!.end).toBeGreaterThan(3_000 + SEGMENT_MS + 250);
      ring.unpin('s1');
      const span2 = ring.segments.at(-1)!.end - ring.segments[0]!.end;
      expect(span2).toBeLessThanOrEqual(3_000 + SEGMENT_MS);
    } finally {
      await ring.stop();
      await stream.close();
      cleanup();
    }
  }, 90_000);
});

describe.skipIf(ffmpeg === undefined)('disk full (ffmpeg, real broker, a real tmpfs)', () => {
  it('a clip that does not fit: nothing partial, a critical alert, clip-failed in the index; clips resume when space returns', async (ctx) => {
    const bus = await startTestBus();
    const mnt = join(bus.dir, 'tmpfs');
    mkdirSync(mnt);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', mnt], { stdio: 'pipe' });
    } catch (err) {
      console.log(`skipped: cannot mount a tmpfs here (${String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim()})`);
      await bus.close();
      ctx.skip();
      return;
    }
    const stream = await startSimulatedStream({ paths: ['/stream/Profile_1'] });
    let rec: RecordingHandle | undefined;
    try {
      const recClient = await bus.client({ name: 'recording' });
      const pub = await bus.client({ name: 'camera' });
      const watcher = await bus.client({ name: 'watcher' });
      const out = new Collector(watcher.subscribe('>'));
      await watcher.flush();
      const dir = join(mnt, 'clips');
      const indexFile = join(bus.dir, 'sessions.jsonl');
      rec = await startRecording({
        client: recClient,
        indexFile,
        preRollMs: 1_000,
        postRollMs: 500,
        logger: captureLogger().logger,
        clips: { dir, streams: { 'cam-01': stream.url() }, stallTimeoutMs: 2_000, ringSeconds: 1 },
      });
      const ring = rec.clips!.ring('cam-01')!;
      expect(await ring.waitCovered(0, 20_000)).toBe(true);
      expect(await ring.waitCovered(ring.segments[0]!.start + 3_000, 20_000)).toBe(true);
      const events = () => recClient.subscribe('camera.event.>');
      await publishThrough(pub, events(), 'camera.event.cam-01.line', line('cam-01'));
      await out.next((m) => m.topic === 'recording.started.cam-01');
      // Fill the disk, leaving less than a clip needs.
      const st = statfsSync(mnt);
      writeFileSync(join(mnt, 'filler'), Buffer.alloc(Math.max(0, st.bavail * st.bsize - 16 * 1024)));
      const alert = await out.next((m) => m.topic === 'alert.clip-failed' && (m.payload as { severity: string }).severity === 'critical', 30_000);
      expect((alert.payload as { message: string }).message).toMatch(/disk full/);
      // Give the retry its chance to fail too, then check the index.
      for (let i = 0; i < 300 && readSessionIndex(indexFile).sessions[0]?.clipFailed === undefined; i++) await new Promise((r) => setTimeout(r, 100));
      const first = readSessionIndex(indexFile).sessions[0]!;
      expect(first.clip).toBeUndefined();
      expect(first.clipFailed?.code).toBe('disk-full');
      const camDir = join(dir, 'cam-01');
      expect((existsSync(camDir) ? readdirSync(camDir) : []).filter((f) => f.includes('.partial'))).toEqual([]);
      expect(out.all.some((m) => m.topic === 'recording.clip.cam-01')).toBe(false);

      // Space returns: the ring reconnects and the next session gets its clip.
      rmSync(join(mnt, 'filler'));
      expect(await ring.waitCovered(Date.now() + 2_500, 30_000)).toBe(true);
      await publishThrough(pub, events(), 'camera.event.cam-01.line', line('cam-01', 'Gate2'));
      const clip = (await out.next((m) => m.topic === 'recording.clip.cam-01', 30_000)).payload as RecordingClip;
      expect(await sha256File(clip.path)).toBe(clip.sha256);
      out.close();
    } finally {
      await rec?.stop();
      await stream.close();
      execFileSync('umount', ['-l', mnt]);
      await bus.close();
    }
  }, 120_000);
});

describe.skipIf(ffmpeg === undefined)('SIGKILL of the recorder process (ffmpeg, real broker, real process)', () => {
  let bus: TestBus;
  let stream: SimulatedStream;
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await stream?.close();
    await bus?.close();
  }, 30_000);

  it('mid-session: no partial clip is listed, nothing partial is left, the orphaned ffmpeg stops, the restart recovers', async () => {
    bus = await startTestBus();
    stream = await startSimulatedStream({ paths: ['/stream/Profile_1'] });
    const dir = join(bus.dir, 'clips');
    const indexFile = join(bus.dir, 'sessions.jsonl');
    const config = join(bus.dir, 'recording.json');
    writeFileSync(
      config,
      JSON.stringify({ socket: bus.socket, indexFile, preRollMs: 1000, postRollMs: 1000, clips: { dir, streams: { 'cam-01': stream.url() }, stallTimeoutMs: 2000 } }),
    );
    const run = () => {
      const p = spawn(process.execPath, [CLI, 'run', 'recording', '--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
      return p;
    };
    const watcher = await bus.client({ name: 'watcher' });
    const out = new Collector(watcher.subscribe('recording.>'));
    await watcher.flush();
    const pub = await bus.client({ name: 'camera' });
    child = run();
    await waitForLine(child.stderr!, (l) => l.includes('segment ring started'), 20_000);
    child.stderr!.resume();
    const ringDir = join(dir, '.ring', 'cam-01');
    // Wait for two finished segments on disk (the first of a connection is dropped).
    for (let i = 0; i < 200 && (!existsSync(ringDir) || readdirSync(ringDir).length < 3); i++) await new Promise((r) => setTimeout(r, 100));
    pub.publish<string>('camera.event.cam-01.motion', motion('cam-01', true));
    const started = await out.next((m) => m.topic === 'recording.started.cam-01', 10_000);
    const sessionId = (started.payload as { sessionId: string }).sessionId;
    await new Promise((r) => setTimeout(r, 1_500)); // recording, with the clip not yet cut
    child.kill('SIGKILL');
    await new Promise((r) => child!.once('exit', r));
    expect(out.all.some((m) => m.topic === 'recording.clip.cam-01')).toBe(false);

    // The orphaned ring ffmpeg dies at its next segment (SIGPIPE on the list pipe).
    const ffmpegOf = () =>
      readdirSync('/proc')
        .filter((p) => /^\d+$/.test(p))
        .filter((p) => {
          try {
            return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(ringDir);
          } catch {
            return false;
          }
        });
    for (let i = 0; i < 100 && ffmpegOf().length > 0; i++) await new Promise((r) => setTimeout(r, 100));
    expect(ffmpegOf()).toEqual([]);

    // Nothing the index lists is partial; the session is there, open.
    const before = readSessionIndex(indexFile).sessions.find((s) => s.sessionId === sessionId)!;
    expect(before.clip).toBeUndefined();
    expect(before.end).toBeUndefined();

    // Restart: the session is closed as recovered, with no clip and a reason, and no partial file remains.
    child = run();
    await waitForLine(child.stderr!, (l) => l.includes('recording subscriber ready'), 20_000);
    child.stderr!.resume();
    const after = readSessionIndex(indexFile).sessions.find((s) => s.sessionId === sessionId)!;
    expect(after.reason).toBe('recovered');
    expect(after.clip).toBeUndefined();
    expect(after.clipFailed?.code).toBe('recovered');
    const files = existsSync(join(dir, 'cam-01')) ? readdirSync(join(dir, 'cam-01')) : [];
    expect(files.filter((f) => f.includes('.partial'))).toEqual([]);
    child.kill('SIGTERM');
    await new Promise((r) => child!.once('exit', r));
    out.close();
  }, 120_000);
});
