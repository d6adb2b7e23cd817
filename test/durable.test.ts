/** Issue 8 through a real broker: durable subscriptions, confirms, crashes, quotas. */
import { readdirSync, statSync, openSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type BrokerHandle, type Client, type Message } from '../bus/index.js';
import { runCli, spawnCli, tempDir, waitForLine } from './helpers/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function dirs() {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return { socket: join(t.dir, 'bus.sock'), data: join(t.dir, 'data'), dir: t.dir };
}

async function broker(socket: string, data: string, extra: object = {}): Promise<BrokerHandle> {
  const b = await startBroker({ socket, dataDir: data, statsIntervalMs: 0, ...extra });
  cleanups.push(() => b.close());
  return b;
}

async function client(socket: string, name: string): Promise<Client> {
  const c = await connect({ socket, name, reconnectInitialMs: 20, reconnectMaxMs: 200 });
  cleanups.push(() => c.close());
  return c;
}

/** Collects a durable stream, dropping duplicates by mid, acking as it goes. */
function consume(c: Client, pattern: string, name: string, until: (got: Message[]) => boolean, opts: { ack?: boolean } = {}) {
  const got: Message[] = [];
  const seen = new Set<number>();
  let dupes = 0;
  return new Promise<{ got: Message[]; dupes: number }>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`durable consumer timed out with ${got.length} messages`)), 60_000);
    const sub = c.subscribe(pattern, { durable: name }).subscribe({
      next: (m) => {
        if (opts.ack !== false) c.ack(m);
        if (seen.has(m.mid!)) {
          dupes++;
          return;
        }
        seen.add(m.mid!);
        got.push(m);
        if (until(got)) {
          clearTimeout(t);
          sub.unsubscribe();
          resolve({ got, dupes });
        }
      },
      error: (e: Error) => {
        clearTimeout(t);
        reject(e);
      },
    });
  });
}

describe('durable subscriptions', () => {
  it('keeps 100,000 confirmed messages while the subscriber is away and delivers them exactly once, in order', async () => {
    const { socket, data } = dirs();
    await broker(socket, data);
    const audit = await client(socket, 'audit');
    // Create the queue, then go away.
    const first = audit.subscribe('camera.event.>', { durable: 'audit' }).subscribe();
    await audit.flush();
    first.unsubscribe();
    await audit.flush();
    const pub = await client(socket, 'pub');
    const N = 100_000;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < N; i++) {
      pending.push(pub.publish<string>(`camera.event.cam-${i % 10}.motion`, { i }, { confirm: true }));
      if (pending.length >= 2000) await Promise.all(pending.splice(0));
    }
    await Promise.all(pending);
    const { got, dupes } = await consume(audit, 'camera.event.>', 'audit', (g) => g.length === N);
    expect(dupes).toBe(0);
    expect(got.map((m) => (m.payload as { i: number }).i)).toEqual([...Array(N).keys()]);
    const mids = got.map((m) => m.mid!);
    expect(mids.every((m, k) => k === 0 || m > mids[k - 1]!)).toBe(true);
  }, 120_000);

  it('switches from backlog to live traffic without a gap or a reorder', async () => {
    const { socket, data } = dirs();
    await broker(socket, data);
    const c = await client(socket, 'consumer');
    const s = c.subscribe('live.>', { durable: 'sw' }).subscribe();
    await c.flush();
    s.unsubscribe();
    await c.flush();
    const pub = await client(socket, 'pub');
    for (let i = 0; i < 3000; i++) pub.publish('live.x', i);
    await pub.flush();
    const done = consume(c, 'live.>', 'sw', (g) => g.length === 6000);
    // Keep publishing while the backlog drains.
    for (let i = 3000; i < 6000; i++) {
      pub.publish('live.x', i);
      if (i % 500 === 0) await pub.flush();
    }
    const { got } = await done;
    expect(got.map((m) => m.payload)).toEqual([...Array(6000).keys()]);
  }, 60_000);

  it('redelivers unacknowledged messages after the ack timeout and on reattach', async () => {
    const { socket, data } = dirs();
    await broker(socket, data, { durable: { ackTimeoutMs: 200 }, sweepMs: 50 });
    const c = await client(socket, 'consumer');
    const pub = await client(socket, 'pub');
    const seen: Message[] = [];
    const s = c.subscribe('rd.>', { durable: 'rd' }).subscribe((m) => seen.push(m));
    await c.flush();
    pub.publish('rd.a', 1);
    pub.publish('rd.b', 2);
    await pub.flush();
    // Never acked: both come again, marked.
    while (seen.filter((m) => m.redelivered).length < 2) await new Promise((r) => setTimeout(r, 20));
    expect(seen.slice(0, 2).map((m) => [m.mid, m.redelivered])).toEqual([
      [1, false],
      [2, false],
    ]);
    c.ack(seen.find((m) => m.mid === 1)!);
    await c.flush();
    s.unsubscribe();
    await c.flush();
    const again = await consume(c, 'rd.>', 'rd', (g) => g.length === 1);
    expect(again.got.map((m) => [m.mid, m.redelivered, m.payload])).toEqual([[2, true, 2]]);
  });

  it('one consumer at a time; a name keeps its pattern; no data dir means no durables', async () => {
    const { socket, data } = dirs();
    await broker(socket, data);
    const a = await client(socket, 'a');
    const b = await client(socket, 'b');
    a.subscribe('x.>', { durable: 'one' }).subscribe();
    await a.flush();
    await expect(new Promise((_, rej) => b.subscribe('x.>', { durable: 'one' }).subscribe({ error: rej }))).rejects.toThrow(/DURABLE_BUSY/);
    await expect(new Promise((_, rej) => b.subscribe('y.>', { durable: 'one' }).subscribe({ error: rej }))).rejects.toThrow(/DURABLE_MISMATCH/);
    const other = dirs();
    const plain = await startBroker({ socket: other.socket });
    cleanups.push(() => plain.close());
    const c = await client(other.socket, 'c');
    await expect(new Promise((_, rej) => c.subscribe('x.>', { durable: 'one' }).subscribe({ error: rej }))).rejects.toThrow(/DURABLE_UNAVAILABLE/);
  });

  it('quota with overflow reject: the publisher gets DURABLE_FULL; with drop-oldest the consumer is told what was dropped', async () => {
    const { socket, data } = dirs();
    await broker(socket, data);
    const c = await client(socket, 'consumer');
    const pub = await client(socket, 'pub');
    const s1 = c.subscribe('q.r.>', { durable: 'rej', durableMaxBytes: 64 * 1024, durableOverflow: 'reject' }).subscribe();
    const s2 = c.subscribe('q.d.>', { durable: 'drop', durableMaxBytes: 64 * 1024, durableOverflow: 'drop-oldest' }).subscribe();
    await c.flush();
    s1.unsubscribe();
    s2.unsubscribe();
    await c.flush();
    const big = 'x'.repeat(1000);
    let refused: Error | undefined;
    for (let i = 0; i < 200 && refused === undefined; i++) await pub.publish('q.r.x', big, { confirm: true }).catch((e: Error) => (refused = e));
    expect(refused?.message).toMatch(/DURABLE_FULL/);
    for (let i = 0; i < 200; i++) await pub.publish('q.d.x', { i, big }, { confirm: true });
    const losses: number[] = [];
    c.on('loss', (l) => losses.push(l.lost));
    const { got } = await consume(c, 'q.d.>', 'drop', (g) => g.length > 0 && (g[g.length - 1]!.payload as { i: number }).i === 199);
    const lost = losses.reduce((a, b) => a + b, 0);
    expect(lost).toBeGreaterThan(0);
    expect(got.length + lost).toBe(200);
    expect(got.every((m, k) => k === 0 || (m.payload as { i: number }).i > (got[k - 1]!.payload as { i: number }).i)).toBe(true);
  }, 60_000);

  it('is managed with udsbus durable list|info|purge|delete', async () => {
    const { socket, data } = dirs();
    await broker(socket, data);
    const c = await client(socket, 'consumer');
    const s = c.subscribe('m.>', { durable: 'mgmt' }).subscribe();
    await c.flush();
    s.unsubscribe();
    await c.flush();
    for (let i = 0; i < 10; i++) c.publish('m.x', i);
    await c.flush();
    const list = await runCli(['durable', 'list', '--json', '--socket', socket]);
    expect(list.code).toBe(0);
    expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ name: 'mgmt', pattern: 'm.>', backlog: 10, connected: false })]);
    expect((await runCli(['durable', 'purge', 'mgmt', '--json', '--socket', socket])).code).toBe(0);
    const info = JSON.parse((await runCli(['durable', 'info', 'mgmt', '--json', '--socket', socket])).stdout);
    expect(info.backlog).toBe(0);
    expect((await runCli(['durable', 'delete', 'mgmt', '--socket', socket])).code).toBe(0);
    const none = await runCli(['durable', 'info', 'mgmt', '--socket', socket]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/no durable named "mgmt"/);
  });
});

describe('crashes', () => {
  it('after SIGKILL of the broker mid-stream, every confirmed message is delivered, none invented', async () => {
    const { socket, data } = dirs();
    const start = async () => {
      const child = spawnCli(['broker', '--socket', socket, '--data', data, '--fsync', 'batch']);
      cleanups.push(() => void child.kill('SIGKILL'));
      await waitForLine(child.stderr!, (l) => l.includes('listening on'));
      return child;
    };
    let child = await start();
    const c = await connect({ socket, name: 'setup', reconnect: false });
    const s = c.subscribe('crash.>', { durable: 'crash' }).subscribe();
    await c.flush();
    s.unsubscribe();
    await c.close();
    const pub = await connect({ socket, name: 'pub', reconnect: false });
    const confirmed: number[] = [];
    let i = 0;
    let killed = false;
    const publishing = (async () => {
      for (; i < 1_000_000 && !killed; i++) {
        const n = i;
        pub.publish('crash.x', { n }, { confirm: true }).then(
          () => confirmed.push(n),
          () => undefined,
        );
        if (n % 200 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    while (confirmed.length < 5000) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGKILL');
    killed = true;
    await publishing;
    await pub.closed();
    const sent = i;
    child = await start();
    const audit = await connect({ socket, name: 'audit' });
    cleanups.push(() => audit.close());
    const want = new Set(confirmed);
    let found = 0;
    const got = await consume(audit, 'crash.>', 'crash', (g) => {
      if (want.has((g[g.length - 1]!.payload as { n: number }).n)) found++;
      return found === want.size;
    });
    const payloads = got.got.map((m) => (m.payload as { n: number }).n);
    const delivered = new Set(payloads);
    for (const n of confirmed) expect(delivered.has(n)).toBe(true);
    // Nothing invented: everything delivered was sent, in publish order.
    expect(payloads.every((n, k) => n < sent && (k === 0 || n > payloads[k - 1]!))).toBe(true);
  }, 120_000);

  it('cuts a corrupt segment tail at start, reports it, and keeps serving', async () => {
    const { socket, data } = dirs();
    const b = await startBroker({ socket, dataDir: data });
    const c = await connect({ socket, name: 'c', reconnect: false });
    const s = c.subscribe('t.>', { durable: 'torn' }).subscribe();
    await c.flush();
    s.unsubscribe();
    for (let i = 0; i < 100; i++) await c.publish('t.x', { i }, { confirm: true });
    await c.close();
    await b.close();
    // Garbage over the end of the last segment.
    const segDir = join(data, 'durable', 'torn');
    const seg = readdirSync(segDir).filter((f) => f.endsWith('.seg')).sort().pop()!;
    const path = join(segDir, seg);
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(50, 0xab), 0, 50, statSync(path).size - 30);
    closeSync(fd);
    const child = spawnCli(['broker', '--socket', socket, '--data', data]);
    cleanups.push(() => void child.kill('SIGKILL'));
    const line = await waitForLine(child.stderr!, (l) => l.includes('durable "torn": cut'));
    expect(line).toMatch(/cut \d+ bytes/);
    const after = await connect({ socket, name: 'after' });
    cleanups.push(() => after.close());
    const { got } = await consume(after, 't.>', 'torn', (g) => g.length === 99);
    expect(got.map((m) => (m.payload as { i: number }).i)).toEqual([...Array(99).keys()]);
  }, 60_000);
});
