/**
 * `udsbus doctor`: the checks an operator runs when a client cannot reach the bus, each answered
 * in one line with what to do. Every check is independent and never throws; a check that cannot
 * run says why instead.
 */
import { accessSync, constants, lstatSync, mkdtempSync, rmSync, statfsSync, writeFileSync, type Stats } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { dirname, join } from 'node:path';
import { userInfo } from 'node:os';
import { requireAddon } from './addon.js';
import { loadPeerCred } from 'udsbus/peercred';
import { checkBroker as verifyBrokerUid, resolveTrust } from 'udsbus';
import { VERSION } from './version.js';

export type Status = 'ok' | 'warn' | 'fail' | 'skip';
export type Check = { status: Status; check: string; detail: string; fix?: string };

export type DoctorInput = {
  socket: string;
  /** How the path was chosen, for the first line. */
  socketSource: string;
  /** Data directory to check, when the broker uses one. */
  data?: string | undefined;
  /** The group the socket should belong to on an appliance. */
  group?: string;
  timeoutMs?: number;
};

type Me = { uid: number; gid: number; groups: number[]; name: string };

function me(): Me {
  const uid = process.getuid?.() ?? -1;
  let name = `uid ${uid}`;
  try {
    name = userInfo().username;
  } catch {
    /* no passwd entry */
  }
  const gid = process.getgid?.() ?? -1;
  return { uid, gid, groups: [...new Set([gid, ...(process.getgroups?.() ?? [])])], name };
}

function getent(db: 'passwd' | 'group', key: string | number): string[] | undefined {
  try {
    const line = execFileSync('getent', [db, String(key)], { encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    return line === '' ? undefined : line.split(':');
  } catch {
    return undefined;
  }
}

const userName = (uid: number) => getent('passwd', uid)?.[0] ?? `uid ${uid}`;
const groupName = (gid: number) => getent('group', gid)?.[0] ?? `gid ${gid}`;
const octal = (m: number) => `0${(m & 0o777).toString(8).padStart(3, '0')}`;

function lstatOr(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch {
    return undefined;
  }
}

/** Socket path: there, a socket, directories on the way enterable. */
export function checkSocketPath(i: DoctorInput): Check {
  const st = lstatOr(i.socket);
  const base = `${i.socket} (${i.socketSource})`;
  if (st === undefined) {
    const dir = dirname(i.socket);
    const d = lstatOr(dir);
    if (d === undefined) return { status: 'fail', check: 'socket', detail: `${base} does not exist, nor does ${dir}`, fix: 'start the broker (systemctl start udsbus.socket, or udsbus broker), or point --socket / UDSBUS_SOCKET at its socket' };
    try {
      accessSync(dir, constants.X_OK);
    } catch {
      return { status: 'fail', check: 'socket', detail: `${base}: you may not enter ${dir} (${octal(d.mode)}, owner ${userName(d.uid)}, group ${groupName(d.gid)})`, fix: `ask an admin to make ${dir} traversable for your group (chmod g+x, RuntimeDirectoryMode=0755 in the unit)` };
    }
    return { status: 'fail', check: 'socket', detail: `${base} does not exist`, fix: 'start the broker (systemctl start udsbus.socket, or udsbus broker), or point --socket / UDSBUS_SOCKET at its socket' };
  }
  if (!st.isSocket()) return { status: 'fail', check: 'socket', detail: `${base} is not a socket (${st.isDirectory() ? 'a directory' : st.isFile() ? 'a regular file' : 'another kind of file'})`, fix: 'point --socket at the broker\'s socket; remove the file if nothing uses it' };
  return { status: 'ok', check: 'socket', detail: `${base} is a socket` };
}

/**
 * Mode: 0660 (or 0600). Connecting to a Unix socket needs write permission on it (connect(2)),
 * and only that: o+w lets every user on the machine connect — and publish to any camera topic —
 * while o+r alone (0644, 0664) grants nobody anything.
 */
export function checkMode(i: DoctorInput): Check {
  const st = lstatOr(i.socket);
  if (st === undefined || !st.isSocket()) return { status: 'skip', check: 'mode', detail: 'no socket to check' };
  const m = st.mode & 0o777;
  if ((m & 0o002) !== 0) return { status: 'warn', check: 'mode', detail: `${octal(m)}: every user on the machine may connect (others may write)`, fix: 'set SocketMode=0660 in udsbus.socket (or udsbus broker --mode 0660) and give access through the group' };
  if ((m & 0o200) === 0) return { status: 'fail', check: 'mode', detail: `${octal(m)}: even the owner may not connect (connecting needs write permission)`, fix: 'use mode 0660' };
  return { status: 'ok', check: 'mode', detail: `${octal(m)}${(m & 0o020) !== 0 ? ' (owner and group)' : ' (owner only)'}` };
}

/** Owner and group: on an appliance root:udsbus, like Docker's root:docker. */
export function checkOwner(i: DoctorInput): Check {
  const st = lstatOr(i.socket);
  if (st === undefined || !st.isSocket()) return { status: 'skip', check: 'owner', detail: 'no socket to check' };
  const owner = userName(st.uid);
  const group = groupName(st.gid);
  const want = i.group ?? 'udsbus';
  if (group !== want && getent('group', want) !== undefined && (st.mode & 0o060) !== 0) {
    return { status: 'warn', check: 'owner', detail: `owner ${owner}, group ${group}; the system group ${want} exists but does not own the socket`, fix: `set SocketGroup=${want} in udsbus.socket (or udsbus broker --group ${want})` };
  }
  return { status: 'ok', check: 'owner', detail: `owner ${owner}, group ${group}` };
}

/** May this user connect (write permission on the socket)? Owner, member of the group with g+w, o+w, or root. */
export function checkAccess(i: DoctorInput): Check {
  const st = lstatOr(i.socket);
  if (st === undefined || !st.isSocket()) return { status: 'skip', check: 'access', detail: 'no socket to check' };
  const u = me();
  const who = `${u.name} (uid ${u.uid})`;
  const group = groupName(st.gid);
  const m = st.mode & 0o777;
  if (u.uid === 0) return { status: 'ok', check: 'access', detail: `${who} is root` };
  if (u.uid === st.uid) return (m & 0o200) !== 0 ? { status: 'ok', check: 'access', detail: `${who} owns the socket` } : { status: 'fail', check: 'access', detail: `${who} owns the socket but mode ${octal(m)} denies the owner`, fix: 'use mode 0660' };
  if (u.groups.includes(st.gid)) {
    return (m & 0o020) !== 0
      ? { status: 'ok', check: 'access', detail: `${who} is in group ${group}` }
      : { status: 'fail', check: 'access', detail: `${who} is in group ${group} but mode ${octal(m)} does not let the group write (connecting needs write permission)`, fix: 'set SocketMode=0660 (or --mode 0660)' };
  }
  if ((m & 0o002) !== 0) return { status: 'ok', check: 'access', detail: `${who} may connect: the socket is open to everyone` };
  // Added to the group but not logged in again: the group database says yes, this process says no.
  const members = getent('group', st.gid)?.[3]?.split(',') ?? [];
  if (members.includes(u.name)) {
    return { status: 'fail', check: 'access', detail: `${who} was added to group ${group}, but this login session predates it`, fix: `log out and in again (or run "newgrp ${group}")` };
  }
  return { status: 'fail', check: 'access', detail: `${who} is not in group ${group}, which the socket needs`, fix: `sudo usermod -aG ${group} ${u.name}, then log in again` };
}

/** Say hello over JSON lines (PROTOCOL.md §1) and read the welcome: liveness, version, boot id. */
export function probeBroker(socket: string, timeoutMs: number): Promise<{ ok: true; server: string; boot: string; ms: number } | { ok: false; code: string; message: string; brokerUid?: number | undefined }> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const s = createConnection(socket);
    let buf = '';
    let done = false;
    const finish = (r: Awaited<ReturnType<typeof probeBroker>>) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const timer = setTimeout(() => finish({ ok: false, code: 'TIMEOUT', message: `no welcome within ${timeoutMs} ms` }), timeoutMs);
    s.setEncoding('utf8');
    s.on('connect', () => {
      // The same check every client makes (SECURITY.md, "Which broker"): an untrusted broker hears nothing.
      const trust = resolveTrust(undefined);
      const untrusted = trust instanceof Error ? trust : verifyBrokerUid(s, socket, trust);
      if (untrusted !== undefined) {
        const uid = untrusted.brokerUid;
        finish({ ok: false, code: 'BROKER_UNTRUSTED', message: uid === undefined ? untrusted.message : `the broker runs as ${userName(uid)} (uid ${uid}), which clients do not trust by default (trusted: ${untrusted.trusted.join(', ')})`, brokerUid: uid });
        return;
      }
      s.write(`${JSON.stringify({ op: 'hello', v: 1, name: 'udsbus-doctor' })}\n`);
    });
    s.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      try {
        const f = JSON.parse(buf.slice(0, nl)) as { op?: string; server?: string; boot?: string; name?: string; text?: string };
        if (f.op === 'welcome') {
          s.write(`${JSON.stringify({ op: 'bye' })}\n`);
          finish({ ok: true, server: f.server ?? 'unknown', boot: f.boot ?? '', ms: Date.now() - t0 });
        } else finish({ ok: false, code: f.name ?? 'REFUSED', message: f.text ?? `answered ${f.op}` });
      } catch (err) {
        finish({ ok: false, code: 'NOT_UDSBUS', message: `answered something that is not udsbus JSON: ${(err as Error).message}` });
      }
    });
    s.on('error', (err: NodeJS.ErrnoException) => finish({ ok: false, code: err.code ?? 'ERROR', message: err.message }));
    s.on('close', () => finish({ ok: false, code: 'CLOSED', message: 'closed the connection without a welcome' }));
  });
}

export async function checkBroker(i: DoctorInput): Promise<Check> {
  const st = lstatOr(i.socket);
  if (st === undefined || !st.isSocket()) return { status: 'skip', check: 'broker', detail: 'no socket to connect to' };
  const r = await probeBroker(i.socket, i.timeoutMs ?? 3000);
  if (r.ok) {
    const theirs = /^udsbus (\S+)$/.exec(r.server)?.[1];
    const detail = `answers in ${r.ms} ms: ${r.server} (boot ${r.boot})`;
    if (theirs !== undefined && theirs !== VERSION) return { status: 'warn', check: 'broker', detail: `${detail}; this udsbus is ${VERSION}`, fix: 'restart the broker after an upgrade (systemctl restart udsbus)' };
    return { status: 'ok', check: 'broker', detail };
  }
  switch (r.code) {
    case 'ECONNREFUSED':
      return { status: 'fail', check: 'broker', detail: 'nobody listens on the socket (a broker that stopped left it behind)', fix: 'systemctl restart udsbus.socket udsbus (or start udsbus broker; it replaces the stale file)' };
    case 'EACCES':
    case 'EPERM':
      return { status: 'fail', check: 'broker', detail: 'permission denied connecting', fix: 'see the access line above' };
    case 'BROKER_UNTRUSTED':
      return {
        status: 'fail',
        check: 'broker',
        detail: r.message,
        fix: `if another user started it on your socket path, stop using that path; if you trust it, pass --expect-broker-uid ${r.brokerUid ?? 'UID'} (or set UDSBUS_EXPECT_BROKER_UID) to every command`,
      };
    case 'PERMISSION_DENIED':
    case 'QUOTA_EXCEEDED':
    case 'TOO_MANY_CONNECTIONS':
      return { status: 'fail', check: 'broker', detail: `the broker refused the connection: ${r.code}: ${r.message}`, fix: r.code === 'TOO_MANY_CONNECTIONS' ? 'raise maxConnections or find the client that leaks connections (udsbus stats --clients)' : 'check the access rules (SECURITY.md) for your uid' };
    default:
      return { status: 'fail', check: 'broker', detail: `${r.code}: ${r.message}`, fix: 'check the broker log (journalctl -u udsbus)' };
  }
}

/** The data directory: there, a directory, writable by this user (where it matters), free space. */
export function checkDataDir(i: DoctorInput): Check {
  if (i.data === undefined) return { status: 'skip', check: 'data', detail: 'no data directory given (--data or the config file): durable subscriptions are off' };
  const st = lstatOr(i.data);
  if (st === undefined) return { status: 'fail', check: 'data', detail: `${i.data} does not exist`, fix: `create it for the broker's user (StateDirectory=udsbus in the unit makes /var/lib/udsbus)` };
  if (!st.isDirectory()) return { status: 'fail', check: 'data', detail: `${i.data} is not a directory`, fix: 'point data at a directory' };
  let writable = true;
  try {
    const probe = mkdtempSync(join(i.data, '.doctor-'));
    writeFileSync(join(probe, 'x'), 'x');
    rmSync(probe, { recursive: true, force: true });
  } catch {
    writable = false;
  }
  let space = '';
  let low = false;
  try {
    const fs = statfsSync(i.data);
    const free = fs.bavail * fs.bsize;
    const total = fs.blocks * fs.bsize;
    space = `, ${Math.round(free / 1024 / 1024)} MB free of ${Math.round(total / 1024 / 1024)} MB`;
    low = free < 256 * 1024 * 1024 || free / total < 0.05;
  } catch {
    /* no statfs */
  }
  const owner = `owner ${userName(st.uid)}, mode ${octal(st.mode)}`;
  if (!writable && (process.getuid?.() ?? 0) === st.uid) return { status: 'fail', check: 'data', detail: `${i.data} (${owner}) is not writable${space}`, fix: 'the broker cannot store durable messages there: check the mode and the file system (read-only?)' };
  if (low) return { status: 'warn', check: 'data', detail: `${i.data} (${owner})${space}: little space left`, fix: 'free space or lower durable maxBytes; a full disk makes durable publishes fail with STORE_FAILED' };
  return { status: 'ok', check: 'data', detail: `${i.data} (${owner})${writable ? ', writable' : ', not writable by you (fine if the broker runs as its owner)'}${space}` };
}

/** The native addon: verified peer identity (ACLs) and sd_notify. */
export function checkAddon(): Check {
  const pc = loadPeerCred();
  let notify = false;
  try {
    notify = typeof (requireAddon() as { sdNotify?: unknown }).sdNotify === 'function';
  } catch {
    /* reported below */
  }
  if (!pc.available) return { status: 'warn', check: 'addon', detail: `udsbus-peercred unavailable: ${pc.reason}`, fix: 'do what the reason says; without the addon "from" is anonymous, --acl is refused, clients check the broker by its socket file\'s owner only, and readiness goes through systemd-notify (NotifyAccess=all)' };
  if (!notify) return { status: 'warn', check: 'addon', detail: 'udsbus-peercred loads but is too old to send sd_notify', fix: 'npm rebuild udsbus-peercred' };
  return { status: 'ok', check: 'addon', detail: 'udsbus-peercred loaded: peer credentials and sd_notify available' };
}

export async function runChecks(i: DoctorInput): Promise<Check[]> {
  return [checkSocketPath(i), checkMode(i), checkOwner(i), checkAccess(i), await checkBroker(i), checkDataDir(i), checkAddon()];
}

/** `ok     socket  /run/udsbus/bus.sock (default) is a socket` — fix after an arrow. */
export function formatCheck(c: Check): string {
  const tag = { ok: 'ok', warn: 'WARN', fail: 'FAIL', skip: '-' }[c.status].padEnd(5);
  return `${tag}${c.check.padEnd(8)}${c.detail}${c.fix === undefined ? '' : ` → ${c.fix}`}`;
}
