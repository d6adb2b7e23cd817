import { spawn, spawnSync } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { getSystemErrorName } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { loadPeerCred, loadPeerCredFrom, type PeerCred, type PeerCredAvailable } from '../bus/security/peercred.js';

const support = loadPeerCred();
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const NOBODY = 65534;
const hasSetpriv = spawnSync('setpriv', ['--version'], { stdio: 'ignore' }).status === 0;

if (!support.available) {
  console.warn(`[peercred.test] skipping: native addon unavailable: ${support.reason}`);
} else if (!isRoot) {
  console.warn(
    '[peercred.test] skipping cross-user cases: they spawn clients as uid/gid 65534 (nobody), which needs root',
  );
} else if (!hasSetpriv) {
  console.warn('[peercred.test] skipping supplementary-group cases: setpriv(1) not found (util-linux)');
}

/** Narrowed accessor; only called inside suites that are skipped when unavailable. */
function addon(): PeerCredAvailable {
  if (!support.available) throw new Error(`peercred unavailable: ${support.reason}`);
  return support;
}

interface Accepted {
  /** Credentials read synchronously in the 'connection' handler. */
  cred: PeerCred | undefined;
  socket: net.Socket;
  /** First newline-terminated line the client sends. */
  line: Promise<string>;
}

interface UnixServer {
  dir: string;
  sockPath: string;
  next(): Promise<Accepted>;
  close(): Promise<void>;
}

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const fn of cleanups.splice(0).reverse()) await fn();
});

/** A net server on a Unix socket in a fresh mkdtemp dir, reachable by other users. */
async function startUnixServer(): Promise<UnixServer> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'udsbus-peercred-'));
  const sockPath = path.join(dir, 'bus.sock');
  const queue: Accepted[] = [];
  const waiters: Array<(a: Accepted) => void> = [];
  const server = net.createServer((socket) => {
    const cred = addon().get(socket);
    const line = new Promise<string>((resolve, reject) => {
      let buf = '';
      socket.setEncoding('utf8');
      socket.on('data', (chunk: string) => {
        buf += chunk;
        const nl = buf.indexOf('\n');
        if (nl >= 0) resolve(buf.slice(0, nl));
      });
      socket.on('error', reject);
      socket.on('end', () => reject(new Error(`client ended before sending a line (got ${JSON.stringify(buf)})`)));
    });
    line.catch(() => undefined);
    const accepted: Accepted = { cred, socket, line };
    const waiter = waiters.shift();
    if (waiter) waiter(accepted);
    else queue.push(accepted);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(sockPath, () => resolve());
  });
  // mkdtemp makes the dir 0700; let uid 65534 traverse it and connect.
  await chmod(dir, 0o755);
  await chmod(sockPath, 0o777);
  const srv: UnixServer = {
    dir,
    sockPath,
    next: () =>
      new Promise<Accepted>((resolve) => {
        const a = queue.shift();
        if (a) resolve(a);
        else waiters.push(resolve);
      }),
    close: async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(dir, { recursive: true, force: true });
    },
  };
  cleanups.push(srv.close);
  return srv;
}

function connectUnix(sockPath: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sockPath, () => resolve(c));
    c.once('error', reject);
    cleanups.push(async () => {
      c.destroy();
    });
  });
}

/** Client run in a child process: reports what it believes it is, then waits for the server's goodbye. */
const CHILD_CLIENT = `
const net = require('node:net');
const s = net.connect(process.env.UDSBUS_SOCK, () => {
  s.write(JSON.stringify({ pid: process.pid, uid: process.getuid(), gid: process.getgid(), groups: process.getgroups() }) + '\\n');
});
s.on('data', () => s.end());
s.on('error', (err) => { console.error(String(err)); process.exit(2); });
`;

interface ChildReport {
  pid: number;
  uid: number;
  gid: number;
  groups: number[];
}

/** Spawn a client (optionally through a wrapper such as setpriv), return server-side view + child's self-report. */
async function runChildClient(
  srv: UnixServer,
  command: string,
  args: string[],
  ids: { uid?: number; gid?: number } = {},
): Promise<{ cred: PeerCred | undefined; report: ChildReport; childPid: number | undefined }> {
  let stderr = '';
  const child = spawn(command, args, {
    ...ids,
    cwd: srv.dir,
    env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', UDSBUS_SOCK: srv.sockPath },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => resolve(code));
  });
  const accepted = await Promise.race([
    srv.next(),
    exited.then((code) => {
      throw new Error(`client exited (${code}) before connecting: ${stderr}`);
    }),
  ]);
  const report = JSON.parse(await accepted.line) as ChildReport;
  accepted.socket.end('bye\n');
  const code = await exited;
  expect(code, `client stderr: ${stderr}`).toBe(0);
  return { cred: accepted.cred, report, childPid: child.pid };
}

describe.skipIf(!support.available)('peercred (same process)', () => {
  it('server side sees this process pid/uid/gid/groups', async () => {
    const srv = await startUnixServer();
    const [client, accepted] = await Promise.all([connectUnix(srv.sockPath), srv.next()]);
    expect(accepted.cred).toBeDefined();
    const cred = accepted.cred!;
    expect(cred.pid).toBe(process.pid);
    expect(cred.uid).toBe(process.getuid!());
    expect(cred.gid).toBe(process.getgid!());
    expect(cred.groups).toEqual(expect.arrayContaining(process.getgroups!()));
    expect(cred.groups).toContain(cred.gid);
    // The client side sees the listener's credentials (recorded at listen()), i.e. us too.
    const back = addon().get(client);
    expect(back).toEqual(cred);
  });

  it('getPeerCred(fd) agrees with get(socket) and socket._handle.fd', async () => {
    const srv = await startUnixServer();
    const [, accepted] = await Promise.all([connectUnix(srv.sockPath), srv.next()]);
    const fd = (accepted.socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
    expect(typeof fd).toBe('number');
    expect(addon().getPeerCred(fd as number)).toEqual(accepted.cred);
  });

  it('returns undefined for TCP and for destroyed sockets', async () => {
    const server = net.createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    cleanups.push(() => new Promise<void>((resolve) => server.close(() => resolve())));
    const accepted = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const port = (server.address() as net.AddressInfo).port;
    const client = await new Promise<net.Socket>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1', () => resolve(c));
      c.once('error', reject);
    });
    const serverSide = await accepted;
    try {
      expect(addon().get(serverSide)).toBeUndefined();
      expect(addon().get(client)).toBeUndefined();
      // Raw fd of a TCP socket: refused rather than answering uid 4294967295.
      const fd = (serverSide as unknown as { _handle: { fd: number } })._handle.fd;
      expect(() => addon().getPeerCred(fd)).toThrow(expect.objectContaining({ code: 'EAFNOSUPPORT' }));
    } finally {
      client.destroy();
      serverSide.destroy();
    }
    expect(addon().get(client)).toBeUndefined();
    expect(addon().get(new net.Socket())).toBeUndefined();
  });

  it('throws Node-style system errors for bad fds', () => {
    const catchErr = (fn: () => unknown): NodeJS.ErrnoException => {
      try {
        fn();
      } catch (err) {
        return err as NodeJS.ErrnoException;
      }
      throw new Error('expected a throw');
    };
    const ebadf = catchErr(() => addon().getPeerCred(1_000_000));
    expect(ebadf).toBeInstanceOf(Error);
    expect(ebadf.code).toBe('EBADF');
    expect(ebadf.syscall).toBe('getsockopt');
    expect(getSystemErrorName(ebadf.errno!)).toBe('EBADF');

    const fileFd = openSync(process.execPath, 'r');
    try {
      const enotsock = catchErr(() => addon().getPeerCred(fileFd));
      expect(enotsock.code).toBe('ENOTSOCK');
      expect(getSystemErrorName(enotsock.errno!)).toBe('ENOTSOCK');
    } finally {
      closeSync(fileFd);
    }

    expect(() => addon().getPeerCred('3' as unknown as number)).toThrow(TypeError);
    expect(() => addon().getPeerCred(-1)).toThrow(RangeError);
    expect(() => addon().getPeerCred(1.5)).toThrow(RangeError);
  });
});

describe('peercred wrapper', () => {
  it('reports a missing addon instead of throwing', () => {
    const missing = loadPeerCredFrom('udsbus-peercred-definitely-not-installed');
    expect(missing.available).toBe(false);
    if (!missing.available) expect(missing.reason).toMatch(/not installed/);
  });

  it('memoizes the load', () => {
    expect(loadPeerCred()).toBe(support);
  });
});

describe.skipIf(!support.available || !isRoot)('peercred (cross-user, root only)', () => {
  it('sees uid/gid 65534 and the pid of a child running as nobody', async () => {
    const srv = await startUnixServer();
    const { cred, report, childPid } = await runChildClient(srv, process.execPath, ['-e', CHILD_CLIENT], {
      uid: NOBODY,
      gid: NOBODY,
    });
    expect(report.uid).toBe(NOBODY);
    expect(cred).toBeDefined();
    expect(cred!.uid).toBe(NOBODY);
    expect(cred!.gid).toBe(NOBODY);
    expect(cred!.pid).toBe(childPid);
    expect(cred!.pid).toBe(report.pid);
    // libuv drops supplementary groups when it changes uid/gid.
    expect([...cred!.groups]).toEqual([NOBODY]);
  });

  it.skipIf(!hasSetpriv)('sees supplementary groups set with setpriv (65534,100)', async () => {
    const srv = await startUnixServer();
    const { cred, report, childPid } = await runChildClient(srv, 'setpriv', [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      `--groups=${NOBODY},100`,
      process.execPath,
      '-e',
      CHILD_CLIENT,
    ]);
    expect(cred).toBeDefined();
    expect(cred!.uid).toBe(NOBODY);
    expect(cred!.gid).toBe(NOBODY);
    expect(cred!.pid).toBe(childPid); // setpriv execs node in place
    expect(cred!.pid).toBe(report.pid);
    expect([...cred!.groups].sort((a, b) => a - b)).toEqual([100, NOBODY]);
    expect(cred!.groups).toEqual(expect.arrayContaining(report.groups));
  });

  it.skipIf(!hasSetpriv)('handles more groups than the first SO_PEERGROUPS buffer (ERANGE retry)', async () => {
    const srv = await startUnixServer();
    const many = Array.from({ length: 200 }, (_, i) => 20_000 + i);
    const { cred, report } = await runChildClient(srv, 'setpriv', [
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      `--groups=${many.join(',')}`,
      process.execPath,
      '-e',
      CHILD_CLIENT,
    ]);
    expect(cred).toBeDefined();
    expect([...cred!.groups].sort((a, b) => a - b)).toEqual([...many, NOBODY]);
    expect(cred!.groups).toEqual(expect.arrayContaining(report.groups));
  });
});
