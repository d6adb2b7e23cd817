/**
 * Verify an audit directory: every record's own hash, the chain (seq +1, prevHash = previous
 * hash) across files, each file's header, where the chain starts (genesis, or a start vouched
 * for by a retention record), and the manifest checkpoint (a log cut at a line boundary ends
 * before the last checkpointed record). Reports the first broken record by file and line.
 */
import { join } from 'node:path';
import { listLogFiles, readLines, readManifest, seqOfName } from './files.js';
import { GENESIS, parseRecordLine, type AuditRecord } from './record.js';

export type VerifyProblem = { file: string; line: number; seq?: number; reason: string };

export type VerifyResult = {
  ok: boolean;
  dir: string;
  files: number;
  records: number;
  firstSeq?: number;
  lastSeq?: number;
  lastHash?: string;
  /** The first problem, in chain order. */
  problem?: VerifyProblem;
  /** Things worth knowing that are not errors (e.g. no manifest, files kept past retention). */
  notes: string[];
};

export function verifyAuditLog(dir: string): VerifyResult {
  const files = listLogFiles(dir);
  const notes: string[] = [];
  const result: VerifyResult = { ok: false, dir, files: files.length, records: 0, notes };
  if (files.length === 0) {
    result.problem = { file: dir, line: 0, reason: 'no audit log files (audit-*.jsonl) in this directory' };
    return result;
  }
  let manifest;
  try {
    manifest = readManifest(dir);
  } catch (err) {
    notes.push((err as Error).message);
  }
  if (manifest === undefined) notes.push('no manifest.json: a log cut exactly at a line boundary after the last rotation cannot be detected');

  let problem: VerifyProblem | undefined;
  let first: { seq: number; prevHash: string; file: string } | undefined;
  let prev: AuditRecord | undefined;
  let prevFile: string | null = null;
  const starts: Array<{ seq: number; prevHash: string }> = [];
  let checkpointHash: string | undefined;
  const fail = (p: VerifyProblem) => {
    problem ??= p;
  };

  for (const name of files) {
    const { lines, tail } = readLines(join(dir, name));
    for (let i = 0; i < lines.length; i++) {
      const at = { file: name, line: i + 1 };
      const p = parseRecordLine(lines[i]!.text);
      if (!p.ok) {
        fail({ ...at, ...(p.seq === undefined ? {} : { seq: p.seq }), reason: p.reason });
        continue;
      }
      const r = p.record;
      if (r.kind === 'retention' && r['start'] !== undefined) starts.push(r['start'] as { seq: number; prevHash: string });
      if (problem !== undefined) continue; // keep collecting retention records only
      result.records++;
      if (first === undefined) first = { seq: r.seq, prevHash: r.prevHash, file: name };
      else if (r.seq !== prev!.seq + 1) {
        fail({
          ...at,
          seq: r.seq,
          reason:
            r.seq > prev!.seq + 1
              ? `expected seq ${prev!.seq + 1}, found ${r.seq}: record${r.seq - prev!.seq > 2 ? `s ${prev!.seq + 1}..${r.seq - 1} are` : ` ${prev!.seq + 1} is`} missing`
              : `expected seq ${prev!.seq + 1}, found ${r.seq}: a record is duplicated or out of order`,
        });
        continue;
      } else if (r.prevHash !== prev!.hash) {
        fail({ ...at, seq: r.seq, reason: `prevHash does not match the hash of record ${prev!.seq}: that record was changed, or records were removed or inserted before this one` });
        continue;
      }
      if (i === 0) {
        if (r.kind !== 'file') fail({ ...at, seq: r.seq, reason: 'a log file must start with a "file" record' });
        else if (r['file'] !== name) fail({ ...at, seq: r.seq, reason: `the file header names "${String(r['file'])}": this file was renamed or copied` });
        else if (prevFile !== null && r['previous'] !== prevFile) fail({ ...at, seq: r.seq, reason: `the file header says the previous file is "${String(r['previous'])}", but it is "${prevFile}"` });
        else if (seqOfName(name) !== r.seq) fail({ ...at, seq: r.seq, reason: `the file name says seq ${seqOfName(name)}, its first record is seq ${r.seq}` });
      } else if (r.kind === 'file') {
        fail({ ...at, seq: r.seq, reason: 'a "file" header record in the middle of a file' });
      }
      if (manifest?.checkpoint?.seq === r.seq) checkpointHash = r.hash;
      prev = r;
    }
    if (tail.length > 0) {
      fail({ file: name, line: lines.length + 1, reason: `incomplete last record (${Buffer.byteLength(tail)} bytes without a newline): the file was truncated or a write was cut short` });
    }
    prevFile = name;
  }

  // Where the chain starts: seq 1 after the genesis hash, or a start named by a retention record.
  if (first !== undefined) {
    const legit = (first.seq === 1 && first.prevHash === GENESIS) || starts.some((s) => s.seq === first!.seq && s.prevHash === first!.prevHash);
    if (!legit) {
      const vouched = starts.at(-1);
      problem = {
        file: first.file,
        line: 1,
        seq: first.seq,
        reason:
          vouched === undefined
            ? `the log starts at seq ${first.seq}, not at seq 1, and no retention record explains it: records 1..${first.seq - 1} were deleted or the first file is missing`
            : `the log starts at seq ${first.seq}, but the last retention record says the chain starts at seq ${vouched.seq}: records ${Math.min(vouched.seq, first.seq)}..${Math.max(vouched.seq, first.seq) - 1} are unaccounted for`,
      };
    } else if (starts.length > 0 && first.seq < starts.at(-1)!.seq) {
      notes.push(`files before seq ${starts.at(-1)!.seq} are still present although retention deleted them (an interrupted deletion): harmless`);
    }
  }

  if (problem === undefined && prev !== undefined && manifest?.checkpoint !== undefined) {
    const cp = manifest.checkpoint;
    if (cp.seq > prev.seq) {
      problem = {
        file: files.at(-1)!,
        line: readLines(join(dir, files.at(-1)!)).lines.length + 1,
        seq: prev.seq + 1,
        reason: `the log ends at seq ${prev.seq}, but the manifest recorded seq ${cp.seq} on disk at ${cp.time}: records ${prev.seq + 1}..${cp.seq} were removed (truncated)`,
      };
    } else if (checkpointHash !== undefined && checkpointHash !== cp.hash) {
      problem = { file: dir, line: 0, seq: cp.seq, reason: `record ${cp.seq} differs from the one checkpointed in the manifest at ${cp.time}` };
    }
  }

  if (first !== undefined) result.firstSeq = first.seq;
  if (prev !== undefined) {
    result.lastSeq = prev.seq;
    result.lastHash = prev.hash;
  }
  if (problem !== undefined) result.problem = problem;
  result.ok = problem === undefined;
  return result;
}
