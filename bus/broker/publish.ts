/**
 * What a connection publishes, from its `pub` frame to its answer: the strict-mode check, the
 * retained quota, storing and routing (router.ts), then `ok` or the error that says what did not
 * happen (PROTOCOL.md §7) — and what it publishes when it ends: its owned retained messages are
 * cleared and its will fires. The answers live here so routing stays free of connection concerns.
 */
import { Buffer } from 'node:buffer';
import type { Limits } from '../protocol/limits.js';
import type { AccessControl } from './access.js';
import type { Connection } from './connection.js';
import type { PubRequest } from './host.js';
import type { Origin } from './message.js';
import type { Router } from './router.js';
import type { StrictMode } from './strict.js';

export class PubHandler {
  constructor(
    private readonly router: Router,
    private readonly limits: Readonly<Limits>,
    private readonly strict: StrictMode | undefined,
    private readonly access: AccessControl | undefined,
  ) {}

  /** A `pub` frame from a client, already validated. */
  publish(conn: Connection, pub: PubRequest): void {
    const { topic, payload, reply, hdr, confirm } = pub;
    let { retain, owned, id } = pub;
    if (this.strict !== undefined && payload.length > 0) {
      const problem = this.strict.check(topic, payload);
      if (problem !== undefined) return conn.error('SCHEMA_INVALID', problem, { id });
    }
    const u = conn.usage;
    if (retain && u !== undefined && payload.length > 0 && this.access !== undefined) {
      const cost = retainedCost(topic, payload, hdr, originOf(conn));
      const problem = this.access.retainedProblem(u, cost, this.router.retainedEntry(topic), this.limits.maxRetained);
      if (problem !== undefined) {
        conn.error('QUOTA_EXCEEDED', `uid ${conn.peer.uid ?? 'anonymous'} is at its ${problem}; delivered but not retained`, { id });
        retain = false;
        owned = false;
        id = undefined;
      }
    }
    const r = this.router.publish(topic, payload, reply, hdr, retain, owned ? conn : undefined, originOf(conn), u, conn.flow === 'pace' ? conn : undefined, pub.shared);
    if (r.failed.length > 0) {
      conn.error('STORE_FAILED', `durable queue(s) ${r.failed.join(', ')} could not store the message (storage error, see the broker's log); delivered live, not stored there`, { id });
      return;
    }
    if (r.refused.length > 0) {
      conn.error('DURABLE_FULL', `durable queue(s) ${r.refused.join(', ')} are full (quota reached, overflow "reject"); not stored there`, { id });
      return;
    }
    if (confirm && id !== undefined) {
      // Answer only once every durable queue that took the message has it on disk.
      const logs = r.logs;
      if (logs.length === 0) conn.sendFrame({ op: 'ok', id });
      else
        Promise.all(logs.map((l) => l.sync())).then(
          () => conn.sendFrame({ op: 'ok', id }),
          (err: Error) => conn.error('STORE_FAILED', `could not store the message: ${err.message}`, { id }),
        );
      return;
    }
    if (id === undefined) {
      if (r.retainFailed) conn.error('RETAINED_LIMIT', retainedText(this.limits));
      return;
    }
    if (r.retainFailed) conn.error('RETAINED_LIMIT', retainedText(this.limits), { id });
    else if (reply !== undefined && r.matched === 0) conn.error('NO_RESPONDERS', `no subscriber for "${topic}"`, { id });
    else conn.sendFrame({ op: 'ok', id });
  }

  /**
   * An open connection ended: the retained messages it owns go with it, and its will is published
   * unless it said bye or the broker is shutting down.
   */
  lastWords(conn: Connection, shuttingDown: boolean): void {
    const will = !conn.clean && !shuttingDown ? conn.will : undefined;
    // Owned retained state dies with its owner, unless the will is about to replace it.
    this.router.dropOwned(conn, originOf(conn), will?.retain === true ? will.topic : undefined);
    if (will !== undefined) this.router.publish(will.topic, will.payload, undefined, undefined, will.retain, undefined, originOf(conn));
  }
}

/** What a retained message costs the store: its shared encoded body (topic, payload, headers, from). */
function retainedCost(topic: string, payload: Uint8Array, hdr: Record<string, string> | undefined, origin: Origin): number {
  let n = Buffer.byteLength(topic) + payload.length + origin.cbor.length + 32;
  if (hdr !== undefined) for (const [k, v] of Object.entries(hdr)) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 4;
  return n;
}

/** The connection's `from` stamp as an Origin, made once (the hello encoded it). */
function originOf(conn: Connection): Origin {
  return (conn.origin ??= { cid: conn.cid, cbor: conn.fromCbor!, json: conn.fromJson! });
}

function retainedText(l: Limits): string {
  return `the retained store is full (maxRetained ${l.maxRetained}, maxRetainedBytes ${l.maxRetainedBytes}); delivered but not retained`;
}
