/**
 * `udsbus recordings list|show|export`: what the recording subscriber recorded, from its session
 * index (`indexFile` of `udsbus run recording`). Files only; no broker is needed.
 */
import { copyFileSync, existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import type { IndexedSession } from '../../subscribers/recording/index.js';

// The recording modules load only when a recordings command runs: cli/main.ts registers every
// command, the broker's process too.
const sha256File = async (path: string): Promise<string> => (await import('../../subscribers/recording/media.js')).sha256File(path);

type Source = { index?: string; config?: string };

async function indexFileOf(o: Source): Promise<string> {
  if (o.index !== undefined) return o.index;
  if (o.config !== undefined) return (await import('../../subscribers/recording/config.js')).loadRecordingConfig(o.config).indexFile;
  throw new Error('say which index: --index FILE (the indexFile of the recording config) or --config FILE');
}

async function sessions(o: Source): Promise<IndexedSession[]> {
  const file = await indexFileOf(o);
  if (!existsSync(file)) throw new Error(`no session index at ${file}; is "udsbus run recording" writing it?`);
  const { readSessionIndex } = await import('../../subscribers/recording/index.js');
  return readSessionIndex(file).sessions;
}

function clipText(s: IndexedSession): string {
  if (s.clip?.deleted !== undefined) return `clip deleted (${s.clip.deleted})`;
  if (s.clip !== undefined) {
    const gaps = s.clip.gaps.length === 0 ? '' : `, ${s.clip.gaps.length} gap(s)`;
    return `${s.clip.durationS.toFixed(1)} s, ${(s.clip.bytes / 1024).toFixed(0)} KiB${gaps}  ${s.clip.path}`;
  }
  if (s.clipFailed !== undefined) return `no clip (${s.clipFailed.code}: ${s.clipFailed.message})`;
  return s.end === undefined ? 'recording' : 'no clip';
}

/** Does the clip on disk match the index (size and sha256)? */
async function checkClip(s: IndexedSession): Promise<{ ok: boolean; problem?: string }> {
  const c = s.clip;
  if (c === undefined) return { ok: false, problem: 'the session has no clip' };
  if (c.deleted !== undefined) return { ok: false, problem: `the clip was deleted by retention (${c.deleted})` };
  if (!existsSync(c.path)) return { ok: false, problem: `${c.path} is missing` };
  const size = statSync(c.path).size;
  if (size !== c.bytes) return { ok: false, problem: `${c.path} has ${size} bytes, the index says ${c.bytes}` };
  if ((await sha256File(c.path)) !== c.sha256) return { ok: false, problem: `${c.path} does not match its sha256 in the index` };
  return { ok: true };
}

const fail = (cmd: string, err: unknown) => {
  process.stderr.write(`udsbus recordings ${cmd}: ${(err as Error).message}\n`);
  process.exitCode = 1;
};

export function registerRecordings(program: Command): void {
  const rec = program.command('recordings').description('list, show and export recorded clips (from the session index of "udsbus run recording")');
  const src = (c: Command) =>
    c.option('--index <file>', 'the session index (indexFile of the recording config)').option('--config <file>', 'the recording config (its indexFile is read)');

  src(rec.command('list'))
    .option('--camera <id>', 'only this camera')
    .option('--since <time>', 'sessions starting at or after: ISO 8601 time, or a duration ago (15m, 2h, 7d)')
    .option('--json', 'JSON lines: one session per line, as folded from the index')
    .description('sessions, oldest first, with their clip (duration, size, gaps, path) or why there is none')
    .action(async (o: Source & { camera?: string; since?: string; json?: boolean }) => {
      try {
        const { parseTime } = await import('../../subscribers/audit/index.js');
        const since = o.since === undefined ? undefined : parseTime(o.since, Date.now());
        const list = (await sessions(o)).filter((s) => (o.camera === undefined || s.cameraId === o.camera) && (since === undefined || Date.parse(s.start) >= since));
        for (const s of list) {
          if (o.json === true) process.stdout.write(`${JSON.stringify(s)}\n`);
          else process.stdout.write(`${s.sessionId}  ${s.cameraId}  ${s.start} → ${s.end ?? '…'}  ${s.reason ?? 'open'}  ${clipText(s)}\n`);
        }
        if (o.json !== true) process.stderr.write(`${list.length} session(s)\n`);
      } catch (err) {
        fail('list', err);
      }
    });

  src(rec.command('show'))
    .argument('<sessionId>')
    .description('one session as JSON, with its clip checked against the index (size and sha256)')
    .addHelpText('after', '\nExit codes:\n  0  shown; the clip, if any, matches the index\n  1  no such session, or the clip is missing or does not match')
    .action(async (id: string, o: Source) => {
      try {
        const s = (await sessions(o)).find((x) => x.sessionId === id);
        if (s === undefined) throw new Error(`no session ${id}; "udsbus recordings list" shows the ids`);
        const check = s.clip === undefined ? undefined : await checkClip(s);
        process.stdout.write(`${JSON.stringify({ ...s, ...(check === undefined ? {} : { clipCheck: check }) }, null, 2)}\n`);
        if (check !== undefined && !check.ok && s.clip?.deleted === undefined) process.exitCode = 1;
      } catch (err) {
        fail('show', err);
      }
    });

  src(rec.command('export'))
    .argument('<sessionId>')
    .argument('<dest>', 'a file, or a directory to put <sessionId>.mp4 in')
    .description('copy a session\'s clip after checking it against the index; the copy appears complete or not at all')
    .action(async (id: string, dest: string, o: Source) => {
      try {
        const s = (await sessions(o)).find((x) => x.sessionId === id);
        if (s === undefined) throw new Error(`no session ${id}; "udsbus recordings list" shows the ids`);
        const check = await checkClip(s);
        if (!check.ok) throw new Error(`${check.problem}; not exporting`);
        const out = existsSync(dest) && statSync(dest).isDirectory() ? join(dest, basename(s.clip!.path)) : dest;
        const tmp = `${out}.partial`;
        try {
          copyFileSync(s.clip!.path, tmp);
          if ((await sha256File(tmp)) !== s.clip!.sha256) throw new Error('the copy does not match its sha256');
          renameSync(tmp, out);
        } finally {
          rmSync(tmp, { force: true });
        }
        process.stdout.write(`${out}\n`);
        process.stderr.write(`exported ${s.clip!.durationS.toFixed(1)} s, ${s.clip!.bytes} bytes, sha256 ${s.clip!.sha256}\n`);
      } catch (err) {
        fail('export', err);
      }
    });
}
