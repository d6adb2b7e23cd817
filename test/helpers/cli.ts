/**
 * The built `udsbus` binary as a subprocess, for the CLI tests: every line of stdout and stderr is
 * kept, so waiting for a line never misses one printed before the wait began.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { CLI } from './harness.js';

export type Exited = { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string };

export class CliProcess {
  readonly out: string[] = [];
  readonly err: string[] = [];
  readonly exited: Promise<Exited>;
  private waiters: Array<() => void> = [];
  private done = false;

  constructor(readonly child: ChildProcess) {
    const collect = (stream: NodeJS.ReadableStream | null, lines: string[]) => {
      let buf = '';
      stream?.setEncoding('utf8');
      stream?.on('data', (d: string) => {
        buf += d;
        const parts = buf.split('\n');
        buf = parts.pop() ?? '';
        lines.push(...parts);
        this.wake();
      });
      stream?.on('end', () => {
        if (buf !== '') lines.push(buf);
        buf = '';
        this.wake();
      });
    };
    collect(child.stdout, this.out);
    collect(child.stderr, this.err);
    this.exited = new Promise((resolve) => {
      child.on('close', (code, signal) => {
        this.done = true;
        this.wake();
        resolve({ code, signal, stdout: this.out.join('\n'), stderr: this.err.join('\n') });
      });
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** The first stdout line (from the start) matching pred. */
  waitOut(pred: (line: string) => boolean, ms = 10_000): Promise<string> {
    return this.wait(this.out, pred, ms, 'stdout');
  }

  /** The first stderr line (from the start) matching pred. */
  waitErr(pred: (line: string) => boolean, ms = 10_000): Promise<string> {
    return this.wait(this.err, pred, ms, 'stderr');
  }

  /** Resolves when stdout has at least n lines. */
  async waitOutLines(n: number, ms = 10_000): Promise<string[]> {
    const deadline = Date.now() + ms;
    while (this.out.length < n) {
      if (this.done) throw new Error(`exited with ${this.out.length} of ${n} lines; stderr: ${this.err.join('\n')}`);
      await this.sleepUntilWake(deadline, () => `only ${this.out.length} of ${n} stdout lines; stderr: ${this.err.join('\n')}`);
    }
    return this.out.slice(0, n);
  }

  private async wait(lines: string[], pred: (line: string) => boolean, ms: number, name: string): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = lines.find(pred);
      if (hit !== undefined) return hit;
      if (this.done) throw new Error(`exited without the ${name} line; stdout: ${this.out.join('\n')}\nstderr: ${this.err.join('\n')}`);
      await this.sleepUntilWake(deadline, () => `no matching ${name} line within ${ms} ms; stdout: ${this.out.join('\n').slice(-800)}\nstderr: ${this.err.join('\n').slice(-800)}`);
    }
  }

  private sleepUntilWake(deadline: number, why: () => string): Promise<void> {
    const left = deadline - Date.now();
    if (left <= 0) return Promise.reject(new Error(why()));
    return new Promise((resolve) => {
      const t = setTimeout(resolve, left);
      this.waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (!this.done) this.child.kill(signal);
  }
}

export type StartOptions = { env?: NodeJS.ProcessEnv; uid?: number; gid?: number; input?: string };

/** Start `node dist/cli/main.js ...args`. The caller must kill it (or let it exit). */
export function startCli(args: string[], o: StartOptions = {}): CliProcess {
  const base: NodeJS.ProcessEnv = { ...process.env };
  delete base.FORCE_COLOR;
  const env: NodeJS.ProcessEnv = { ...base, NO_COLOR: '1', ...o.env };
  const child = spawn(process.execPath, [CLI, ...args], {
    env,
    stdio: [o.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    ...(o.uid === undefined ? {} : { uid: o.uid }),
    ...(o.gid === undefined ? {} : { gid: o.gid }),
  });
  if (o.input !== undefined) child.stdin?.end(o.input);
  return new CliProcess(child);
}

/** Run to the end (killed after ms). */
export function runToEnd(args: string[], o: StartOptions & { ms?: number } = {}): Promise<Exited> {
  const p = startCli(args, o);
  const t = setTimeout(() => p.kill('SIGKILL'), o.ms ?? 20_000);
  return p.exited.finally(() => clearTimeout(t));
}

/** A tap that is subscribed: resolves once it printed its "watching" notice. */
export async function startTap(args: string[], o: StartOptions = {}): Promise<CliProcess> {
  const p = startCli(['tap', ...args], o);
  await p.waitErr((l) => l.includes('udsbus tap: watching'));
  return p;
}
