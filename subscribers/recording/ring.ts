/**
 * The continuous segment ring of one camera: one ffmpeg per camera copies the RTSP stream
 * (`-c copy`, no decoding) into short MPEG-TS segments, and this class keeps the list of
 * finished segments with their wall-clock span, deleting the oldest past `ringMs` or
 * `ringBytes` unless a session still needs them (pin). Clips are cut from it, so pre-roll is
 * real video from before the trigger.
 *
 * Why these choices:
 * - Wall-clock times: ffmpeg stamps each packet with its arrival time
 *   (`-use_wallclock_as_timestamps 1 -copyts`), and the segment muxer prints
 *   `file,start,end` (seconds since the epoch) on stdout as each segment finishes — the same
 *   clock as the sessions (the subscriber's receive time), with no guessing of offsets.
 *   With absolute times the muxer cuts at every key frame, so a segment is one GOP long (1 s
 *   for the simulator); `segmentSeconds` only matters for streams whose GOP is shorter.
 *   The first segment of each connection has no start time (its first packet is unstamped)
 *   and is dropped: a reconnect costs one GOP more than the outage itself.
 * - MPEG-TS: a segment cut short by a crash or a drop is still readable, and TS segments
 *   concatenate without re-muxing headers.
 * - ffmpeg must not outlive this process (a SIGKILLed recorder would leave it filling the disk):
 *   it is started through util-linux `setpriv --pdeathsig KILL`, so the kernel kills it when
 *   we die. (Closing its stdout pipe is not enough: ffmpeg ignores SIGPIPE and carries on.)
 *   Where setpriv is missing, start() still kills ffmpegs left writing into this ring's
 *   directory by a previous run (Linux /proc).
 * - A dropped stream ends ffmpeg (the server closing), or a silent one is noticed by a watchdog
 *   on ffmpeg's `-progress` lines (twice a second while packets flow) and ffmpeg is stopped; it
 *   is restarted with backoff and the missing time shows as a gap between segments. Why not
 *   ffmpeg's own RTSP `-timeout`: with it, on this machine (ffmpeg 5.1) about half of 64 clients
 *   started at once failed at once with "Invalid data found when processing input"; without it,
 *   none did (measured with bench/recording.ts).
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptionsWithStdioTuple } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../common/logger.js';
import { errFields } from '../common/logger.js';

export type Segment = {
  file: string;
  /** Wall-clock span, ms since the epoch. */
  start: number;
  end: number;
  bytes: number;
};

export type Gap = { from: number; to: number };

export type RingOptions = {
  cameraId: string;
  /** Directory for this camera's segments (emptied at start: segments do not outlive the process). */
  dir: string;
  /** Resolves the camera's RTSP URI; asked again before every reconnect. */
  uri: () => Promise<string>;
  ffmpeg?: string;
  segmentSeconds?: number;
  /** Keep at least this much history (ms) and at most `ringBytes` of unpinned segments. */
  ringMs: number;
  ringBytes: number;
  /** ffmpeg's socket timeout: a stream silent this long counts as dropped (default 5000). */
  stallTimeoutMs?: number;
  log: Logger;
};

/** Two segments further apart than this (ms) have a gap between them. */
export const GAP_TOLERANCE_MS = 500;

export class SegmentRing {
  private segs: Segment[] = [];
  private proc: ChildProcess | undefined;
  private stopping = false;
  private started = false;
  private run = 0;
  private failures = 0;
  private retry: NodeJS.Timeout | undefined;
  private readonly pins = new Map<string, number>();
  private waiters = new Set<() => void>();
  private exited: Promise<void> = Promise.resolve();
  /** Connections made and lost, for logs and tests. */
  readonly stats = { connects: 0, drops: 0, segments: 0, deleted: 0 };
  lastError = '';

  constructor(private readonly o: RingOptions) {}

  get cameraId(): string {
    return this.o.cameraId;
  }
  /** Finished segments, oldest first. */
  get segments(): readonly Segment[] {
    return this.segs;
  }
  get bytes(): number {
    return this.segs.reduce((n, s) => n + s.bytes, 0);
  }
  get running(): boolean {
    return this.proc !== undefined;
  }

  start(): void {
    if (this.started) return;
    this.started = true;
    mkdirSync(this.o.dir, { recursive: true });
    const killed = killOrphans(this.o.dir);
    if (killed.length > 0) this.o.log.warn({ cameraId: this.o.cameraId, pids: killed }, 'segment ring: killed ffmpeg left running by a previous run');
    for (const f of readdirSync(this.o.dir)) rmSync(join(this.o.dir, f), { force: true });
    void this.connect();
  }

  /** Stop ffmpeg (SIGTERM: it finishes and lists the segment it was writing) and wake waiters. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.retry);
    const p = this.proc;
    if (p !== undefined && p.exitCode === null) {
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await this.exited;
      clearTimeout(t);
    }
    this.wake();
  }

  /** Keep every segment that ends after `fromMs` until unpin (a session is recording). */
  pin(id: string, fromMs: number): void {
    this.pins.set(id, fromMs);
  }
  unpin(id: string): void {
    this.pins.delete(id);
    this.trim();
  }

  /** Segments overlapping [from, to]. */
  between(from: number, to: number): Segment[] {
    return this.segs.filter((s) => s.end > from && s.start < to);
  }

  /** Resolves true once a finished segment reaches `t`, false after `timeoutMs` or on stop. */
  waitCovered(t: number, timeoutMs: number): Promise<boolean> {
    const covered = () => (this.segs.at(-1)?.end ?? -Infinity) >= t;
    if (covered()) return Promise.resolve(true);
    if (this.stopping) return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = () => {
        if (!covered() && !this.stopping && Date.now() < deadline) return;
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve(covered());
      };
      const deadline = Date.now() + timeoutMs;
      const timer = setTimeout(() => {
        this.waiters.delete(done);
        resolve(covered());
      }, timeoutMs);
      this.waiters.add(done);
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  private async connect(): Promise<void> {
    if (this.stopping) return;
    let uri: string;
    try {
      uri = await this.o.uri();
    } catch (err) {
      this.lastError = (err as Error).message;
      this.o.log.warn({ cameraId: this.o.cameraId, ...errFields(err) }, 'segment ring: no stream URI yet; retrying');
      return this.scheduleRetry();
    }
    if (this.stopping) return;
    const run = (++this.run).toString().padStart(4, '0');
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-progress', 'pipe:2', '-stats_period', '0.5',
      '-rtsp_transport', 'tcp',
      '-use_wallclock_as_timestamps', '1', '-i', uri,
      '-map', '0:v:0', '-c', 'copy', '-copyts',
      '-f', 'segment', '-segment_time', String(this.o.segmentSeconds ?? 2), '-segment_format', 'mpegts',
      '-segment_list', 'pipe:1', '-segment_list_type', 'csv',
      join(this.o.dir, `r${run}-%06d.ts`),
    ];
    const bin = this.o.ffmpeg ?? 'ffmpeg';
    // Own process group: a Ctrl-C in the terminal goes to the recorder, which stops its rings in
    // order (each lists its last segment), instead of killing every ffmpeg under it at once.
    const opts: SpawnOptionsWithStdioTuple<'ignore', 'pipe', 'pipe'> = { stdio: ['ignore', 'pipe', 'pipe'], detached: true };
    const p = hasSetpriv() ? spawn('setpriv', ['--pdeathsig', 'KILL', bin, ...args], opts) : spawn(bin, args, opts);
    this.proc = p;
    this.stats.connects++;
    let first = true;
    let got = 0;
    let pending = '';
    let stderr = '';
    this.exited = new Promise((resolve) => p.on('close', () => resolve()));
    p.stdout!.on('data', (d: Buffer) => {
      pending += d.toString();
      let nl: number;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).trim();
        pending = pending.slice(nl + 1);
        if (line === '') continue;
        got++;
        this.onSegment(line, first);
        first = false;
      }
    });
    // Watchdog: no progress line for stallTimeoutMs → stop ffmpeg. Before the first line (connect,
    // probe) it waits longer: on a loaded machine 64 ffmpegs starting at once take many seconds.
    const stall = this.o.stallTimeoutMs ?? 5_000;
    let lastProgress = Date.now() + Math.max(30_000, 3 * stall) - stall;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress <= stall || p.exitCode !== null) return;
      stderr += `\nno video for ${stall} ms (stalled stream)`;
      p.kill('SIGTERM');
      setTimeout(() => p.kill('SIGKILL'), 2_000).unref();
      lastProgress = Infinity;
    }, 250);
    p.stderr!.on('data', (d: Buffer) => {
      const text = d.toString();
      const kept = text.split('\n').filter((l) => !/^\w+=/.test(l));
      if (kept.length < text.split('\n').length && lastProgress !== Infinity) lastProgress = Date.now();
      stderr = (stderr + kept.join('\n')).slice(-2000);
    });
    p.on('error', (err) => {
      stderr += err.message;
    });
    p.on('close', (code, signal) => {
      clearInterval(watchdog);
      if (this.proc === p) this.proc = undefined;
      this.wake();
      if (this.stopping) return;
      this.stats.drops++;
      this.lastError = stderr.trim().split('\n').pop() ?? `exit ${code ?? signal}`;
      if (got > 0) this.failures = 0;
      this.o.log.warn({ cameraId: this.o.cameraId, code, signal, segments: got, error: this.lastError }, 'segment ring: stream ended; reconnecting');
      this.scheduleRetry();
    });
  }

  private scheduleRetry(): void {
    if (this.stopping) return;
    const ms = Math.min(5_000, 250 * 2 ** this.failures++);
    this.retry = setTimeout(() => void this.connect(), ms);
  }

  private onSegment(line: string, firstOfRun: boolean): void {
    const [name = '', a = '', b = ''] = line.split(',');
    const file = join(this.o.dir, name);
    const start = Number(a) * 1000;
    const end = Number(b) * 1000;
    let bytes = 0;
    try {
      bytes = statSync(file).size;
    } catch {
      return;
    }
    // The first packet of a connection is unstamped, so its segment starts at 0: unusable.
    if (firstOfRun && (!(start > 0) || end - start > 60_000)) {
      rmSync(file, { force: true });
      return;
    }
    if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) {
      rmSync(file, { force: true });
      return;
    }
    this.segs.push({ file, start, end, bytes });
    this.stats.segments++;
    this.trim();
    this.wake();
  }

  /** Oldest first, past the time or byte bound, never a segment a pinned session still needs. */
  private trim(): void {
    const floor = Math.min(Infinity, ...this.pins.values());
    let bytes = this.bytes;
    const newest = this.segs.at(-1)?.end ?? 0;
    while (this.segs.length > 1) {
      const s = this.segs[0]!;
      if (s.end > floor) break;
      if (newest - s.end <= this.o.ringMs && bytes <= this.o.ringBytes) break;
      this.segs.shift();
      bytes -= s.bytes;
      this.stats.deleted++;
      rmSync(s.file, { force: true });
    }
  }
}

/** Gaps inside [from, to] not covered by `segs` (sorted), with GAP_TOLERANCE_MS of slack. */
export function gapsIn(segs: readonly Segment[], from: number, to: number): Gap[] {
  const gaps: Gap[] = [];
  let at = from;
  for (const s of segs) {
    if (s.start - at > GAP_TOLERANCE_MS) gaps.push({ from: at, to: Math.min(s.start, to) });
    at = Math.max(at, s.end);
    if (at >= to) break;
  }
  if (to - at > GAP_TOLERANCE_MS) gaps.push({ from: at, to });
  return gaps;
}

let setpriv: boolean | undefined;
/** util-linux setpriv with --pdeathsig (Linux). */
export function hasSetpriv(): boolean {
  setpriv ??= spawnSync('setpriv', ['--pdeathsig', 'KILL', 'true'], { stdio: 'ignore', timeout: 5_000 }).status === 0;
  return setpriv;
}

/** SIGKILL processes whose command line writes segments into `dir` (orphans of a crash). */
export function killOrphans(dir: string): number[] {
  const killed: number[] = [];
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return killed;
  }
  const needle = `${join(dir, 'r')}`;
  for (const pid of pids) {
    if (Number(pid) === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
      if (argv.some((a) => a.startsWith(needle) && a.endsWith('.ts')) && argv.some((a) => a.includes('ffmpeg'))) {
        process.kill(Number(pid), 'SIGKILL');
        killed.push(Number(pid));
      }
    } catch {
      // gone, or not ours to read
    }
  }
  return killed;
}
