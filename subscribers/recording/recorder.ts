/**
 * The optional external recorder: one supervised process per session, started from an argv
 * template (never through a shell), stopped with SIGTERM then SIGKILL when the session ends.
 * The camera's RTSP URI comes from the ONVIF worker over the bus (camera.rpc.<id>.stream-uri).
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Client } from 'udsbus';
import { topics } from '../../schemas/topics.js';
import { validatorFor } from '../../schemas/validate.js';
import { spawnSupervised, type ExitInfo, type Supervised } from '../common/child.js';
import { placeholdersIn, render, renderArgv } from '../common/template.js';
import type { RecorderConfig } from './config.js';
import { DEFAULTS } from './config.js';

export type RecorderVars = { cameraId: string; sessionId: string; start: number; maxSeconds: number };

export type StartedRecorder = { proc: Supervised; file?: string; argv: string[] };

/** Thrown when the recorder cannot be started; `message` is what operators see. */
export class RecorderStartError extends Error {
  override readonly name = 'RecorderStartError';
}

export class Recorder {
  private readonly needsUri: boolean;

  constructor(
    private readonly cfg: RecorderConfig,
    private readonly client: Client,
  ) {
    this.needsUri = [...cfg.command, cfg.file ?? ''].some((a) => placeholdersIn(a).includes('rtspUri'));
  }

  /** Resolve the placeholders (asking the camera's worker for the stream URI) and spawn. */
  async start(v: RecorderVars): Promise<StartedRecorder> {
    const vars: Record<string, string> = {
      cameraId: v.cameraId,
      sessionId: v.sessionId,
      start: new Date(v.start).toISOString(),
      startCompact: new Date(v.start).toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z'),
      maxSeconds: String(Math.max(1, Math.ceil(v.maxSeconds))),
    };
    if (this.needsUri) vars['rtspUri'] = await this.streamUri(v.cameraId);
    let file: string | undefined;
    if (this.cfg.file !== undefined) {
      file = render(this.cfg.file, (n) => vars[n]);
      vars['file'] = file;
      try {
        mkdirSync(dirname(file), { recursive: true });
      } catch (err) {
        throw new RecorderStartError(`cannot create the directory for ${file}: ${(err as Error).message}`);
      }
    }
    const argv = renderArgv(this.cfg.command, (n) => vars[n]);
    const proc = spawnSupervised(argv, { killTimeoutMs: this.cfg.killTimeoutMs ?? DEFAULTS.killTimeoutMs });
    // A spawn failure (ENOENT) is reported asynchronously through `exited`; the caller handles it.
    return file === undefined ? { proc, argv } : { proc, argv, file };
  }

  private async streamUri(cameraId: string): Promise<string> {
    const topic = topics.cameraRpc(cameraId, 'stream-uri');
    const req = this.cfg.profile === undefined ? {} : { profile: this.cfg.profile };
    let reply: unknown;
    try {
      reply = await this.client.request(topic, req, { timeout: this.cfg.streamUriTimeoutMs ?? DEFAULTS.streamUriTimeoutMs });
    } catch (err) {
      throw new RecorderStartError(`${topic} failed: ${(err as Error).message}`);
    }
    const check = validatorFor(topic, { reply: true });
    const r = check?.({ ok: true, result: reply });
    if (r !== undefined && !r.ok) throw new RecorderStartError(`${topic} answered an invalid result: ${r.errors.join('; ')}`);
    return (reply as { uri: string }).uri;
  }
}

/** Did the recorder end on its own in a way that must be reported? (stop() or exit 0 is fine.) */
export function isFailure(info: ExitInfo): boolean {
  if (info.error !== undefined) return true;
  if (info.stopped) return false;
  return info.code !== 0;
}

/**
 * After a crash, a recorder started for a session that was left open may still run (it has its
 * own process group). Stop it if the pid still runs the same program; pids are reused, so the
 * command line is checked first (Linux /proc; elsewhere nothing is done).
 */
export function stopOrphan(pid: number, argv0: string): boolean {
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    if (cmd !== argv0) return false;
    process.kill(-pid, 'SIGTERM');
    return true;
  } catch {
    return false;
  }
}
