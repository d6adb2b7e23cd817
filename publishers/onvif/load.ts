/**
 * Load measurement: how many cameras one ONVIF publisher process handles, at what event rate.
 *
 *   node dist/publishers/onvif/load.js --cameras 50 --rate 5 --duration 10
 *   node dist/publishers/onvif/load.js --sweep 10,50,100,200 --rate 5
 *
 * Three processes, so the publisher's own cost is visible: this one runs the broker and a
 * subscriber that counts `camera.event.*.*` and measures latency (camera event time → received);
 * a child runs the simulated cameras and raises motion changes at the asked rate per camera; the
 * publisher is the real CLI (`udsbus run onvif --config …`). After every camera is online, events
 * run for a 3 s warm-up plus `--duration` seconds (rates, latency and CPU are measured over the
 * latter), then stop; after a drain the report compares all events raised and received.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { startBroker } from 'udsbus/server';
import { connect } from 'udsbus';
import { startSimulatedCameras, type SimulatedCamera } from './simulator/index.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const WARMUP_MS = 3000;
const CLI = join(HERE, '../../cli/main.js');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

// ---------------------------------------------------------------- child: the cameras

/** `--role cameras`: starts the cameras, prints them, then obeys `start <rate>` / `stop` on stdin. */
async function camerasRole(): Promise<void> {
  const n = Number(arg('cameras', '10'));
  const sims: SimulatedCamera[] = await startSimulatedCameras(n, { name: 'load', maxQueuedEvents: 10_000 });
  process.stdout.write(`${JSON.stringify({ cameras: sims.map((s) => ({ url: s.url, username: s.username, password: s.password })) })}\n`);
  let timer: NodeJS.Timeout | undefined;
  let emitted = 0;
  const state = sims.map(() => false);
  const rl = createInterface({ input: process.stdin });
  rl.on('line', (line) => {
    const [cmd, value] = line.trim().split(/\s+/);
    if (cmd === 'start') {
      const perCamera = Number(value);
      const tickMs = 10;
      const started = Date.now();
      // Every tick raise what is due since the start: an exact rate without one timer per camera.
      timer = setInterval(() => {
        const due = Math.floor(((Date.now() - started) / 1000) * perCamera * sims.length);
        while (emitted < due) {
          const i = emitted % sims.length;
          state[i] = !state[i];
          sims[i]!.emit({ kind: 'motion', state: state[i]! });
          emitted++;
        }
      }, tickMs);
    } else if (cmd === 'count') {
      process.stdout.write(`${JSON.stringify({ emitted })}\n`);
    } else if (cmd === 'stop') {
      clearInterval(timer);
      process.stdout.write(`${JSON.stringify({ emitted })}\n`);
    } else if (cmd === 'exit') {
      void Promise.all(sims.map((s) => s.close())).then(() => process.exit(0));
    }
  });
}

// ---------------------------------------------------------------- the measurement

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
  // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after "pid (comm) ".
  return Number(fields[11]) + Number(fields[12]);
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function lines(child: ChildProcess): AsyncIterator<string> {
  return createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
}

async function nextJson<T>(it: AsyncIterator<string>): Promise<T> {
  for (;;) {
    const r = await it.next();
    if (r.done) throw new Error('child ended early');
    if (r.value.startsWith('{')) return JSON.parse(r.value) as T;
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface LoadResult {
  cameras: number;
  ratePerCamera: number;
  seconds: number;
  /** Events raised and received over the whole run (warm-up included), after draining. */
  emitted: number;
  received: number;
  /** Raised and delivered per second during the measured window. */
  offeredPerSecond: number;
  eventsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  publisherCpuPercent: number;
  publisherRssMb: number;
  /** The simulated cameras' process and this one (broker + counting subscriber), for context. */
  camerasCpuPercent: number;
  brokerCpuPercent: number;
  secondsToOnline: number;
}

async function measure(cameras: number, ratePerCamera: number, seconds: number): Promise<LoadResult> {
  const dir = mkdtempSync(join(tmpdir(), 'udsbus-onvif-load-'));
  const socket = join(dir, 'bus.sock');
  const broker = await startBroker({ socket });
  const children: ChildProcess[] = [];
  try {
    const cams = spawn(process.execPath, [fileURLToPath(import.meta.url), '--role', 'cameras', '--cameras', String(cameras)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    children.push(cams);
    const camLines = lines(cams);
    const { cameras: list } = await nextJson<{ cameras: { url: string; username: string; password: string }[] }>(camLines);

    const client = await connect({ socket, name: 'load-counter' });
    const online = new Set<string>();
    let received = 0;
    const latencies: number[] = [];
    let allOnline: () => void = () => undefined;
    const onlineP = new Promise<void>((resolve) => (allOnline = resolve));
    client.subscribe('camera.status.*').subscribe((m) => {
      if ((m.payload as { state?: string } | undefined)?.state === 'online') online.add(m.topic);
      if (online.size === cameras) allOnline();
    });
    client.subscribe('camera.event.*.*', { maxMsgs: 1_000_000 }).subscribe((m) => {
      const p = m.payload as { initial?: boolean; time?: string };
      if (p.initial !== false) return;
      received++;
      if (p.time !== undefined) latencies.push(Date.now() - Date.parse(p.time));
    });
    await client.flush();

    const config = join(dir, 'onvif.json');
    writeFileSync(config, JSON.stringify({ name: 'load', cameras: list, timing: { pullTimeoutMs: 5000 } }), { mode: 0o600 });
    const t0 = Date.now();
    const pub = spawn(process.execPath, [CLI, 'run', 'onvif', '--socket', socket, '--config', config, '--log-level', 'warn'], {
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    children.push(pub);
    await onlineP;
    const secondsToOnline = (Date.now() - t0) / 1000;

    // Warm up (JIT, sockets, the cameras' cycles drifting apart), then measure a window.
    cams.stdin!.write(`start ${ratePerCamera}\n`);
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    cams.stdin!.write('count\n');
    const { emitted: emittedBefore } = await nextJson<{ emitted: number }>(camLines);
    const receivedBefore = received;
    latencies.length = 0;
    const cpu0 = cpuTicks(pub.pid!);
    const camCpu0 = cpuTicks(cams.pid!);
    const own0 = process.cpuUsage();
    const w0 = Date.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const receivedInWindow = received - receivedBefore;
    const cpu1 = cpuTicks(pub.pid!);
    const camCpu1 = cpuTicks(cams.pid!);
    const own = process.cpuUsage(own0);
    const w1 = Date.now();
    const rss = rssMb(pub.pid!);
    cams.stdin!.write('stop\n');
    const { emitted } = await nextJson<{ emitted: number }>(camLines);
    // Let what is in flight arrive (at most a few seconds).
    const drainUntil = Date.now() + 5000;
    while (received < emitted && Date.now() < drainUntil) await new Promise((r) => setTimeout(r, 50));
    latencies.sort((a, b) => a - b);
    cams.stdin!.write('exit\n');
    pub.kill('SIGTERM');
    await client.close();
    const elapsed = (w1 - w0) / 1000;
    return {
      cameras,
      ratePerCamera,
      seconds: elapsed,
      emitted,
      received,
      offeredPerSecond: Math.round((emitted - emittedBefore) / elapsed),
      eventsPerSecond: Math.round(receivedInWindow / elapsed),
      latencyMs: { p50: percentile(latencies, 50), p99: percentile(latencies, 99), max: latencies[latencies.length - 1] ?? NaN },
      publisherCpuPercent: Math.round((((cpu1 - cpu0) / CLK_TCK) / elapsed) * 100),
      publisherRssMb: Math.round(rss),
      camerasCpuPercent: Math.round((((camCpu1 - camCpu0) / CLK_TCK) / elapsed) * 100),
      brokerCpuPercent: Math.round(((own.user + own.system) / 1e6 / elapsed) * 100),
      secondsToOnline: Math.round(secondsToOnline * 10) / 10,
    };
  } finally {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            const t = setTimeout(() => c.kill('SIGKILL'), 5000);
            c.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
          }),
      ),
    );
    await broker.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (arg('role', '') === 'cameras') return camerasRole();
  const rate = Number(arg('rate', '5'));
  const seconds = Number(arg('duration', '10'));
  const counts = arg('sweep', arg('cameras', '50'))
    .split(',')
    .map(Number)
    .filter((n) => n > 0);
  const results: LoadResult[] = [];
  for (const n of counts) {
    const r = await measure(n, rate, seconds);
    results.push(r);
    process.stdout.write(
      `${String(r.cameras).padStart(4)} cameras × ${r.ratePerCamera}/s: ${r.offeredPerSecond}/s raised, ${r.eventsPerSecond}/s delivered, ` +
        `${r.received}/${r.emitted} delivered in all; latency p50 ${r.latencyMs.p50} ms p99 ${r.latencyMs.p99} ms max ${r.latencyMs.max} ms, ` +
        `publisher CPU ${r.publisherCpuPercent}% RSS ${r.publisherRssMb} MB, all online after ${r.secondsToOnline} s ` +
        `(cameras process CPU ${r.camerasCpuPercent}%, broker+counter CPU ${r.brokerCpuPercent}%)\n`,
    );
  }
  if (process.argv.includes('--json')) process.stdout.write(`${JSON.stringify(results)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`load: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
