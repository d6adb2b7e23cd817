/**
 * The simulated camera's RTSP stream, with Debian's ffmpeg: GetStreamUri points at a real H.264
 * stream that ffprobe reads, the burnt-in clock decodes to the wall-clock time of capture, and a
 * cut drops players and comes back.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulatedCamera, type SimulatedCamera } from '../publishers/onvif/simulator/index.js';
import { decodeBurntClock, findFfmpeg, startsKeyFrame } from '../publishers/onvif/simulator/stream.js';
import { firstFrameGray, runTool } from '../subscribers/recording/media.js';
import { call, connectCam } from './onvif-simulator/helpers.js';

const ffmpeg = findFfmpeg();
if (ffmpeg === undefined) console.warn('SKIP onvif-simulator-stream: ffmpeg is not installed (apt-get install ffmpeg; .ci/run does)');

describe('startsKeyFrame', () => {
  const rtp = (nal: number[]) => Buffer.from([0x80, 96, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1, ...nal]);
  it('accepts SPS, IDR, STAP-A with SPS and an FU-A start of an IDR; refuses the rest', () => {
    expect(startsKeyFrame(rtp([0x67, 0]))).toBe(true);
    expect(startsKeyFrame(rtp([0x65, 0]))).toBe(true);
    expect(startsKeyFrame(rtp([0x78, 0, 4, 0x67]))).toBe(true);
    expect(startsKeyFrame(rtp([0x7c, 0x85]))).toBe(true);
    expect(startsKeyFrame(rtp([0x7c, 0x05]))).toBe(false); // FU-A continuation
    expect(startsKeyFrame(rtp([0x41, 0]))).toBe(false); // P slice
    expect(startsKeyFrame(Buffer.alloc(5))).toBe(false);
  });
});

describe.skipIf(ffmpeg === undefined)('simulated camera RTSP stream (ffmpeg)', () => {
  let sim: SimulatedCamera;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'udsbus-stream-'));
    sim = await startSimulatedCamera({ name: 'streamcam', stream: true });
  }, 30_000);
  afterAll(async () => {
    await sim?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('GetStreamUri returns the live stream on 127.0.0.1; ffprobe reads H.264 320x240', async () => {
    const cam = await connectCam(sim);
    const main = await call<{ uri: string }>((cb) => cam.getStreamUri({ protocol: 'RTSP' }, cb));
    expect(main.uri).toBe(`rtsp://127.0.0.1:${sim.stream!.port}/stream/Profile_1`);
    const r = await runTool('ffprobe', ['-v', 'error', '-rtsp_transport', 'tcp', '-show_entries', 'stream=codec_name,width,height', '-of', 'csv=p=0', main.uri], 20_000);
    expect(r.stderr).toBe('');
    expect(r.stdout.toString().trim()).toBe('h264,320,240');
  }, 30_000);

  it('the burnt-in clock reads the time the frame was captured (within a second)', async () => {
    const file = join(dir, 'one.ts');
    const before = Date.now();
    const r = await runTool(ffmpeg!, ['-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', sim.stream!.url(), '-frames:v', '1', '-c', 'copy', '-y', file], 20_000);
    expect(r.code, r.stderr).toBe(0);
    const after = Date.now();
    const gray = await firstFrameGray(file);
    expect(gray.length).toBe(320 * 240);
    const t = decodeBurntClock(gray, 320, before);
    expect(t).toBeGreaterThanOrEqual(before - 1_000);
    expect(t).toBeLessThanOrEqual(after);
  }, 30_000);

  it('UDP transport is refused (461): nothing but loopback TCP', async () => {
    const r = await runTool('ffprobe', ['-v', 'error', '-rtsp_transport', 'udp', sim.stream!.url()], 20_000);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/461|Unsupported/i);
  }, 30_000);

  it('cut(ms) ends a player at once and the stream is live again afterwards', async () => {
    const file = join(dir, 'cut.ts');
    const player = runTool(ffmpeg!, ['-hide_banner', '-loglevel', 'error', '-rtsp_transport', 'tcp', '-i', sim.stream!.url(), '-c', 'copy', '-t', '30', '-y', file], 40_000);
    await new Promise((r) => setTimeout(r, 1_500)); // let the player get going
    const cutAt = Date.now();
    const cut = sim.stream!.cut(1_500);
    await player;
    expect(Date.now() - cutAt).toBeLessThan(10_000); // ended by the cut, not by -t 30
    expect(sim.stream!.live).toBe(false);
    await cut;
    await sim.stream!.waitLive(15_000);
    expect(sim.stream!.live).toBe(true);
  }, 60_000);
});
