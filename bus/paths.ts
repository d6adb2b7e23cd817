/** Where the bus lives when nobody says: PROTOCOL.md §1. */
import { join } from 'node:path';

export function defaultSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.UDSBUS_SOCKET) return env.UDSBUS_SOCKET;
  const uid = process.getuid?.() ?? 0;
  if (uid === 0) return '/run/udsbus/bus.sock';
  if (env.XDG_RUNTIME_DIR) return join(env.XDG_RUNTIME_DIR, 'udsbus', 'bus.sock');
  return `/tmp/udsbus-${uid}/bus.sock`;
}
