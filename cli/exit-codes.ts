/**
 * Every exit code of the `udsbus` command, in one place. Scripts depend on these numbers: never
 * change what one means; add new ones at the end.
 */
export const Exit = {
  /** Done: the work finished, `--count` was reached, or the user stopped a long-running command (Ctrl-C). */
  OK: 0,
  /** Usage error (bad option, invalid topic or pattern) or any other failure. */
  ERROR: 1,
  /** Could not connect: no broker on the path, permission denied, not a socket, no such file, or a broker run by a uid not trusted (--expect-broker-uid). */
  CONNECT: 2,
  /** `tap --timeout`: no message for that long. */
  IDLE: 3,
  /** `req`: nobody subscribes to the request topic. */
  NO_RESPONDERS: 4,
  /** `req`: no reply within `--timeout`. */
  REQUEST_TIMEOUT: 5,
  /** `req`: the server answered with an error reply (`{ok: false, error: {code, message}}`). */
  REMOTE_ERROR: 6,
  /**
   * Invalid configuration: a config file, a setting given as an option or UDSBUS_* variable, or
   * an ACL file (`broker`, `config check`, `run`, `bridge`, `dashboard`). Nothing was started.
   */
  CONFIG: 7,
} as const;

export type ExitCode = (typeof Exit)[keyof typeof Exit];

const TEXT: Record<ExitCode, string> = {
  0: 'success (tap: --count reached, --retained-only done, or stopped with Ctrl-C)',
  1: 'usage error or other failure',
  2: 'cannot connect to the broker (not running, permission denied, not a socket, run by an untrusted uid)',
  3: 'idle: no message within tap --timeout',
  4: 'no responders: nobody subscribes to the request topic',
  5: 'no reply (or no answer from the broker) within --timeout',
  6: 'the server replied with an error',
  7: 'invalid configuration (config file, option or UDSBUS_* value, ACL file); nothing was started',
};

/** The "Exit codes:" block for a command's --help, listing the codes it can return. */
export function exitCodesHelp(codes: readonly ExitCode[] = Object.values(Exit)): string {
  return `\nExit codes:\n${codes.map((c) => `  ${c}  ${TEXT[c]}`).join('\n')}`;
}
