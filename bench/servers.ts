/**
 * The servers under test, started by the orchestrator: the udsbus broker and the raw relay as
 * forked workers, the peers (Mosquitto, Redis, NATS) as their own binaries on private configs in
 * a temp dir — never as system services — and an already running udsbus broker for `udsbus bench`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { connect } from '../bus/client/client.js';
import type { Limits } from '../bus/protocol/limits.js';
import { sleep } from './adapters.js';
import type { Endpoint, SystemName } from './endpoints.js';
import { BenchError, Proc, track } from './procs.js';

export interface Server {
  /** Name for reports (the udsbus broker serves both `udsbus` and `udsbus-tcp`). */
  readonly name: string;
  readonly pid: number;
  endpoint(system: SystemName): Endpoint;
  /** Resident set size of the server process, bytes, as the process itself reports it where possible. */
  rss(): Promise<number>;
  /** Server-side counters where available (udsbus: BrokerStats). */
  stats(): Promise<unknown>;
  stop(): Promise<void>;
}

export type ServerOptions = { dir: string; tag: string; profileDir?: string | undefined; limits?: Partial<Limits> | undefined };

export async function startUdsbus(o: ServerOptions): Promise<Server> {
  const socket = join(o.dir, `udsbus-${o.tag}.sock`);
  const execArgv = ['--expose-gc'];
  if (o.profileDir !== undefined) execArgv.push('--cpu-prof', '--cpu-prof-dir', o.profileDir, '--cpu-prof-name', `broker-${o.tag}-${Date.now()}.cpuprofile`);
  const proc = new Proc(`udsbus broker (${o.tag})`, { role: 'broker', socket, tcp: true, ...(o.limits === undefined ? {} : { limits: o.limits }) }, execArgv);
  const ready = await proc.next('ready', 20_000);
  const tcp = ready.tcp;
  const stats = async () => {
    proc.send({ t: 'stats' });
    return proc.next('stats', 20_000);
  };
  return {
    name: 'udsbus',
    pid: proc.pid,
    endpoint(system) {
      if (system === 'udsbus-tcp') {
        if (tcp === undefined) throw new BenchError('the broker has no TCP listener');
        return { kind: 'udsbus-tcp', host: tcp.host, port: tcp.port };
      }
      return { kind: 'udsbus', socket };
    },
    rss: async () => (await stats()).rss,
    stats: async () => (await stats()).broker,
    stop: () => proc.stop(10_000),
  };
}

/** A broker someone else runs (`udsbus bench --socket`): memory comes from `$SYS.req.stats`. */
export function externalUdsbus(socket: string, tcp: { host: string; port: number } | undefined): Server {
  const sysStats = async (): Promise<{ memory: { rss: number } }> => {
    const c = await connect({ socket, name: 'bench-stats', reconnect: false });
    try {
      return await c.request<{ memory: { rss: number } }>('$SYS.req.stats', undefined, { timeout: 10_000 });
    } finally {
      await c.close();
    }
  };
  return {
    name: 'udsbus (external)',
    pid: -1,
    endpoint(system) {
      if (system === 'udsbus-tcp') {
        if (tcp === undefined) throw new BenchError('no --tcp address given for the running broker');
        return { kind: 'udsbus-tcp', host: tcp.host, port: tcp.port };
      }
      return { kind: 'udsbus', socket };
    },
    rss: async () => (await sysStats()).memory.rss,
    stats: sysStats,
    stop: async () => undefined,
  };
}

export async function startRawRelay(o: ServerOptions): Promise<Server> {
  const socket = join(o.dir, `raw-${o.tag}.sock`);
  const proc = new Proc(`raw relay (${o.tag})`, { role: 'relay', socket }, ['--expose-gc']);
  await proc.next('ready', 20_000);
  const stats = async () => {
    proc.send({ t: 'stats' });
    return proc.next('stats', 20_000);
  };
  return {
    name: 'raw',
    pid: proc.pid,
    endpoint: () => ({ kind: 'raw', socket }),
    rss: async () => (await stats()).rss,
    stats: async () => undefined,
    stop: () => proc.stop(),
  };
}

// ---- peers ----------------------------------------------------------------------------------

export type PeerName = 'nats' | 'mosquitto' | 'redis';
const BINARIES: Record<PeerName, string> = { nats: 'nats-server', mosquitto: 'mosquitto', redis: 'redis-server' };

/** Path of the peer's binary, or undefined when it is not installed. */
export function findPeer(peer: PeerName): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${BINARIES[peer]}`], { encoding: 'utf8' });
  const path = r.stdout.trim();
  return r.status === 0 && path !== '' ? path : undefined;
}

export function peerVersion(peer: PeerName, bin: string): string {
  const r = spawnSync(bin, peer === 'mosquitto' ? ['-h'] : ['--version'], { encoding: 'utf8' });
  const text = `${r.stdout}${r.stderr}`;
  const m = /v?(\d+\.\d+\.\d+)/.exec(text);
  return m?.[1] ?? 'unknown';
}

/** What each peer was configured with, for the report (fairness notes). */
export const PEER_NOTES: Record<PeerName, string> = {
  mosquitto:
    'mosquitto on a Unix listener (listener 0 PATH), QoS 0, MQTT 3.1.1; max_queued_messages raised to 1,000,000 and max_queued_bytes 0 (default 1,000 would drop in the throughput runs); persistence off',
  redis:
    'redis-server on a Unix socket (port 0), node-redis, pipelined PUBLISH (window 2,048); maxclients 12,000; client-output-buffer-limit pubsub 0 0 0 (the default 32mb/8mb/60 s disconnects lagging subscribers); no persistence',
  nats: 'nats-server on loopback TCP, nats.js, callback subscriptions; publisher flushes every 1,000 messages with up to 4 flushes outstanding; default server limits',
};

export async function startPeer(peer: PeerName, bin: string, o: ServerOptions): Promise<Server> {
  switch (peer) {
    case 'mosquitto': {
      const socket = join(o.dir, `mosquitto-${o.tag}.sock`);
      const conf = join(o.dir, `mosquitto-${o.tag}.conf`);
      writeFileSync(
        conf,
        [
          `listener 0 ${socket}`,
          'allow_anonymous true',
          'persistence false',
          'max_queued_messages 1000000',
          'max_queued_bytes 0',
          'max_connections -1',
          'user root',
          'log_dest stderr',
          'log_type error',
          '',
        ].join('\n'),
      );
      const child = spawnPeer(bin, ['-c', conf]);
      await waitForUnix(child, socket);
      return peerServer('mosquitto', child, () => ({ kind: 'mqtt', socket }));
    }
    case 'redis': {
      const socket = join(o.dir, `redis-${o.tag}.sock`);
      const conf = join(o.dir, `redis-${o.tag}.conf`);
      writeFileSync(
        conf,
        [
          'port 0',
          `unixsocket ${socket}`,
          'unixsocketperm 700',
          'save ""',
          'appendonly no',
          'daemonize no',
          `dir ${o.dir}`,
          'maxclients 12000',
          'client-output-buffer-limit pubsub 0 0 0',
          'loglevel warning',
          'logfile ""',
          '',
        ].join('\n'),
      );
      const child = spawnPeer(bin, [conf]);
      await waitForUnix(child, socket);
      return peerServer('redis', child, () => ({ kind: 'redis', socket }));
    }
    case 'nats': {
      const port = await freePort();
      const conf = join(o.dir, `nats-${o.tag}.conf`);
      writeFileSync(conf, ['host: 127.0.0.1', `port: ${port}`, 'max_connections: 20000', ''].join('\n'));
      const child = spawnPeer(bin, ['-c', conf]);
      await waitForTcp(child, port);
      return peerServer('nats', child, () => ({ kind: 'nats', host: '127.0.0.1', port }));
    }
  }
}

function spawnPeer(bin: string, args: string[]): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err = (err + d.toString()).slice(-2000)));
  (child as ChildProcess & { errText: () => string }).errText = () => err;
  const untrack = track({ kill: () => child.kill('SIGKILL') });
  child.on('exit', untrack);
  return child;
}

function errText(child: ChildProcess): string {
  return (child as ChildProcess & { errText?: () => string }).errText?.().trim() ?? '';
}

function peerServer(name: PeerName, child: ChildProcess, endpoint: () => Endpoint): Server {
  return {
    name,
    pid: child.pid ?? -1,
    endpoint,
    rss: async () => procRss(child.pid ?? -1),
    stats: async () => undefined,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
  };
}

let clockTicks: number | undefined;

/**
 * CPU time (user + system, all threads) a process has used so far, µs, from /proc/PID/stat: the
 * same measure for the Node broker, the relay and a Go or C peer. Resolution one clock tick
 * (10 ms at the usual 100 Hz), so it suits runs of seconds. undefined when unreadable.
 */
export function procCpuUs(pid: number): number | undefined {
  if (pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces; fields after its closing paren are plain.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]); // utime, stime: fields 14 and 15
    clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;
    return Number.isFinite(ticks) ? (ticks * 1e6) / clockTicks : undefined;
  } catch {
    return undefined;
  }
}

/** VmRSS of a process we started, from /proc, in bytes. */
export function procRss(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new BenchError(`no VmRSS for pid ${pid}`);
  return Number(m[1]) * 1024;
}

async function waitUntil(child: ChildProcess, what: string, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new BenchError(`${what} exited at start: ${errText(child)}`);
    if (await probe()) return;
    if (Date.now() > deadline) throw new BenchError(`${what} did not come up within 15 s: ${errText(child)}`);
    await sleep(25);
  }
}

function waitForUnix(child: ChildProcess, path: string): Promise<void> {
  return waitUntil(child, path, () => canConnect({ path }));
}

function waitForTcp(child: ChildProcess, port: number): Promise<void> {
  return waitUntil(child, `127.0.0.1:${port}`, () => canConnect({ host: '127.0.0.1', port }));
}

function canConnect(opts: { path: string } | { host: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(opts);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = addr !== null && typeof addr === 'object' ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}
