/**
 * Is the process on the other end of the socket the broker we mean to talk to? A per-user socket
 * path under /tmp can be taken by another user who runs a broker there first; without this check
 * a client would hand that user its requests and believe its events (SECURITY.md, "Which broker").
 *
 * The check runs right after connect(), before the client writes a byte. The broker's uid comes
 * from SO_PEERCRED on the client's own socket (the credentials of the process that called
 * listen(): systemd's uid 0 under socket activation), through the optional peercred addon; without
 * the addon, from the owner of the socket file, which is weaker (see describeFallback).
 */
import { readFileSync, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { BrokerUntrustedError } from '../protocol/errors.js';
import { loadPeerCred, type PeerCredSupport } from '../security/peercred.js';
import { parseIdDatabase } from '../security/users.js';

/** Which broker uids a client accepts: a uid, a list, or 'any' (no check). */
export type ExpectBrokerUid = number | readonly number[] | 'any';

/** The user the packaged system broker runs as (packaging/systemd/udsbus.service). */
export const SYSTEM_BROKER_USER = 'udsbus';

/**
 * The default trust: the client's own uid, root, and the system broker's user `udsbus` when
 * /etc/passwd has it. Only root can run a process as root or as a system user, so a broker
 * another ordinary user started is refused.
 */
export function defaultTrustedUids(passwdPath = '/etc/passwd'): number[] {
  // Read once per process: the scale benchmark opens thousands of connections.
  if (passwdPath === '/etc/passwd' && cachedDefault !== undefined) return cachedDefault;
  const out = new Set<number>([process.getuid?.() ?? 0, 0]);
  try {
    const id = parseIdDatabase(readFileSync(passwdPath, 'utf8')).get(SYSTEM_BROKER_USER);
    if (id !== undefined) out.add(id);
  } catch {
    // No passwd file: own uid and root only.
  }
  const uids = [...out];
  if (passwdPath === '/etc/passwd') cachedDefault = uids;
  return uids;
}

let cachedDefault: number[] | undefined;

/** Whom a connection trusts, resolved from the option, the environment or the default. */
export type Trust = {
  readonly uids: readonly number[] | 'any';
  /** Given by the option or UDSBUS_EXPECT_BROKER_UID rather than the default. */
  readonly explicit: boolean;
  /** For messages: "expectBrokerUid", "UDSBUS_EXPECT_BROKER_UID" or "the default". */
  readonly source: string;
};

export const TRUST_ENV = 'UDSBUS_EXPECT_BROKER_UID';

/**
 * The option if given, else `$UDSBUS_EXPECT_BROKER_UID` ("any" or uids separated by commas), else
 * the default. A value that is neither uids nor 'any' trusts nothing: a typo must not disable
 * the check.
 */
export function resolveTrust(expect: unknown, env: NodeJS.ProcessEnv = process.env): Trust | BrokerUntrustedError {
  if (expect === undefined) {
    const text = env[TRUST_ENV];
    if (text === undefined || text === '') return { uids: defaultTrustedUids(), explicit: false, source: 'the default' };
    const value = text.trim() === 'any' ? 'any' : text.split(',').map((t) => (/^\s*\d+\s*$/.test(t) ? Number(t) : Number.NaN));
    return validated(value, TRUST_ENV, text);
  }
  return validated(expect, 'expectBrokerUid', expect);
}

function validated(expect: unknown, source: string, shown: unknown): Trust | BrokerUntrustedError {
  if (expect === 'any') return { uids: 'any', explicit: true, source };
  const list = typeof expect === 'number' ? [expect] : Array.isArray(expect) ? (expect as unknown[]) : undefined;
  if (list !== undefined && list.length > 0 && list.every((u) => typeof u === 'number' && Number.isInteger(u) && u >= 0)) {
    return { uids: list as number[], explicit: true, source };
  }
  return new BrokerUntrustedError(`${source} must be a uid, a list of uids, or 'any'; got ${JSON.stringify(shown)}`, '', undefined, []);
}

/** Where the answer came from, for error messages. */
type Found = { uid: number; pid?: number; via: string } | { uid: undefined; why: string };

function findBrokerUid(sock: Socket, path: string, peercred: PeerCredSupport): Found {
  let why: string;
  if (peercred.available) {
    try {
      const cred = peercred.get(sock);
      if (cred !== undefined) return { uid: cred.uid, pid: cred.pid, via: 'SO_PEERCRED' };
      why = 'the socket has no file descriptor to ask';
    } catch (err) {
      why = `SO_PEERCRED failed: ${(err as Error).message}`;
    }
  } else {
    why = peercred.reason;
  }
  // Weaker: names whoever bound the file now at `path`, which a race could have swapped since
  // our connect(); still enough to refuse another user's broker squatting on our default path.
  try {
    return { uid: statSync(path).uid, via: `the socket file's owner (peer credentials unavailable: ${why})` };
  } catch (err) {
    return { uid: undefined, why: `${why}; and the socket file cannot be examined: ${(err as Error).message}` };
  }
}

/** Undefined when the broker on `sock` (connected to `path`) runs as a trusted uid, else the error to refuse it with. */
export function checkBroker(
  sock: Socket,
  path: string,
  trust: Trust,
  /** Tests pass an unavailable one to exercise the fallback. */
  peercred: PeerCredSupport = loadPeerCred(),
): BrokerUntrustedError | undefined {
  if (trust.uids === 'any') return undefined;
  const trusted = trust.uids;
  const found = findBrokerUid(sock, path, peercred);
  if (found.uid === undefined) {
    return new BrokerUntrustedError(
      `cannot find out which uid runs the broker on ${path} (${found.why}); connect with expectBrokerUid: 'any' (${TRUST_ENV}=any) to skip the check`,
      path,
      undefined,
      trusted,
    );
  }
  if (trusted.includes(found.uid)) return undefined;
  const who = found.pid === undefined ? `uid ${found.uid}` : `uid ${found.uid} (pid ${found.pid})`;
  const whom = trust.explicit ? `${trusted.join(', ')} (${trust.source})` : `your own uid, root and the system broker's user (${trusted.join(', ')})`;
  return new BrokerUntrustedError(
    `the broker on ${path} runs as ${who}, by ${found.via}; this client trusts only ${whom}. If you trust that broker, connect with expectBrokerUid: ${found.uid} (${TRUST_ENV}=${found.uid}) or 'any'`,
    path,
    found.uid,
    trusted,
  );
}

/** Explicit trust cannot be checked on a connection without peer credentials (TCP, a dialled stream). */
export function checkUnverifiable(kind: string, trust: Trust): BrokerUntrustedError | undefined {
  if (!trust.explicit || trust.uids === 'any') return undefined;
  return new BrokerUntrustedError(
    `${trust.source} cannot be checked over ${kind}: only a Unix socket carries the broker's credentials; drop it or connect over the Unix socket`,
    kind,
    undefined,
    trust.uids,
  );
}
