/**
 * The broker as a daemon: a Unix socket listener (and optionally loopback TCP) in front of the
 * transport-independent core. The socket path is handled like a careful daemon would: parent
 * created, a live broker never replaced, a stale socket removed, anything else refused, and the
 * socket never connectable through a wider mode than asked, not even briefly.
 */
import { chmodSync, chownSync, lstatSync, mkdirSync, statSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { createRequire } from 'node:module';
import { Broker, type BrokerOptions } from './broker.js';
import { defaultSocketPath } from '../paths.js';
import { loadPeerCred, type PeerCredSupport } from '../security/peercred.js';
import { formatAclErrors, loadAclFile } from '../security/acl.js';

export type StartBrokerOptions = BrokerOptions & {
  /** Unix socket path; default from UDSBUS_SOCKET or the per-user default. */
  socket?: string;
  /** File mode of the socket (default 0o660). */
  mode?: number;
  /** Group (name or gid) to own the socket. */
  group?: string | number;
  /** Also listen on TCP: "PORT" or "HOST:PORT" (host defaults to 127.0.0.1). */
  tcp?: string;
  /** Access rules file (SECURITY.md); needs kernel peer credentials, else startBroker refuses. */
  aclFile?: string;
  /** A listening Unix socket inherited from systemd (LISTEN_FDS, fd 3): the unit owns path, mode and group; never unlinked here. */
  listenFd?: number;
  /** @internal Peer credential support (tests use it to simulate a missing addon). */
  peerCred?: PeerCredSupport;
};

export type BrokerHandle = {
  readonly broker: Broker;
  readonly socketPath: string;
  /** Bound TCP address, when a TCP listener was asked for. */
  readonly tcp: { host: string; port: number } | undefined;
  /** Stop accepting, flush within the grace period, remove the socket file. */
  close(): Promise<void>;
  /**
   * Read the ACL file again (SIGHUP) and apply it without dropping connections; on errors the
   * old rules stay and the errors are returned.
   */
  reloadAcl(): Promise<{ ok: true } | { ok: false; errors: string }>;
};

/** Raised when the socket path cannot be used; `code` says why. */
export class SocketPathError extends Error {
  constructor(
    readonly code: 'IN_USE' | 'NOT_A_SOCKET' | 'NO_ACCESS' | 'UNSAFE_DIR' | 'ACL',
    message: string,
  ) {
    super(message);
    this.name = 'SocketPathError';
  }
}

export async function startBroker(opts: StartBrokerOptions = {}): Promise<BrokerHandle> {
  const socketPath = opts.socket ?? defaultSocketPath();
  const mode = opts.mode ?? 0o660;
  const peerCred = opts.peerCred ?? loadPeerCred();
  let acl = opts.acl;
  if (opts.aclFile !== undefined) {
    // Fail closed: rules keyed on uids mean nothing without the kernel's word for the uid.
    if (!peerCred.available) throw new SocketPathError('ACL', `refusing to start with an ACL file: kernel peer credentials are unavailable (${peerCred.reason})`);
    const r = await loadAclFile(opts.aclFile);
    if (!r.ok) throw new SocketPathError('ACL', `invalid ACL file:\n${formatAclErrors(opts.aclFile, r.errors)}`);
    acl = r.acl;
  }
  // Strict mode decodes every payload on its topics; only then is the native decoder worth its RSS.
  if (opts.strict !== undefined && opts.strict.patterns.length > 0) await import('../protocol/cbor-native.js');
  if (opts.listenFd === undefined) await prepareSocketPath(socketPath);
  const broker = new Broker({ ...opts, ...(acl ? { acl } : {}) });
  const unix = createServer({ pauseOnConnect: false }, (sock) => onSocket(broker, sock, 'unix', peerCred));
  if (opts.listenFd === undefined) await listenUnix(unix, socketPath, mode, opts.group);
  else await new Promise<void>((resolve, reject) => unix.once('error', reject).listen({ fd: opts.listenFd }, () => resolve()));
  let tcpServer: Server | undefined;
  let tcp: { host: string; port: number } | undefined;
  if (opts.tcp !== undefined) {
    const { host, port } = parseHostPort(opts.tcp);
    tcpServer = createServer((sock) => onSocket(broker, sock, 'tcp', peerCred));
    await new Promise<void>((resolve, reject) => {
      tcpServer!.once('error', reject);
      tcpServer!.listen(port, host, () => resolve());
    });
    const addr = tcpServer.address();
    tcp = addr !== null && typeof addr === 'object' ? { host: addr.address, port: addr.port } : { host, port };
  }
  const ino = opts.listenFd === undefined ? lstatSync(socketPath).ino : -1; // an inherited socket's file is not ours to remove
  let closed: Promise<void> | undefined;
  return {
    broker,
    socketPath,
    tcp,
    async reloadAcl() {
      if (opts.aclFile === undefined) return { ok: false, errors: 'the broker was started without an ACL file' };
      const r = await loadAclFile(opts.aclFile);
      if (!r.ok) return { ok: false, errors: formatAclErrors(opts.aclFile, r.errors) };
      broker.setAcl(r.acl);
      return { ok: true };
    },
    close: () =>
      (closed ??= (async () => {
        unix.close();
        tcpServer?.close();
        await broker.close();
        // Remove the file only if it is still ours (a successor may have replaced it).
        try {
          if (lstatSync(socketPath).ino === ino) unlinkSync(socketPath);
        } catch {
          /* already gone */
        }
      })()),
  };
}

function onSocket(broker: Broker, sock: Socket, transport: 'unix' | 'tcp', pc: PeerCredSupport): void {
  if (transport === 'tcp') {
    sock.setNoDelay(true);
    broker.handle(sock, transport);
    return;
  }
  // The kernel's view of the peer at connect time; never read later from /proc (racy).
  let peer;
  if (pc.available) {
    try {
      peer = pc.get(sock);
    } catch {
      peer = undefined;
    }
  }
  broker.handle(sock, transport, peer === undefined ? {} : { pid: peer.pid, uid: peer.uid, gid: peer.gid, groups: [...peer.groups] });
}

function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const host = i < 0 ? '127.0.0.1' : s.slice(0, i).replace(/^\[|\]$/g, '') || '127.0.0.1';
  const port = Number(i < 0 ? s : s.slice(i + 1));
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid --tcp "${s}": expected PORT or HOST:PORT`);
  return { host, port };
}

/** Make the path usable or explain why it is not. */
export async function prepareSocketPath(path: string): Promise<void> {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  // Whoever may write the directory may replace the socket with their own.
  const ds = statSync(dir);
  if ((ds.mode & 0o002) !== 0 && (ds.mode & 0o1000) === 0) {
    throw new SocketPathError('UNSAFE_DIR', `${dir} is writable by every user and not sticky: anyone could replace the socket; use a private directory (or chmod o-w / +t)`);
  }
  const me = process.getuid?.() ?? 0;
  if (ds.uid !== 0 && ds.uid !== me) {
    throw new SocketPathError('UNSAFE_DIR', `${dir} belongs to uid ${ds.uid}, not to root or this user (${me}): its owner could replace the socket`);
  }
  let st;
  try {
    st = lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (!st.isSocket()) {
    throw new SocketPathError('NOT_A_SOCKET', `${path} exists and is not a socket; refusing to replace it (remove it yourself if it is safe)`);
  }
  if (await answers(path)) {
    throw new SocketPathError('IN_USE', `a broker is already listening on ${path}; stop it first or use another --socket`);
  }
  unlinkSync(path); // stale: nobody listens any more
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection(path);
    const done = (v: boolean) => {
      s.destroy();
      resolve(v);
    };
    s.once('connect', () => done(true));
    s.once('error', (err: NodeJS.ErrnoException) => done(err.code === 'EACCES' || err.code === 'EPERM'));
    s.setTimeout(1000, () => done(true));
  });
}

async function listenUnix(server: Server, path: string, mode: number, group: string | number | undefined): Promise<void> {
  // bind() creates the file with mode 0777 & ~umask. Bind owner-only, then chown, then widen to
  // the asked mode: at no moment can anyone connect through a wider mode than asked.
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
  // listen() binds a Unix socket synchronously, so the umask change lasts no longer than bind.
  const old = process.umask(0o177);
  try {
    server.listen(path);
  } finally {
    process.umask(old);
  }
  await listening;
  if (group !== undefined) chownSync(path, -1, resolveGid(group));
  chmodSync(path, mode & 0o777);
}

function resolveGid(group: string | number): number {
  if (typeof group === 'number' || /^\d+$/.test(group)) return Number(group);
  try {
    // child_process only for a group given by name: most brokers never load it (idle RSS).
    const { execFileSync } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    const line = execFileSync('getent', ['group', group], { encoding: 'utf8' });
    const gid = Number(line.split(':')[2]);
    if (Number.isInteger(gid)) return gid;
  } catch {
    /* fall through */
  }
  throw new Error(`unknown group "${group}"`);
}
