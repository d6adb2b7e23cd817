/**
 * Supervised child processes for recorder commands and command sinks: spawned without a
 * shell, in their own process group (so a wrapper script's children are stopped too), stopped
 * with SIGTERM and then SIGKILL after a grace period, and every way of ending reported once.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export type ExitInfo = {
  /** Exit code, or null when killed by a signal or never started. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started (e.g. ENOENT) or stdin failed. */
  error?: Error;
  /** True when stop() was called before the process ended. */
  stopped: boolean;
  /** True when SIGTERM was not enough and SIGKILL was sent. */
  killed: boolean;
  /** The last few KiB of stderr, for error reports. */
  stderr: string;
  /** The last few KiB of stdout when `captureStdout` was set. */
  stdout: string;
};

export type SpawnOptions = {
  /** Grace period between SIGTERM and SIGKILL in stop() (ms, default 5000). */
  killTimeoutMs?: number;
  /** Written to stdin, then stdin is closed. Without it stdin is /dev/null. */
  stdin?: string | Uint8Array;
  /** Keep the tail of stdout in ExitInfo (default: stdout is discarded). */
  captureStdout?: boolean;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
};

export interface Supervised {
  readonly argv: readonly string[];
  readonly pid: number | undefined;
  /** Resolves (never rejects) once, however the process ends. */
  readonly exited: Promise<ExitInfo>;
  /** SIGTERM to the process group, SIGKILL after the grace period; resolves with the exit. */
  stop(): Promise<ExitInfo>;
}

const TAIL_BYTES = 4096;

/** Start `argv[0]` with arguments `argv[1..]` directly (no shell, no PATH tricks beyond execvp). */
export function spawnSupervised(argv: readonly string[], opts: SpawnOptions = {}): Supervised {
  if (argv.length === 0 || argv[0] === '') throw new TypeError('spawnSupervised: empty argv');
  const killTimeoutMs = opts.killTimeoutMs ?? 5000;
  let stopped = false;
  let killed = false;
  let stderr = '';
  let stdout = '';
  let child: ChildProcess;
  let settle!: (info: ExitInfo) => void;
  let done = false;
  const exited = new Promise<ExitInfo>((resolve) => (settle = resolve));
  const finish = (code: number | null, signal: NodeJS.Signals | null, error?: Error) => {
    if (done) return;
    done = true;
    clearTimeout(killTimer);
    const info: ExitInfo = { code, signal, stopped, killed, stderr, stdout };
    if (error !== undefined) info.error = error;
    settle(info);
  };
  let killTimer: NodeJS.Timeout | undefined;

  try {
    child = spawn(argv[0]!, argv.slice(1), {
      shell: false,
      detached: true, // own process group: stop() reaches grandchildren
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', opts.captureStdout === true ? 'pipe' : 'ignore', 'pipe'],
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd }),
    });
  } catch (err) {
    finish(null, null, err as Error);
    return { argv, pid: undefined, exited, stop: () => exited };
  }
  child.on('error', (err) => {
    // Spawn failures (ENOENT, EACCES) arrive here; a later 'close' may or may not follow.
    if (child.pid === undefined) finish(null, null, err);
  });
  child.on('close', (code, signal) => finish(code, signal));
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-TAIL_BYTES)));
  child.stdout?.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-TAIL_BYTES)));
  if (opts.stdin !== undefined && child.stdin) {
    child.stdin.on('error', () => undefined); // EPIPE when the command does not read stdin
    child.stdin.end(opts.stdin);
  }

  const signal = (sig: NodeJS.Signals) => {
    if (child.pid === undefined || done) return;
    try {
      process.kill(-child.pid, sig);
    } catch {
      try {
        child.kill(sig);
      } catch {
        /* already gone */
      }
    }
  };

  return {
    argv,
    get pid() {
      return child.pid;
    },
    exited,
    stop() {
      if (!done && !stopped) {
        stopped = true;
        signal('SIGTERM');
        killTimer = setTimeout(() => {
          killed = true;
          signal('SIGKILL');
        }, killTimeoutMs);
        killTimer.unref();
      }
      return exited;
    },
  };
}

/** One line describing how a process ended, for logs and alerts. */
export function describeExit(argv0: string, info: ExitInfo): string {
  const tail = info.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 300);
  const how =
    info.error !== undefined
      ? `could not be started: ${info.error.message}`
      : info.signal !== null
        ? `was killed by ${info.signal}`
        : `exited with code ${info.code}`;
  return `${argv0} ${how}${tail === '' ? '' : ` (stderr: ${tail})`}`;
}
