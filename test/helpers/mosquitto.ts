/** A private Mosquitto for tests: Unix socket listener in a temp dir, persistence on, restartable. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const MOSQUITTO = '/usr/sbin/mosquitto';

/** Why Mosquitto tests cannot run here, or undefined when they can. */
export function mosquittoMissing(): string | undefined {
  const r = spawnSync(MOSQUITTO, ['-h'], { encoding: 'utf8' });
  if (r.error !== undefined) return `mosquitto not installed (apt-get install mosquitto): ${r.error.message}`;
  return undefined;
}

export class Mosquitto {
  proc: ChildProcess | undefined;
  readonly socket: string;
  private readonly conf: string;
  constructor(readonly dir: string) {
    this.socket = join(dir, 'mqtt.sock');
    this.conf = join(dir, 'mosquitto.conf');
    writeFileSync(
      this.conf,
      [`listener 0 ${this.socket}`, 'allow_anonymous true', // as root Mosquitto would switch to user mosquitto, which cannot enter our 0700 temp dir
        ...(process.getuid?.() === 0 ? ['user root'] : []), 'persistence true', `persistence_location ${dir}/`, 'log_dest stderr', 'log_type error', 'log_type warning', 'log_type notice', 'log_type information', ''].join('\n'),
    );
  }

  /** Start and resolve once it logs that it is running (rejects if it exits first). */
  start(): Promise<void> {
    const p = spawn(MOSQUITTO, ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = p;
    return new Promise((resolve, reject) => {
      let log = '';
      const t = setTimeout(() => reject(new Error(`mosquitto did not start:\n${log}`)), 10_000);
      p.stderr!.on('data', (c: Buffer) => {
        log += c.toString();
        if (/running/.test(log)) {
          clearTimeout(t);
          resolve();
        }
      });
      p.once('exit', (code) => {
        clearTimeout(t);
        reject(new Error(`mosquitto exited (${code}):\n${log}`));
      });
    });
  }

  /** SIGTERM (Mosquitto saves its persistence file) and wait for the exit. */
  async stop(): Promise<void> {
    const p = this.proc;
    this.proc = undefined;
    if (p === undefined || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      p.removeAllListeners('exit');
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }
}
