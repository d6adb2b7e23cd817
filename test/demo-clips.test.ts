/**
 * Issue 19's "npm start shows clips being written when ffmpeg is installed", tested: a real
 * `udsbus demo` process (simulated cameras serving RTSP, the ONVIF publisher, the recording
 * subscriber) with its temp directories under a fresh TMPDIR, until the first
 * `recording.clip.<cameraId>` message; then the clip itself: inside the demo's state directory,
 * non-empty, the size and sha256 the message announced, and a video stream ffprobe can read with
 * a duration above zero. Skipped, saying why, without Debian's ffmpeg/ffprobe.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { spawnCli, tempDir } from './helpers/harness.js';

const FFMPEG = '/usr/bin/ffmpeg';
const FFPROBE = '/usr/bin/ffprobe';
const missing = [FFMPEG, FFPROBE].filter((f) => !existsSync(f));
const why = missing.length > 0 ? `${missing.join(' and ')} missing (apt-get install ffmpeg; .ci/run installs it)` : undefined;
if (why !== undefined) console.warn(`demo clip test skipped: ${why}`);

/** How long the first clip may take: the demo cuts a clip at the latest 15 s into continuous motion. */
const CLIP_WITHIN_MS = 90_000;

type ClipMsg = { topic: string; payload: { sessionId: string; cameraId: string; path: string; bytes: number; sha256: string; durationS: number } };

/** The first stdout line (`--json`) that is a recording.clip message; rejects on timeout or exit. */
function firstClip(child: ChildProcess, ms: number): Promise<ClipMsg> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    const done = (err: Error | undefined, v?: ClipMsg) => {
      clearTimeout(timer);
      child.off('exit', onExit);
      lines.close();
      if (err !== undefined) reject(err);
      else resolve(v!);
    };
    const timer = setTimeout(() => done(new Error(`no recording.clip message within ${ms} ms`)), ms);
    const onExit = (code: number | null) => done(new Error(`the demo exited (code ${code}) before writing a clip`));
    child.on('exit', onExit);
    lines.on('line', (line) => {
      if (!line.includes('"topic":"recording.clip.')) return;
      done(undefined, JSON.parse(line) as ClipMsg);
    });
  });
}

describe.skipIf(why !== undefined)('the demo (npm start) records clips', () => {
  let child: ChildProcess | undefined;
  let tmp: { dir: string; cleanup: () => void } | undefined;
  afterEach(async () => {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGINT');
      await exited;
    }
    tmp?.cleanup();
  });

  it('writes a clip that ffprobe reads as video, and announces it on the bus', async () => {
    tmp = tempDir('udsbus-demo-clips-');
    const t0 = Date.now();
    // The demo keeps its state (index, clips, audit) in a mkdtemp under TMPDIR: here, ours.
    child = spawnCli(['demo', '--json'], { TMPDIR: tmp.dir, UDSBUS_DASHBOARD_PORT: '0' });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const msg = await firstClip(child, CLIP_WITHIN_MS).catch((err: Error) => {
      throw new Error(`${err.message}; demo stderr:\n${stderr.slice(-2000)}`);
    });
    console.log(`demo: first clip ${Date.now() - t0} ms after start (${msg.topic}, ${msg.payload.durationS} s, ${msg.payload.bytes} bytes)`);
    expect(stderr).toContain('simulated cameras serve RTSP video');

    const { path, bytes, sha256 } = msg.payload;
    expect(msg.topic).toBe(`recording.clip.${msg.payload.cameraId}`);
    expect(realpathSync(path).startsWith(realpathSync(tmp.dir) + '/')).toBe(true);
    const st = statSync(path);
    expect(st.isFile()).toBe(true);
    expect(st.size).toBeGreaterThan(0);
    expect(st.size).toBe(bytes);
    expect(createHash('sha256').update(readFileSync(path)).digest('hex')).toBe(sha256);

    const probe = JSON.parse(
      execFileSync(FFPROBE, ['-v', 'error', '-show_entries', 'stream=codec_type,codec_name,width,height:format=duration', '-of', 'json', path], { encoding: 'utf8' }),
    ) as { streams: Array<{ codec_type: string; codec_name: string; width?: number }>; format: { duration?: string } };
    const video = probe.streams.find((s) => s.codec_type === 'video');
    expect(video, JSON.stringify(probe)).toBeDefined();
    expect(video!.width).toBeGreaterThan(0);
    const duration = Number(probe.format.duration);
    console.log(`demo clip: ${video!.codec_name} ${video!.width} px wide, ffprobe duration ${duration} s`);
    expect(duration).toBeGreaterThan(0);
    // The session index in the demo's state directory lists the same clip.
    const state = readdirSync(tmp.dir).find((d) => d.startsWith('udsbus-demo-state-'));
    expect(state).toBeDefined();
    const index = join(tmp.dir, state!, 'sessions.jsonl');
    await expect.poll(() => readFileSync(index, 'utf8').split('\n').some((l) => l.includes(`"sessionId":"${msg.payload.sessionId}"`) && l.includes(sha256))).toBe(true);
  }, CLIP_WITHIN_MS + 20_000);
});
