/** Helpers shared by the CLI commands. */
import { Option } from 'commander';
import { lookupDefaultSocket, SYSTEM_SOCKET } from './socket-lookup.js';

export function socketOption(): Option {
  return new Option('-s, --socket <path>', 'broker socket path (env UDSBUS_SOCKET)').default(lookupDefaultSocket(), `$UDSBUS_SOCKET, else your own broker's socket, else the system socket ${SYSTEM_SOCKET}`);
}

/** Print one line to stderr and exit with `code`. */
export function die(message: string, code = 1): never {
  process.stderr.write(`udsbus: ${message}\n`);
  process.exit(code);
}

export function parseIntOption(name: string) {
  return (v: string): number => {
    const n = Number(v);
    if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got "${v}"`);
    return n;
  };
}
