/**
 * The systemd protocol, without libsystemd: socket activation (sd_listen_fds(3)) and readiness
 * notification (sd_notify(3)).
 *
 * Why the native addon sends the notifications and `systemd-notify` is only a fallback: systemd
 * believes a notification only from the pid it expects (NotifyAccess=main, the default), and it
 * learns the sender from the datagram's credentials. A `systemd-notify` child is another pid, and
 * it may exit before systemd reads the datagram, so systemd cannot even tell which unit it came
 * from; with a watchdog that means a fork every few seconds too. The addon (native/peercred, the
 * same one that reads peer credentials) sends the datagram from the broker itself in one syscall.
 * Without the addon we fall back to `systemd-notify --pid=<ours>`, which needs NotifyAccess=all.
 */
import { createRequire } from 'node:module';
import { readFileSync, readlinkSync } from 'node:fs';
import { requireAddon } from './addon.js';

/** First fd systemd passes (SD_LISTEN_FDS_START). */
export const LISTEN_FDS_START = 3;

export type Inherited = { fd: number; name: string | undefined; count: number };

/**
 * The listening socket systemd passed, or undefined. As sd_listen_fds(1): honoured only when
 * LISTEN_PID is this process (the variables leak to children otherwise), then removed from the
 * environment so the components we might start do not think the socket is theirs.
 */
export function inheritedSocket(env: NodeJS.ProcessEnv = process.env, pid = process.pid): Inherited | undefined {
  const fds = Number(env['LISTEN_FDS']);
  const forUs = env['LISTEN_PID'] !== undefined && Number(env['LISTEN_PID']) === pid;
  const names = env['LISTEN_FDNAMES'];
  delete env['LISTEN_PID'];
  delete env['LISTEN_FDS'];
  delete env['LISTEN_FDNAMES'];
  if (!forUs || !Number.isInteger(fds) || fds < 1) return undefined;
  return { fd: LISTEN_FDS_START, name: names?.split(':')[0], count: fds };
}

/**
 * Path a listening Unix socket fd is bound to (Node's server.address() is null for an fd
 * listener): the socket's inode from /proc/self/fd, looked up in /proc/net/unix.
 */
export function unixPathOfFd(fd: number): string | undefined {
  try {
    const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    if (m === null) return undefined;
    for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // Num RefCount Protocol Flags Type St Inode Path
      if (cols[6] === m[1] && cols[7] !== undefined) return cols[7];
    }
  } catch {
    /* no /proc: the caller uses the configured path */
  }
  return undefined;
}

type SdNotifyFn = (path: string, message: string) => void;

function loadAddonNotify(): SdNotifyFn | undefined {
  try {
    const mod = requireAddon() as { sdNotify?: SdNotifyFn };
    return typeof mod.sdNotify === 'function' ? mod.sdNotify : undefined;
  } catch {
    return undefined;
  }
}

export type Notifier = {
  /** Where notifications go; undefined when not run by systemd (every call is then a no-op). */
  readonly socket: string | undefined;
  /** `addon` (from this pid) or `systemd-notify` (a child; needs NotifyAccess=all). */
  readonly via: 'addon' | 'systemd-notify' | 'none';
  /** Send `KEY=VALUE` lines; failures are reported to `onError`, never thrown. */
  notify(...lines: string[]): void;
  ready(status: string): void;
  status(text: string): void;
  /** RELOADING=1 with the monotonic timestamp Type=notify-reload asks for; follow with ready(). */
  reloading(): void;
  stopping(status: string): void;
  /** Ping the watchdog every half period while the event loop turns; returns the period (ms) or undefined. */
  startWatchdog(): number | undefined;
  stopWatchdog(): void;
};

/** A notifier for $NOTIFY_SOCKET (sd_notify(3)); `onError` hears about failed sends. */
export function notifier(env: NodeJS.ProcessEnv = process.env, onError: (err: Error) => void = () => {}, opts: { forceHelper?: boolean } = {}): Notifier {
  const socket = env['NOTIFY_SOCKET'] || undefined;
  const addon = opts.forceHelper ? undefined : loadAddonNotify();
  const via = socket === undefined ? 'none' : addon !== undefined ? 'addon' : 'systemd-notify';
  const watchdogUsec = Number(env['WATCHDOG_USEC']);
  const watchdogForUs = env['WATCHDOG_PID'] === undefined || Number(env['WATCHDOG_PID']) === process.pid;
  let timer: NodeJS.Timeout | undefined;
  const send = (lines: string[]) => {
    if (socket === undefined) return;
    const text = lines.map((l) => l.replace(/\n/g, ' ')).join('\n');
    if (addon !== undefined) {
      try {
        addon(socket, text);
      } catch (err) {
        onError(err as Error);
      }
      return;
    }
    // Only without the addon, and only under systemd: most brokers never load child_process.
    const { execFile } = createRequire(import.meta.url)('node:child_process') as typeof import('node:child_process');
    execFile('systemd-notify', [`--pid=${process.pid}`, ...lines], { env: { ...process.env, NOTIFY_SOCKET: socket }, timeout: 5000 }, (err) => {
      if (err) onError(err);
    });
  };
  return {
    socket,
    via,
    notify: (...lines) => send(lines),
    ready: (status) => send(['READY=1', `STATUS=${status}`, `MAINPID=${process.pid}`]),
    status: (text) => send([`STATUS=${text}`]),
    reloading: () => send(['RELOADING=1', `MONOTONIC_USEC=${process.hrtime.bigint() / 1000n}`]),
    stopping: (status) => send(['STOPPING=1', `STATUS=${status}`]),
    startWatchdog() {
      if (socket === undefined || !watchdogForUs || !Number.isFinite(watchdogUsec) || watchdogUsec <= 0) return undefined;
      const periodMs = Math.max(1, Math.floor(watchdogUsec / 1000));
      // A timer, not a thread: if the event loop is stuck the pings stop and systemd restarts us.
      timer = setInterval(() => send(['WATCHDOG=1']), Math.max(1, Math.floor(periodMs / 2)));
      timer.unref();
      send(['WATCHDOG=1']);
      return periodMs;
    },
    stopWatchdog() {
      clearInterval(timer);
      timer = undefined;
    },
  };
}
