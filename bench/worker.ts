/**
 * The bench's child processes, one role each: the udsbus broker, the raw relay, subscribers,
 * publishers and request/reply peers. The orchestrator (bench/index.ts) forks this file with the
 * role's config as argv[2] and talks to it over the IPC channel (bench/protocol.ts).
 */
import type { StartBrokerOptions } from '../bus/broker/server.js';
import type { ConnectOptions } from '../bus/client/client.js';
import { openClient, sleep } from './adapters.js';
import { randomBytes } from 'node:crypto';
import { cameraEvent, now } from './payload.js';
import type { FromWorker, Tally, ToWorker, WorkerConfig } from './protocol.js';
import { percentiles } from './stats.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as WorkerConfig;

function send(m: FromWorker): void {
  process.send?.(m);
}

const handlers: Array<(m: ToWorker) => void> = [];
process.on('message', (m: ToWorker) => {
  for (const h of handlers) h(m);
});
function on<T extends ToWorker['t']>(t: T, h: () => void): void {
  handlers.push((m) => {
    if (m.t === t) h();
  });
}
function once(t: ToWorker['t']): Promise<void> {
  return new Promise((resolve) => on(t, resolve));
}

process.on('uncaughtException', (err) => {
  send({ t: 'error', message: `${cfg.role}: ${err.stack ?? err.message}` });
  process.exit(1);
});
process.on('unhandledRejection', (err) => {
  send({ t: 'error', message: `${cfg.role}: ${(err as Error)?.stack ?? String(err)}` });
  process.exit(1);
});
// The orchestrator going away ends every worker.
process.on('disconnect', () => process.exit(0));

function memoryStats(extra: { broker?: unknown } = {}): FromWorker {
  (globalThis as { gc?: () => void }).gc?.();
  const m = process.memoryUsage();
  return { t: 'stats', rss: m.rss, heapUsed: m.heapUsed, ...extra };
}

async function runBroker(c: Extract<WorkerConfig, { role: 'broker' }>): Promise<void> {
  const opts: StartBrokerOptions = { socket: c.socket };
  if (c.tcp) opts.tcp = '127.0.0.1:0';
  if (c.limits !== undefined) opts.limits = c.limits;
  // The broker's own setting, as `udsbus broker` reads it: lets a run compare stall windows.
  const stall = process.env['UDSBUS_PACE_STALL'];
  if (stall !== undefined) opts.paceStallMs = Number(stall);
  const { startBroker } = await import('../bus/broker/server.js');
  const h = await startBroker(opts);
  on('stats', () => send(memoryStats({ broker: h.broker.getStats() })));
  on('stop', () => {
    // process.exit() (not a signal) so that --cpu-prof writes its profile.
    void h.close().finally(() => process.exit(0));
  });
  send({ t: 'ready', pid: process.pid, socket: h.socketPath, ...(h.tcp === undefined ? {} : { tcp: h.tcp }) });
}

async function runRelay(c: Extract<WorkerConfig, { role: 'relay' }>): Promise<void> {
  const { startRelay } = await import('./relay.js');
  await startRelay(c.socket);
  on('stats', () => send(memoryStats()));
  on('stop', () => process.exit(0));
  send({ t: 'ready', pid: process.pid, socket: c.socket });
}

function newTally(): Tally {
  return {
    received: 0,
    missing: 0,
    seqGaps: 0,
    lossNotices: 0,
    lossAnnounced: 0,
    accounted: true,
    first: 0,
    last: 0,
    warmAtLast: 0,
    warmAt: 0,
    warmCount: 0,
    firstMs: -1,
  };
}

async function runSub(c: Extract<WorkerConfig, { role: 'sub' }>): Promise<void> {
  const tallies: Tally[] = [];
  const latencyUs: number[] = [];
  const finalizers: Array<() => void> = [];
  let doneConns = 0;
  let ready = false;
  let settled = false;
  let pubDone = false;
  let lastActivity = now();
  // CPU from ready to result: connecting is not charged, idle waiting costs next to nothing.
  let cpu0 = process.cpuUsage();

  const settle = () => {
    if (settled) return;
    settled = true;
    const cpu = process.cpuUsage(cpu0);
    for (const f of finalizers) f();
    send({ t: 'result', tallies, latencyUs, cpuUs: cpu.user + cpu.system });
  };
  const connDone = () => {
    if (++doneConns === c.conns && ready) settle();
  };

  const attach = async (i: number): Promise<void> => {
    const t = newTally();
    tallies[i] = t;
    let lastN = -1;
    let lastSeq = 0;
    let lossLastSeq = 0;
    let done = false;
    const markDone = () => {
      if (done) return;
      done = true;
      connDone();
    };
    const client = await openClient(c.ep, `${c.label}-${i}`);
    client.onLoss((lost, last) => {
      lastActivity = now();
      t.lossNotices++;
      t.lossAnnounced += lost;
      if (last > lossLastSeq) lossLastSeq = last;
      if (lossLastSeq >= c.expect) markDone();
    });
    // `ts` is the publish time, or -1 in opaque mode (which measures rates only).
    // Rate mode reads the clock at the first event, at the warm-up point, at the last one and at
    // every 1,024th: a clock read per event (~40 ns) would be charged to every system's subscriber.
    const timed = c.mode !== 'rate';
    const onMessage = (n: number, seq: number, ts: number) => {
      t.received++;
      const final = n >= c.expect - 1;
      if (timed || final || (t.received & 1023) === 0 || t.first === 0 || (n >= c.warm && t.warmAt === 0)) {
        const at = now();
        lastActivity = at;
        if (t.first === 0) t.first = at;
        if (n >= c.warm && t.warmAt === 0) t.warmAt = at;
        t.last = at;
        t.warmAtLast = t.warmCount + (n >= c.warm ? 1 : 0);
      }
      const at = t.last;
      if (n > lastN + 1) t.missing += n - lastN - 1;
      if (n > lastN) lastN = n;
      if (seq > 0) {
        if (seq > lastSeq + 1) t.seqGaps += seq - lastSeq - 1;
        lastSeq = seq;
      }
      if (c.mode === 'first') {
        if (t.firstMs < 0 && ts >= 0) t.firstMs = at - ts;
        markDone();
        return;
      }
      if (n >= c.warm) {
        t.warmCount++;
        if (c.mode === 'latency' && ts >= 0) latencyUs.push((at - ts) * 1000);
      }
      if (final) markDone();
    };
    if (c.payloadBytes === undefined) await client.subscribe(c.topic, (ev, seq) => onMessage(ev.n, seq, ev.ts));
    else await client.subscribeOpaque(c.topic, (n, _len, seq) => onMessage(n, seq, -1));
    // Closing the books: the tail counts as missing, and udsbus's must balance (PROTOCOL.md §10).
    finalizers.push(() => {
      if (c.mode !== 'first' && lastN < c.expect - 1) t.missing += c.expect - 1 - lastN;
      if (lastSeq > 0 || lossLastSeq > 0) t.accounted = t.received + t.lossAnnounced === Math.max(lastSeq, lossLastSeq);
    });
  };

  const t0 = now();
  for (let i = 0; i < c.conns; i += c.wave) {
    const wave: Promise<void>[] = [];
    for (let j = i; j < Math.min(c.conns, i + c.wave); j++) wave.push(attach(j));
    await Promise.all(wave);
  }
  const connectMs = now() - t0;

  on('pubDone', () => {
    pubDone = true;
    lastActivity = now();
  });
  on('finish', settle);
  on('stop', () => process.exit(0));
  setInterval(() => {
    if (pubDone && now() - lastActivity > c.idleMs) settle();
  }, 50).unref();
  cpu0 = process.cpuUsage();
  send({ t: 'ready', pid: process.pid, connectMs });
  ready = true;
  if (doneConns === c.conns) settle();
}

async function runPub(c: Extract<WorkerConfig, { role: 'pub' }>): Promise<void> {
  const client = await openClient(c.ep, 'bench-pub');
  const size = c.payloadBytes;
  // Opaque mode: the same random bytes each time with the position in the first 4, in a fresh
  // buffer per message (some clients keep a reference until their next flush).
  const template = size === undefined ? undefined : randomBytes(size);
  const publishOne = (n: number): boolean => {
    if (template === undefined) return client.publish(c.topic, cameraEvent(n));
    const b = Buffer.allocUnsafe(template.length);
    template.copy(b);
    b.writeUInt32BE(n, 0);
    return client.publishOpaque(c.topic, b);
  };
  send({ t: 'ready', pid: process.pid });
  await once('start');
  const start = now();
  const cpu0 = process.cpuUsage();
  let i = 0;
  if (c.rate <= 0) {
    for (; i < c.count; i++) if (!publishOne(i)) await client.wait();
  } else {
    // Paced by the timer: every turn publishes what is due by now (bursts of ~rate/1000).
    while (i < c.count) {
      const due = Math.min(c.count, Math.floor(((now() - start) * c.rate) / 1000) + 1);
      while (i < due) if (!publishOne(i++)) await client.wait();
      if (i < c.count) await sleep(Math.max(0, start + (i * 1000) / c.rate - now()));
    }
  }
  const end = now();
  await client.flush();
  const cpu = process.cpuUsage(cpu0);
  send({ t: 'done', start, end, flushed: now(), sent: i, cpuUs: cpu.user + cpu.system });
  await once('stop');
  process.exit(0);
}

async function udsbusConnect(ep: Extract<WorkerConfig, { role: 'rpc-server' }>['ep'], name: string) {
  if (ep.kind !== 'udsbus' && ep.kind !== 'udsbus-tcp') throw new Error('request/reply is measured on udsbus only');
  const { connect } = await import('../bus/client/client.js');
  const o: ConnectOptions = ep.kind === 'udsbus' ? { socket: ep.socket } : { tcp: { host: ep.host, port: ep.port } };
  return connect({ ...o, name, reconnect: false });
}

async function runRpcServer(c: Extract<WorkerConfig, { role: 'rpc-server' }>): Promise<void> {
  const client = await udsbusConnect(c.ep, 'bench-rpc-server');
  client.serve(c.topic, (req) => req.payload);
  await client.flush();
  send({ t: 'ready', pid: process.pid });
  await once('stop');
  process.exit(0);
}

async function runRpcClient(c: Extract<WorkerConfig, { role: 'rpc-client' }>): Promise<void> {
  const client = await udsbusConnect(c.ep, 'bench-rpc-client');
  for (let i = 0; i < c.warmup; i++) await client.request(c.topic, cameraEvent(i));
  send({ t: 'ready', pid: process.pid });
  await once('start');
  const rtts: number[] = [];
  let errors = 0;
  const deadline = now() + c.durationMs;
  const loop = async () => {
    let i = 0;
    while (now() < deadline) {
      const t = now();
      try {
        await client.request(c.topic, cameraEvent(i++));
        rtts.push((now() - t) * 1000);
      } catch {
        errors++;
      }
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: c.inflight }, loop));
  const elapsedMs = now() - t0;
  send({ t: 'rpc', count: rtts.length, elapsedMs, rtt: percentiles(rtts), errors });
  await once('stop');
  process.exit(0);
}

switch (cfg.role) {
  case 'broker':
    await runBroker(cfg);
    break;
  case 'relay':
    await runRelay(cfg);
    break;
  case 'sub':
    await runSub(cfg);
    break;
  case 'pub':
    await runPub(cfg);
    break;
  case 'rpc-server':
    await runRpcServer(cfg);
    break;
  case 'rpc-client':
    await runRpcClient(cfg);
    break;
}
