/**
 * Recorder cost per camera in copy mode: `node dist/bench/recording.js [cameras...] [--seconds S]`
 * (default 1 4 16, 20 s each). The stream: BENCH_WIDTH, BENCH_HEIGHT, BENCH_FPS, BENCH_KBPS (default 320x240, 10 fps, 300).
 *
 * One simulated stream (one encoder, so the machine's CPU goes to what is measured) is served to
 * N "cameras" (the relay fans the same RTP out to N players); one SegmentRing per camera runs in
 * this process exactly as the recording subscriber runs them. Measured over the window, after a
 * warm-up: CPU of the ring ffmpegs (utime+stime from /proc, % of one core), CPU of this process
 * (ring bookkeeping and the relay — the relay belongs to the simulator, so this is an upper
 * bound for the recorder's own node share), segment bytes written per camera per second, and
 * whether every ring kept up (segments per camera ≈ seconds, no drops).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSimulatedStream } from '../publishers/onvif/simulator/stream.js';
import { createLogger } from '../subscribers/common/logger.js';
import { SegmentRing } from '../subscribers/recording/ring.js';

const TICKS = 100; // USER_HZ on Linux

function cpuTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return Number(rest[11]) + Number(rest[12]); // utime, stime
  } catch {
    return 0;
  }
}

function ringPids(dir: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes(dir) && cmd.includes('ffmpeg')) out.push(Number(p));
    } catch {
      // gone
    }
  }
  return out;
}

async function measure(n: number, seconds: number): Promise<Record<string, number | string>> {
  const dir = mkdtempSync(join(tmpdir(), 'udsbus-bench-rec-'));
  const stream = await startSimulatedStream({
    paths: ['/cam'],
    width: Number(process.env['BENCH_WIDTH'] ?? 320),
    height: Number(process.env['BENCH_HEIGHT'] ?? 240),
    fps: Number(process.env['BENCH_FPS'] ?? 10),
    bitrateKbps: Number(process.env['BENCH_KBPS'] ?? 300),
  });
  const log = createLogger('bench', 'error');
  const rings = Array.from({ length: n }, (_, i) =>
    new SegmentRing({ cameraId: `cam-${i}`, dir: join(dir, `cam-${i}`), uri: async () => stream.url('/cam'), ringMs: 60_000, ringBytes: 64 * 1024 * 1024, log }),
  );
  for (const r of rings) r.start();
  await Promise.all(rings.map((r) => r.waitCovered(0, 30_000)));
  await new Promise((r) => setTimeout(r, 3_000)); // warm-up
  const pids = ringPids(dir);
  const t0 = Date.now();
  const c0 = pids.map(cpuTicks);
  const n0 = process.cpuUsage();
  const segs0 = rings.map((r) => r.stats.segments);
  const drops0 = rings.reduce((s, r) => s + r.stats.drops, 0);
  const written = new Map<string, number>();
  const seen = rings.map(() => new Set<string>());
  const tally = () =>
    rings.forEach((r, i) => {
      for (const s of r.segments) {
        if (!seen[i]!.has(s.file)) {
          seen[i]!.add(s.file);
          written.set(r.cameraId, (written.get(r.cameraId) ?? 0) + s.bytes);
        }
      }
    });
  tally(); // count what exists now as the baseline
  written.clear();
  const timer = setInterval(tally, 500);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  clearInterval(timer);
  tally();
  const dt = (Date.now() - t0) / 1000;
  const rssKb = pids.map((p) => {
    try {
      return Number(/Pss:\s+(\d+)/.exec(readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
    } catch {
      return 0;
    }
  });
  const ffCpu = pids.reduce((s, p, i) => s + cpuTicks(p) - c0[i]!, 0) / TICKS / dt;
  const nodeUse = process.cpuUsage(n0);
  const nodeCpu = (nodeUse.user + nodeUse.system) / 1e6 / dt;
  const segs = rings.map((r, i) => r.stats.segments - segs0[i]!);
  const bytes = [...written.values()].reduce((s, b) => s + b, 0);
  const drops = rings.reduce((s, r) => s + r.stats.drops, 0) - drops0;
  await Promise.all(rings.map((r) => r.stop()));
  await stream.close();
  rmSync(dir, { recursive: true, force: true });
  return {
    cameras: n,
    seconds: Math.round(dt),
    'ffmpeg CPU % of a core, per camera': +((ffCpu * 100) / n).toFixed(2),
    'ffmpeg CPU % total': +(ffCpu * 100).toFixed(1),
    'node CPU % total (rings + relay)': +(nodeCpu * 100).toFixed(1),
    'disk KB/s per camera': +(bytes / 1024 / dt / n).toFixed(1),
    'disk MB/hour per camera': +((bytes / dt / n) * 3600 / 1e6).toFixed(0),
    'segments per camera per s (min)': +(Math.min(...segs) / dt).toFixed(2),
    'ffmpeg PSS MB per camera': +(rssKb.reduce((a, b) => a + b, 0) / 1024 / Math.max(1, rssKb.length)).toFixed(1),
    drops,
    ...(drops > 0 ? { errors: [...new Set(rings.map((r) => r.lastError).filter((e) => e !== ''))].join(' | ').slice(0, 300), encoder: stream.stderrTail.trim().slice(-200) } : {}),
  };
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const si = args.indexOf('--seconds');
  const seconds = si >= 0 ? Number(args[si + 1]) : 20;
  const counts = args.filter((a, i) => /^\d+$/.test(a) && (si < 0 || i !== si + 1)).map(Number);
  for (const n of counts.length > 0 ? counts : [1, 4, 16]) {
    process.stdout.write(`${JSON.stringify(await measure(n, seconds))}\n`);
  }
}

void main();
