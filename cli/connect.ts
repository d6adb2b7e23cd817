/**
 * Connecting from the CLI: the client's connect error, turned into one line that says what is
 * wrong with the socket path and what to do about it, and exit code 2.
 */
import { accessSync, constants, lstatSync, statSync, type Stats } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname } from 'node:path';
import { userInfo } from 'node:os';
import { connect, type Client, type ConnectOptions } from 'udsbus';
import { BrokerUntrustedError, UdsbusError } from 'udsbus/core';
import { die } from './common.js';
import { Exit } from './exit-codes.js';
import { otherCandidates } from 'udsbus/paths';

/** Connect or exit 2 with an explanation. */
export async function connectOrExit(socket: string, name: string, opts: Omit<ConnectOptions, 'socket' | 'name'> = {}): Promise<Client> {
  try {
    return await connect({ ...opts, socket, name });
  } catch (err) {
    die(explainConnectFailure(err, socket), Exit.CONNECT);
  }
}

/** One line: what went wrong with `path` and what to do next. */
export function explainConnectFailure(err: unknown, path: string): string {
  if (err instanceof BrokerUntrustedError) return untrusted(err, path);
  const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
  const code = cause?.code ?? (err as NodeJS.ErrnoException).code;
  const start = `start one with "udsbus broker --socket ${path}", or point --socket / UDSBUS_SOCKET at the broker's socket`;
  switch (code) {
    case 'ENOENT': {
      const others = otherCandidates(path);
      if (others.length > 0) {
        return `no broker socket at ${path} (your own broker) nor at ${others.join(' or ')} (the system broker); start one with "udsbus broker", start the system broker (systemctl start udsbus.socket), or point --socket / UDSBUS_SOCKET at a broker's socket`;
      }
      const dir = dirname(path);
      if (!exists(dir)) return `no such file: ${path} (directory ${dir} does not exist); is the broker running? ${start}`;
      return `no such file: ${path} — no broker socket there; ${start}`;
    }
    case 'ECONNREFUSED': {
      const st = lstatOrUndefined(path);
      if (st !== undefined && !st.isSocket()) return notASocket(path, st);
      return `no broker is listening on ${path} (a stale socket file from a broker that stopped); ${start} — it replaces the stale file`;
    }
    case 'ENOTSOCK':
    case 'ENOTDIR': {
      const st = lstatOrUndefined(path);
      return st !== undefined ? notASocket(path, st) : `${path} is not a socket (a part of the path is not a directory); check --socket / UDSBUS_SOCKET`;
    }
    case 'EACCES':
    case 'EPERM':
      return permissionDenied(path);
    default:
      break;
  }
  if (err instanceof UdsbusError) {
    if (err.codeName === 'TIMEOUT') {
      return `${path} accepted the connection but sent no welcome in time; is it a udsbus broker? check --socket / UDSBUS_SOCKET`;
    }
    if (err.fatal) return `the broker on ${path} refused the connection: ${err.message}`;
  }
  return `cannot connect to ${path}: ${(err as Error).message}; check that the broker is running (udsbus broker --socket ${path})`;
}

/** The broker runs as a uid this command does not trust: name it and the flag that trusts it. */
function untrusted(err: BrokerUntrustedError, path: string): string {
  if (err.brokerUid === undefined) return `refusing the broker on ${path}: ${err.message.replace(/^BROKER_UNTRUSTED: /, '')}`;
  const trusted = err.trusted.map((u) => userName(u)).join(', ');
  return `refusing the broker on ${path}: it runs as ${userName(err.brokerUid)}, and this command trusts only ${trusted}; another user may have started a broker on your socket path. If you trust it, pass --expect-broker-uid ${err.brokerUid} (or --expect-broker-uid any; env UDSBUS_EXPECT_BROKER_UID)`;
}

function notASocket(path: string, st: Stats): string {
  const kind = st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file' : st.isSymbolicLink() ? 'a symbolic link' : 'not a socket';
  return `${path} is not a socket (it is ${kind}); point --socket / UDSBUS_SOCKET at the broker's socket (udsbus broker prints its path when it starts)`;
}

/** Why may this user not connect? Names the blocking directory or the socket's owner, group, mode. */
function permissionDenied(path: string): string {
  const me = whoAmI();
  // A directory on the way that we may not enter hides the socket entirely.
  for (const dir of ancestors(path)) {
    try {
      accessSync(dir, constants.X_OK);
    } catch {
      const st = statOrUndefined(dir);
      const desc = st ? ` (${ownership(st)})` : '';
      return `permission denied: ${me.label} may not enter directory ${dir}${desc}, so cannot reach ${path}; ask an admin to make it traversable or put the socket elsewhere (udsbus broker --socket)`;
    }
  }
  const st = statOrUndefined(path);
  if (st === undefined) return `permission denied on ${path}: ${me.label} may not open it; check its owner, group and mode (ls -l ${path})`;
  const mode = st.mode & 0o777;
  const group = groupName(st.gid);
  const head = `permission denied on ${path}: ${ownership(st)}, and ${me.label}`;
  if (st.uid === me.uid) return `${head} owns it but the mode gives the owner no write access; restart the broker with --mode 0660`;
  if (me.groups.includes(st.gid)) {
    if ((mode & 0o020) === 0) return `${head} is in group ${group} but the mode gives the group no write access; restart the broker with --mode 0660`;
    return `${head} is in group ${group}; check ACLs or security modules (ls -l ${path})`;
  }
  if ((mode & 0o020) === 0) {
    return `${head} is not its owner and the mode ${octal(mode)} lets only the owner in; run as ${userName(st.uid)}, or restart the broker with --mode 0660 --group <a group you are in>`;
  }
  return `${head} is not in group ${group}; ask an admin to add you (sudo usermod -aG ${group} ${me.name}) and log in again, or run as a member of ${group}`;
}

function ancestors(path: string): string[] {
  const out: string[] = [];
  for (let d = dirname(path); ; d = dirname(d)) {
    out.unshift(d);
    if (dirname(d) === d) break;
  }
  return out;
}

function ownership(st: Stats): string {
  return `owner ${userName(st.uid)}, group ${groupName(st.gid)} (gid ${st.gid}), mode ${octal(st.mode & 0o777)}`;
}

function octal(mode: number): string {
  return `0${mode.toString(8).padStart(3, '0')}`;
}

function whoAmI(): { uid: number; name: string; label: string; groups: number[] } {
  const uid = process.getuid?.() ?? -1;
  let name: string;
  try {
    name = userInfo().username;
  } catch {
    name = userName(uid);
  }
  const groups = [...(process.getgroups?.() ?? []), process.getgid?.() ?? -1];
  return { uid, name, label: `user ${name} (uid ${uid})`, groups };
}

/** Name from `getent` (passwd/group), or the number when there is none. */
function getentName(db: 'passwd' | 'group', id: number): string | undefined {
  try {
    const line = execFileSync('getent', [db, String(id)], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] });
    const name = line.split(':')[0];
    return name !== undefined && name !== '' ? name : undefined;
  } catch {
    return undefined;
  }
}

function userName(uid: number): string {
  const n = getentName('passwd', uid);
  return n === undefined ? `uid ${uid}` : `${n} (uid ${uid})`;
}

function groupName(gid: number): string {
  return getentName('group', gid) ?? String(gid);
}

function exists(p: string): boolean {
  return lstatOrUndefined(p) !== undefined;
}

function lstatOrUndefined(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

function statOrUndefined(p: string): Stats | undefined {
  try {
    return statSync(p);
  } catch {
    return undefined;
  }
}
