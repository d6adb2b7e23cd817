/**
 * The broker core: connections in, routing, retained state, presence, `$SYS`. It never touches
 * a listener or a socket path (see server.ts); hand it any Duplex with `handle()`. This class is
 * the face the connections (host.ts) and `$SYS` (sys.ts) talk to; each concern behind it has its
 * own module: options.ts, connections.ts, flush.ts, publish.ts, router.ts, access.ts, durable.ts.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { ErrorName } from '../protocol/errors.js';
import type { Limits } from '../protocol/limits.js';
import type { BrokerStats, ClientStats } from '../protocol/wire-types.js';
import type { Acl } from '../security/acl.js';
import { AccessControl, identityOf, InboxOwners } from './access.js';
import { Connection } from './connection.js';
import { ConnectionTable } from './connections.js';
import { DurableManager, type DurableDef, type DurableQueue } from './durable.js';
import type { DurableSpec } from './durable-spec.js';
import type { BrokerEvents } from './events.js';
import { FlushScheduler } from './flush.js';
import type { ConnectionHost, PeerInfo, PubRequest, Refusal, Transport } from './host.js';
import { brokerSettings, type BrokerLog, type BrokerOptions } from './options.js';
import type { OutboundOwner } from './outbound.js';
import { Pacer } from './pacing.js';
import { PubHandler } from './publish.js';
import { Router } from './router.js';
import { StrictMode } from './strict.js';
import type { BrokerSub } from './subscription.js';
import { newCounters, SysService, type Counters, type SysHost } from './sys.js';

export type { BrokerStats, ClientStats, SubStats } from '../protocol/wire-types.js';
export type { BrokerOptions } from './options.js';

export class Broker implements ConnectionHost<Connection>, SysHost<Connection> {
  /** This broker instance: a new value at every start (announced in `welcome.boot`). */
  readonly bootId = randomBytes(6).toString('hex');
  readonly startedAt = Date.now();
  readonly limits: Readonly<Limits>;
  readonly config: ConnectionHost<Connection>['config'];
  readonly durables: DurableManager | undefined;
  readonly access: AccessControl | undefined;
  readonly pacer: Pacer;
  readonly counters: Counters = newCounters();
  private readonly table: ConnectionTable;
  private readonly router: Router;
  private readonly pubs: PubHandler;
  private readonly flusher: FlushScheduler;
  private readonly inboxes = new InboxOwners();
  private readonly sysService = new SysService<Connection>(this);
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout | undefined;
  private readonly log: BrokerLog;
  private readonly events: BrokerEvents | undefined;

  constructor(opts: BrokerOptions = {}) {
    const s = brokerSettings(opts, this.bootId);
    this.config = s.config;
    this.limits = s.config.limits;
    this.log = s.log;
    this.events = opts.events;
    this.pacer = new Pacer(s.paceStallMs);
    const access = (this.access = opts.acl === undefined ? undefined : new AccessControl(opts.acl));
    if (s.durable !== undefined) {
      this.durables = new DurableManager({
        ...s.durable,
        ...(access === undefined ? {} : { readable: (q: DurableQueue, topic: string) => access.durableReadable(q, topic) }),
        onStoreError: (q, err) => {
          this.countError('STORE_FAILED');
          this.log('store-error', { durable: q.def.name, error: err.message, code: (err as NodeJS.ErrnoException).code });
        },
      });
    }
    this.table = new ConnectionTable(this.limits, this.bootId, s.frameTimeoutMs, access);
    this.router = new Router(this.limits, this.counters, this.pacer, this.durables, this.table.open);
    const strict = opts.strict !== undefined && opts.strict.patterns.length > 0 ? new StrictMode(opts.strict.patterns, opts.strict.validate, this.limits.maxNesting) : undefined;
    this.pubs = new PubHandler(this.router, this.limits, strict, access);
    this.flusher = new FlushScheduler(this.counters, this.pacer, this.events);
    this.sweepTimer = setInterval(() => {
      const now = Date.now();
      this.durables?.sweep(now);
      this.table.sweep(now);
    }, s.config.sweepMs);
    this.sweepTimer.unref();
    if (s.statsIntervalMs > 0) {
      this.statsTimer = setInterval(() => this.sys('$SYS.broker.stats', this.getStats()), s.statsIntervalMs);
      this.statsTimer.unref();
    }
  }

  /** Serve one client over any Duplex stream. */
  handle(stream: Duplex, transport: Transport = 'memory', peer: PeerInfo = {}): Connection {
    const conn = new Connection(this, stream, transport, peer);
    this.table.accept(conn);
    return conn;
  }

  // ---- the connection's host (host.ts) ----------------------------------------------------

  nextCid(): string {
    return this.table.nextCid();
  }

  outboundOwnerFor(conn: Connection): OutboundOwner {
    return this.flusher.ownerFor(conn);
  }

  admit(conn: Connection): boolean {
    return this.table.admit(conn);
  }

  onOpen(conn: Connection): void {
    this.table.opened(conn);
    this.counters.connectionsTotal++;
    this.events?.opened?.(conn);
    this.sys('$SYS.client.connected', { cid: conn.cid, name: conn.name, transport: conn.transport, ...conn.peer, time: new Date().toISOString() });
  }

  onClose(conn: Connection, wasOpen: boolean): void {
    this.events?.closed?.(conn, wasOpen);
    this.flusher.forget(conn);
    this.pacer.closed(conn);
    if (!this.table.remove(conn)) return;
    this.counters.msgsIn += conn.msgsIn;
    this.counters.bytesIn += conn.bytesIn;
    for (const sub of conn.subs.values()) {
      if (sub.inbox) this.inboxes.release(sub.pattern);
      this.unsubscribe(sub);
    }
    conn.subs.clear();
    // Connections told who this publisher was (`who`) hear that the reference is withdrawn.
    const o = conn.origin;
    if (o?.holders !== undefined) {
      for (const h of o.holders) h.forget(o);
      o.holders.clear();
    }
    if (!wasOpen) return;
    this.pubs.lastWords(conn, this.table.closing);
    this.sys('$SYS.client.disconnected', { cid: conn.cid, name: conn.name, reason: conn.closeReason ?? 'eof', clean: conn.clean, time: new Date().toISOString() });
  }

  publish(conn: Connection, pub: PubRequest): void {
    this.pubs.publish(conn, pub);
  }

  sysRequest(conn: Connection, topic: string, reply: string, id: number | undefined, payload: Uint8Array): void {
    this.sysService.request(conn, topic, reply, id, payload);
  }

  subscribe(sub: BrokerSub, withRetained: boolean): void {
    this.router.subscribe(sub, withRetained);
  }

  subscribeDurable(conn: Connection, sub: BrokerSub, spec: DurableSpec): Refusal | undefined {
    const { name, opts: o } = spec;
    if (this.durables === undefined) return { name: 'DURABLE_UNAVAILABLE', text: 'this broker has no data directory (start it with --data DIR) and cannot keep durable subscriptions' };
    if (this.access !== undefined && this.durables.get(name) === undefined) {
      const problem = this.access.reserveDurableBytes(conn, o.maxBytes ?? this.durables.opts.defaultMaxBytes);
      if (problem !== undefined) return { name: 'QUOTA_EXCEEDED', text: problem };
    }
    const q = this.durables.ensure(name, sub.pattern, o, this.access === undefined ? undefined : identityOf(conn.peer));
    if (typeof q === 'string') return { name: 'DURABLE_MISMATCH', text: q };
    const busy = this.durables.attach(q, conn, sub);
    return busy === undefined ? undefined : { name: 'DURABLE_BUSY', text: busy };
  }

  unsubscribe(sub: BrokerSub): void {
    if (sub.durable !== undefined) this.durables?.detach(sub.conn, sub);
    else this.router.unsubscribe(sub);
  }

  ack(conn: Connection, sub: BrokerSub, mid: number): void {
    this.durables?.ack(conn, sub, mid);
  }

  claimInbox(pattern: string, uid: number | undefined): boolean {
    return this.inboxes.claim(pattern, uid);
  }

  releaseInbox(pattern: string): void {
    this.inboxes.release(pattern);
  }

  /** Under an ACL, a reply topic must not be an inbox another uid owns. */
  mayReplyTo(reply: string, uid: number | undefined): boolean {
    return this.access === undefined || this.inboxes.mayUse(reply, uid);
  }

  countError(name: ErrorName): void {
    this.counters.errors[name] = (this.counters.errors[name] ?? 0) + 1;
  }

  /** A frame made the broker throw: log it, close only that connection. */
  internalError(conn: Connection, err: unknown): void {
    this.log('internal-error', { cid: conn.cid, name: conn.name, error: err instanceof Error ? (err.stack ?? err.message) : String(err) });
    try {
      conn.fail('INTERNAL', 'the broker could not handle this frame (logged); the connection is closed');
    } catch {
      conn.stream.destroy();
    }
  }

  /** Count and publish a refused operation (who, what, when) on $SYS.acl.denied. */
  denied(conn: Connection, action: string, target: string): void {
    if (this.access === undefined) return;
    const record = this.access.denial(conn, action, target);
    this.events?.denied?.(record);
    this.sys('$SYS.acl.denied', record);
  }

  // ---- $SYS (sys.ts) and management -------------------------------------------------------

  /** Publish one of the broker's own `$SYS` messages. */
  sys(topic: string, value: unknown, hdr?: Readonly<Record<string, string>>): void {
    this.router.sys(topic, value, hdr);
  }

  getStats(): BrokerStats {
    return this.sysService.stats();
  }

  clientStats(): ClientStats[] {
    return this.sysService.clients();
  }

  /** Open connections, for `$SYS` detail and tests. */
  connections(): Iterable<Connection> {
    return this.table.open.values();
  }

  retainedUsage(): { count: number; bytes: number } {
    return this.router.retainedUsage();
  }

  paceStalls(): number {
    return this.pacer.stalls;
  }

  inboxCount(): number {
    return this.inboxes.size;
  }

  returnDurableBytes(def: DurableDef): void {
    this.access?.returnDurableBytes(def);
  }

  /** Swap in new rules (SIGHUP) without disconnecting anyone (see AccessControl.reload). */
  setAcl(acl: Acl): void {
    if (this.access === undefined) throw new Error('this broker was started without an ACL');
    this.access.reload(acl, this.table.open.values(), this.durables?.queues() ?? []);
  }

  /**
   * Stop: every connection gets what is queued for it (within closeGraceMs), then
   * SHUTTING_DOWN, then the close. Resolves when all connections are gone.
   */
  async close(): Promise<void> {
    if (this.table.closing) return;
    clearInterval(this.sweepTimer);
    clearInterval(this.statsTimer);
    await this.table.closeAll();
    this.durables?.close();
  }
}
