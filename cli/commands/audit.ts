/**
 * `udsbus audit verify DIR` and `udsbus audit query DIR …`: check and search an audit log written
 * by the audit subscriber (`udsbus run audit`). Both read files only; no broker is needed.
 */
import type { Command } from 'commander';
import type { RecordKind } from '../../subscribers/audit/record.js';

const KINDS: readonly RecordKind[] = ['msg', 'file', 'start', 'stop', 'loss', 'outage', 'repair', 'retention'];

export function registerAudit(program: Command): void {
  const audit = program.command('audit').description('verify or search an audit log directory (written by "udsbus run audit")');

  audit
    .command('verify')
    .argument('<dir>', 'audit log directory')
    .option('--json', 'print the result as one JSON object')
    .description('check every record and the hash chain; exit 1 naming the first broken record (file, line, reason)')
    .addHelpText('after', '\nExit codes:\n  0  the log is intact\n  1  a record is broken, missing or the log was truncated (or the directory has no log)')
    .action(async (dir: string, o: { json?: boolean }) => {
      const { verifyAuditLog } = await import('../../subscribers/audit/index.js');
      const r = verifyAuditLog(dir);
      if (o.json === true) process.stdout.write(`${JSON.stringify(r)}\n`);
      else if (r.ok) {
        process.stdout.write(`OK: ${r.records} records in ${r.files} file(s), seq ${r.firstSeq}..${r.lastSeq}, chain intact; last hash ${r.lastHash}\n`);
      } else {
        const p = r.problem!;
        process.stdout.write(`BROKEN: ${p.file}${p.line > 0 ? `:${p.line}` : ''}${p.seq === undefined ? '' : ` (seq ${p.seq})`}: ${p.reason}\n`);
      }
      if (o.json !== true) for (const n of r.notes) process.stderr.write(`note: ${n}\n`);
      process.exitCode = r.ok ? 0 : 1;
    });

  audit
    .command('query')
    .argument('<dir>', 'audit log directory')
    .option('--camera <id>', 'messages about this camera (payload cameraId or the id in the topic)')
    .option('--since <time>', 'received at or after: ISO 8601 time, or a duration ago (15m, 2h, 7d)')
    .option('--until <time>', 'received before (same forms as --since)')
    .option('--topic <pattern>', 'topic pattern, wildcards * and >')
    .option('--kind <kinds>', `record kinds, comma-separated (${KINDS.join(', ')}; default msg)`)
    .option('--limit <n>', 'stop after n records')
    .option('--json', 'JSON lines: the records as stored')
    .description('list audit records matching the filters, oldest first (does not verify: use "audit verify")')
    .action(async (dir: string, o: { camera?: string; since?: string; until?: string; topic?: string; kind?: string; limit?: string; json?: boolean }) => {
      const { parseTime, queryAuditLog } = await import('../../subscribers/audit/index.js');
      const { isValidPattern } = await import('../../schemas/topics.js');
      const now = Date.now();
      let q;
      try {
        if (o.topic !== undefined && !isValidPattern(o.topic)) throw new Error(`invalid topic pattern "${o.topic}"`);
        const kinds = o.kind?.split(',').map((k) => k.trim()) as RecordKind[] | undefined;
        const bad = kinds?.find((k) => !KINDS.includes(k));
        if (bad !== undefined) throw new Error(`unknown record kind "${bad}" (one of ${KINDS.join(', ')})`);
        const limit = o.limit === undefined ? undefined : Number(o.limit);
        if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) throw new Error(`--limit must be a positive integer, got "${o.limit}"`);
        q = {
          camera: o.camera,
          since: o.since === undefined ? undefined : parseTime(o.since, now),
          until: o.until === undefined ? undefined : parseTime(o.until, now),
          topic: o.topic,
          kinds,
          limit,
        };
      } catch (err) {
        process.stderr.write(`udsbus audit query: ${(err as Error).message}\n`);
        process.exitCode = 1;
        return;
      }
      let n = 0;
      for (const hit of queryAuditLog(dir, q)) {
        n++;
        const r = hit.record;
        if (o.json === true) {
          process.stdout.write(`${JSON.stringify(r)}\n`);
          continue;
        }
        const what = r.kind === 'msg' ? `${String(r['topic'])} ${r['empty'] === true ? '(empty)' : JSON.stringify(r['payload'])}` : `[${r.kind}] ${JSON.stringify(withoutChain(r))}`;
        process.stdout.write(`${r.time} #${r.seq} ${what}\n`);
      }
      if (o.json !== true) process.stderr.write(`${n} record(s)\n`);
    });
}

function withoutChain(r: Record<string, unknown>): Record<string, unknown> {
  const { seq: _s, kind: _k, time: _t, prevHash: _p, hash: _h, ...rest } = r;
  return rest;
}
