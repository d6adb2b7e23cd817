/**
 * Issue 16, "identity": a client checks which uid runs the broker before it says a word, and the
 * default socket lookup of the library finds the system broker. Real processes and real uids: the
 * test runs as root and starts brokers (and clients) as nobody through setpriv / spawn({uid}).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { join } from 'node:path';
import { firstValueFrom } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { BrokerUntrustedError, connect, startBroker, type Client } from '../bus/index.js';
import { checkBroker, resolveTrust, type Trust } from '../bus/client/broker-identity.js';
import { loadPeerCred, loadPeerCredFrom } from '../bus/security/peercred.js';
import { CLI, runCli, tempDir, waitForLine } from './helpers/harness.js';

const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const hasSetpriv = spawnSync('which', ['setpriv']).status === 0;
const peercred = loadPeerCred();
const canRun = isRoot && hasSetpriv && peercred.available;
if (!canRun) {
  console.warn(
    `skipping the broker identity tests: ${!isRoot ? 'they need root to run a broker as another uid' : !hasSetpriv ? 'setpriv (util-linux) is not installed' : `peer credentials unavailable (${(peercred as { reason: string }).reason})`}`,
  );
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A shared directory like /tmp: everyone may create entries, nobody may remove another's (sticky). */
function sharedDir(): string {
  const t = tempDir();
  cleanups.push(t.cleanup);
  chmodSync(t.dir, 0o1777);
  return t.dir;
}

function asNobody(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  cleanups.push(async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise((r) => child.once('close', r));
    child.kill('SIGKILL');
    await gone;
  });
  return child;
}

/** `udsbus broker` as nobody on `socket`; resolves once it listens. */
async function nobodysBroker(socket: string): Promise<ChildProcess> {
  const child = asNobody([CLI, 'broker', '--socket', socket, '--mode', '0666', '--stats-interval', '0']);
  await waitForLine(child.stderr!, (l) => l.includes('listening on'), 15_000);
  return child;
}

async function refusal(p: Promise<Client>): Promise<BrokerUntrustedError> {
  const err = await p.then(
    async (c) => {
      await c.close();
      throw new Error('connected to a broker it should have refused');
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(BrokerUntrustedError);
  return err as BrokerUntrustedError;
}

describe.skipIf(!canRun)('a client verifies the broker it connects to', () => {
  it("refuses by default a broker another user started on a shared path, and accepts it when told to", async () => {
    const socket = join(sharedDir(), 'bus.sock');
    await nobodysBroker(socket);

    const err = await refusal(connect({ socket, reconnect: false }));
    expect(err.code).toBe(43);
    expect(err.codeName).toBe('BROKER_UNTRUSTED');
    expect(err.brokerUid).toBe(NOBODY);
    expect(err.trusted).toContain(0);
    expect(err.message).toMatch(/runs as uid 65534 \(pid \d+\), by SO_PEERCRED/);
    expect(err.message).toContain('expectBrokerUid: 65534');

    for (const expectBrokerUid of [NOBODY, [0, NOBODY], 'any'] as const) {
      const c = await connect({ socket, reconnect: false, expectBrokerUid });
      expect(c.connected).toBe(true);
      await c.close();
    }
    // An explicit list without the broker's uid, and values that are no uids, trust nothing.
    expect((await refusal(connect({ socket, reconnect: false, expectBrokerUid: 0 }))).message).toContain('0 (expectBrokerUid)');
    for (const bad of ['nobody', [], -1, 1.5]) {
      const e = await refusal(connect({ socket, reconnect: false, expectBrokerUid: bad as never }));
      expect(e.message).toContain('expectBrokerUid must be a uid');
    }
  });

  it('refuses before sending a single byte', async () => {
    const dir = sharedDir();
    const socket = join(dir, 'fake.sock');
    // Not a broker: a listener that reports how many bytes each connection sent it.
    const script = join(dir, 'count.cjs');
    writeFileSync(
      script,
      `const s = require('node:net').createServer((c) => { let n = 0; c.on('data', (d) => (n += d.length)); c.on('close', () => console.log('bytes ' + n)); });
       s.listen(${JSON.stringify(socket)}, () => console.log('listening'));`,
      { mode: 0o644 },
    );
    const fake = asNobody([script]);
    await waitForLine(fake.stdout!, (l) => l === 'listening');
    const counted = waitForLine(fake.stdout!, (l) => l.startsWith('bytes '));
    await refusal(connect({ socket, reconnect: false }));
    expect(await counted).toBe('bytes 0');
  });

  it('without peer credentials it falls back to the socket file owner, and says so', async () => {
    const socket = join(sharedDir(), 'bus.sock');
    await nobodysBroker(socket);
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = createConnection(socket, () => resolve(s)).once('error', reject);
    });
    cleanups.push(() => void sock.destroy());
    const unavailable = loadPeerCredFrom('./no-such-addon-here');
    expect(unavailable.available).toBe(false);
    const trust = resolveTrust(undefined, {}) as Trust;
    const err = checkBroker(sock, socket, trust, unavailable);
    expect(err?.brokerUid).toBe(NOBODY);
    expect(err?.message).toContain("by the socket file's owner (peer credentials unavailable:");
    expect(checkBroker(sock, socket, resolveTrust(NOBODY) as Trust, unavailable)).toBeUndefined();
    // Nothing to ask at all (the file is gone): refused, never waved through.
    const gone = checkBroker(sock, join(socket, '..', 'gone.sock'), resolveTrust(NOBODY) as Trust, unavailable);
    expect(gone?.message).toMatch(/cannot find out which uid runs the broker.*expectBrokerUid: 'any'/);
  });

  it('a reconnecting client reports each refused attempt as an error event', async () => {
    const dir = sharedDir();
    const socket = join(dir, 'bus.sock');
    const mine = await startBroker({ socket, mode: 0o666, statsIntervalMs: 0 });
    const client = await connect({ socket, reconnectInitialMs: 20, reconnectMaxMs: 100 });
    cleanups.push(() => client.close());
    const errors: Error[] = [];
    const twoRefusals = new Promise<void>((resolve) =>
      client.on('error', (e) => {
        errors.push(e);
        if (errors.filter((x) => x instanceof BrokerUntrustedError).length >= 2) resolve();
      }),
    );
    await mine.close();
    await nobodysBroker(socket); // another user takes the path while we are away
    await twoRefusals;
    expect(client.connected).toBe(false);
    const refused = errors.filter((x): x is BrokerUntrustedError => x instanceof BrokerUntrustedError);
    expect(refused[0]!.brokerUid).toBe(NOBODY);
  });

  it('udsbus pub refuses another user\'s broker with exit 2 and says how to trust it', async () => {
    const socket = join(sharedDir(), 'bus.sock');
    await nobodysBroker(socket);
    const r = await runCli(['pub', '--socket', socket, 'camera.status.cam-01', '{"state":"online"}']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/refusing the broker on .*bus\.sock: it runs as nobody \(uid 65534\).*--expect-broker-uid 65534/);
    expect((await runCli(['pub', '--socket', socket, '--expect-broker-uid', '65534', 'camera.status.cam-01', '{}'])).code).toBe(0);
    expect((await runCli(['pub', '--socket', socket, 'camera.status.cam-01', '{}'], { env: { UDSBUS_EXPECT_BROKER_UID: 'any' } })).code).toBe(0);
    const tap = await runCli(['tap', '--socket', socket, '--count', '1', '--timeout', '2000']);
    expect(tap.code).toBe(2);
    expect(tap.stderr).toContain('--expect-broker-uid 65534');
  });
});

describe.skipIf(!canRun)('udsbus doctor', () => {
  it("fails the broker check for another user's broker, naming its uid and the flag; passes with the flag", async () => {
    const socket = join(sharedDir(), 'bus.sock');
    await nobodysBroker(socket);
    const r = await runCli(['doctor', '--socket', socket, '--group', 'root']);
    expect(r.code).toBe(1);
    const line = r.stdout.split('\n').find((l) => /^\S+\s+broker /.test(l)) ?? '';
    expect(line).toMatch(/^FAIL broker .*runs as nobody \(uid 65534\), which clients do not trust by default/);
    expect(r.stdout).toContain('--expect-broker-uid 65534');
    const ok = await runCli(['doctor', '--socket', socket, '--group', 'root', '--expect-broker-uid', '65534']);
    expect(ok.stdout.split('\n').find((l) => /^\S+\s+broker /.test(l))).toMatch(/^ok\s+broker\s+answers in/);
  });
});

describe.skipIf(!canRun)('the library finds the system broker', () => {
  /** A client process as nobody with no socket option; prints "ok" or the error. */
  function nobodyConnects(dir: string, env: NodeJS.ProcessEnv): Promise<string> {
    const script = join(dir, 'client.mjs');
    writeFileSync(
      script,
      `import { connect } from ${JSON.stringify(new URL('../dist/bus/index.js', import.meta.url).pathname)};
       try { const c = await connect({ name: 'lookup', reconnect: false }); console.log('ok'); await c.close(); }
       catch (e) { console.log(e.message); }`,
      { mode: 0o644 },
    );
    const runtime = join(dir, 'runtime');
    mkdirSync(runtime, { recursive: true, mode: 0o755 });
    const { UDSBUS_SOCKET: _ignored, ...rest } = process.env;
    const child = spawn(process.execPath, [script], { uid: NOBODY, gid: NOBODY, env: { ...rest, XDG_RUNTIME_DIR: runtime, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    return waitForLine(child.stdout!, (l) => l.length > 0, 20_000);
  }

  it("a non-root user's connect() without a socket reaches root's broker on the system socket", async () => {
    const dir = sharedDir();
    const system = join(dir, 'system.sock');
    const b = await startBroker({ socket: system, mode: 0o666, statsIntervalMs: 0 });
    cleanups.push(() => b.close());
    expect(await nobodyConnects(dir, { UDSBUS_SYSTEM_SOCKET: system })).toBe('ok');
  });

  it('the CLI uses the same lookup: udsbus pub as nobody without --socket reaches the system broker', async () => {
    const dir = sharedDir();
    const system = join(dir, 'system.sock');
    const b = await startBroker({ socket: system, mode: 0o666, statsIntervalMs: 0 });
    cleanups.push(() => b.close());
    const watcher = await connect({ socket: system });
    cleanups.push(() => watcher.close());
    const got = firstValueFrom(watcher.subscribe('demo.lookup'));
    await watcher.flush();
    const runtime = join(dir, 'runtime');
    mkdirSync(runtime, { mode: 0o755 });
    const { UDSBUS_SOCKET: _ignored, ...rest } = process.env;
    const child = spawn(process.execPath, [CLI, 'pub', 'demo.lookup', '1'], {
      uid: NOBODY,
      gid: NOBODY,
      env: { ...rest, XDG_RUNTIME_DIR: runtime, UDSBUS_SYSTEM_SOCKET: system },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(0);
    const m = await got;
    expect(m.payload).toBe(1);
    expect(m.from?.uid).toBe(NOBODY);
  });

  it('when neither socket exists, the error names every path tried', async () => {
    const dir = sharedDir();
    const line = await nobodyConnects(dir, { UDSBUS_SYSTEM_SOCKET: join(dir, 'none.sock') });
    expect(line).toContain(`${join(dir, 'runtime', 'udsbus', 'bus.sock')}, ${join(dir, 'none.sock')}`);
    expect(line).toMatch(/^DISCONNECTED: no broker socket at any of/);
  });
});
