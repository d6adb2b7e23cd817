/** Helpers shared by the CLI commands. */
import { Option } from 'commander';
import { lookupDefaultSocket, systemSocketPath } from 'udsbus/paths';

export function socketOption(): Option {
  return new Option('-s, --socket <path>', 'broker socket path (env UDSBUS_SOCKET)').default(lookupDefaultSocket(), `$UDSBUS_SOCKET, else your own broker's socket, else the system socket ${systemSocketPath()}`);
}

/**
 * `--expect-broker-uid`: which uids the broker may run as (the client's `expectBrokerUid`);
 * main.ts hands it to the library as $UDSBUS_EXPECT_BROKER_UID so every connection of the
 * command, components' included, checks the same.
 */
export function brokerTrustOption(): Option {
  return new Option('--expect-broker-uid <uid,...|any>', "uids the broker may run as (default: your own, root's and the udsbus user's); 'any' skips the check (env UDSBUS_EXPECT_BROKER_UID)");
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
