/**
 * Publisher pacing (PROTOCOL.md §10, issue 15): at stock limits a publisher running at full speed
 * into a 1→3 fan-out of healthy subscribers, each its own process, loses nothing — the broker
 * holds the publisher while a subscriber catches up. A stuck subscriber holds nobody for longer
 * than paceStallMs: the others still get everything, and it is told what it lost.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { ROOT, startTestBus, type TestBus } from './helpers/harness.js';

const N = 60_000;

// A subscriber process: counts deliveries and announced losses, reports when all are accounted for.
const SUB = `
import { connect } from ${JSON.stringify(`${ROOT}dist/bus/index.js`)};
const [socket, n, workUs] = [process.env.SOCK, Number(process.env.N), Number(process.env.WORK_US ?? 0)];
// Per-message work makes this subscriber slower than the publisher, as a real consumer is.
const work = () => { if (workUs > 0) { const end = process.hrtime.bigint() + BigInt(workUs * 1000); while (process.hrtime.bigint() < end); } };
const c = await connect({ socket, name: 'sub-' + process.pid });
let got = 0, lost = 0, lastSeq = 0, outOfOrder = 0;
c.on('loss', (l) => { lost += l.lost; check(); });
c.subscribe('pace.>').subscribe((m) => { work(); got++; if (m.seq <= lastSeq) outOfOrder++; lastSeq = m.seq; check(); });
await c.flush();
process.stdout.write('ready\\n');
function check() { if (got + lost >= n) { process.stdout.write(JSON.stringify({ got, lost, outOfOrder }) + '\\n'); void c.close().then(() => process.exit(0)); } }
`;

// A publisher process: publishes as fast as publish()/drain() allow.
const PUB = `
import { connect } from ${JSON.stringify(`${ROOT}dist/bus/index.js`)};
const [socket, n, flow] = [process.env.SOCK, Number(process.env.N), process.env.FLOW];
const c = await connect({ socket, name: 'pub', flow });
const payload = new Uint8Array(200);
const t0 = Date.now();
for (let i = 1; i <= n; i++) if (!c.publish('pace.x', payload)) await c.drain();
await c.flush();
process.stdout.write(JSON.stringify({ ms: Date.now() - t0 }) + '\\n');
await c.close();
`;

let bus: TestBus | undefined;
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  await bus?.close();
  bus = undefined;
});

function child(src: string, env: Record<string, string>): { proc: ChildProcess; line(pred: (l: string) => boolean): Promise<string> } {
  const proc = spawn(process.execPath, ['--input-type=module', '-e', src], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  children.push(proc);
  const lines: string[] = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    lines.push(l);
    for (const w of waiters.splice(0)) w();
  });
  return {
    proc,
    async line(pred) {
      for (;;) {
        const hit = lines.find(pred);
        if (hit !== undefined) return hit;
        if (proc.exitCode !== null) throw new Error(`child exited (${proc.exitCode}) without the line`);
        await new Promise<void>((r) => {
          waiters.push(r);
          proc.once('exit', () => r());
        });
      }
    },
  };
}

describe('publisher pacing', () => {
  it('a healthy 1→3 fan-out at full speed loses nothing at stock limits, though the subscribers are slower', async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    // Each subscriber spends 25 µs per message: the publisher outruns them by far, so without
    // pacing their queues (8 MiB at stock limits) overflow and drop (flow "drop" shows it).
    const subs = [0, 1, 2].map(() => child(SUB, { SOCK: bus!.socket, N: String(N), WORK_US: '25' }));
    await Promise.all(subs.map((s) => s.line((l) => l === 'ready')));
    const pub = child(PUB, { SOCK: bus.socket, N: String(N), FLOW: 'pace' });
    const results = await Promise.all(subs.map(async (s) => JSON.parse(await s.line((l) => l.startsWith('{'))) as { got: number; lost: number; outOfOrder: number }));
    await pub.line((l) => l.startsWith('{'));
    for (const r of results) expect(r).toEqual({ got: N, lost: 0, outOfOrder: 0 });
    const drops = bus.broker.broker.getStats().drops;
    expect(Object.values(drops).reduce((a, b) => a + b, 0)).toBe(0);
  }, 120_000);

  it('a stuck subscriber holds the publisher only for paceStallMs; it is told what it lost', async () => {
    // A second without reading counts as stuck: long enough that a healthy subscriber process on a
    // loaded CI machine is never mistaken for one.
    bus = await startTestBus({ statsIntervalMs: 0, paceStallMs: 1000, limits: { outQueueBytes: 256 * 1024 } });
    const stuck = await bus.raw();
    await stuck.hello({ name: 'stuck' });
    stuck.send({ op: 'sub', sid: 1, pattern: 'pace.>', id: 1 });
    await stuck.next((f) => f.op === 'ok' && f.id === 1);
    stuck.sock.pause(); // never reads again
    const subs = [0, 1].map(() => child(SUB, { SOCK: bus!.socket, N: String(N) }));
    await Promise.all(subs.map((s) => s.line((l) => l === 'ready')));
    const pub = child(PUB, { SOCK: bus.socket, N: String(N), FLOW: 'pace' });
    const results = await Promise.all(subs.map(async (s) => JSON.parse(await s.line((l) => l.startsWith('{'))) as { got: number; lost: number }));
    await pub.line((l) => l.startsWith('{'));
    for (const r of results) expect(r).toMatchObject({ got: N, lost: 0 });
    expect(bus.broker.broker.pacer.stalls).toBeGreaterThanOrEqual(1);
    const stuckStats = bus.broker.broker.clientStats().find((c) => c.name === 'stuck')!;
    expect(stuckStats.dropped).toBeGreaterThan(0);
  }, 120_000);
});
