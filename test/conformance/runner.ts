/**
 * Runs conformance scenario drivers — child processes (Python, Go) or the in-process TypeScript
 * one — and collects their JSON lines. Every wait is bounded; kill() is idempotent.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/harness.js';
import { runTsScenario, type Line } from './ts-driver.js';

export type { Line };

export class Run {
  readonly lines: Line[] = [];
  stderr = '';
  private waiters: Array<() => void> = [];
  private exitCode: number | null | undefined;
  readonly exited: Promise<number | null>;
  private child: ChildProcess | undefined;
  private abort: AbortController | undefined;

  private constructor(
    readonly label: string,
    start: (run: Run) => Promise<number | null>,
  ) {
    this.exited = start(this).then((code) => {
      this.exitCode = code;
      this.wake();
      return code;
    });
  }

  /** A child process printing JSON lines on stdout. */
  static child(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Run {
    return new Run(label, (run) => {
      const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      run.child = child;
      let buf = '';
      child.stdout!.on('data', (d: Buffer) => {
        buf += d.toString();
        let i: number;
        while ((i = buf.indexOf('\n')) >= 0) {
          const text = buf.slice(0, i);
          buf = buf.slice(i + 1);
          if (text.trim() === '') continue;
          try {
            run.push(JSON.parse(text) as Line);
          } catch {
            run.push({ event: 'garbage', text });
          }
        }
      });
      child.stderr!.on('data', (d: Buffer) => (run.stderr = (run.stderr + d.toString()).slice(-8000)));
      return new Promise((resolve) => {
        child.on('error', (e) => {
          run.stderr += String(e);
          resolve(null);
        });
        child.on('close', (code) => resolve(code));
      });
    });
  }

  /** The in-process TypeScript driver. */
  static inProcess(label: string, scenario: string, socket: string): Run {
    return new Run(label, (run) => {
      run.abort = new AbortController();
      return runTsScenario(scenario, socket, (l) => run.push(l), run.abort.signal);
    });
  }

  private push(line: Line): void {
    this.lines.push(line);
    this.wake();
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** The first line (ever printed) that matches; fails after ms or if the driver exits first. */
  async until(pred: (l: Line) => boolean, ms = 15_000): Promise<Line> {
    const deadline = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (this.exitCode !== undefined) throw new Error(`${this.label}: exited (${this.exitCode}) before the expected line\n${this.describe()}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`${this.label}: timed out waiting for a line\n${this.describe()}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  event(name: string): (l: Line) => boolean {
    return (l) => l.event === name;
  }

  all(event: string): Line[] {
    return this.lines.filter((l) => l.event === event);
  }

  /** Waits for the driver to end and requires a clean end ({"event":"done"}, status 0). */
  async finish(ms = 20_000): Promise<void> {
    let t: NodeJS.Timeout | undefined;
    const code = await Promise.race([this.exited, new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), ms)))]);
    clearTimeout(t);
    if (code === 'timeout') {
      this.kill();
      throw new Error(`${this.label}: did not finish within ${ms} ms\n${this.describe()}`);
    }
    if (code !== 0 || !this.lines.some((l) => l.event === 'done')) throw new Error(`${this.label}: ended with status ${code}\n${this.describe()}`);
  }

  describe(): string {
    return `lines:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr:\n${this.stderr}`;
  }

  kill(): void {
    this.abort?.abort();
    if (this.child && this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
  }
}

export type Driver = {
  /** Also the `from` the driver puts in what it publishes. */
  lang: string;
  /** The frames it speaks (PROTOCOL §1): CBOR, or the JSON mode of §15. */
  encoding: 'cbor' | 'json';
  label: string;
  /** Why the driver cannot run here; the suite prints it and skips. */
  skip: string | undefined;
  setup(tmp: string): Promise<void>;
  start(scenario: string, socket: string): Run;
  /** The client's own unit tests (no broker), if it has any. */
  unit?: () => Promise<void>;
};

export const SYSTEM_PYTHON = '/usr/bin/python3';
const GOCODE = '/usr/share/gocode/src';
const GO_CBOR = join(GOCODE, 'github.com/fxamacker/cbor/go.mod');
/** The modules clients/go needs, and where Debian's golang-github-*-dev packages put them. */
const DEBIAN_GO_MODULES: Record<string, string> = {
  'github.com/fxamacker/cbor/v2': join(GOCODE, 'github.com/fxamacker/cbor'),
  'github.com/x448/float16': join(GOCODE, 'github.com/x448/float16'),
};

/**
 * The environment for an offline Go build of `modules`: a go.work written to `dir` that uses them
 * and replaces their dependencies by Debian's copies, so the go.mod and go.sum files stay what a
 * user with a module proxy sees (no system paths in them). No proxy, no C compiler (CI installs
 * no gcc), the local toolchain.
 */
export function goOffline(dir: string, modules: string[]): NodeJS.ProcessEnv {
  mkdirSync(dir, { recursive: true });
  const work = ['go 1.19', '', ...modules.map((m) => `use ${m}`), ''];
  for (const [mod, path] of Object.entries(DEBIAN_GO_MODULES)) work.push(`replace ${mod} => ${path}`, '');
  writeFileSync(join(dir, 'go.work'), work.join('\n'));
  return { GOWORK: join(dir, 'go.work'), GOPROXY: 'off', GOFLAGS: '', CGO_ENABLED: '0', GOTOOLCHAIN: 'local' };
}

/** Why Debian's python3 with cbor2 is not usable, or undefined. */
export function pythonSkipReason(): string | undefined {
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} not found (apt-get install -y python3-cbor2)`;
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import cbor2'], { encoding: 'utf8', timeout: 15_000 });
  if (r.status !== 0) return `${SYSTEM_PYTHON} cannot import cbor2 (apt-get install -y python3-cbor2): ${(r.stderr ?? String(r.error)).trim().split('\n').pop()}`;
  return undefined;
}

/** Any python3 (JSON mode needs only the standard library), or undefined. */
export function anyPython(): string | undefined {
  for (const p of ['python3', SYSTEM_PYTHON]) {
    const r = spawnSync(p, ['-c', 'import json, socket, threading'], { encoding: 'utf8', timeout: 15_000 });
    if (r.status === 0) return p;
  }
  return undefined;
}

/** Why Go with Debian's fxamacker/cbor is not usable, or undefined. */
export function goSkipReason(): string | undefined {
  const r = spawnSync('go', ['version'], { encoding: 'utf8', timeout: 15_000 });
  if (r.error || r.status !== 0) return 'go not found (apt-get install -y golang-go golang-github-fxamacker-cbor-dev)';
  if (!existsSync(GO_CBOR)) return `${GO_CBOR} missing (apt-get install -y golang-github-fxamacker-cbor-dev)`;
  return undefined;
}

/** Runs a tool to completion; rejects with its output unless it exits 0. */
export function runTool(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}, ms = 120_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const t = setTimeout(() => child.kill('SIGKILL'), ms);
    child.on('error', (e) => (output += String(e)));
    child.on('close', (code) => {
      clearTimeout(t);
      if (code === 0) resolve(output);
      else reject(new Error(`${cmd} ${args.join(' ')} failed (${code}):\n${output}`));
    });
  });
}

/** go build of the module in `pkgDir`, offline (its go.work beside `out`); rejects with the compiler's output. */
export async function goBuild(pkgDir: string, target: string, out: string): Promise<void> {
  await runTool('go', ['build', '-o', out, target], pkgDir, goOffline(`${out}.work`, [pkgDir]));
}

export function drivers(): Driver[] {
  let goBinary = '';
  let goTestEnv: NodeJS.ProcessEnv = {};
  const python = anyPython();
  return [
    {
      lang: 'ts',
      encoding: 'cbor',
      label: 'TypeScript client (bus/client)',
      skip: undefined,
      setup: async () => undefined,
      start: (scenario, socket) => Run.inProcess(`ts ${scenario}`, scenario, socket),
    },
    {
      lang: 'python',
      encoding: 'cbor',
      label: 'Python client (clients/python)',
      skip: pythonSkipReason(),
      setup: async () => undefined,
      start: (scenario, socket) =>
        Run.child(`python ${scenario}`, SYSTEM_PYTHON, [join(ROOT, 'clients/python/conformance.py'), scenario], { UDSBUS_SOCKET: socket, PYTHONDONTWRITEBYTECODE: '1' }),
      unit: async () => void (await runTool(SYSTEM_PYTHON, ['-m', 'unittest', '-q', 'test_udsbus'], join(ROOT, 'clients/python'), { PYTHONDONTWRITEBYTECODE: '1' })),
    },
    {
      lang: 'go',
      encoding: 'cbor',
      label: 'Go client (clients/go)',
      skip: goSkipReason(),
      async setup(tmp) {
        goBinary = join(tmp, 'conformance-go');
        goTestEnv = goOffline(join(tmp, 'go-test.work'), [join(ROOT, 'clients/go')]);
        await goBuild(join(ROOT, 'clients/go'), './cmd/conformance', goBinary);
      },
      start: (scenario, socket) => Run.child(`go ${scenario}`, goBinary, [scenario], { UDSBUS_SOCKET: socket }),
      unit: async () => void (await runTool('go', ['test', './...'], join(ROOT, 'clients/go'), goTestEnv)),
    },
    {
      lang: 'python-json',
      encoding: 'json',
      label: 'Python client in JSON mode (clients/python, standard library only)',
      skip: python === undefined ? 'no python3 on PATH' : undefined,
      setup: async () => undefined,
      start: (scenario, socket) =>
        Run.child(`python-json ${scenario}`, python!, [join(ROOT, 'clients/python/conformance.py'), scenario], {
          UDSBUS_SOCKET: socket,
          UDSBUS_ENCODING: 'json',
          PYTHONDONTWRITEBYTECODE: '1',
        }),
    },
  ];
}
