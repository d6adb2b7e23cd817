/**
 * `udsbus doctor` against real broker processes: healthy (a member of the socket's group), and
 * broken (not in the group, a stale socket left by a killed broker, no socket at all), each
 * answered in one line with what to do. The uid-switching cases need root (as cli-errors does).
 */
import { chmodSync, chownSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { tempDir } from './helpers/harness.js';
import { runToEnd, startCli, type CliProcess } from './helpers/cli.js';

const isRoot = process.getuid?.() === 0;
if (!isRoot) process.stdout.write('skipping doctor group tests: they need root to run the CLI as uid 65534\n');
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function broker(args: string[]): Promise<CliProcess> {
  // Log level info: readiness is the "start" line (at warn it never comes and the wait times out).
  const b = startCli(['broker', '-q', ...args]);
  cleanups.push(async () => {
    b.kill('SIGKILL');
    await b.exited;
  });
  await b.waitOut((l) => l.includes('"evt":"start"') || l.includes('"level":60'), 15_000);
  return b;
}

function lineOf(out: string, check: string): string {
  const line = out.split('\n').find((l) => l.slice(5).startsWith(check.padEnd(8)));
  if (line === undefined) throw new Error(`no ${check} line in:\n${out}`);
  return line;
}

function setup(): string {
  const t = tempDir('udsbus-doctor-');
  cleanups.push(t.cleanup);
  chmodSync(t.dir, 0o755); // traversable for uid 65534
  return t.dir;
}

describe('udsbus doctor', () => {
  it.skipIf(!isRoot)('healthy: a member of the socket group gets ok on every line, with the broker version', async () => {
    const dir = setup();
    const socket = join(dir, 'bus.sock');
    const data = join(dir, 'data');
    mkdirSync(data);
    chownSync(data, 65534, 44);
    await broker(['--socket', socket, '--group', '44', '--mode', '0660', '--data', data]);
    const r = await runToEnd(['doctor', '--socket', socket, '--data', data, '--group', 'video', '--timeout', '15'], { uid: 65534, gid: 44, ms: 40_000 });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(7);
    expect(lineOf(r.stdout, 'socket')).toMatch(new RegExp(`^ok   socket  ${socket} \\(--socket\\) is a socket$`));
    expect(lineOf(r.stdout, 'mode')).toBe('ok   mode    0660 (owner and group)');
    expect(lineOf(r.stdout, 'owner')).toMatch(/^ok   owner   owner root, group \S+$/);
    expect(lineOf(r.stdout, 'access')).toMatch(/^ok   access  \S+ \(uid 65534\) is in group \S+$/);
    expect(lineOf(r.stdout, 'broker')).toMatch(/^ok   broker  answers in \d+ ms: udsbus \d+\.\d+\.\d+ \(boot [0-9a-f]+\)$/);
    expect(lineOf(r.stdout, 'data')).toMatch(new RegExp(`^ok   data    ${data} \\(owner \\S+, mode 0\\d+\\), writable, \\d+ MB free`));
    expect(lineOf(r.stdout, 'addon')).toMatch(/^(ok   |WARN )addon   /);
  });

  it.skipIf(!isRoot)('broken: not in the socket group — says which group and the usermod line', async () => {
    const dir = setup();
    const socket = join(dir, 'bus.sock');
    await broker(['--socket', socket, '--mode', '0660']); // group root
    const r = await runToEnd(['doctor', '--socket', socket], { uid: 65534, gid: 65534 });
    expect(r.code).toBe(1);
    expect(lineOf(r.stdout, 'access')).toMatch(/^FAIL access  (\S+) \(uid 65534\) is not in group (\S+), which the socket needs → sudo usermod -aG \2 \1, then log in again$/);
    expect(lineOf(r.stdout, 'broker')).toMatch(/^FAIL broker  permission denied connecting/);
    expect(lineOf(r.stdout, 'data')).toMatch(/^-    data    no data directory given/);
  });

  it('broken: a stale socket from a killed broker, and no socket at all; --json gives one object per check', async () => {
    const dir = setup();
    const socket = join(dir, 'bus.sock');
    const b = await broker(['--socket', socket]);
    b.kill('SIGKILL'); // leaves the socket file behind
    await b.exited;
    const stale = await runToEnd(['doctor', '--socket', socket]);
    expect(stale.code).toBe(1);
    expect(lineOf(stale.stdout, 'socket')).toMatch(/^ok   socket/);
    expect(lineOf(stale.stdout, 'broker')).toMatch(/^FAIL broker  nobody listens on the socket \(a broker that stopped left it behind\) → systemctl restart udsbus.socket udsbus/);

    const none = await runToEnd(['doctor', '--socket', join(dir, 'none', 'bus.sock'), '--json']);
    expect(none.code).toBe(1);
    const checks = none.stdout.trim().split('\n').map((l) => JSON.parse(l) as { status: string; check: string; fix?: string });
    expect(checks.map((c) => c.check)).toEqual(['socket', 'mode', 'owner', 'access', 'broker', 'data', 'addon']);
    expect(checks[0]).toMatchObject({ status: 'fail', check: 'socket' });
    expect(checks[0]!.fix).toMatch(/systemctl start udsbus.socket/);
  });

  it('mode: connecting needs write permission, so 0644 is owner-only (ok) and only o+w (0666) is open to every user (warn)', async () => {
    const dir = setup();
    const line = async (mode: string) => {
      const socket = join(dir, `bus-${mode}.sock`);
      await broker(['--socket', socket, '--mode', mode]);
      return lineOf((await runToEnd(['doctor', '--socket', socket])).stdout, 'mode');
    };
    expect(await line('0644')).toBe('ok   mode    0644 (owner only)');
    expect(await line('0664')).toBe('ok   mode    0664 (owner and group)');
    expect(await line('0666')).toBe('WARN mode    0666: every user on the machine may connect (others may write) → set SocketMode=0660 in udsbus.socket (or udsbus broker --mode 0660) and give access through the group');
  });

  // Needs a machine without a system broker: the lookup would (rightly) find it.
  const systemBroker = existsSync('/run/udsbus/bus.sock');
  if (isRoot && systemBroker) process.stdout.write('skipping the default-lookup doctor test: /run/udsbus/bus.sock exists (a system broker, or one left behind)\n');
  it.skipIf(!isRoot || systemBroker)('default lookup: with no broker anywhere, the error and doctor name the user socket and the system socket', async () => {
    const dir = setup();
    chownSync(dir, 65534, 65534);
    const env = { UDSBUS_SOCKET: '', XDG_RUNTIME_DIR: dir };
    const mine = join(dir, 'udsbus', 'bus.sock');
    const r = await runToEnd(['pub', 'a.b', '1'], { uid: 65534, gid: 65534, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      `udsbus: no broker socket at ${mine} (your own broker) nor at /run/udsbus/bus.sock (the system broker); start one with "udsbus broker", start the system broker (systemctl start udsbus.socket), or point --socket / UDSBUS_SOCKET at a broker's socket`,
    );
    const d = await runToEnd(['doctor'], { uid: 65534, gid: 65534, env });
    expect(lineOf(d.stdout, 'socket')).toBe(`FAIL socket  ${mine} (default; tried ${mine}, /run/udsbus/bus.sock) does not exist, nor does ${join(dir, 'udsbus')} → start the broker (systemctl start udsbus.socket, or udsbus broker), or point --socket / UDSBUS_SOCKET at its socket`);
  });
});
