/**
 * What the service tests (broker and components under a simulated systemd) share: child processes
 * killed after each test, a notification socket that stands in for systemd's, and a bounded wait
 * for a process to exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { ROOT } from './harness.js';
import { Lines } from './lines.js';

/** Cleanups run after each test, newest first; processes are SIGKILLed and waited for. */
export class Reaper {
  private readonly cleanups: Array<() => Promise<void> | void> = [];

  add(cleanup: () => Promise<void> | void): void {
    this.cleanups.push(cleanup);
  }

  track(child: ChildProcess): ChildProcess {
    this.add(
      () =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    );
    return child;
  }

  async run(): Promise<void> {
    for (const c of this.cleanups.splice(0).reverse()) await c();
  }
}

/** The listener's output: one line per datagram, a JSON array of its KEY=VALUE lines. */
export class NotifyLines extends Lines {
  messages(): string[][] {
    return this.all.filter((l) => l.startsWith('[')).map((l) => JSON.parse(l) as string[]);
  }
}

/** A notification socket like systemd's at `path` (test/helpers/notify-listener.py). */
export async function notifyListener(reaper: Reaper, path: string): Promise<NotifyLines> {
  const py = reaper.track(spawn('python3', [join(ROOT, 'test/helpers/notify-listener.py'), path], { stdio: ['ignore', 'pipe', 'inherit'] }));
  const lines = new NotifyLines(py.stdout);
  await lines.waitFor((l) => l === 'listening', 10_000, 'notify listener start');
  return lines;
}

/** A notification line carrying `KEY` or `KEY=…`. */
export const hasKey = (key: string) => (l: string) => l.startsWith('[') && (JSON.parse(l) as string[]).some((kv) => kv === key || kv.startsWith(`${key}=`));

/** The exit code, or a rejection when the process is still running after `ms`. */
export function exited(child: ChildProcess, ms = 15_000): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (child.exitCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
  });
}
