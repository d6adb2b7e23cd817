/**
 * The broker daemon's structured log and Prometheus metrics: connection lines with reason codes
 * from a real broker process, drop bursts logged once per window (real broker, paused reader),
 * denials rate-limited, the metrics endpoint on a Unix socket and on a loopback port, and
 * `udsbus stats --prom`.
 */
import { request } from 'node:http';
import { createConnection } from 'node:net';
import { PassThrough } from 'node:stream';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadPeerCred } from '../bus/security/peercred.js';
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { connect } from '../bus/index.js';
import { encodeValue } from '../bus/protocol/codec.js';
import { fanOut, loggingEvents } from '../ops/broker-log.js';
import { EventCounters, renderMetrics } from '../ops/metrics.js';
import { startTestBus, tempDir } from './helpers/harness.js';
import { runToEnd, startCli, type CliProcess } from './helpers/cli.js';
import { Lines } from './helpers/lines.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const c of cleanups.splice(0).reverse()) await c();
});

function get(target: { socketPath: string } | { url: string }): Promise<{ status: number; type: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = 'url' in target ? request(target.url) : request({ socketPath: target.socketPath, path: '/metrics' });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), body }));
    });
    req.on('error', reject);
    req.setTimeout(5000, () => req.destroy(new Error('metrics request timed out')));
    req.end();
  });
}

const value = (text: string, series: string) => {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
};

async function brokerProcess(args: string[]): Promise<{ b: CliProcess; start: Record<string, unknown>; dir: string; socket: string }> {
  const { dir, cleanup } = tempDir('udsbus-ops-');
  cleanups.push(cleanup);
  const socket = join(dir, 'bus.sock');
  const b = startCli(['broker', '-q', '--socket', socket, ...args]);
  cleanups.push(async () => {
    b.kill('SIGKILL');
    await b.exited;
  });
  const start = JSON.parse(await b.waitOut((l) => l.includes('"evt":"start"'), 15_000)) as Record<string, unknown>;
  return { b, start, dir, socket };
}

describe('broker log and metrics, real broker process', () => {
  it('logs open/close with reason codes (a silent connection: handshake-timeout at warn); serves metrics on a Unix socket; stats --prom agrees', async () => {
    const { dir, cleanup } = tempDir('udsbus-ops-m-');
    cleanups.push(cleanup);
    const metricsSock = join(dir, 'metrics.sock');
    const { b, start, socket } = await brokerProcess(['--metrics', metricsSock, '--handshake-timeout', '300']);
    expect(start).toMatchObject({ evt: 'start', level: 30, name: 'udsbus-broker', metrics: `unix:${metricsSock}`, activation: 'none' });

    const c = await connect({ socket, name: 'cam-publisher' });
    c.publish('cam.1.motion', { on: true });
    await c.flush();
    await c.close();
    const open = JSON.parse(await b.waitOut((l) => l.includes('"evt":"conn.open"'))) as Record<string, unknown>;
    expect(open).toMatchObject({ level: 30, client: 'cam-publisher', transport: 'unix', peerPid: process.pid });
    const close = JSON.parse(await b.waitOut((l) => l.includes('"evt":"conn.close"') && l.includes('cam-publisher'))) as Record<string, unknown>;
    expect(close).toMatchObject({ level: 30, reason: 'bye', clean: true, hello: true });
    expect(close['msgsIn']).toBeGreaterThanOrEqual(1);

    // Connects and says nothing: cut after the handshake timeout, logged as a warning.
    const silent = createConnection(socket);
    cleanups.push(() => void silent.destroy());
    // Its reason is the core's (bus/protocol/wire-types.ts CloseReason): "protocol" since the
    // renovation folded handshake-timeout into it; either way a warning, without hello.
    const cut = JSON.parse(await b.waitOut((l) => l.includes('"evt":"conn.close"') && l.includes('"hello":false'), 10_000)) as Record<string, unknown>;
    expect(cut).toMatchObject({ level: 40, evt: 'conn.close', hello: false, client: '' });
    expect(['handshake-timeout', 'protocol']).toContain(cut['reason']);

    const m = await get({ socketPath: metricsSock });
    expect(m.status).toBe(200);
    expect(m.type).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(m.body).toMatch(/^# HELP udsbus_build_info .*\n# TYPE udsbus_build_info gauge\nudsbus_build_info\{version="\d+\.\d+\.\d+"\} 1\n/);
    expect(value(m.body, 'udsbus_messages_received_total')).toBeGreaterThanOrEqual(1);
    expect(value(m.body, 'udsbus_connections_closed_total{reason="bye"}')).toBe(1);
    expect(value(m.body, `udsbus_connections_closed_total{reason="${String(cut['reason'])}"}`)).toBe(1);
    expect(value(m.body, 'udsbus_messages_dropped_total{policy="drop-oldest"}')).toBe(0);
    expect(m.body).toContain('# TYPE udsbus_acl_denials_total counter');
    // Every sample line is NAME{labels} VALUE, names in Prometheus style.
    for (const l of m.body.split('\n').filter((x) => x !== '' && !x.startsWith('#'))) expect(l).toMatch(/^[a-z_]+(\{[a-z_]+="[^"]*"\})? [0-9.e+-]+$/);

    const prom = await runToEnd(['stats', '--prom', '--socket', socket]);
    expect(prom.code).toBe(0);
    expect(value(prom.stdout, 'udsbus_messages_received_total')).toBeGreaterThanOrEqual(1);
    const families = (t: string) => new Set([...t.matchAll(/^# TYPE (\S+)/gm)].map((x) => x[1]));
    for (const f of families(prom.stdout)) expect(families(m.body).has(f), f).toBe(true);

    b.kill('SIGTERM');
    expect((await b.exited).code).toBe(0);
    // The last two lines, complete and in order, although the log writes asynchronously.
    expect(b.out.slice(-2).map((l) => (JSON.parse(l) as { evt: string }).evt)).toEqual(['stopping', 'stop']);
  });

  it('metrics on a loopback port (port 0 picks one; the start line says which); a non-loopback host is refused', async () => {
    const { start } = await brokerProcess(['--metrics', '127.0.0.1:0']);
    const url = String(start['metrics']);
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
    const m = await get({ url });
    expect(value(m.body, 'udsbus_connections')).toBe(0);
    const { dir, cleanup } = tempDir('udsbus-ops-');
    cleanups.push(cleanup);
    const r = await runToEnd(['broker', '-q', '--socket', join(dir, 'bus.sock'), '--metrics', '0.0.0.0:0']);
    expect(r.code).toBe(7); // invalid configuration: refused while reading the settings, before anything listens
    expect(r.stderr).toMatch(/metrics: "0\.0\.0\.0" is not a loopback address/);
  });
});

describe('rate-limited lines', () => {
  it('drop bursts: one line at the first drop, then one per window with the count held back; the counts add up to the broker stats', async () => {
    const sink = new PassThrough();
    const lines = new Lines(sink);
    const log = pino({ level: 'info' }, sink);
    const events = loggingEvents(log, 300);
    const bus = await startTestBus({ limits: { outQueueBytes: 64 * 1024 }, statsIntervalMs: 0, events });
    cleanups.push(() => bus.close());
    const slow = await bus.raw();
    await slow.hello({ name: 'slow' });
    slow.send({ op: 'sub', sid: 1, pattern: 'burst.>', policy: 'drop-oldest', id: 1 });
    await slow.next((f) => f.id === 1);
    slow.sock.pause();
    const pub = await bus.client({ name: 'pub' });
    const payload = encodeValue({ pad: 'x'.repeat(1000) });
    const t0 = Date.now();
    for (let i = 0; i < 5000; i++) if (!pub.publish('burst.a', payload)) await pub.drain();
    await pub.flush();
    const elapsed = Date.now() - t0;
    const total = bus.broker.broker.getStats().drops['drop-oldest'];
    expect(total).toBeGreaterThan(100);
    // Drops have stopped: wait for the last window's summary, i.e. until the lines account for every drop.
    const drops = () => lines.all.filter((l) => l.includes('"evt":"drops"')).map((l) => JSON.parse(l) as { dropped: number; client: string; policy: string; level: number; burst?: number });
    await lines.waitFor(() => drops().reduce((a, d) => a + d.dropped, 0) === total, 5000, 'summary lines adding up to the drop count');
    const got = drops();
    expect(got[0]).toMatchObject({ client: 'slow', policy: 'drop-oldest', level: 40 });
    expect(got[0]!.burst).toBeUndefined();
    // A first line and a summary per window at most: thousands of drops, a handful of lines.
    expect(got.length).toBeLessThanOrEqual(2 * Math.ceil((elapsed + 300) / 300) + 2);
    expect(got.length).toBeLessThan(total / 10);
    expect(got.some((d) => d.burst !== undefined)).toBe(true);
  });

  it.skipIf(!loadPeerCred().available)('a real ACL denial reaches the log and the metrics through the broker hook', async () => {
    const { dir, cleanup } = tempDir('udsbus-ops-acl-');
    cleanups.push(cleanup);
    const acl = join(dir, 'acl.conf');
    writeFileSync(acl, `allow user ${process.getuid!()} publish cam.>\n`, { mode: 0o600 });
    const sink = new PassThrough();
    const lines = new Lines(sink);
    const counters = new EventCounters();
    const bus = await startTestBus({ aclFile: acl, statsIntervalMs: 0, events: fanOut(loggingEvents(pino({ level: 'info' }, sink), 60_000), counters) });
    cleanups.push(() => bus.close());
    const c = await bus.client({ name: 'limited' });
    await expect(c.publish('door.1.open', 1, { confirm: true })).rejects.toThrow(/PERMISSION_DENIED|may not/);
    const line = JSON.parse(await lines.waitFor((l) => l.includes('"evt":"acl.denied"'))) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 40, client: 'limited', uid: process.getuid!(), action: 'publish', target: 'door.1.open' });
    expect(renderMetrics({ stats: bus.broker.broker.getStats(), counters })).toContain('udsbus_acl_denials_total{action="publish"} 1\n');
  });

  it('denials: the first of a kind at once, repeats within the window counted in one line', () => {
    vi.useFakeTimers();
    const sink = new PassThrough();
    const lines = new Lines(sink);
    const events = loggingEvents(pino({ level: 'info' }, sink), 1000);
    const rec = { cid: 'b-1', name: 'rogue', uid: 1001, pid: 42, action: 'publish', target: 'cam.1.ptz', reason: 'no rule allows it', time: new Date(0).toISOString() };
    for (let i = 0; i < 50; i++) events.denied!(rec);
    events.denied!({ ...rec, target: 'cam.2.ptz' });
    vi.advanceTimersByTime(1000);
    const got = lines.all.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(got).toHaveLength(3);
    expect(got[0]).toMatchObject({ evt: 'acl.denied', level: 40, client: 'rogue', uid: 1001, target: 'cam.1.ptz', reason: 'no rule allows it' });
    expect(got[1]).toMatchObject({ evt: 'acl.denied', target: 'cam.2.ptz' });
    expect(got[2]).toMatchObject({ evt: 'acl.denied', target: 'cam.1.ptz', repeated: 49, windowMs: 1000 });
  });
});

describe('renderMetrics', () => {
  it('escapes label values and writes counters with _total', () => {
    const text = renderMetrics({
      stats: { connections: 1, connectionsTotal: 2, subscriptions: 0, retained: 0, retainedBytes: 0, inboxes: 0, msgsIn: 3, bytesIn: 4, msgsOut: 5, paceStalls: 0, drops: { 'drop-oldest': 0, 'drop-newest': 1, 'latest-per-topic': 0, disconnect: 0 }, errors: {}, queuedBytes: 0, uptimeMs: 1500, memory: { rss: 1, heapUsed: 1 }, slowest: [] },
      durables: [{ name: 'rec"x', backlog: 7, bytes: 70, dropped: 0 }],
    });
    expect(text).toContain('udsbus_messages_dropped_total{policy="drop-newest"} 1\n');
    expect(text).toContain('udsbus_durable_backlog_messages{durable="rec\\"x"} 7\n');
    expect(text).toContain('udsbus_uptime_seconds 1.5\n');
    for (const m of text.matchAll(/^# TYPE (\S+) counter$/gm)) expect(m[1]).toMatch(/_total$/);
  });
});
