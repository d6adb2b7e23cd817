import { chmodSync, mkdirSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type Client } from '../bus/index.js';
import { runCli, spawnCli, tempDir, waitForLine, takeN } from './helpers/harness.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function dir(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  return t.dir;
}

describe('socket path handling', () => {
  it('creates the parent directory and applies the mode', async () => {
    const socket = join(dir(), 'nested', 'deeper', 'bus.sock');
    const b = await startBroker({ socket, mode: 0o600 });
    cleanups.push(() => b.close());
    expect(statSync(socket).isSocket()).toBe(true);
    expect(statSync(socket).mode & 0o777).toBe(0o600);
  });

  it('refuses to start when a live broker answers on the path, with exit code 2 from the CLI', async () => {
    const socket = join(dir(), 'bus.sock');
    const b = await startBroker({ socket });
    cleanups.push(() => b.close());
    await expect(startBroker({ socket })).rejects.toThrow(/already listening/);
    const r = await runCli(['broker', '--socket', socket]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already listening on/);
  });

  it('replaces a stale socket and refuses a path that is not a socket', async () => {
    const d = dir();
    const stale = join(d, 'stale.sock');
    // What a crashed broker leaves behind: a socket file nobody listens on.
    execFileSync('/usr/bin/python3', ['-c', `import socket; socket.socket(socket.AF_UNIX).bind(${JSON.stringify(stale)})`]);
    expect(statSync(stale).isSocket()).toBe(true);
    const b = await startBroker({ socket: stale });
    cleanups.push(() => b.close());
    const c = await connect({ socket: stale });
    await c.close();
    const file = join(d, 'file');
    writeFileSync(file, 'x');
    await expect(startBroker({ socket: file })).rejects.toThrow(/not a socket/);
    const r = await runCli(['broker', '--socket', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a socket/);
  });

  it('removes the socket file on close', async () => {
    const socket = join(dir(), 'bus.sock');
    const b = await startBroker({ socket });
    await b.close();
    expect(existsSync(socket)).toBe(false);
  });
});

describe('the broker process', () => {
  it('on SIGTERM flushes, removes the socket and exits 0, even with a subscriber that never reads', async () => {
    const socket = join(dir(), 'bus.sock');
    const child = spawnCli(['broker', '--socket', socket, '--grace', '300']);
    cleanups.push(() => void child.kill('SIGKILL'));
    await waitForLine(child.stderr!, (l) => l.includes('listening on'));
    // A raw connection that subscribes and never reads.
    const { RawConn } = await import('./helpers/harness.js');
    const stuck = await RawConn.open(socket);
    cleanups.push(() => stuck.destroy());
    await stuck.hello();
    stuck.send({ op: 'sub', sid: 1, pattern: '>', id: 1 });
    await stuck.next((f) => f.id === 1);
    stuck.sock.pause();
    const pub = await connect({ socket, reconnect: false });
    for (let i = 0; i < 20_000; i++) pub.publish('flood.x', Buffer.alloc(1000));
    await pub.flush();
    const t0 = Date.now();
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(existsSync(socket)).toBe(false);
  });

  it('serves 1,000 concurrent clients', async () => {
    const socket = join(dir(), 'bus.sock');
    const b = await startBroker({ socket });
    cleanups.push(() => b.close());
    const clients: Client[] = [];
    for (let wave = 0; wave < 10; wave++) {
      clients.push(...(await Promise.all(Array.from({ length: 100 }, (_, i) => connect({ socket, name: `c${wave * 100 + i}` })))));
    }
    cleanups.push(async () => void (await Promise.all(clients.map((c) => c.close()))));
    const received = clients.map((c) => takeN(c.subscribe('fanout.all'), 1, 15_000));
    await Promise.all(clients.map((c) => c.flush()));
    expect(b.broker.getStats().connections).toBe(1000);
    clients[0]!.publish('fanout.all', 'hello everyone');
    const all = await Promise.all(received);
    expect(all.every((m) => m[0]!.payload === 'hello everyone')).toBe(true);
  });

  it('serves the same protocol over an optional loopback TCP listener', async () => {
    const socket = join(dir(), 'bus.sock');
    const b = await startBroker({ socket, tcp: '127.0.0.1:0' });
    cleanups.push(() => b.close());
    expect(b.tcp?.host).toBe('127.0.0.1');
    const viaTcp = await connect({ tcp: b.tcp!, name: 'tcp' });
    const viaUds = await connect({ socket });
    cleanups.push(async () => {
      await viaTcp.close();
      await viaUds.close();
    });
    const got = takeN(viaTcp.subscribe('x.>'), 1);
    await viaTcp.flush();
    viaUds.publish('x.y', 'over tcp');
    expect((await got)[0]!.payload).toBe('over tcp');
  });
});

describe('client reconnect', () => {
  it('re-subscribes after a broker restart and sends publishes buffered during the outage', async () => {
    const socket = join(dir(), 'bus.sock');
    let b = await startBroker({ socket });
    const c = await connect({ socket, name: 'sub', reconnectInitialMs: 20, reconnectMaxMs: 100 });
    cleanups.push(async () => {
      await c.close();
      await b.close();
    });
    const all = takeN(c.subscribe('life.>'), 3, 10_000);
    await c.flush();
    c.publish('life.a', 'before');
    await c.flush();
    const disconnected = new Promise((r) => c.once('disconnect', r));
    const reconnected = new Promise((r) => c.once('reconnect', r));
    await b.close();
    await disconnected;
    expect(c.publish('life.b', 'during outage')).toBe(false); // buffered, not lost
    b = await startBroker({ socket });
    await reconnected;
    c.publish('life.c', 'after');
    expect((await all).map((m) => m.payload)).toEqual(['before', 'during outage', 'after']);
  });

  it('fails loudly, synchronously, when the outage buffer is full', async () => {
    const socket = join(dir(), 'bus.sock');
    const b = await startBroker({ socket });
    const c = await connect({ socket, outageBufferBytes: 10_000, reconnectInitialMs: 1000 });
    cleanups.push(() => c.close());
    const gone = new Promise((r) => c.once('disconnect', r));
    await b.close();
    await gone;
    expect(() => {
      for (let i = 0; i < 100; i++) c.publish('x.y', Buffer.alloc(500));
    }).toThrow(/DISCONNECTED.*outage buffer/);
  });

  it('rejects connect() with a clear message when no broker listens', async () => {
    const socket = join(dir(), 'none.sock');
    await expect(connect({ socket })).rejects.toThrow(/no broker socket at/);
    mkdirSync(join(dir(), 'x'), { recursive: true });
    const r = await runCli(['pub', '--socket', socket, 'a.b', '1']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(socket);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    void chmodSync;
  });
});
