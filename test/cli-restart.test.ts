/** tap and stats --watch keep going across broker restarts (the broker is a `udsbus broker` child process). */
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { connect } from '../bus/index.js';
import { tempDir } from './helpers/harness.js';
import { startCli, startTap, type CliProcess } from './helpers/cli.js';

let dir: { dir: string; cleanup: () => void };
let socket: string;
const running: CliProcess[] = [];

beforeEach(() => {
  dir = tempDir('udsbus-cli-restart-');
  socket = join(dir.dir, 'bus.sock');
});
afterEach(async () => {
  for (const p of running.splice(0)) {
    p.kill('SIGKILL');
    await p.exited;
  }
  dir.cleanup();
});

async function startBrokerProcess(): Promise<CliProcess> {
  const b = startCli(['broker', '--socket', socket]);
  running.push(b);
  await b.waitErr((l) => l.includes('udsbus broker listening on'));
  return b;
}

async function publish(topic: string, payload: unknown): Promise<void> {
  const c = await connect({ socket, name: 'test-pub', reconnect: false });
  c.publish(topic, payload);
  await c.flush();
  await c.close();
}

describe('broker restarts', () => {
  it('tap reports a crash and a clean stop of the broker, reconnects and keeps printing new messages', async () => {
    let broker = await startBrokerProcess();
    const t = await startTap(['--socket', socket, '--json', 'restart.>']);
    running.push(t);
    await publish('restart.one', 1);
    await t.waitOut((l) => l.includes('restart.one'));

    // A crash: the socket file stays behind, stale; the next broker replaces it.
    broker.kill('SIGKILL');
    await broker.exited;
    await t.waitErr((l) => l.includes('udsbus tap: lost the connection to the broker; reconnecting'));
    broker = await startBrokerProcess();
    await t.waitErr((l) => /udsbus tap: reconnected after [\d.]+ s; the broker restarted/.test(l));
    await publish('restart.two', 2);
    await t.waitOut((l) => l.includes('restart.two'));

    // A clean stop: SHUTTING_DOWN, the socket file removed, then a new broker.
    broker.kill('SIGTERM');
    await broker.exited;
    await t.waitErr((l) => l.includes('udsbus tap: the broker is shutting down'));
    await startBrokerProcess();
    await t.waitErr(() => t.err.filter((x) => x.includes('udsbus tap: reconnected')).length >= 2);
    await publish('restart.three', 3);
    await t.waitOut((l) => l.includes('restart.three'));

    // Each message exactly once: one connection, not several racing reconnects.
    expect(t.out.map((l) => (JSON.parse(l) as { topic: string }).topic)).toEqual(['restart.one', 'restart.two', 'restart.three']);
    expect(t.child.exitCode).toBe(null);
  });

  it('stats --watch --json keeps sampling after a restart, counters starting again', async () => {
    let broker = await startBrokerProcess();
    const s = startCli(['stats', '--socket', socket, '--watch', '--json', '--interval', '0.2']);
    running.push(s);
    await s.waitOutLines(1);
    broker.kill('SIGKILL');
    await broker.exited;
    await s.waitErr((l) => l.includes('udsbus stats: lost the connection'));
    broker = await startBrokerProcess();
    await s.waitErr((l) => l.includes('udsbus stats: reconnected'));
    const n = s.out.length;
    await s.waitOutLines(n + 1);
    const last = JSON.parse(s.out[n]!) as { uptimeMs: number; connections: number };
    expect(last.connections).toBeGreaterThanOrEqual(1);
    expect(s.child.exitCode).toBe(null);
  });
});
