/**
 * Forked workers seen from the orchestrator: typed messages, waits that fail when the worker
 * dies or a deadline passes, and a registry so that every child is gone when the bench ends,
 * however it ends.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { FromWorker, ToWorker, WorkerConfig } from './protocol.js';

const WORKER = fileURLToPath(new URL('./worker.js', import.meta.url));

const live = new Set<{ kill(): void }>();

/** Kills every child still running (workers and peer servers). */
export function killAll(): void {
  for (const p of [...live]) p.kill();
}

/** Registers something to kill at the end; returns the unregister function. */
export function track(p: { kill(): void }): () => void {
  live.add(p);
  return () => live.delete(p);
}

let hooked = false;
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', killAll);
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.once(sig, () => {
      killAll();
      process.exit(130);
    });
  }
}

export class BenchError extends Error {
  override readonly name = 'BenchError';
}

export class Proc {
  readonly child: ChildProcess;
  private readonly inbox: FromWorker[] = [];
  private waiters: Array<() => void> = [];
  private exitInfo: string | undefined;
  private readonly untrack: () => void;
  stderr = '';

  constructor(
    readonly label: string,
    cfg: WorkerConfig,
    execArgv: string[] = [],
  ) {
    hookExit();
    this.child = fork(WORKER, [JSON.stringify(cfg)], { execArgv, stdio: ['ignore', 'inherit', 'pipe', 'ipc'] });
    this.child.stderr?.on('data', (d: Buffer) => {
      this.stderr = (this.stderr + d.toString()).slice(-4000);
    });
    this.child.on('message', (m: FromWorker) => {
      this.inbox.push(m);
      this.wake();
    });
    this.child.on('exit', (code, sig) => {
      this.exitInfo = `exited (${sig ?? code})`;
      this.untrack();
      this.wake();
    });
    this.untrack = track(this);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  get alive(): boolean {
    return this.exitInfo === undefined;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(m: ToWorker): void {
    if (this.alive && this.child.connected) this.child.send(m);
  }

  /** The next message of type `t` (earlier messages of other types stay queued). */
  async next<T extends FromWorker['t']>(t: T, ms: number): Promise<Extract<FromWorker, { t: T }>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const err = this.inbox.findIndex((m) => m.t === 'error');
      if (err >= 0) throw new BenchError(`${this.label}: ${(this.inbox[err] as { message: string }).message}`);
      const i = this.inbox.findIndex((m) => m.t === t);
      if (i >= 0) return this.inbox.splice(i, 1)[0] as Extract<FromWorker, { t: T }>;
      if (!this.alive) throw new BenchError(`${this.label} ${this.exitInfo} while waiting for "${t}"${this.stderr ? `: ${this.stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new BenchError(`${this.label}: no "${t}" within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Ask to stop; SIGKILL if it has not exited within `ms`. */
  async stop(ms = 5000): Promise<void> {
    if (!this.alive) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.send({ t: 'stop' });
    const timer = setTimeout(() => this.kill(), ms);
    await exited;
    clearTimeout(timer);
  }

  kill(): void {
    if (!this.alive) return;
    try {
      this.child.kill('SIGCONT');
      this.child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }

  /** SIGSTOP / SIGCONT, for the slow-consumer scenario. */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void {
    this.child.kill(sig);
  }
}
