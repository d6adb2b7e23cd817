/**
 * Small helpers around Debian's ffmpeg/ffprobe, shared by the segment ring, the clip writer,
 * the CLI and the tests: run a tool to completion with a deadline, probe a duration, hash a file.
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

/** `bin` if it runs (`-version` exits 0), else undefined. */
export function findTool(bin: string): string | undefined {
  const r = spawnSync(bin, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 ? bin : undefined;
}

export type RunResult = { code: number | null; signal: NodeJS.Signals | null; stdout: Buffer; stderr: string };

/** Run a tool to completion; SIGKILL after `timeoutMs`. Never rejects for a non-zero exit. */
export function runTool(bin: string, args: readonly string[], timeoutMs = 60_000): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    p.stdout.on('data', (d: Buffer) => out.push(d));
    p.stderr.on('data', (d: Buffer) => {
      err = (err + d.toString()).slice(-4000);
    });
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('error', (e) => {
      clearTimeout(t);
      reject(e);
    });
    p.on('close', (code, signal) => {
      clearTimeout(t);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

/** Container duration in seconds (ffprobe), or NaN when it cannot be read. */
export async function probeDuration(file: string, ffprobe = 'ffprobe'): Promise<number> {
  const r = await runTool(ffprobe, ['-v', 'error', '-show_entries', 'format=duration', '-of', 'csv=p=0', file], 30_000);
  return r.code === 0 ? Number(r.stdout.toString().trim()) : Number.NaN;
}

/** The first video frame as gray bytes (one per pixel), scaled to nothing: width × height. */
export async function firstFrameGray(file: string, ffmpeg = 'ffmpeg'): Promise<Buffer> {
  const r = await runTool(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-i', file, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'gray', 'pipe:1'], 30_000);
  if (r.code !== 0) throw new Error(`ffmpeg could not decode ${file}: ${r.stderr.trim()}`);
  return r.stdout;
}

export function sha256File(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file)
      .on('data', (d) => h.update(d))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}
