/**
 * Where the bus lives when nobody says (PROTOCOL.md §1), shared by the library's connect(), the
 * broker and the CLI: $UDSBUS_SOCKET, else the user's own broker, else the system broker an
 * appliance runs under systemd. The first that exists wins, so a plain connect() or `udsbus tap`
 * finds the system bus without options; when none exists the error names every path tried.
 */
import { lstatSync } from 'node:fs';
import { join } from 'node:path';

/** Where the system broker's socket unit puts the socket (packaging/systemd/udsbus.socket). */
export const SYSTEM_SOCKET = '/run/udsbus/bus.sock';

/**
 * The system socket: `/run/udsbus/bus.sock`, or `$UDSBUS_SYSTEM_SOCKET` for a system broker
 * packaged elsewhere (and for tests, which cannot own /run/udsbus).
 */
export function systemSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return env['UDSBUS_SYSTEM_SOCKET'] || SYSTEM_SOCKET;
}

/** The socket a broker listens on and a client tries first: $UDSBUS_SOCKET, else this user's own. */
export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env['UDSBUS_SOCKET']) return env['UDSBUS_SOCKET'];
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return systemSocketPath(env);
  if (env['XDG_RUNTIME_DIR']) return join(env['XDG_RUNTIME_DIR'], 'udsbus', 'bus.sock');
  return `/tmp/udsbus-${uid}/bus.sock`;
}

/** The paths a client tries, in order: [$UDSBUS_SOCKET] or [this user's own, the system socket]. */
export function socketCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env['UDSBUS_SOCKET']) return [env['UDSBUS_SOCKET']];
  const mine = defaultSocketPath(env);
  const system = systemSocketPath(env);
  return mine === system ? [mine] : [mine, system];
}

function isSocket(p: string): boolean {
  try {
    return lstatSync(p).isSocket();
  } catch {
    return false;
  }
}

/** The first candidate that is a socket, else the first candidate. */
export function lookupDefaultSocket(env: NodeJS.ProcessEnv = process.env): string {
  const all = socketCandidates(env);
  return all.find(isSocket) ?? all[0]!;
}

/** For error messages: the other paths the default lookup tried, when `path` is one of them. */
export function otherCandidates(path: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const all = socketCandidates(env);
  return all.includes(path) ? all.filter((p) => p !== path) : [];
}
