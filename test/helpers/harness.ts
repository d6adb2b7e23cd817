/** Test harness: a real broker on a real socket in a fresh temp dir, always cleaned up. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection, type Socket } from 'node:net';
import { firstValueFrom, type Observable, filter, take, toArray, timeout as rxTimeout } from 'rxjs';
import { connect, startBroker, type BrokerHandle, type Client, type ConnectOptions, type StartBrokerOptions } from '../../bus/index.js';
import { encodeFrame, decodeFrame } from '../../bus/protocol/codec.js';
import { FrameParser } from '../../bus/protocol/parser.js';

export const ROOT = new URL('../../', import.meta.url).pathname;
export const CLI = join(ROOT, 'dist/cli/main.js');

export function tempDir(prefix = 'udsbus-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export type TestBus = {
  dir: string;
  socket: string;
  broker: BrokerHandle;
  client(opts?: ConnectOptions): Promise<Client>;
  raw(): Promise<RawConn>;
  close(): Promise<void>;
};

/** Starts a broker in this process on a fresh socket; close() stops everything it made. */
export async function startTestBus(opts: StartBrokerOptions = {}): Promise<TestBus> {
  const { dir, cleanup } = tempDir();
  const socket = join(dir, 'bus.sock');
  const broker = await startBroker({ socket, ...opts });
  const clients: Client[] = [];
  const raws: RawConn[] = [];
  return {
    dir,
    socket,
    broker,
    async client(o = {}) {
      const c = await connect({ socket, name: 'test', ...o });
      clients.push(c);
      return c;
    },
    async raw() {
      const r = await RawConn.open(socket);
      raws.push(r);
      return r;
    },
    async close() {
      for (const r of raws) r.destroy();
      await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
      await broker.close();
      cleanup();
    },
  };
}

/** A raw protocol connection for byte-level tests: send frames or bytes, read frames. */
export class RawConn {
  readonly frames: Record<string, unknown>[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  private constructor(readonly sock: Socket) {
    const parser = new FrameParser(
      64 * 1024 * 1024,
      (body) => {
        const r = decodeFrame(body);
        this.frames.push(r.ok ? (r.frame as Record<string, unknown>) : { op: '<bad>', problem: r.problem });
        this.wake();
      },
      () => undefined,
    );
    sock.on('data', (c: Buffer) => parser.push(c));
    sock.on('close', () => {
      this.closed = true;
      this.wake();
    });
    sock.on('error', () => undefined);
  }

  static open(path: string): Promise<RawConn> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(new RawConn(s)));
      s.once('error', reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  send(frame: object): void {
    this.sock.write(encodeFrame(frame));
  }

  sendBytes(b: Uint8Array): void {
    this.sock.write(b);
  }

  async hello(extra: object = {}): Promise<Record<string, unknown>> {
    this.send({ op: 'hello', v: 1, name: 'raw', ...extra });
    return this.next((f) => f.op === 'welcome');
  }

  /** Waits for the first frame (from the start) matching pred, not yet consumed. */
  async next(pred: (f: Record<string, unknown>) => boolean = () => true, ms = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.frames.findIndex(pred);
      if (i >= 0) return this.frames.splice(i, 1)[0]!;
      if (this.closed) throw new Error(`connection closed; frames: ${JSON.stringify(this.frames)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for a frame; have: ${JSON.stringify(this.frames).slice(0, 500)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitClosed(ms = 5000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error('connection not closed');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  destroy(): void {
    this.sock.destroy();
  }
}

/** First n values, failing after ms. */
export function takeN<T>(obs: Observable<T>, n: number, ms = 5000): Promise<T[]> {
  return firstValueFrom(obs.pipe(take(n), toArray(), rxTimeout(ms)));
}

export function firstMatching<T>(obs: Observable<T>, pred: (v: T) => boolean, ms = 5000): Promise<T> {
  return firstValueFrom(obs.pipe(filter(pred), take(1), rxTimeout(ms)));
}

/** Runs the built CLI; resolves with exit code and output. */
export function runCli(args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; input?: string } = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Spawns the CLI and returns the child (caller must kill it). */
export function spawnCli(args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Resolves when a line matching pred appears on the stream. */
export function waitForLine(stream: NodeJS.ReadableStream, pred: (line: string) => boolean, ms = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => {
      stream.off('data', onData);
      reject(new Error(`no matching line within ${ms} ms; saw: ${buf.slice(-500)}`));
    }, ms);
    const onData = (d: Buffer) => {
      buf += d.toString();
      for (const line of buf.split('\n')) {
        if (pred(line)) {
          clearTimeout(t);
          stream.off('data', onData);
          resolve(line);
          return;
        }
      }
    };
    stream.on('data', onData);
  });
}
