/**
 * The scenarios, each a publisher and subscribers in separate processes against one server,
 * bounded in time. A scenario function takes an endpoint (and the server, where it measures the
 * server) and returns plain numbers; the orchestrator (index.ts) decides which systems run.
 */
import type { Endpoint } from './endpoints.js';
import { Proc } from './procs.js';
import type { FromWorker, SubMode, Tally } from './protocol.js';
import { procCpuUs, type Server } from './servers.js';
import { median, percentiles, type Percentiles } from './stats.js';

export type Sizes = {
  fanoutMsgs: number;
  fanoutSubs: number;
  /** Opaque fan-out: payload bytes (1 → fanoutSubs, opaqueMsgs messages). */
  opaqueBytes: number;
  /**
   * Opaque fan-out message count: long enough (several seconds) that JIT warm-up and process
   * start are a small part of the CPU measured per delivery.
   */
  opaqueMsgs: number;
  /** `--matrix`: opaque fan-out for every payload size × subscriber count (messages scaled down). */
  matrixBytes: number[];
  matrixSubs: number[];
  fan100Msgs: number;
  fan100Subs: number;
  fan100Procs: number;
  latRate: number;
  latMs: number;
  latSubs: number;
  rpcMs: number;
  rpcInflight: number[];
  scaleConns: number;
  scaleProcs: number;
  scaleWave: number;
  slowMsgs: number;
  /** Share of each run's messages treated as warm-up (not timed). */
  warmFraction: number;
  /** Subscribers finish this long after the last message once the publisher is done. */
  idleMs: number;
  /** Upper bound for any one scenario on one system. */
  deadlineMs: number;
};

export const FULL: Sizes = {
  fanoutMsgs: 200_000,
  fanoutSubs: 3,
  opaqueBytes: 200,
  opaqueMsgs: 1_000_000,
  matrixBytes: [64, 200, 1024, 16_384],
  matrixSubs: [1, 3, 16],
  fan100Msgs: 20_000,
  fan100Subs: 100,
  fan100Procs: 4,
  latRate: 5_000,
  latMs: 5_000,
  latSubs: 3,
  rpcMs: 3_000,
  rpcInflight: [1, 16],
  scaleConns: 10_000,
  scaleProcs: 5,
  scaleWave: 250,
  slowMsgs: 1_000_000,
  warmFraction: 0.1,
  idleMs: 2_000,
  deadlineMs: 240_000,
};

export const QUICK: Sizes = {
  fanoutMsgs: 5_000,
  fanoutSubs: 3,
  opaqueBytes: 200,
  opaqueMsgs: 5_000,
  matrixBytes: [64, 200, 1024, 16_384],
  matrixSubs: [1, 3, 16],
  fan100Msgs: 500,
  fan100Subs: 20,
  fan100Procs: 2,
  latRate: 2_000,
  latMs: 500,
  latSubs: 3,
  rpcMs: 300,
  rpcInflight: [1, 16],
  scaleConns: 200,
  scaleProcs: 2,
  scaleWave: 100,
  slowMsgs: 5_000,
  warmFraction: 0.1,
  idleMs: 1_000,
  deadlineMs: 60_000,
};

export type Ctx = {
  sizes: Sizes;
  /** Event topic and request/reply topic (a private prefix on a broker someone else uses). */
  topic: string;
  rpcTopic: string;
  profileDir?: string | undefined;
  log: (s: string) => void;
};

export type Spread = { min: number; median: number; max: number };

export type FanoutResult = {
  messages: number;
  subscribers: number;
  processes: number;
  /** Steady-state delivered msg/s per subscriber (after the warm-up share). */
  perSub: Spread;
  /** Whole-run msg/s per subscriber, from the first publish to the subscriber's last message. */
  perSubWhole: Spread;
  /** All deliveries per second, summed over subscribers. */
  aggregate: number;
  publishRate: number;
  lost: number;
  lossNotices: number;
  lossAnnounced: number;
  seqGaps: number;
  /** udsbus: every subscription's delivered + announced losses equals its last seq. */
  accounted: boolean;
  durationMs: number;
  /** Opaque mode: payload bytes per message; null for the CBOR camera event. */
  payloadBytes: number | null;
  /**
   * CPU µs per delivery (one message to one subscriber): the server process over the whole run
   * (/proc, NaN when it is not ours to read), and the subscriber processes (process.cpuUsage).
   */
  /** Server and subscribers per delivery; `pub`: the publisher per message published. */
  cpuUsPerDelivery: { server: number; sub: number; pub: number };
};

export type LatencyResult = {
  rate: number;
  durationMs: number;
  subscribers: number;
  sent: number;
  lost: number;
  /** One-way publish → subscriber callback, µs, over the non-warm-up messages of all subscribers. */
  latencyUs: Percentiles;
};

export type RpcResult = { inflight: number; perSec: number; requests: number; errors: number; rttUs: Percentiles };

export type ScaleResult = {
  connections: number;
  processes: number;
  connectMs: number;
  rssBefore: number;
  rssAfter: number;
  bytesPerConn: number;
  delivered: number;
  /** One publish → its delivery at each idle subscriber, ms. */
  deliveryMs: { p50: number; p99: number; max: number };
};

export type SlowResult = {
  baseline: FanoutResult;
  withPaused: FanoutResult;
  /** Healthy subscribers' median msg/s with one paused, over the same without. */
  ratio: number;
  paused: { received: number; lost: number; lossNotices: number; lossAnnounced: number; accounted: boolean };
  brokerDrops: number | undefined;
};

const READY_MS = 60_000;

function split(total: number, parts: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < parts; i++) out.push(Math.floor(total / parts) + (i < total % parts ? 1 : 0));
  return out.filter((n) => n > 0);
}

function spread(xs: number[]): Spread {
  const f = xs.filter((x) => Number.isFinite(x));
  if (f.length === 0) return { min: NaN, median: NaN, max: NaN };
  return { min: Math.min(...f), median: median(f), max: Math.max(...f) };
}

function subProcs(
  ctx: Ctx,
  ep: Endpoint,
  opts: { label: string; total: number; procs: number; expect: number; mode: SubMode; wave?: number; profileFirst?: boolean; payloadBytes?: number },
): Proc[] {
  return split(opts.total, opts.procs).map((conns, i) => {
    const execArgv: string[] = [];
    if (opts.profileFirst === true && i === 0 && ctx.profileDir !== undefined) {
      execArgv.push('--cpu-prof', '--cpu-prof-dir', ctx.profileDir, '--cpu-prof-name', `client-${opts.label}-${Date.now()}.cpuprofile`);
    }
    return new Proc(
      `${opts.label} sub ${i}`,
      {
        role: 'sub',
        ep,
        label: `${opts.label}-${i}`,
        conns,
        wave: opts.wave ?? 50,
        topic: ctx.topic,
        expect: opts.expect,
        mode: opts.mode,
        warm: Math.floor(opts.expect * ctx.sizes.warmFraction),
        idleMs: ctx.sizes.idleMs,
        ...(opts.payloadBytes === undefined ? {} : { payloadBytes: opts.payloadBytes }),
      },
      execArgv,
    );
  });
}

async function stopAll(procs: Proc[]): Promise<void> {
  await Promise.all(procs.map((p) => p.stop(3000)));
}

function summarizeFanout(
  done: Extract<FromWorker, { t: 'done' }>,
  tallies: Tally[],
  procs: number,
  extra: { payloadBytes: number | null; serverCpuUs: number | undefined; subCpuUs: number },
): FanoutResult {
  const steady = tallies.map((t) => (t.warmAtLast > 1 && t.last > t.warmAt ? ((t.warmAtLast - 1) * 1000) / (t.last - t.warmAt) : NaN));
  const whole = tallies.map((t) => (t.received > 0 ? (t.received * 1000) / (t.last - done.start) : 0));
  const lastAll = Math.max(...tallies.map((t) => t.last));
  const delivered = tallies.reduce((a, t) => a + t.received, 0);
  return {
    messages: done.sent,
    subscribers: tallies.length,
    processes: procs,
    perSub: spread(steady),
    perSubWhole: spread(whole),
    aggregate: (delivered * 1000) / (lastAll - done.start),
    publishRate: (done.sent * 1000) / (done.end - done.start),
    lost: tallies.reduce((a, t) => a + t.missing, 0),
    lossNotices: tallies.reduce((a, t) => a + t.lossNotices, 0),
    lossAnnounced: tallies.reduce((a, t) => a + t.lossAnnounced, 0),
    seqGaps: tallies.reduce((a, t) => a + t.seqGaps, 0),
    accounted: tallies.every((t) => t.accounted),
    durationMs: lastAll - done.start,
    payloadBytes: extra.payloadBytes,
    cpuUsPerDelivery: {
      server: extra.serverCpuUs === undefined || delivered === 0 ? NaN : extra.serverCpuUs / delivered,
      sub: delivered === 0 ? NaN : extra.subCpuUs / delivered,
      pub: done.sent === 0 ? NaN : done.cpuUs / done.sent,
    },
  };
}

/** 1 publisher → `subs` subscribers in `procs` processes, as fast as the publisher may go. */
export async function fanout(
  ctx: Ctx,
  ep: Endpoint,
  o: {
    label: string;
    msgs: number;
    subs: number;
    procs: number;
    paused?: boolean;
    wave?: number;
    profile?: boolean;
    /** Opaque mode: random payloads of this many bytes (at least 4), counted by position only. */
    payloadBytes?: number;
    /** The server's process, for its CPU time (none: not measured). */
    serverPid?: number;
  },
): Promise<{ result: FanoutResult; paused?: Tally[] }> {
  const { sizes } = ctx;
  const opaque = o.payloadBytes === undefined ? {} : { payloadBytes: Math.max(4, Math.floor(o.payloadBytes)) };
  const subs = subProcs(ctx, ep, { label: o.label, total: o.subs, procs: o.procs, expect: o.msgs, mode: 'rate', ...(o.wave === undefined ? {} : { wave: o.wave }), profileFirst: o.profile === true, ...opaque });
  const paused = o.paused === true ? subProcs(ctx, ep, { label: `${o.label}-paused`, total: 1, procs: 1, expect: o.msgs, mode: 'rate', ...opaque }) : [];
  const pub = new Proc(`${o.label} pub`, { role: 'pub', ep, topic: ctx.topic, count: o.msgs, rate: 0, ...opaque });
  const all = [...subs, ...paused, pub];
  try {
    await Promise.all(all.map((p) => p.next('ready', READY_MS)));
    for (const p of paused) p.signal('SIGSTOP');
    const cpu0 = o.serverPid === undefined ? undefined : procCpuUs(o.serverPid);
    pub.send({ t: 'start' });
    const done = await pub.next('done', sizes.deadlineMs);
    for (const s of subs) s.send({ t: 'pubDone' });
    const results = await Promise.all(subs.map((s) => s.next('result', sizes.deadlineMs)));
    const cpu1 = o.serverPid === undefined ? undefined : procCpuUs(o.serverPid);
    const result = summarizeFanout(done, results.flatMap((r) => r.tallies), subs.length, {
      payloadBytes: opaque.payloadBytes ?? null,
      serverCpuUs: cpu0 === undefined || cpu1 === undefined ? undefined : cpu1 - cpu0,
      subCpuUs: results.reduce((a, r) => a + r.cpuUs, 0),
    });
    if (paused.length === 0) return { result };
    for (const p of paused) {
      p.signal('SIGCONT');
      p.send({ t: 'pubDone' });
    }
    const pr = await Promise.all(paused.map((p) => p.next('result', sizes.deadlineMs)));
    return { result, paused: pr.flatMap((r) => r.tallies) };
  } finally {
    for (const p of paused) if (p.alive) p.signal('SIGCONT');
    await stopAll(all);
  }
}

/** Key of one `matrix` result: system, payload bytes, subscribers. */
export function matrixKey(system: string, bytes: number, subs: number): string {
  return `${system}|${bytes}|${subs}`;
}

/**
 * One cell of the opaque matrix: messages scaled so that a cell moves about as many bytes and
 * deliveries as the 200-byte 1 → 3 run (never fewer than 1,000 or than fanoutMsgs in quick runs),
 * subscribers in at most 4 processes (16 Node processes would measure the scheduler on 2 cores).
 */
export function matrixCell(sizes: Sizes, bytes: number, subs: number): { msgs: number; procs: number } {
  const scaled = Math.floor(sizes.fanoutMsgs * Math.min(1, 200 / bytes) * Math.min(1, sizes.fanoutSubs / subs));
  return { msgs: Math.max(Math.min(1000, sizes.fanoutMsgs), scaled), procs: Math.min(subs, 4) };
}

/** A fixed publish rate to `latSubs` subscribers; one-way latency percentiles. */
export async function latency(ctx: Ctx, ep: Endpoint, label: string, profile = false): Promise<LatencyResult> {
  const { sizes } = ctx;
  const count = Math.round((sizes.latRate * sizes.latMs) / 1000);
  const subs = subProcs(ctx, ep, { label, total: sizes.latSubs, procs: sizes.latSubs, expect: count, mode: 'latency', profileFirst: profile });
  const pub = new Proc(`${label} pub`, { role: 'pub', ep, topic: ctx.topic, count, rate: sizes.latRate });
  const all = [...subs, pub];
  try {
    await Promise.all(all.map((p) => p.next('ready', READY_MS)));
    pub.send({ t: 'start' });
    const done = await pub.next('done', sizes.deadlineMs);
    for (const s of subs) s.send({ t: 'pubDone' });
    const results = await Promise.all(subs.map((s) => s.next('result', sizes.deadlineMs)));
    const tallies = results.flatMap((r) => r.tallies);
    return {
      rate: sizes.latRate,
      durationMs: done.end - done.start,
      subscribers: tallies.length,
      sent: done.sent,
      lost: tallies.reduce((a, t) => a + t.missing, 0),
      latencyUs: percentiles(results.flatMap((r) => r.latencyUs)),
    };
  } finally {
    await stopAll(all);
  }
}

/** Request/reply against a serve() worker in its own process, `inflight` requests at a time. */
export async function reqrep(ctx: Ctx, ep: Endpoint): Promise<RpcResult[]> {
  const { sizes } = ctx;
  const server = new Proc('rpc server', { role: 'rpc-server', ep, topic: ctx.rpcTopic });
  const out: RpcResult[] = [];
  try {
    await server.next('ready', READY_MS);
    for (const inflight of sizes.rpcInflight) {
      const client = new Proc(`rpc client x${inflight}`, { role: 'rpc-client', ep, topic: ctx.rpcTopic, inflight, durationMs: sizes.rpcMs, warmup: 200 });
      try {
        await client.next('ready', READY_MS);
        client.send({ t: 'start' });
        const r = await client.next('rpc', sizes.rpcMs + 30_000);
        out.push({ inflight, perSec: (r.count * 1000) / r.elapsedMs, requests: r.count, errors: r.errors, rttUs: r.rtt });
      } finally {
        await client.stop(3000);
      }
    }
    return out;
  } finally {
    await server.stop(3000);
  }
}

/** Many idle subscribers: server memory per connection, then one publish to all of them. */
export async function scale(ctx: Ctx, server: Server, ep: Endpoint, label: string, wave: number): Promise<ScaleResult> {
  const { sizes } = ctx;
  const rssBefore = await server.rss();
  const subs = subProcs(ctx, ep, { label, total: sizes.scaleConns, procs: sizes.scaleProcs, expect: 1, mode: 'first', wave });
  const pub = new Proc(`${label} pub`, { role: 'pub', ep, topic: ctx.topic, count: 1, rate: 0 });
  const all = [...subs, pub];
  try {
    const ready = await Promise.all(subs.map((p) => p.next('ready', sizes.deadlineMs)));
    await pub.next('ready', READY_MS);
    const rssAfter = await server.rss();
    pub.send({ t: 'start' });
    await pub.next('done', sizes.deadlineMs);
    for (const s of subs) s.send({ t: 'pubDone' });
    const results = await Promise.all(subs.map((s) => s.next('result', sizes.deadlineMs)));
    const firsts = results.flatMap((r) => r.tallies.map((t) => t.firstMs)).filter((x) => x >= 0);
    const p = percentiles(firsts);
    return {
      connections: sizes.scaleConns,
      processes: subs.length,
      connectMs: Math.max(...ready.map((r) => r.connectMs ?? NaN)),
      rssBefore,
      rssAfter,
      bytesPerConn: (rssAfter - rssBefore) / sizes.scaleConns,
      delivered: firsts.length,
      deliveryMs: { p50: p.p50, p99: p.p99, max: p.max },
    };
  } finally {
    await stopAll(all);
  }
}

/** Runs `f` against a fresh server, stopped afterwards. */
export type WithServer = <T>(label: string, f: (server: Server, ep: Endpoint) => Promise<T>) => Promise<T>;

/**
 * The opaque fan-out with one more subscriber whose process is stopped (SIGSTOP) for the whole
 * run, against the same without it; each half on a fresh broker. Opaque payloads, so that what is
 * measured is the broker's cost of the stopped one (queueing, evicting, counting), not the healthy
 * subscribers' own CBOR decoding.
 */
export async function slow(ctx: Ctx, withServer: WithServer, baselineFromRun?: FanoutResult): Promise<SlowResult> {
  const { sizes } = ctx;
  const o = { msgs: sizes.slowMsgs, subs: sizes.fanoutSubs, procs: sizes.fanoutSubs, payloadBytes: sizes.opaqueBytes };
  // Its own baseline, right before, unless the caller has one from this run (quick runs).
  const baseline = baselineFromRun ?? (await withServer('slow-baseline', async (_s, ep) => (await fanout(ctx, ep, { label: 'slow-baseline', ...o })).result));
  return withServer('slow-paused', async (server, ep) => {
    const before = await dropsOf(server);
    const r = await fanout(ctx, ep, { label: 'slow', ...o, paused: true });
    const after = await dropsOf(server);
    const p = r.paused ?? [];
    return {
      baseline,
      withPaused: r.result,
      ratio: r.result.perSub.median / baseline.perSub.median,
      paused: {
        received: p.reduce((a, t) => a + t.received, 0),
        lost: p.reduce((a, t) => a + t.missing, 0),
        lossNotices: p.reduce((a, t) => a + t.lossNotices, 0),
        lossAnnounced: p.reduce((a, t) => a + t.lossAnnounced, 0),
        accounted: p.every((t) => t.accounted),
      },
      brokerDrops: before === undefined || after === undefined ? undefined : after - before,
    };
  });
}

async function dropsOf(server: Server): Promise<number | undefined> {
  const s = (await server.stats()) as { drops?: Record<string, number> } | undefined;
  if (s?.drops === undefined) return undefined;
  return Object.values(s.drops).reduce((a, b) => a + b, 0);
}
