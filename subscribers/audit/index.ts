/**
 * Audit subscriber: every message matching the configured patterns, appended to a hash-chained,
 * fsynced, rotating log that loses nothing when fed by a durable subscription (see service.ts for
 * the guarantees, writer.ts for the file handling, record.ts for the record format).
 *
 * @example
 * const bus = await connect({ name: 'audit' });
 * const audit = await startAudit({ client: bus, dir: '/var/lib/udsbus/audit' }); // durable "audit" on ">"
 * // … later
 * await audit.stop();
 * verifyAuditLog('/var/lib/udsbus/audit').ok; // true
 */
import type { Client } from 'udsbus';
import type { Clock } from '../common/clock.js';
import { createLogger, type Logger } from '../common/logger.js';
import { AuditService, type AuditStats } from './service.js';
import { busSource, type AuditSource } from './source.js';
import type { FsyncPolicy, Retention, WriteFn } from './writer.js';

export { AuditConfig, loadAuditConfig } from './config.js';
export { verifyAuditLog, type VerifyResult, type VerifyProblem } from './verify.js';
export { queryAuditLog, parseTime, type AuditQuery, type QueryHit } from './query.js';
export { busSource, type AuditSource, type SourceMessage } from './source.js';
export type { AuditRecord, RecordKind } from './record.js';
export type { AuditStats } from './service.js';

export type AuditOptions = {
  /** A connected client; not closed by stop(). Also used to publish alert.audit-disk-full. */
  client?: Client | undefined;
  dir: string;
  /** What to record (default: everything, durable queue "audit"). Ignored when `sources` is given. */
  subscriptions?: ReadonlyArray<{ pattern: string; durable?: string | false | undefined; durableMaxBytes?: number | undefined }> | undefined;
  /** Custom sources instead of bus subscriptions (tests, other transports). */
  sources?: AuditSource[] | undefined;
  fsync?: FsyncPolicy | undefined;
  rotate?: { maxBytes?: number | undefined; maxAgeMs?: number | undefined } | undefined;
  retention?: Retention | undefined;
  retry?: { initialMs?: number | undefined; maxMs?: number | undefined } | undefined;
  maxPending?: number | undefined;
  clock?: Clock | undefined;
  logger?: Logger | undefined;
  /** Replaces the file write (tests inject ENOSPC). */
  writeFn?: WriteFn | undefined;
};

export interface AuditHandle {
  stats(): AuditStats;
  /** Resolves when everything received so far is written (or writing is blocked). */
  idle(): Promise<void>;
  /** Write what is pending and a stop record, fsync, acknowledge, detach. */
  stop(): Promise<void>;
}

export async function startAudit(opts: AuditOptions): Promise<AuditHandle> {
  const log = opts.logger ?? createLogger('udsbus-audit');
  let sources = opts.sources;
  if (sources === undefined) {
    if (opts.client === undefined) throw new TypeError('startAudit: pass a client (or sources)');
    const client = opts.client;
    const subs = opts.subscriptions ?? [{ pattern: '>', durable: 'audit' }];
    sources = subs.map((s) => {
      const durable = s.durable === false ? undefined : s.durable;
      if (durable === undefined) log.warn({ pattern: s.pattern }, 'plain (non-durable) audit subscription: messages published while the audit subscriber is down are not recorded');
      return busSource(client, { pattern: s.pattern, durable, durableMaxBytes: s.durableMaxBytes });
    });
  }
  const service = new AuditService({
    dir: opts.dir,
    sources,
    logger: log,
    client: opts.client,
    fsync: opts.fsync,
    maxFileBytes: opts.rotate?.maxBytes,
    maxFileAgeMs: opts.rotate?.maxAgeMs,
    retention: opts.retention,
    retryInitialMs: opts.retry?.initialMs,
    retryMaxMs: opts.retry?.maxMs,
    maxPending: opts.maxPending,
    clock: opts.clock,
    writeFn: opts.writeFn,
  });
  try {
    await service.start(opts.client === undefined ? undefined : () => opts.client!.flush());
  } catch (err) {
    await service.stop().catch(() => undefined);
    throw err;
  }
  return { stats: () => service.stats(), idle: () => service.idle(), stop: () => service.stop() };
}
