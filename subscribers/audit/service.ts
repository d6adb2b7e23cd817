/**
 * The audit pipeline: messages from sources → records in order → AuditWriter → acknowledgements.
 *
 * Guarantees, with a durable source:
 * - Nothing is acknowledged before its record is fsynced (per the fsync policy), so a crash at any
 *   point loses nothing: what was not acknowledged is redelivered.
 * - Exactly once in the log: redeliveries are dropped by `mid` (the last id written per queue is
 *   recovered from the log at start), and already-written redeliveries are acknowledged again.
 * - When a write fails (ENOSPC, EIO) nothing partial stays on disk; the failure is logged and
 *   published (alert.audit-disk-full), durable sources are paused so the backlog stays in the
 *   broker's queue, and writing is retried with backoff. The first successful write is an
 *   `outage` record; then the sources resume and the broker redelivers.
 * Plain (non-durable) sources are best effort: while blocked their messages are buffered up to
 * maxPending and the rest are counted in a `loss` record.
 */
import type { Client } from 'udsbus';
import type { Alert } from '../../schemas/payloads.js';
import { validatorFor } from '../../schemas/validate.js';
import { systemClock, type Clock, type TimerHandle } from '../common/clock.js';
import { errFields, type Logger } from '../common/logger.js';
import { messageBody, type RecordBody } from './record.js';
import type { AuditSource, SourceMessage } from './source.js';
import { AuditWriter, type FsyncPolicy, type Retention, type WriteFn } from './writer.js';

export type AuditServiceOptions = {
  dir: string;
  sources: AuditSource[];
  logger: Logger;
  /** Publishes alerts about the audit log itself (disk full, resumed); optional for tests. */
  client?: Client | undefined;
  fsync?: FsyncPolicy | undefined;
  maxFileBytes?: number | undefined;
  maxFileAgeMs?: number | undefined;
  retention?: Retention | undefined;
  retryInitialMs?: number | undefined;
  retryMaxMs?: number | undefined;
  maxPending?: number | undefined;
  clock?: Clock | undefined;
  writeFn?: WriteFn | undefined;
  /** Extra fields of the `start` record (e.g. process name). */
  startInfo?: Record<string, unknown> | undefined;
};

type SourceState = {
  src: AuditSource;
  /** Highest mid accepted into the pipeline (pending or written). */
  accepted: number;
  /** Highest mid written, and the message carrying it (for the cumulative ack). */
  written: number;
  lastWritten: SourceMessage | undefined;
  acked: number;
  /** Plain sources: messages dropped while blocked. */
  dropped: number;
  duplicates: number;
  /** Consecutive subscription failures (reset by a delivered message). */
  restarts: number;
  restartTimer?: TimerHandle | undefined;
};

type Pending = { body: RecordBody; st?: SourceState; msg?: SourceMessage };

export type AuditStats = {
  seq: number;
  written: number;
  duplicates: number;
  pending: number;
  blocked: boolean;
  failures: number;
};

const MAX_BATCH = 512;

export class AuditService {
  private writer: AuditWriter | undefined;
  private get w(): AuditWriter {
    if (this.writer === undefined) throw new Error('the audit log is not open');
    return this.writer;
  }
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly states: SourceState[];
  private pending: Pending[] = [];
  private writing = false;
  private blocked: { since: number; error: string; attempt: number; timer?: TimerHandle } | undefined;
  private syncTimer: TimerHandle | undefined;
  private accepting = false;
  /** start() has succeeded. */
  private running = false;
  private stopped = false;
  private written = 0;
  private failures = 0;
  private idleWaiters: Array<() => void> = [];
  private readonly errors: Error[] = [];

  constructor(private readonly opts: AuditServiceOptions) {
    this.clock = opts.clock ?? systemClock;
    this.log = opts.logger;
    this.states = opts.sources.map((src) => ({ src, accepted: 0, written: 0, lastWritten: undefined, acked: 0, dropped: 0, duplicates: 0, restarts: 0 }));
  }

  /** Open the log, write the start record, start the sources. Rejects if a source is refused. */
  async start(flush?: () => Promise<void>): Promise<void> {
    this.writer = await AuditWriter.open({
      dir: this.opts.dir,
      fsync: this.opts.fsync,
      maxFileBytes: this.opts.maxFileBytes,
      maxFileAgeMs: this.opts.maxFileAgeMs,
      retention: this.opts.retention,
      clock: this.clock,
      writeFn: this.opts.writeFn,
      logger: this.log,
    });
    for (const st of this.states) {
      const mid = this.w.lastMid(st.src.queue) ?? 0;
      st.accepted = st.written = st.acked = mid;
    }
    for (const r of this.w.recovered) {
      this.log.warn(r, 'audit log: repaired a torn last line left by a crash');
      this.enqueue({ body: r });
    }
    this.enqueue({
      body: {
        kind: 'start',
        time: this.now(),
        pid: process.pid,
        ...this.opts.startInfo,
        queues: this.states.map((s) => ({ q: s.src.queue, durable: s.src.durable, lastMid: s.written })),
      },
    });
    this.accepting = true;
    for (const st of this.states) this.startSource(st);
    await flush?.();
    if (this.errors.length > 0) throw this.errors[0]!;
    this.running = true;
    const fsync = this.opts.fsync;
    if (fsync !== undefined && fsync !== 'always') this.armSync(fsync.intervalMs);
    this.log.info({ dir: this.opts.dir, seq: this.w.seq, queues: this.states.map((s) => ({ q: s.src.queue, lastMid: s.written })) }, 'audit log open');
  }

  stats(): AuditStats {
    return {
      seq: this.w.seq,
      written: this.written,
      duplicates: this.states.reduce((n, s) => n + s.duplicates, 0),
      pending: this.pending.length,
      blocked: this.blocked !== undefined,
      failures: this.failures,
    };
  }

  /** Resolves when nothing is pending (everything received so far is written), or writing is blocked. */
  idle(): Promise<void> {
    if ((this.pending.length === 0 && !this.writing) || this.blocked !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private now(): string {
    return new Date(this.clock.now()).toISOString();
  }

  private startSource(st: SourceState): void {
    st.src.start({
      message: (m) => this.onMessage(st, m),
      error: (e) => {
        if (!this.running) {
          this.errors.push(e); // start() fails with it
          return;
        }
        // E.g. DURABLE_BUSY after a reconnect race: say so loudly and subscribe again with backoff.
        st.restarts++;
        const delay = Math.min(this.opts.retryMaxMs ?? 30_000, (this.opts.retryInitialMs ?? 1_000) * 2 ** Math.min(st.restarts - 1, 16));
        const message = `audit subscription ${st.src.queue} failed: ${e.message}; subscribing again in ${delay} ms`;
        this.log.error({ ...errFields(e), queue: st.src.queue }, message);
        if (st.restarts === 1) this.alert('audit-subscription-failed', 'critical', message, undefined);
        st.restartTimer = this.clock.setTimeout(() => {
          if (this.stopped || this.blocked !== undefined) return; // resumed with the others after an outage
          if (st.src.durable) st.accepted = st.written; // what was pending is redelivered
          this.startSource(st);
        }, delay);
      },
    });
  }

  private onMessage(st: SourceState, m: SourceMessage): void {
    if (!this.accepting) return; // stopping: not acknowledged, so redelivered next time
    st.restarts = 0;
    if (st.src.durable && m.mid !== undefined) {
      if (this.blocked !== undefined) return; // paused: the broker keeps it
      if (m.mid <= st.accepted) {
        st.duplicates++;
        // Already written and synced: acknowledge again, or the broker keeps redelivering it.
        if (m.mid <= st.written && m.mid <= st.acked) st.src.ack(m);
        return;
      }
      st.accepted = m.mid;
    } else if (this.blocked !== undefined && this.pending.length >= (this.opts.maxPending ?? 10_000)) {
      st.dropped++;
      return;
    }
    if ((m.lost ?? 0) > 0) {
      this.enqueue({ body: { kind: 'loss', time: this.now(), q: st.src.queue, lost: m.lost, reason: 'reported by the broker', ...(m.mid === undefined ? {} : { beforeMid: m.mid }) } });
    }
    this.enqueue({ body: messageBody(m, this.now(), st.src.queue, m.mid), st, msg: m });
  }

  private enqueue(p: Pending): void {
    this.pending.push(p);
    if (!this.writing && this.blocked === undefined) queueMicrotask(() => void this.pump());
  }

  private async pump(): Promise<void> {
    if (this.writing || this.blocked !== undefined) return;
    this.writing = true;
    try {
      while (this.pending.length > 0 && this.blocked === undefined) {
        let batch = this.pending.slice(0, MAX_BATCH);
        try {
          const { written } = await this.w.appendSome(batch.map((p) => p.body));
          batch = batch.slice(0, written);
        } catch (err) {
          this.onWriteFailure(err as NodeJS.ErrnoException, batch[0]?.msg?.topic);
          break;
        }
        this.pending.splice(0, batch.length);
        for (const p of batch) {
          if (p.st === undefined || p.msg === undefined) continue;
          this.written++;
          if (p.msg.mid !== undefined && p.msg.mid > p.st.written) {
            p.st.written = p.msg.mid;
            p.st.lastWritten = p.msg;
          }
        }
        if (this.w.syncedSeq === this.w.seq) this.ackWritten();
      }
    } finally {
      this.writing = false;
    }
    if (this.pending.length === 0 || this.blocked !== undefined) for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Cumulative ack of the last written message per durable source (call only after an fsync). */
  private ackWritten(snapshot?: Map<SourceState, SourceMessage | undefined>): void {
    for (const st of this.states) {
      const m = snapshot === undefined ? st.lastWritten : snapshot.get(st);
      if (!st.src.durable || m?.mid === undefined || m.mid <= st.acked) continue;
      st.src.ack(m);
      st.acked = m.mid;
    }
  }

  private armSync(intervalMs: number): void {
    this.syncTimer = this.clock.setTimeout(() => {
      void this.syncNow().finally(() => {
        if (!this.stopped) this.armSync(intervalMs);
      });
    }, intervalMs);
  }

  private async syncNow(): Promise<void> {
    const snapshot = new Map(this.states.map((st) => [st, st.lastWritten] as const));
    try {
      await this.w.sync();
      this.ackWritten(snapshot);
    } catch (err) {
      this.onWriteFailure(err as NodeJS.ErrnoException, undefined);
    }
  }

  private onWriteFailure(err: NodeJS.ErrnoException, topic: string | undefined): void {
    this.failures++;
    const code = err.code ?? 'EIO';
    if (this.blocked !== undefined) return;
    this.blocked = { since: this.clock.now(), error: `${code}: ${err.message}`, attempt: 0 };
    const diskFull = code === 'ENOSPC' || code === 'EDQUOT';
    const message = `audit log ${this.opts.dir} cannot be written (${code}${diskFull ? ', disk full' : ''}): nothing written so far is lost; un-acknowledged messages stay in the durable queue; retrying`;
    this.log.error({ ...errFields(err), dir: this.opts.dir }, message);
    // Durable sources are paused: their backlog waits in the broker, not in our memory.
    for (const st of this.states) {
      if (!st.src.durable) continue;
      st.src.pause();
      st.accepted = st.written;
    }
    this.pending = this.pending.filter((p) => p.st === undefined || !p.st.src.durable);
    this.alert(diskFull ? 'audit-disk-full' : 'audit-write-failed', 'critical', message, topic);
    this.scheduleRetry();
  }

  private scheduleRetry(): void {
    const b = this.blocked!;
    const delay = Math.min(this.opts.retryMaxMs ?? 30_000, (this.opts.retryInitialMs ?? 1_000) * 2 ** b.attempt);
    b.attempt++;
    b.timer = this.clock.setTimeout(() => void this.retry(), delay);
  }

  private async retry(): Promise<void> {
    const b = this.blocked;
    if (b === undefined || this.stopped) return;
    const outage: RecordBody = { kind: 'outage', time: this.now(), since: new Date(b.since).toISOString(), error: b.error, attempts: b.attempt };
    try {
      await this.w.append([outage]);
      if (this.opts.fsync !== undefined && this.opts.fsync !== 'always') await this.w.sync();
    } catch (err) {
      this.log.error({ ...errFields(err), attempt: b.attempt }, 'audit log still cannot be written; retrying');
      this.scheduleRetry();
      return;
    }
    this.blocked = undefined;
    const secs = Math.round((this.clock.now() - b.since) / 1000);
    const msg = `audit log ${this.opts.dir} is being written again after ${secs} s`;
    this.log.warn({ dir: this.opts.dir, seconds: secs }, msg);
    this.alert(b.error.startsWith('ENOSPC') || b.error.startsWith('EDQUOT') ? 'audit-disk-full' : 'audit-write-failed', 'info', msg, undefined);
    for (const st of this.states) {
      if (!st.src.durable && st.dropped > 0) {
        this.enqueue({ body: { kind: 'loss', time: this.now(), q: st.src.queue, lost: st.dropped, reason: 'buffer full while the log could not be written' } });
        st.dropped = 0;
      }
    }
    for (const st of this.states) if (st.src.durable && !this.stopped) this.startSource(st); // the broker redelivers
    void this.pump();
  }

  private alert(ruleId: string, severity: Alert['severity'], message: string, topic: string | undefined): void {
    const client = this.opts.client;
    if (client === undefined) return;
    const alertTopic = `alert.${ruleId}`;
    const alert: Alert = { v: 1, ruleId, topic: topic ?? alertTopic, severity, message, time: this.now() };
    const check = validatorFor(alertTopic)?.(alert);
    if (check !== undefined && !check.ok) {
      this.log.error({ errors: check.errors }, 'not publishing an invalid alert (a bug)');
      return;
    }
    try {
      client.publish(alertTopic, alert);
    } catch (err) {
      this.log.error(errFields(err), `cannot publish ${alertTopic}`);
    }
  }

  /** Write what is pending and a stop record, fsync, acknowledge, then detach from the sources. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.accepting = false;
    this.clock.clearTimeout(this.syncTimer);
    if (this.writer === undefined) {
      // start() failed before the log was open.
      this.stopped = true;
      for (const st of this.states) st.src.pause();
      return;
    }
    if (this.blocked === undefined) {
      this.enqueue({ body: { kind: 'stop', time: this.now() } });
      await this.idle();
    }
    this.stopped = true;
    if (this.blocked !== undefined) {
      this.clock.clearTimeout(this.blocked.timer);
      const plain = this.pending.filter((p) => p.msg !== undefined).length;
      if (plain > 0) this.log.error({ lost: plain }, 'stopping while the audit log cannot be written: buffered messages of plain subscriptions are lost');
    }
    try {
      await this.w.sync();
      this.ackWritten();
    } catch (err) {
      this.log.error(errFields(err), 'final fsync failed; un-acknowledged messages will be redelivered');
    }
    for (const st of this.states) {
      this.clock.clearTimeout(st.restartTimer);
      st.src.pause();
    }
    await this.w.close();
  }
}
