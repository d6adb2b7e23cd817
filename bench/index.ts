/**
 * udsbus benchmarks: `runBench(opts)` runs the scenarios against a broker it starts (or one that
 * is already running, with `socket`), next to the raw-relay ceiling and the peers that are
 * installed, and returns one report. `npm run bench` (bench/run.ts) and `udsbus bench` call it.
 *
 * @example
 * const report = await runBench({ quick: true, scenarios: ['fanout'] });
 * console.log(formatReport(report));
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { cpus, hostname, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PEERS, type SystemName } from './endpoints.js';
import { EVENT_TOPIC, RPC_TOPIC } from './payload.js';
import { summarizeProfile, type ProfileSummary } from './profile.js';
import { BenchError, killAll } from './procs.js';
import { writeReport } from './report.js';
import {
  fanout,
  FULL,
  latency,
  matrixCell,
  matrixKey,
  QUICK,
  reqrep,
  scale,
  slow,
  type Ctx,
  type FanoutResult,
  type LatencyResult,
  type RpcResult,
  type ScaleResult,
  type Sizes,
  type SlowResult,
} from './scenarios.js';
import { externalUdsbus, findPeer, PEER_NOTES, peerVersion, startPeer, startRawRelay, startUdsbus, type PeerName, type Server } from './servers.js';
import { medianOfRuns } from './stats.js';
import type { Limits } from '../bus/protocol/limits.js';

export { formatReport, writeReport, renderSvg } from './report.js';
export type { Sizes } from './scenarios.js';
export { matrixKey } from './scenarios.js';
export type { SystemName } from './endpoints.js';

export const SCENARIOS = ['opaque', 'fanout', 'fanout100', 'latency', 'reqrep', 'scale', 'slow', 'tcp', 'matrix'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];
/** What runs when no scenario is named: all but the long `matrix` (`--matrix` adds it). */
export const DEFAULT_SCENARIOS: readonly ScenarioName[] = SCENARIOS.filter((s) => s !== 'matrix');


export type BenchOptions = {
  /** Smoke sizes: a few seconds in all; peers are skipped unless `peers` is true. */
  quick?: boolean;
  scenarios?: readonly ScenarioName[];
  /** Only these systems (default: udsbus, udsbus-tcp, raw and the installed peers). */
  systems?: readonly SystemName[];
  /** Repeat everything and report medians (default 1). */
  runs?: number;
  /** Include Mosquitto, Redis and NATS where installed (default: yes, except with `quick`). */
  peers?: boolean;
  /** Measure a running broker on this socket instead of starting one. */
  socket?: string;
  /** That broker's TCP listener ("HOST:PORT"), for the UDS-vs-TCP comparison. */
  tcp?: string;
  /** Write JSON and SVG here (nothing is written when undefined). */
  outDir?: string;
  /** Run the broker (and one fan-out subscriber) under `node --cpu-prof` and rank self time. */
  profile?: boolean;
  /** Add the opaque payload-size × subscriber-count table (the `matrix` scenario). */
  matrix?: boolean;
  /** Override individual sizes. */
  sizes?: Partial<Sizes>;
  /** Limits for the broker the bench starts (default: the broker's defaults). */
  brokerLimits?: Partial<Limits>;
  /** Progress lines (default: none). */
  log?: (line: string) => void;
};

export type Outcome<T> = T | { error: string };

export type TcpComparison = {
  fanout: { uds: number; tcp: number; ratio: number };
  latencyP50: { uds: number; tcp: number; ratio: number };
  latencyP99: { uds: number; tcp: number; ratio: number };
};

export type ScenarioResults = {
  /** Fan-out with opaque payloads (sizes.opaqueBytes), by system. */
  opaque?: Record<string, Outcome<FanoutResult>>;
  fanout?: Record<string, Outcome<FanoutResult>>;
  fanout100?: Record<string, Outcome<FanoutResult>>;
  latency?: Record<string, Outcome<LatencyResult>>;
  reqrep?: Record<string, Outcome<RpcResult[]>>;
  scale?: Record<string, Outcome<ScaleResult>>;
  slow?: Record<string, Outcome<SlowResult>>;
  tcp?: Record<string, Outcome<{ fanout: FanoutResult; latency: LatencyResult }>> & { comparison?: TcpComparison };
  /** Opaque fan-out by `matrixKey(system, bytes, subs)`. */
  matrix?: Record<string, Outcome<FanoutResult>>;
};

export type Target = { id: string; description: string; goal: string; value: number | null; met: boolean | null };

export type PeerStatus = { status: 'ran' | 'skipped' | 'failed'; reason?: string; version?: string; config: string };

export type BenchReport = {
  meta: {
    date: string;
    host: string;
    cpus: number;
    cpuModel: string;
    node: string;
    /** The code measured: git commit of the package, "+dirty" when bus/ has uncommitted changes. */
    commit: string;
    quick: boolean;
    runs: number;
    external: boolean;
    loadavgStart: number[];
    loadavgEnd: number[];
    sizes: Sizes;
    notes: string[];
    elapsedMs: number;
  };
  scenarios: ScenarioResults;
  peers: Record<PeerName, PeerStatus>;
  targets: Target[];
  skipped: string[];
  errors: string[];
  profile?: ProfileSummary[];
  /** Each run's own results when there were several (the scenarios above are their medians). */
  perRun?: ScenarioResults[];
  files?: { json: string; svg: string };
};

/** The package root (…/dist/bench/index.js → …). */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

export async function runBench(opts: BenchOptions = {}): Promise<BenchReport> {
  const t0 = Date.now();
  const log = opts.log ?? (() => undefined);
  const quick = opts.quick === true;
  const sizes: Sizes = { ...(quick ? QUICK : FULL), ...opts.sizes };
  const named = opts.scenarios ?? DEFAULT_SCENARIOS;
  const scenarios = opts.matrix === true && !named.includes('matrix') ? [...named, 'matrix' as const] : named;
  const runs = Math.max(1, Math.floor(opts.runs ?? 1));
  const external = opts.socket !== undefined;
  const skipped: string[] = [];
  const errors: string[] = [];
  const loadavgStart = loadavg().map((x) => Math.round(x * 100) / 100);

  // Which peers can run.
  const peers = {} as Record<PeerName, PeerStatus>;
  const peerBins = new Map<PeerName, string>();
  const wantPeers = opts.peers ?? !quick;
  for (const p of PEERS as readonly PeerName[]) {
    const bin = findPeer(p);
    if (!wantPeers) peers[p] = { status: 'skipped', reason: quick ? 'quick run (add --peers to include)' : 'peers turned off', config: PEER_NOTES[p] };
    else if (opts.systems !== undefined && !opts.systems.includes(p)) peers[p] = { status: 'skipped', reason: 'not selected', config: PEER_NOTES[p] };
    else if (bin === undefined) peers[p] = { status: 'skipped', reason: `not installed (no ${p === 'nats' ? 'nats-server' : p === 'redis' ? 'redis-server' : 'mosquitto'} on PATH)`, config: PEER_NOTES[p] };
    else {
      peerBins.set(p, bin);
      peers[p] = { status: 'ran', version: peerVersion(p, bin), config: PEER_NOTES[p] };
    }
  }
  for (const [p, s] of Object.entries(peers)) if (s.status === 'skipped') skipped.push(`${p}: ${s.reason}`);

  const tcpAddr = opts.tcp === undefined ? undefined : parseHostPort(opts.tcp);
  const selected = (s: SystemName): boolean => {
    if (opts.systems !== undefined && !opts.systems.includes(s)) return false;
    if (s === 'udsbus-tcp' && external && tcpAddr === undefined) return false;
    if ((PEERS as readonly string[]).includes(s)) return peerBins.has(s as PeerName);
    return true;
  };
  if (external && tcpAddr === undefined && scenarios.includes('tcp')) skipped.push('tcp: the running broker was given without --tcp');
  // udsbus-tcp has its own scenario ("tcp"); it joins the others only when asked for by name.
  const basic: SystemName[] = (['udsbus', 'udsbus-tcp', 'raw', 'nats', 'mosquitto', 'redis'] as const).filter(
    (s) => selected(s) && (s !== 'udsbus-tcp' || opts.systems?.includes(s) === true),
  );

  const dir = mkdtempSync(join(tmpdir(), 'udsbus-bench-'));
  const removeDir = () => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeDir);
  let profileDir: string | undefined;
  if (opts.profile === true) {
    profileDir = join(opts.outDir ?? dir, 'profiles', new Date().toISOString().replace(/[:.]/g, '-'));
    mkdirSync(profileDir, { recursive: true });
    if (external) skipped.push('profile: the broker is not ours (external), only the client is profiled');
  }
  // On a broker others use, stay under a private prefix (subscribers of ">" will still see it).
  const prefix = external ? `bench.${process.pid.toString(36)}${Date.now().toString(36)}.` : '';
  const ctx: Ctx = { sizes, topic: `${prefix}${EVENT_TOPIC}`, rpcTopic: `${prefix}${RPC_TOPIC}`, profileDir, log };
  const perRun: ScenarioResults[] = [];

  try {
    for (let run = 0; run < runs; run++) {
      if (runs > 1) log(`run ${run + 1} of ${runs}`);
      const pool = new Pool(dir, run, external ? externalUdsbus(opts.socket!, tcpAddr) : undefined, peerBins, external ? undefined : profileDir, opts.brokerLimits);
      const res: ScenarioResults = {};
      perRun.push(res);
      const attempt = async <T>(what: string, f: () => Promise<T>): Promise<Outcome<T>> => {
        log(`  ${what} …`);
        const started = Date.now();
        try {
          const r = await f();
          log(`  ${what} done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
          return r;
        } catch (err) {
          const message = (err as Error).message;
          errors.push(`run ${run + 1}, ${what}: ${message}`);
          log(`  ${what} FAILED: ${message}`);
          return { error: message };
        }
      };
      try {
        for (const sc of scenarios) {
          switch (sc) {
            case 'opaque': {
              const out: Record<string, Outcome<FanoutResult>> = (res.opaque = {});
              for (const s of basic) {
                out[s] = await attempt(`opaque ${sizes.opaqueBytes} B fanout 1→${sizes.fanoutSubs} ${s}`, () =>
                  pool.with(s, `opaque-${s}`, async (server) => {
                    const o = { label: `opaque-${s}`, msgs: sizes.opaqueMsgs, subs: sizes.fanoutSubs, procs: sizes.fanoutSubs, payloadBytes: sizes.opaqueBytes, serverPid: server.pid, profile: s === 'udsbus' };
                    return (await fanout(ctx, server.endpoint(s), o)).result;
                  }),
                );
              }
              break;
            }
            case 'matrix': {
              const out: Record<string, Outcome<FanoutResult>> = (res.matrix = {});
              for (const bytes of sizes.matrixBytes) {
                for (const subs of sizes.matrixSubs) {
                  const cell = matrixCell(sizes, bytes, subs);
                  for (const s of basic) {
                    out[matrixKey(s, bytes, subs)] = await attempt(`matrix ${bytes} B 1→${subs} ${s}`, () =>
                      pool.with(s, `matrix-${bytes}-${subs}-${s}`, async (server) => {
                        const o = { label: `matrix-${bytes}-${subs}-${s}`, msgs: cell.msgs, subs, procs: cell.procs, payloadBytes: bytes, serverPid: server.pid };
                        return (await fanout(ctx, server.endpoint(s), o)).result;
                      }),
                    );
                  }
                }
              }
              break;
            }
            case 'fanout': {
              const out: Record<string, Outcome<FanoutResult>> = (res.fanout = {});
              for (const s of basic) {
                out[s] = await attempt(`fanout 1→${sizes.fanoutSubs} ${s}`, () =>
                  pool.with(s, `fanout-${s}`, async (server) => {
                    const profile = s === 'udsbus' || s === 'udsbus-tcp';
                    return (await fanout(ctx, server.endpoint(s), { label: `fanout-${s}`, msgs: sizes.fanoutMsgs, subs: sizes.fanoutSubs, procs: sizes.fanoutSubs, profile, serverPid: server.pid })).result;
                  }),
                );
              }
              break;
            }
            case 'fanout100': {
              const out: Record<string, Outcome<FanoutResult>> = (res.fanout100 = {});
              for (const s of basic) {
                out[s] = await attempt(`fanout 1→${sizes.fan100Subs} ${s}`, () =>
                  pool.with(s, `fan100-${s}`, async (server) => {
                    return (await fanout(ctx, server.endpoint(s), { label: `fan100-${s}`, msgs: sizes.fan100Msgs, subs: sizes.fan100Subs, procs: sizes.fan100Procs, wave: waveFor(s, 25) })).result;
                  }),
                );
              }
              break;
            }
            case 'latency': {
              const out: Record<string, Outcome<LatencyResult>> = (res.latency = {});
              for (const s of basic) {
                out[s] = await attempt(`latency ${s}`, () =>
                  pool.with(s, `latency-${s}`, (server) => latency(ctx, server.endpoint(s), `lat-${s}`, s === 'udsbus' || s === 'udsbus-tcp')),
                );
              }
              break;
            }
            case 'reqrep': {
              if (!selected('udsbus')) break;
              res.reqrep = { udsbus: await attempt('request/reply udsbus', () => pool.with('udsbus', 'reqrep', (server) => reqrep(ctx, server.endpoint('udsbus')))) };
              break;
            }
            case 'scale': {
              const out: Record<string, Outcome<ScaleResult>> = (res.scale = {});
              for (const s of basic) {
                out[s] = await attempt(`scale ${sizes.scaleConns} idle ${s}`, () =>
                  pool.with(s, `scale-${s}`, (server) => scale(ctx, server, server.endpoint(s), `scale-${s}`, waveFor(s, sizes.scaleWave))),
                );
              }
              if (external) skipped.push('scale: memory is measured on the running broker, which was not fresh');
              break;
            }
            case 'slow': {
              if (!selected('udsbus')) break;
              res.slow = {
                udsbus: await attempt('slow consumer udsbus', () => {
                  const f = res.opaque?.udsbus;
                  const reuse = quick && sizes.slowMsgs === sizes.opaqueMsgs && f !== undefined && !('error' in f) ? f : undefined;
                  return slow(ctx, (label, g) => pool.with('udsbus', label, (server) => g(server, server.endpoint('udsbus'))), reuse);
                }),
              };
              break;
            }
            case 'tcp': {
              if (!selected('udsbus-tcp') || !selected('udsbus')) break;
              const out: NonNullable<ScenarioResults['tcp']> = (res.tcp = {});
              for (const s of ['udsbus', 'udsbus-tcp'] as const) {
                // The UDS side is the run's own fan-out/latency result when it has one.
                const f = res.fanout?.[s];
                const l = res.latency?.[s];
                out[s] = await attempt(`uds-vs-tcp ${s}`, async () => {
                  const fr =
                    f !== undefined && !('error' in f)
                      ? f
                      : await pool.with(s, `tcp-fanout-${s}`, async (server) => (await fanout(ctx, server.endpoint(s), { label: `tcp-${s}`, msgs: sizes.fanoutMsgs, subs: sizes.fanoutSubs, procs: sizes.fanoutSubs })).result);
                  const lr = l !== undefined && !('error' in l) ? l : await pool.with(s, `tcp-latency-${s}`, (server) => latency(ctx, server.endpoint(s), `tcplat-${s}`));
                  return { fanout: fr, latency: lr };
                });
              }
              break;
            }
          }
        }
      } finally {
        await pool.stopAll();
      }
    }
  } finally {
    killAll();
  }

  const scenarioResults = aggregate(perRun);
  const targets = evaluateTargets(perRun);
  const profile: ProfileSummary[] = [];
  if (profileDir !== undefined) {
    for (const f of readdirSync(profileDir).filter((x) => x.endsWith('.cpuprofile')).sort()) {
      try {
        profile.push(summarizeProfile(join(profileDir, f), 20, PACKAGE_ROOT));
      } catch (err) {
        errors.push(`profile ${f}: ${(err as Error).message}`);
      }
    }
  }
  removeDir();
  process.off('exit', removeDir);

  const report: BenchReport = {
    meta: {
      date: new Date(t0).toISOString(),
      host: hostname(),
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      commit: commitOf(PACKAGE_ROOT),
      quick,
      runs,
      external,
      loadavgStart,
      loadavgEnd: loadavg().map((x) => Math.round(x * 100) / 100),
      sizes,
      notes: [
        `Opaque runs carry ${sizes.opaqueBytes}-byte random payloads counted by position only (udsbus: seq; the others: the first 4 bytes): no per-message CBOR in the application, so they measure the systems. Structured runs encode and decode the same ~200-byte CBOR camera event with the udsbus portable-CBOR codec in every client.`,
        'CPU µs per delivery: the server process (/proc/PID/stat, all threads) and the subscriber processes (process.cpuUsage), divided by messages delivered to all subscribers; pub µs/msg: the publisher process, per message published (start to flushed).',
        `Throughput is steady-state: the first ${Math.round(sizes.warmFraction * 100)}% of each run is warm-up and not timed; latency likewise excludes the first ${Math.round(sizes.warmFraction * 100)}% of messages.`,
        'The raw relay forwards every frame to every subscriber without matching or decoding: the ceiling, not a competitor.',
        'On a shared machine absolute numbers are noisy; ratios within one run are the meaningful figures.',
        ...(Math.max(loadavgStart[0] ?? 0, loadavg()[0] ?? 0) > cpus().length
          ? [`Load average ${Math.max(loadavgStart[0] ?? 0, loadavg()[0] ?? 0).toFixed(1)} exceeded the ${cpus().length} CPUs: other work competed for the cores during this run.`]
          : []),
        ...(opts.brokerLimits !== undefined ? [`The udsbus broker ran with non-default limits: ${JSON.stringify(opts.brokerLimits)}.`] : []),
        ...(profileDir !== undefined ? ['This run was profiled (--cpu-prof): its broker numbers are a few percent low.'] : []),
      ],
      elapsedMs: Date.now() - t0,
    },
    scenarios: scenarioResults,
    peers,
    targets,
    skipped,
    errors,
    ...(profile.length > 0 ? { profile } : {}),
    ...(runs > 1 ? { perRun } : {}),
  };
  if (opts.outDir !== undefined) report.files = writeReport(report, opts.outDir);
  return report;
}

function commitOf(root: string): string {
  if (process.env.BENCH_COMMIT) return process.env.BENCH_COMMIT;
  const head = spawnSync('git', ['-C', root, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (head.status !== 0) return 'unknown';
  const dirty = spawnSync('git', ['-C', root, 'status', '--porcelain', '--', 'bus'], { encoding: 'utf8' });
  return `${head.stdout.trim()}${dirty.stdout.trim() === '' ? '' : '+dirty'}`;
}

function waveFor(s: SystemName, wave: number): number {
  // Mosquitto's Unix listener has a listen backlog of 10; the clients retry, but smaller waves retry less.
  return s === 'mosquitto' ? Math.min(wave, 20) : wave;
}

function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = i < 0 ? '127.0.0.1' : s.slice(0, i) || '127.0.0.1';
  const port = Number(i < 0 ? s : s.slice(i + 1));
  if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new BenchError(`invalid TCP address "${s}": expected HOST:PORT`);
  return { host, port };
}

/** Servers for one run: started on first use, shared by the scenarios, stopped at the end. */
/**
 * Servers for one run. Every measurement gets a fresh server, stopped right after it: a broker
 * that has just absorbed a fan-out backlog carries a large heap (and its GC pauses) into whatever
 * runs next, which would charge one scenario for another's garbage.
 */
class Pool {
  private readonly live = new Set<Server>();

  constructor(
    private readonly dir: string,
    private readonly run: number,
    private readonly external: Server | undefined,
    private readonly peerBins: Map<PeerName, string>,
    private readonly profileDir: string | undefined,
    private readonly limits: Partial<Limits> | undefined,
  ) {}

  private start(s: SystemName, tag: string): Promise<Server> {
    const o = { dir: this.dir, tag, profileDir: this.profileDir, limits: this.limits };
    switch (s) {
      case 'udsbus':
      case 'udsbus-tcp':
        return this.external !== undefined ? Promise.resolve(this.external) : startUdsbus(o);
      case 'raw':
        return startRawRelay({ ...o, profileDir: undefined });
      default: {
        const bin = this.peerBins.get(s);
        if (bin === undefined) throw new BenchError(`${s} is not installed`);
        return startPeer(s, bin, o);
      }
    }
  }

  /** Runs `f` against a fresh server for system `s` (the running one, for an external broker). */
  async with<T>(s: SystemName, label: string, f: (server: Server) => Promise<T>): Promise<T> {
    const server = await this.start(s, `r${this.run}-${label}`);
    this.live.add(server);
    try {
      return await f(server);
    } finally {
      this.live.delete(server);
      if (server !== this.external) await server.stop();
    }
  }

  async stopAll(): Promise<void> {
    const all = [...this.live].filter((x) => x !== this.external);
    this.live.clear();
    await Promise.all(all.map((x) => x.stop().catch(() => undefined)));
  }
}

function aggregate(perRun: ScenarioResults[]): ScenarioResults {
  const out: Record<string, Record<string, unknown>> = {};
  const keys = new Set(perRun.flatMap((r) => Object.keys(r)));
  for (const sc of keys) {
    const systems = new Set(perRun.flatMap((r) => Object.keys((r as Record<string, Record<string, unknown>>)[sc] ?? {})));
    const merged: Record<string, unknown> = {};
    for (const s of systems) {
      const vals = perRun.map((r) => (r as Record<string, Record<string, unknown>>)[sc]?.[s]).filter((v) => v !== undefined);
      const ok = vals.filter((v) => !(v !== null && typeof v === 'object' && 'error' in v));
      merged[s] = ok.length > 0 ? medianOfRuns(ok) : vals[0];
    }
    out[sc] = merged;
  }
  const res = out as ScenarioResults;
  // UDS vs TCP: per-run ratios, then their median.
  const cmp = perRun.map((r) => tcpComparison(r)).filter((c): c is TcpComparison => c !== undefined);
  if (res.tcp !== undefined && cmp.length > 0) res.tcp.comparison = medianOfRuns(cmp);
  return res;
}

function ok<T>(o: Outcome<T> | undefined): T | undefined {
  return o === undefined || (o !== null && typeof o === 'object' && 'error' in o) ? undefined : (o as T);
}

function tcpComparison(r: ScenarioResults): TcpComparison | undefined {
  const u = ok(r.tcp?.udsbus);
  const t = ok(r.tcp?.['udsbus-tcp']);
  if (u === undefined || t === undefined) return undefined;
  return {
    fanout: { uds: u.fanout.perSub.median, tcp: t.fanout.perSub.median, ratio: t.fanout.perSub.median / u.fanout.perSub.median },
    latencyP50: { uds: u.latency.latencyUs.p50, tcp: t.latency.latencyUs.p50, ratio: t.latency.latencyUs.p50 / u.latency.latencyUs.p50 },
    latencyP99: { uds: u.latency.latencyUs.p99, tcp: t.latency.latencyUs.p99, ratio: t.latency.latencyUs.p99 / u.latency.latencyUs.p99 },
  };
}

/** The targets, each computed within one run, then the median over runs. */
function evaluateTargets(perRun: ScenarioResults[]): Target[] {
  const defs: Array<{ id: string; description: string; goal: string; value: (r: ScenarioResults) => number | undefined; met: (v: number) => boolean }> = [
    {
      id: 'opaque-vs-raw',
      description: 'opaque fan-out 1→3 msg/s per subscriber, udsbus / raw relay',
      goal: '≥ 0.75×',
      value: (r) => ratio(ok(r.opaque?.udsbus)?.perSub.median, ok(r.opaque?.raw)?.perSub.median),
      met: (v) => v >= 0.75,
    },
    {
      id: 'opaque-vs-nats',
      description: 'opaque fan-out 1→3 msg/s per subscriber, udsbus / nats',
      goal: '≥ 1.5×',
      value: (r) => ratio(ok(r.opaque?.udsbus)?.perSub.median, ok(r.opaque?.nats)?.perSub.median),
      met: (v) => v >= 1.5,
    },
    {
      id: 'fanout-vs-raw',
      description: 'structured fan-out 1→3 msg/s per subscriber, udsbus / raw relay',
      goal: '≥ 0.75×',
      value: (r) => ratio(ok(r.fanout?.udsbus)?.perSub.median, ok(r.fanout?.raw)?.perSub.median),
      met: (v) => v >= 0.75,
    },
    {
      id: 'fanout-vs-nats',
      description: 'structured fan-out 1→3 msg/s per subscriber, udsbus / nats',
      goal: '≥ 1.5×',
      value: (r) => ratio(ok(r.fanout?.udsbus)?.perSub.median, ok(r.fanout?.nats)?.perSub.median),
      met: (v) => v >= 1.5,
    },
    {
      id: 'latency-p50-vs-raw',
      description: 'latency p50, udsbus / raw relay',
      goal: '≤ 1.2×',
      value: (r) => ratio(ok(r.latency?.udsbus)?.latencyUs.p50, ok(r.latency?.raw)?.latencyUs.p50),
      met: (v) => v <= 1.2,
    },
    {
      id: 'latency-p99-vs-nats',
      description: 'latency p99, udsbus / nats',
      goal: '≤ 1.0×',
      value: (r) => ratio(ok(r.latency?.udsbus)?.latencyUs.p99, ok(r.latency?.nats)?.latencyUs.p99),
      met: (v) => v <= 1,
    },
    {
      id: 'memory-per-connection',
      description: 'broker memory per idle connection (bytes)',
      goal: '≤ 15,000 B',
      value: (r) => ok(r.scale?.udsbus)?.bytesPerConn,
      met: (v) => v <= 15_000,
    },
    {
      id: 'slow-consumer',
      description: 'healthy subscribers with one paused, vs without',
      goal: '≥ 0.95×',
      value: (r) => ok(r.slow?.udsbus)?.ratio,
      met: (v) => v >= 0.95,
    },
  ];
  return defs.map((d) => {
    const vals = perRun.map(d.value).filter((v): v is number => v !== undefined && Number.isFinite(v));
    const value = vals.length === 0 ? null : medianOfRuns(vals);
    return { id: d.id, description: d.description, goal: d.goal, value, met: value === null ? null : d.met(value) };
  });
}

function ratio(a: number | undefined, b: number | undefined): number | undefined {
  return a === undefined || b === undefined || b === 0 ? undefined : a / b;
}
