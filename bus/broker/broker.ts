/**
 * The broker core: connections in, routing, retained state, presence, `$SYS`. It never touches
 * a listener or a socket path (see server.ts); hand it any Duplex with `handle()`.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { encodeValue } from '../protocol/codec.js';
import type { ErrorName } from '../protocol/errors.js';
import { DEFAULT_LIMITS, HARD_MAX_FRAME_BYTES, type Limits } from '../protocol/limits.js';
import type { BrokerStats, ClientStats } from '../protocol/wire-types.js';
import { Sublist } from '../topics/sublist.js';
import type { DurableLog } from '../durable/log.js';
import type { Acl } from '../security/acl.js';
import { AccessControl, identityOf, InboxOwners } from './access.js';
import { Connection } from './connection.js';
import { DurableManager, type DurableDef, type DurableQueue } from './durable.js';
import type { DurableSpec } from './durable-spec.js';
import type { ConnectionHost, PeerInfo, PubRequest, Refusal, Transport } from './host.js';
import { Published, type Origin } from './message.js';
import type { OutboundConfig, OutboundOwner } from './outbound.js';
import { RetainedStore } from './retained.js';
import type { BrokerSub } from './subscription.js';
import { StrictMode } from './strict.js';
import { SysService, type Counters, type SysHost } from './sys.js';
import { DEFAULT_PACE_STALL_MS, Pacer } from './pacing.js';
import type { BrokerEvents } from './events.js';

export type { BrokerStats, ClientStats, SubStats } from '../protocol/wire-types.js';

export type BrokerOptions = {
  limits?: Partial<Limits>;
  /** How long a closing connection may take to flush before it is cut (ms). */
  closeGraceMs?: number;
  /** How often handshake and keepalive deadlines are checked (ms). */
  sweepMs?: number;
  /** Socket buffer level above which deliveries wait in the bounded queue (bytes). */
  socketHighWater?: number;
  serverName?: string;
  /** Interval of `$SYS.broker.stats` publications (ms); 0 turns them off. */
  statsIntervalMs?: number;
  /**
   * Strict mode: payloads published on topics matching `patterns` are decoded and checked by
   * `validate` (e.g. `validatorFor` from udsbus/schemas); invalid ones are refused with
   * SCHEMA_INVALID and counted, so a bad publisher cannot poison the consumers.
   */
  strict?: { patterns: readonly string[]; validate: (topic: string, payload: unknown) => readonly string[] | undefined };
  /**
   * Access rules (SECURITY.md): every operation is checked against the connection's
   * kernel-verified identity, per-uid quotas apply, and denials are published on $SYS.acl.denied.
   */
  acl?: Acl;
  /**
   * How long a publisher is held while a subscriber's queue does not drain, before that
   * subscriber counts as stuck and its own overflow policy applies instead, until it reads again
   * (ms, §10; default 100).
   */
  paceStallMs?: number;
  /** A frame that stays incomplete this long is cut off with FRAME_TIMEOUT (ms). */
  frameTimeoutMs?: number;
  /**
   * Where the broker reports what it contained instead of crashing: a frame that made it throw
   * (the connection is closed with INTERNAL), a storage error. Default: one line on stderr.
   */
  log?: (event: 'internal-error' | 'store-error', detail: Record<string, unknown>) => void;
  /** Data directory for durable subscriptions (PROTOCOL.md §17); without it they are refused. */
  dataDir?: string;
  durable?: {
    fsync?: 'always' | 'batch' | 'never';
    /** Default disk quota of a durable queue (bytes). */
    maxBytes?: number;
    /** Unacknowledged messages in flight per consumer. */
    window?: number;
    ackTimeoutMs?: number;
  };
  /** Hooks for the daemon's log and metrics (events.ts). */
  events?: BrokerEvents;
};

export class Broker implements ConnectionHost<Connection>, SysHost<Connection> {
  readonly limits: Readonly<Limits>;
  readonly config: ConnectionHost<Connection>['config'];
  private readonly sublist = new Sublist<BrokerSub>();
  readonly durables: DurableManager | undefined;
  readonly access: AccessControl | undefined;
  private readonly inboxes = new InboxOwners();
  private readonly frameTimeoutMs: number;
  private readonly strict: StrictMode | undefined;
  private readonly retained: RetainedStore;
  private readonly conns = new Map<string, Connection>();
  private readonly pending = new Set<Connection>();
  private openCount = 0;
  private cidSeq = 0;
  /** This broker instance: a new value at every start (announced in `welcome.boot`). */
  readonly bootId = randomBytes(6).toString('hex');
  private readonly dirty = new Set<Connection>();
  private flushScheduled = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout | undefined;
  readonly startedAt = Date.now();
  private closing = false;
  private readonly log: NonNullable<BrokerOptions['log']>;
  private readonly events: BrokerEvents | undefined;
  readonly counters: Counters = {
    connectionsTotal: 0,
    msgsIn: 0,
    bytesIn: 0,
    msgsOut: 0,
    drops: { 'drop-oldest': 0, 'drop-newest': 0, 'latest-per-topic': 0, disconnect: 0 },
    errors: {},
  };
  private readonly sysService = new SysService<Connection>(this);
  readonly pacer: Pacer;

  constructor(opts: BrokerOptions = {}) {
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    if (limits.maxFrameBytes > HARD_MAX_FRAME_BYTES) throw new RangeError(`maxFrameBytes cannot exceed ${HARD_MAX_FRAME_BYTES}`);
    this.limits = Object.freeze(limits);
    const outbound: OutboundConfig = {
      queueBytes: limits.outQueueBytes,
      queueMsgs: limits.outQueueMsgs,
      highWater: opts.socketHighWater ?? 256 * 1024,
      batchBytes: 64 * 1024,
    };
    const sweepMs = opts.sweepMs ?? Math.max(20, Math.min(1000, Math.floor(Math.min(limits.keepaliveMs, limits.handshakeTimeoutMs) / 4)));
    this.config = Object.freeze({
      limits: this.limits,
      sweepMs,
      closeGraceMs: opts.closeGraceMs ?? 2000,
      serverName: opts.serverName ?? 'udsbus',
      bootId: this.bootId,
      outbound,
    });
    this.retained = new RetainedStore(limits.maxRetained, limits.maxRetainedBytes);
    if (opts.strict !== undefined && opts.strict.patterns.length > 0) this.strict = new StrictMode(opts.strict.patterns, opts.strict.validate, limits.maxNesting);
    this.access = opts.acl === undefined ? undefined : new AccessControl(opts.acl);
    this.frameTimeoutMs = opts.frameTimeoutMs ?? 10_000;
    this.pacer = new Pacer(opts.paceStallMs ?? DEFAULT_PACE_STALL_MS);
    this.events = opts.events;
    this.log = opts.log ?? ((event, detail) => process.stderr.write(`udsbus broker: ${event} ${JSON.stringify(detail)}\n`));
    if (opts.dataDir !== undefined) {
      const access = this.access;
      this.durables = new DurableManager({
        ...(access === undefined ? {} : { readable: (q: DurableQueue, topic: string) => access.durableReadable(q, topic) }),
        onStoreError: (q, err) => {
          this.countError('STORE_FAILED');
          this.log('store-error', { durable: q.def.name, error: err.message, code: (err as NodeJS.ErrnoException).code });
        },
        dir: `${opts.dataDir}/durable`,
        fsync: opts.durable?.fsync ?? 'batch',
        defaultMaxBytes: opts.durable?.maxBytes ?? 256 * 1024 * 1024,
        window: opts.durable?.window ?? 1000,
        ackTimeoutMs: opts.durable?.ackTimeoutMs ?? 30_000,
      });
    }
    this.sweepTimer = setInterval(() => this.sweep(), sweepMs);
    this.sweepTimer.unref();
    const statsMs = opts.statsIntervalMs ?? 10_000;
    if (statsMs > 0) {
      this.statsTimer = setInterval(() => this.sys('$SYS.broker.stats', this.getStats()), statsMs);
      this.statsTimer.unref();
    }
  }

  /** Serve one client over any Duplex stream. */
  handle(stream: Duplex, transport: Transport = 'memory', peer: PeerInfo = {}): Connection {
    const conn = new Connection(this, stream, transport, peer);
    const l = this.limits;
    // Connections count from accept, not from hello: one that never says hello still holds a
    // file descriptor, so it counts against maxConnections, maxPendingConnections and its uid.
    const full = this.pending.size + this.openCount >= l.maxConnections;
    const tooManyPending = this.pending.size >= l.maxPendingConnections;
    this.pending.add(conn);
    if (this.closing) conn.fail('SHUTTING_DOWN', 'the broker is shutting down');
    else if (full) conn.fail('TOO_MANY_CONNECTIONS', `the broker is at maxConnections (${l.maxConnections}, counting ${this.pending.size - 1} without hello)`);
    else if (tooManyPending) conn.fail('TOO_MANY_CONNECTIONS', `${l.maxPendingConnections} connections are already waiting for their hello (maxPendingConnections)`);
    else if (this.access !== undefined) {
      const usage = this.access.usageFor(peer.uid);
      if (usage.connections >= usage.quota.connections) {
        conn.fail('QUOTA_EXCEEDED', `uid ${peer.uid ?? 'anonymous'} is at its connections quota (${usage.quota.connections})`);
      } else {
        usage.connections++;
        conn.usage = usage;
        conn.out.usage = usage;
      }
    }
    return conn;
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

  nextCid(): string {
    return `${this.bootId}-${++this.cidSeq}`;
  }

  outboundOwnerFor(conn: Connection): OutboundOwner {
    return {
      scheduleFlush: () => {
        this.dirty.add(conn);
        if (!this.flushScheduled) {
          this.flushScheduled = true;
          setImmediate(this.flushAll);
        }
      },
      slowConsumer: (sub) =>
        conn.fail(
          'SLOW_CONSUMER',
          sub === undefined
            ? 'the connection stopped reading while the broker had answers for it'
            : `subscription ${sub.sid} ("${(sub as BrokerSub).pattern}") overflowed its share of the outbound queue under policy "disconnect"`,
          sub === undefined ? {} : { sid: sub.sid },
        ),
      countDrop: (policy, n) => {
        this.counters.drops[policy] += n;
        this.events?.dropped?.(conn, policy, n);
      },
      relieved: () => {
        if (conn.pacing.holding.size > 0 || conn.pacing.stuck) this.pacer.relieved(conn);
      },
    };
  }

  private readonly flushAll = (): void => {
    this.flushScheduled = false;
    for (const conn of this.dirty) {
      conn.out.flush();
      conn.maybeEnd();
    }
    this.dirty.clear();
  };

  countError(name: ErrorName): void {
    this.counters.errors[name] = (this.counters.errors[name] ?? 0) + 1;
  }

  /** Admission after a valid hello; false when the connection was refused. */
  admit(conn: Connection): boolean {
    if (this.closing) {
      conn.fail('SHUTTING_DOWN', 'the broker is shutting down');
      return false;
    }
    if (this.openCount >= this.limits.maxConnections) {
      conn.fail('TOO_MANY_CONNECTIONS', `the broker is at maxConnections (${this.limits.maxConnections})`);
      return false;
    }
    // The uid's connection was counted at accept (handle()).
    if (this.access !== undefined) conn.perms = this.access.bind(identityOf(conn.peer));
    return true;
  }

  /** Count and publish a refused operation (who, what, when) on $SYS.acl.denied. */
  denied(conn: Connection, action: string, target: string): void {
    if (this.access === undefined) return;
    const record = this.access.denial(conn, action, target);
    this.events?.denied?.(record);
    this.sys('$SYS.acl.denied', record);
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

  returnDurableBytes(def: DurableDef): void {
    this.access?.returnDurableBytes(def);
  }

  /** Swap in new rules (SIGHUP) without disconnecting anyone (see AccessControl.reload). */
  setAcl(acl: Acl): void {
    if (this.access === undefined) throw new Error('this broker was started without an ACL');
    this.access.reload(acl, this.conns.values(), this.durables?.queues() ?? []);
  }

  onOpen(conn: Connection): void {
    this.pending.delete(conn);
    this.conns.set(conn.cid, conn);
    this.openCount++;
    this.counters.connectionsTotal++;
    this.events?.opened?.(conn);
    this.sys('$SYS.client.connected', { cid: conn.cid, name: conn.name, transport: conn.transport, ...conn.peer, time: new Date().toISOString() });
  }

  onClose(conn: Connection, wasOpen: boolean): void {
    this.events?.closed?.(conn, wasOpen);
    this.pending.delete(conn);
    this.dirty.delete(conn);
    this.pacer.closed(conn);
    if (conn.usage !== undefined) {
      conn.usage.connections--;
      conn.usage.subscriptions -= conn.subs.size;
    }
    if (!this.conns.delete(conn.cid)) return;
    this.openCount--;
    this.counters.msgsIn += conn.msgsIn;
    this.counters.bytesIn += conn.bytesIn;
    for (const sub of conn.subs.values()) {
      if (sub.inbox) this.inboxes.release(sub.pattern);
      if (sub.durable !== undefined) this.durables?.detach(conn, sub);
      else this.sublist.remove(sub);
    }
    conn.subs.clear();
    if (!wasOpen) return;
    const willTopic = !conn.clean && conn.will !== undefined && !this.closing ? conn.will.topic : undefined;
    // Owned retained state dies with its owner, unless the will is about to replace it.
    for (const topic of conn.owned) {
      if (topic === willTopic && conn.will!.retain) continue;
      const entry = this.retained.get(topic);
      if (entry?.owner === conn.cid) {
        this.retained.delete(topic);
        this.route(new Published(topic, EMPTY, undefined, undefined, false, originOf(conn)));
      }
    }
    conn.owned.clear();
    if (willTopic !== undefined) {
      const w = conn.will!;
      this.publishMessage(w.topic, w.payload, undefined, undefined, w.retain, undefined, originOf(conn));
    }
    this.sys('$SYS.client.disconnected', {
      cid: conn.cid,
      name: conn.name,
      reason: conn.closeReason ?? 'eof',
      clean: conn.clean,
      time: new Date().toISOString(),
    });
  }

  // ---- routing ----------------------------------------------------------------------------

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
      const problem = this.access.retainedProblem(u, cost, this.retained.get(topic), this.limits.maxRetained);
      if (problem !== undefined) {
        conn.error('QUOTA_EXCEEDED', `uid ${conn.peer.uid ?? 'anonymous'} is at its ${problem}; delivered but not retained`, { id });
        retain = false;
        owned = false;
        id = undefined;
      }
    }
    const r = this.publishMessage(topic, payload, reply, hdr, retain, owned ? conn : undefined, originOf(conn), u, conn.flow === 'pace' ? conn : undefined);
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

  /** Store (durable, retained) and route; returns how many subscriptions matched. */
  publishMessage(
    topic: string,
    payload: Uint8Array,
    reply: string | undefined,
    hdr: Record<string, string> | undefined,
    retain: boolean,
    owner: Connection | undefined,
    origin: Origin | undefined,
    usage?: { retainedBytes: number; retainedCount: number },
    /** The publisher to hold while a subscriber's queue drains (pacing, §10). */
    paced?: Connection,
  ): { matched: number; retainFailed: boolean; logs: DurableLog[]; refused: string[]; failed: string[] } {
    const msg = new Published(topic, payload, reply, hdr, false, origin);
    const stored = this.durables?.store(msg);
    let retainFailed = false;
    if (retain) {
      const prev = this.retained.get(topic);
      if (prev?.owner !== undefined && prev.owner !== owner?.cid) this.conns.get(prev.owner)?.owned.delete(topic);
      if (payload.length === 0) this.retained.delete(topic);
      else if (this.retained.set(msg.asRetained(), owner?.cid, usage)) {
        if (owner !== undefined) owner.owned.add(topic);
      } else {
        retainFailed = true;
      }
    }
    const matched = this.route(msg, paced) + (stored?.logs.length ?? 0);
    return { matched, retainFailed, logs: stored?.logs ?? [], refused: stored?.refused ?? [], failed: stored?.failed ?? [] };
  }

  private route(msg: Published, paced?: Connection): number {
    const match = this.sublist.match(msg.topic);
    let n = 0;
    for (const sub of match.plain) {
      if (!sub.conn.alive) continue;
      // A filtered subscription takes no seq for what it may not read: that is not a loss.
      if (sub.filter && !sub.conn.perms!.canRead(msg.topic)) continue;
      if (sub.conn.out.deliver(sub, msg, ++sub.seq) && paced !== undefined) this.pacer.hold(paced, sub.conn);
      n++;
    }
    for (const group of match.groups) {
      const members = group.members;
      for (let tries = 0; tries < members.length; tries++) {
        const sub = members[group.next++ % members.length]!;
        if (!sub.conn.alive) continue;
        if (sub.filter && !sub.conn.perms!.canRead(msg.topic, 'serve')) continue;
        if (sub.conn.out.deliver(sub, msg, ++sub.seq) && paced !== undefined) this.pacer.hold(paced, sub.conn);
        n++;
        break;
      }
    }
    this.counters.msgsOut += n;
    return n;
  }

  subscribe(sub: BrokerSub, withRetained: boolean): void {
    // Retained replay is queued before the subscription goes live so nothing overtakes it.
    if (withRetained && this.retained.count > 0) {
      for (const msg of this.retained.matching(sub.pattern)) {
        if (sub.filter && !sub.conn.perms!.canRead(msg.topic)) continue;
        sub.conn.out.deliver(sub, msg, 0);
      }
    }
    this.sublist.insert(sub);
  }

  unsubscribe(sub: BrokerSub): void {
    if (sub.durable !== undefined) this.durables?.detach(sub.conn, sub);
    else this.sublist.remove(sub);
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
    if (busy !== undefined) return { name: 'DURABLE_BUSY', text: busy };
    return undefined;
  }

  ack(conn: Connection, sub: BrokerSub, mid: number): void {
    this.durables?.ack(conn, sub, mid);
  }

  /** Publish one of the broker's own `$SYS` messages. */
  sys(topic: string, value: unknown, hdr?: Readonly<Record<string, string>>): void {
    if (this.sublist.size === 0) return;
    this.route(new Published(topic, encodeValue(value), undefined, hdr, false, undefined));
  }

  // ---- timers and shutdown ----------------------------------------------------------------

  private sweep(): void {
    const now = Date.now();
    this.durables?.sweep(now);
    for (const conn of this.pending) {
      if (conn.state === 'handshake' && now - conn.connectedAt > this.limits.handshakeTimeoutMs) {
        conn.fail('HANDSHAKE_TIMEOUT', `no hello within ${this.limits.handshakeTimeoutMs} ms`);
      }
    }
    for (const conn of [...this.pending, ...this.conns.values()]) {
      if (conn.partialSince !== undefined && now - conn.partialSince > this.frameTimeoutMs) {
        conn.fail('FRAME_TIMEOUT', `a frame stayed incomplete for more than ${this.frameTimeoutMs} ms`);
      }
    }
    for (const conn of this.conns.values()) {
      if (conn.state !== 'open') continue;
      if (conn.gotFrame) {
        conn.gotFrame = false;
        conn.lastRecv = now;
      }
      const idle = now - conn.lastRecv;
      if (idle > 2 * conn.keepaliveMs) {
        conn.fail('KEEPALIVE_TIMEOUT', `no frame for ${idle} ms (keepalive ${conn.keepaliveMs} ms)`);
      } else if (idle > conn.keepaliveMs && !conn.pingOutstanding) {
        conn.pingOutstanding = true;
        conn.sendFrame({ op: 'ping' });
      }
    }
  }

  getStats(): BrokerStats {
    return this.sysService.stats();
  }

  clientStats(): ClientStats[] {
    return this.sysService.clients();
  }

  sysRequest(conn: Connection, topic: string, reply: string, id: number | undefined, payload: Uint8Array): void {
    this.sysService.request(conn, topic, reply, id, payload);
  }

  retainedUsage(): { count: number; bytes: number } {
    return { count: this.retained.count, bytes: this.retained.totalBytes };
  }

  paceStalls(): number {
    return this.pacer.stalls;
  }

  inboxCount(): number {
    return this.inboxes.size;
  }

  /** Open connections, for `$SYS` detail and tests. */
  connections(): Iterable<Connection> {
    return this.conns.values();
  }

  /**
   * Stop: every connection gets what is queued for it (within closeGraceMs), then
   * SHUTTING_DOWN, then the close. Resolves when all connections are gone.
   */
  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    clearInterval(this.sweepTimer);
    clearInterval(this.statsTimer);
    const all = [...this.pending, ...this.conns.values()];
    await Promise.all(
      all.map(
        (conn) =>
          new Promise<void>((resolve) => {
            if (conn.state === 'closed') return resolve();
            conn.stream.once('close', () => resolve());
            conn.fail('SHUTTING_DOWN', 'the broker is shutting down');
          }),
      ),
    );
    this.durables?.close();
  }
}

const EMPTY = Buffer.alloc(0);

/** What a retained message costs the store: its shared encoded body (topic, payload, headers, from). */
function retainedCost(topic: string, payload: Uint8Array, hdr: Record<string, string> | undefined, origin: Origin): number {
  let n = Buffer.byteLength(topic) + payload.length + origin.cbor.length + 32;
  if (hdr !== undefined) for (const [k, v] of Object.entries(hdr)) n += Buffer.byteLength(k) + Buffer.byteLength(v) + 4;
  return n;
}

function originOf(conn: Connection): Origin {
  return (conn.origin ??= { cid: conn.cid, cbor: conn.fromCbor!, json: conn.fromJson! });
}

function retainedText(l: Limits): string {
  return `the retained store is full (maxRetained ${l.maxRetained}, maxRetainedBytes ${l.maxRetainedBytes}); delivered but not retained`;
}
