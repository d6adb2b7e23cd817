/**
 * Runs a TypeScript child inside a fresh network namespace (`unshare -rn`) so multicast never
 * leaves the test: `setup` (shell) prepares the namespace, then node runs `script` with `args`.
 * The child prints its outcome as its last stdout line, `{"ok": true, "result": …}` or
 * `{"ok": false, "error": "…"}`, and must exit by itself within `timeoutMs` — a timeout means it
 * leaked a socket or never ended.
 */
import { spawn } from 'node:child_process';

export type NamespaceRun = { cwd: string; setup: string; register: string; script: string; args: string[]; timeoutMs: number; label: string };

export function runInNamespace<T>(o: NamespaceRun): Promise<T> {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const child = spawn('unshare', ['-rn', 'sh', '-c', `${o.setup}; exec "$0" --import ${o.register} ${o.script} ${o.args.join(' ')}`, process.execPath], {
    cwd: o.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${o.label} did not exit within ${o.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, o.timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      let out: { ok: boolean; result?: T; error?: string };
      try {
        out = JSON.parse(stdout.trim().split('\n').pop() ?? '') as typeof out;
      } catch {
        return reject(new Error(`${o.label} printed no result (exit ${code})\n${stdout}\n${stderr}`));
      }
      if (!out.ok || code !== 0 || out.result === undefined) reject(new Error(`${o.label} failed (exit ${code}): ${out.error ?? ''}\n${stderr}`));
      else resolve(out.result);
    });
  });
}
