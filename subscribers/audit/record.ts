/**
 * Audit records: one JSON object per line, chained by SHA-256.
 *
 *   {"seq":7,"kind":"msg","time":"…","q":"audit","mid":42,"topic":"…","payload":{…},"prevHash":"<hex>","hash":"<hex>"}
 *
 * `hash` is the SHA-256 of the line's own text up to (not including) `,"hash":…` with the closing
 * brace put back — i.e. of the exact bytes of the record without its hash, so no canonical-JSON
 * rules are needed to recompute it. `prevHash` is the previous record's hash (64 zeros before
 * the first record ever written), so changing, removing or reordering any record breaks every
 * hash after it.
 *
 * Kinds:
 * - `msg`: a bus message (q = durable queue or pattern, mid = durable message id, topic, from,
 *   hdr, payload — CBOR-only values in the $bytes/$float/… form of json-safe.ts; `empty: true`
 *   for an empty payload; `redacted` lists fields replaced by "[redacted]").
 * - `file`: first record of every log file: its own name, the previous file's name and the last
 *   durable message id per queue so far (the writer restarts from the newest file alone).
 * - `start` / `stop`: the audit process started / stopped cleanly.
 * - `loss`: the bus reported messages lost before they reached the audit log.
 * - `outage`: writing was impossible (e.g. disk full) from `since` to `time`.
 * - `repair`: bytes of a torn last line were cut after a crash.
 * - `retention`: old files were deleted on purpose; the chain now legitimately starts at `start`.
 */
import { createHash } from 'node:crypto';
import { toJsonSafe } from '../common/json-safe.js';

export const GENESIS = '0'.repeat(64);

export type RecordKind = 'msg' | 'file' | 'start' | 'stop' | 'loss' | 'outage' | 'repair' | 'retention';

/** A record before it is chained: everything except seq, prevHash and hash. */
export type RecordBody = { kind: RecordKind; time: string } & Record<string, unknown>;

export type AuditRecord = RecordBody & { seq: number; prevHash: string; hash: string };

const HASH_SUFFIX = /,"hash":"([0-9a-f]{64})"\}$/;

export function sha256(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

/** The line (without newline) and hash of `body` as record number `seq` after `prevHash`. */
export function encodeRecord(seq: number, body: RecordBody, prevHash: string): { line: string; hash: string } {
  const { kind, time, ...rest } = body;
  const unhashed = JSON.stringify({ seq, kind, time, ...rest, prevHash });
  const hash = sha256(unhashed);
  return { line: `${unhashed.slice(0, -1)},"hash":"${hash}"}`, hash };
}

export type ParsedLine = { ok: true; record: AuditRecord } | { ok: false; reason: string; seq?: number };

/** Parse one line and check that its hash matches its content (not the chain: see verify.ts). */
export function parseRecordLine(line: string): ParsedLine {
  const m = HASH_SUFFIX.exec(line);
  if (m === null) return { ok: false, reason: 'not an audit record (no trailing "hash" field)' };
  let record: AuditRecord;
  try {
    record = JSON.parse(line) as AuditRecord;
  } catch (err) {
    return { ok: false, reason: `not valid JSON: ${(err as Error).message}` };
  }
  if (typeof record.seq !== 'number' || typeof record.prevHash !== 'string' || typeof record.kind !== 'string') {
    return { ok: false, reason: 'missing seq, kind or prevHash' };
  }
  const expected = sha256(`${line.slice(0, m.index)}}`);
  if (expected !== m[1]) return { ok: false, seq: record.seq, reason: `hash mismatch: the record was modified (content hashes to ${expected.slice(0, 12)}…, recorded ${m[1]!.slice(0, 12)}…)` };
  return { ok: true, record };
}

/** Fields of bus payloads that must never be written down (SCHEMAS.md: audit must redact). */
const REDACT: Array<{ topic: RegExp; fields: string[] }> = [{ topic: /^camera\.rpc\.[^.]+\.users-create$/, fields: ['password'] }];

export type BusMessageLike = {
  topic: string;
  payload: unknown;
  bytes?: Uint8Array | undefined;
  hdr?: Readonly<Record<string, string>> | undefined;
  from?: unknown;
  retained?: boolean | undefined;
};

/** The body of a `msg` record for a bus message. */
export function messageBody(m: BusMessageLike, time: string, q: string, mid: number | undefined): RecordBody {
  const body: RecordBody = { kind: 'msg', time, q };
  if (mid !== undefined) body['mid'] = mid;
  body['topic'] = m.topic;
  if (m.from !== undefined && m.from !== null) body['from'] = toJsonSafe(m.from);
  if (m.hdr !== undefined) body['hdr'] = { ...m.hdr };
  if (m.retained === true) body['retained'] = true;
  if (m.payload === undefined && (m.bytes === undefined || m.bytes.length === 0)) {
    body['empty'] = true;
    return body;
  }
  let payload = m.payload;
  const redacted: string[] = [];
  for (const r of REDACT) {
    if (!r.topic.test(m.topic) || payload === null || typeof payload !== 'object') continue;
    const copy = { ...(payload as Record<string, unknown>) };
    for (const f of r.fields) {
      if (f in copy) {
        copy[f] = '[redacted]';
        redacted.push(f);
      }
    }
    payload = copy;
  }
  body['payload'] = toJsonSafe(payload);
  if (redacted.length > 0) body['redacted'] = redacted;
  return body;
}
