/**
 * Which socket a command uses when none is named: $UDSBUS_SOCKET, else the user's own broker
 * (PROTOCOL.md §1), else the system broker an appliance runs under systemd. The first that exists
 * wins, so a plain `udsbus tap` finds the system bus without flags; when neither exists the error
 * names both paths.
 */
import { lstatSync } from 'node:fs';
import { defaultSocketPath } from 'udsbus/paths';

/** Where the system broker's socket unit puts the socket (systemd/udsbus.socket). */
export const SYSTEM_SOCKET = '/run/udsbus/bus.sock';

/** The paths tried, in order: [UDSBUS_SOCKET] or [per-user default, system socket]. */
export function socketCandidates(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env['UDSBUS_SOCKET']) return [env['UDSBUS_SOCKET']];
  const mine = defaultSocketPath(env);
  return mine === SYSTEM_SOCKET ? [mine] : [mine, SYSTEM_SOCKET];
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
