/** Helpers shared by the CLI commands. */
import { Option } from 'commander';
import { defaultSocketPath } from '../bus/paths.js';

export function socketOption(): Option {
  return new Option('-s, --socket <path>', 'broker socket path (env UDSBUS_SOCKET)').default(defaultSocketPath(), '$UDSBUS_SOCKET or the per-user default');
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
