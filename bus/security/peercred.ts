/**
 * Kernel-verified identity of Unix-socket peers, for stamping message
 * identity and applying ACLs in the broker.
 *
 * Backed by the optional native addon `udsbus-peercred` (native/peercred,
 * getsockopt SO_PEERCRED + SO_PEERGROUPS, Linux only). The addon is loaded
 * lazily on the first loadPeerCred() call; importing this module never throws,
 * and a missing/unbuilt addon is reported as `{ available: false, reason }`.
 *
 *   const peercred = loadPeerCred();
 *   if (peercred.available) {
 *     const cred = peercred.get(socket); // undefined for TCP / fd-less sockets
 *   }
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Socket } from 'node:net';

/** Credentials the peer had when it called connect() (or listen()). */
export interface PeerCred {
  readonly pid: number;
  readonly uid: number;
  readonly gid: number;
  /** Supplementary groups, always including `gid`. */
  readonly groups: readonly number[];
}

export interface PeerCredAvailable {
  readonly available: true;
  /**
   * Credentials of the peer of a connected net.Socket; undefined when the
   * socket has no fd (destroyed, not yet connected) or is not AF_UNIX (TCP).
   * Throws (Error with `code`, e.g. 'ENOTCONN') on other kernel errors.
   * Reads the internal but stable-on-Linux `socket._handle.fd`.
   */
  get(socket: Socket): PeerCred | undefined;
  /** Same for a raw fd; throws with `code` 'EBADF', 'ENOTSOCK', 'EAFNOSUPPORT', ... */
  getPeerCred(fd: number): PeerCred;
}

export interface PeerCredUnavailable {
  readonly available: false;
  readonly reason: string;
}

export type PeerCredSupport = PeerCredAvailable | PeerCredUnavailable;

/** Shape of the addon's exports (declared here so type-checking does not need the optional package). */
interface PeerCredAddon {
  getPeerCred(fd: number): PeerCred;
  peerCredOfSocket(socket: Socket): PeerCred | undefined;
}

const ADDON = 'udsbus-peercred';

let cached: PeerCredSupport | undefined;

/** Load the addon once (memoized). Never throws. */
export function loadPeerCred(): PeerCredSupport {
  cached ??= loadPeerCredFrom(ADDON);
  return cached;
}

/**
 * Uncached loader; `specifier` is resolved relative to this module.
 * Exported for tests (e.g. to exercise the unavailable path).
 */
export function loadPeerCredFrom(specifier: string): PeerCredSupport {
  if (process.platform !== 'linux') {
    return { available: false, reason: `SO_PEERCRED/SO_PEERGROUPS are Linux-only (platform is ${process.platform})` };
  }
  let mod: unknown;
  try {
    mod = createRequire(import.meta.url)(specifier);
  } catch (err) {
    return { available: false, reason: describeLoadError(specifier, err) };
  }
  if (!isAddon(mod)) {
    return { available: false, reason: `${specifier} does not export getPeerCred/peerCredOfSocket` };
  }
  const addon = mod;
  return {
    available: true,
    get: (socket) => addon.peerCredOfSocket(socket),
    getPeerCred: (fd) => addon.getPeerCred(fd),
  };
}

function isAddon(mod: unknown): mod is PeerCredAddon {
  if (mod === null || (typeof mod !== 'object' && typeof mod !== 'function')) return false;
  const m = mod as Record<string, unknown>;
  return typeof m['getPeerCred'] === 'function' && typeof m['peerCredOfSocket'] === 'function';
}

/**
 * Why the addon did not load, told truthfully, because the fix differs: a package npm never
 * installed, a package installed without its native part (build skipped or failed), and a
 * binary that exists but does not load (built for another Node, another architecture).
 */
export function describeLoadError(specifier: string, err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : undefined;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  const first = message.split('\n')[0] ?? message;
  const rebuild = `rebuild it with "npm rebuild ${ADDON}" (node-gyp: needs a C compiler, make, python3 and Node's headers; offline add --nodedir=/usr when they are in /usr/include/node)`;
  if (code === 'MODULE_NOT_FOUND' && message.includes(`'${specifier}'`)) {
    return (
      `optional dependency ${specifier} is not installed: npm skipped it (installed with --omit=optional, or its build failed and npm removed it); ` +
      `reinstall with optional dependencies (npm install --include=optional) where a C compiler, make and python3 are present, and read npm's log if it fails`
    );
  }
  const dir = packageDir(specifier);
  if (code === 'ERR_PEERCRED_NOT_BUILT') {
    const where = dir === undefined ? specifier : `${specifier} (${dir})`;
    if (dir !== undefined && !existsSync(join(dir, 'binding.gyp'))) {
      return `${where} is installed without its sources (no binding.gyp) and without a built binary; reinstall udsbus with optional dependencies`;
    }
    const how =
      dir !== undefined && existsSync(join(dir, 'build'))
        ? 'its native build ran and failed (a build/ directory without peercred.node)'
        : 'its native build never ran (installed with --ignore-scripts, or the install script was not allowed)';
    return `${where} is installed but not built: ${how}; ${rebuild}`;
  }
  const hint =
    code === 'ERR_DLOPEN_FAILED' || /NODE_MODULE_VERSION|invalid ELF|wrong ELF class|cannot open shared object/.test(message)
      ? `: the binary was probably built for another Node version or architecture; ${rebuild}`
      : '';
  return `${specifier}${dir === undefined ? '' : ` (${dir})`} failed to load${code ? ` (${code})` : ''}: ${first}${hint}`;
}

/** The installed package's directory, when it can be resolved. */
function packageDir(specifier: string): string | undefined {
  try {
    return dirname(createRequire(import.meta.url).resolve(specifier));
  } catch {
    return undefined;
  }
}
