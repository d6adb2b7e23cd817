/**
 * The broker core: connections in, routing, retained state, presence, `$SYS`. It never touches
 * a listener or a socket path (see server.ts); hand it any Duplex with `handle()`.
 */
import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { decodeValue, encodeValue } from '../protocol/codec.js';
import type { ErrorName } from '../protocol/errors.js';
import { DEFAULT_LIMITS, HARD_MAX_FRAME_BYTES, type Limits } from '../protocol/limits.js';
import { Published, type Origin } from './message.js';
import type { OutboundConfig, OutboundOwner, Policy } from './outbound.js';
import { RetainedStore } from './retained.js';
import { Sublist } from '../topics/sublist.js';
import { BrokerSub, Connection, type PeerInfo, type Transport } from './connection.js';
import { DurableManager, type DurableDef, type DurableQueue, type Overflow } from './durable.js';
import type { DurableLog } from '../durable/log.js';
import type { Acl, Identity } from '../security/acl.js';
import { AccessControl, InboxOwners } from './access.js';
import { isInboxTopic } from '../topics/grammar.js';

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
};

export type SubStats = { sid: number; pattern: string; queue?: string; policy: Policy; delivered: number; dropped: number; queuedMsgs: number; queuedBytes: number };
export type ClientStats = {
  cid: string;
  name: string;
  transport: string;
  pid?: number;
  uid?: number;
  gid?: number;
  connectedAt: string;
  msgsIn: number;
  bytesIn: number;
  queuedBytes: number;
  queuedMsgs: number;
  dropped: number;
  subscriptions: SubStats[];
};

export type BrokerStats = {
  connections: number;
  connectionsTotal: number;
  subscriptions: number;
  retained: number;
  retainedBytes: number;
  /** Inbox tokens bound to a uid (under an ACL); released with their last subscription. */
  inboxes: number;
  msgsIn: number;
  bytesIn: number;
  msgsOut: number;
  drops: Record<Policy, number>;
  errors: Partial<Record<ErrorName, number>>;
  queuedBytes: number;
  uptimeMs: number;
  memory: { rss: number; heapUsed: number };
  /** Up to five connections with the most queued bytes or drops, worst first. */
  slowest: Array<{ cid: string; name: string; queuedBytes: number; dropped: number }>;
};

export class Broker {
  readonly limits: Readonly<Limits>;
  readonly closeGraceMs: number;
  readonly outboundConfig: OutboundConfig;
  readonly serverName: string;
  private readonly sublist = new Sublist<BrokerSub>();
  readonly durables: DurableManager | undefined;
  readonly access: AccessControl | undefined;
  private readonly inboxes = new InboxOwners();
  private readonly frameTimeoutMs: number;
  private readonly strictPatterns: Sublist<{ pattern: string; queue: undefined }> | undefined;
  private readonly validate: ((topic: string, payload: unknown) => readonly string[] | undefined) | undefined;
  private readonly retained: RetainedStore;
  private readonly conns = new Map<string, Connection>();
  private readonly pending = new Set<Connection>();
  private openCount = 0;
  private cidSeq = 0;
  /** This broker instance: a new value at every start (announced in `welcome.boot`). */
  readonly bootId = randomBytes(6).toString('hex');
  readonly sweepMs: number;
  private readonly dirty = new Set<Connection>();
  private flushScheduled = false;
  private readonly sweepTimer: NodeJS.Timeout;
  private readonly statsTimer: NodeJS.Timeout | undefined;
  private readonly startedAt = Date.now();
  private closing = false;
  private readonly log: NonNullable<BrokerOptions['log']>;
  private stats = {
    connectionsTotal: 0,
    msgsIn: 0,
    bytesIn: 0,
    msgsOut: 0,
    drops: { 'drop-oldest': 0, 'drop-newest': 0, 'latest-per-topic': 0, disconnect: 0 } as Record<Policy, number>,
    errors: {} as Partial<Record<ErrorName, number>>,
  };

  constructor(opts: BrokerOptions = {}) {
    const limits = { ...DEFAULT_LIMITS, ...opts.limits };
    if (limits.maxFrameBytes > HARD_MAX_FRAME_BYTES) throw new RangeError(`maxFrameBytes cannot exceed ${HARD_MAX_FRAME_BYTES}`);
    this.limits = Object.freeze(limits);
    this.closeGraceMs = opts.closeGraceMs ?? 2000;
    this.serverName = opts.serverName ?? 'udsbus';
    this.outboundConfig = {
      queueBytes: limits.outQueueBytes,
      queueMsgs: limits.outQueueMsgs,
      highWater: opts.socketHighWater ?? 256 * 1024,
      batchBytes: 64 * 1024,
    };
    this.retained = new RetainedStore(limits.maxRetained, limits.maxRetainedBytes);
    if (opts.strict !== undefined && opts.strict.patterns.length > 0) {
      this.strictPatterns = new Sublist();
      for (const pattern of opts.strict.patterns) this.strictPatterns.insert({ pattern, queue: undefined });
      this.validate = opts.strict.validate;
    }
    this.access = opts.acl === undefined ? undefined : new AccessControl(opts.acl);
    this.frameTimeoutMs = opts.frameTimeoutMs ?? 10_000;
    this.log = opts.log ?? ((event, detail) => process.stderr.write(`udsbus broker: ${event} ${JSON.stringify(detail)}\n`));
    if (opts.dataDir !== undefined) {
      const access = this.access;
      this.durables = new DurableManager({
        ...(access === undefined ? {} : { readable: (q: DurableQueue, topic: string) => this.durableReadable(q, topic) }),
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
    const sweepMs = opts.sweepMs ?? Math.max(20, Math.min(1000, Math.floor(Math.min(limits.keepaliveMs, limits.handshakeTimeoutMs) / 4)));
    this.sweepMs = sweepMs;
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
        this.stats.drops[policy] += n;
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
    this.stats.errors[name] = (this.stats.errors[name] ?? 0) + 1;
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
    if (this.access !== undefined) conn.perms = this.access.bind(identityOf(conn));
    return true;
  }

  /** Count and publish a refused operation (who, what, when) on $SYS.acl.denied. */
  deny(conn: Connection, action: string, target: string): void {
    if (this.access !== undefined) this.access.denied++;
    this.sys('$SYS.acl.denied', {
      cid: conn.cid,
      name: conn.name,
      ...(conn.peer.uid === undefined ? { anonymous: true } : { uid: conn.peer.uid, pid: conn.peer.pid }),
      action,
      target,
      reason: action === 'reply-to' ? 'a reply must go to an inbox (_INBOX.<token>.…) no other uid owns' : (conn.perms?.explain(action as never, target)?.reason ?? 'denied'),
      time: new Date().toISOString(),
    });
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

  /** A deleted durable gives its owner's durable-bytes reservation back. */
  private returnDurableBytes(def: DurableDef): void {
    const owner = def.owner;
    if (this.access === undefined || owner === undefined) return;
    const u = this.access.usageFor('uid' in owner ? owner.uid : undefined);
    u.durableBytes = Math.max(0, u.durableBytes - def.maxBytes);
  }

  private durableReadable(q: DurableQueue, topic: string): boolean {
    const owner = q.def.owner;
    if (owner === undefined) return true; // made before the broker had an ACL
    q.perms ??= this.access!.bind(owner);
    return q.perms.canRead(topic);
  }

  /**
   * Swap in new rules (SIGHUP): connections stay; each one's permissions are bound again and
   * its live subscriptions decided again — one that is no longer readable at all is ended with
   * PERMISSION_DENIED.
   */
  setAcl(acl: Acl): void {
    const access = this.access;
    if (access === undefined) throw new Error('this broker was started without an ACL');
    access.acl = acl;
    access.refreshQuotas();
    if (this.durables !== undefined) for (const q of this.durables.queues()) q.perms = undefined;
    for (const conn of this.conns.values()) {
      const p = conn.peer;
      conn.perms = acl.bind(p.uid !== undefined ? { uid: p.uid, gid: p.gid!, groups: p.groups ?? [p.gid!] } : { anonymous: true });
      for (const sub of [...conn.subs.values()]) {
        const via = sub.queue === undefined ? 'subscribe' : 'serve';
        const decision = sub.durable !== undefined ? (conn.perms.canUseDurable(sub.durable) ? 'allow' : 'deny') : conn.perms.subscribeDecision(sub.pattern, via);
        if (decision === 'deny') {
          conn.removeSub(sub);
          conn.error('PERMISSION_DENIED', `the rules changed: "${sub.pattern}" is no longer readable`, { sid: sub.sid });
        } else sub.filter = decision === 'filter';
      }
    }
  }

  onOpen(conn: Connection): void {
    this.pending.delete(conn);
    this.conns.set(conn.cid, conn);
    this.openCount++;
    this.stats.connectionsTotal++;
    this.sys('$SYS.client.connected', { cid: conn.cid, name: conn.name, transport: conn.transport, ...conn.peer, time: new Date().toISOString() });
  }

  onClose(conn: Connection, wasOpen: boolean): void {
    this.pending.delete(conn);
    this.dirty.delete(conn);
    if (conn.usage !== undefined) {
      conn.usage.connections--;
      conn.usage.subscriptions -= conn.subs.size;
    }
    if (!this.conns.delete(conn.cid)) return;
    this.openCount--;
    this.stats.msgsIn += conn.msgsIn;
    this.stats.bytesIn += conn.bytesIn;
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
      this.publish(w.topic, w.payload, undefined, undefined, w.retain, undefined, originOf(conn));
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
  publishFrom(
    conn: Connection,
    topic: string,
    payload: Uint8Array,
    reply: string | undefined,
    hdr: Record<string, string> | undefined,
    retain: boolean,
    owned: boolean,
    id: number | undefined,
    confirm = false,
  ): void {
    if (this.strictPatterns !== undefined && payload.length > 0 && this.strictPatterns.match(topic).plain.length > 0) {
      const problem = this.checkStrict(topic, payload);
      if (problem !== undefined) return conn.error('SCHEMA_INVALID', problem, { id });
    }
    const u = conn.usage;
    if (retain && u !== undefined && payload.length > 0) {
      // Quotas count what the store keeps: topic, payload, headers and `from`, not the payload alone.
      const cost = retainedCost(topic, payload, hdr, originOf(conn));
      const prev = this.retained.get(topic);
      const mine = prev !== undefined && prev.usage === u;
      const freed = mine ? prev.bytes : 0;
      // One uid may hold at most half the store's topics unless its quota says otherwise.
      const maxCount = Number.isFinite(u.quota.retained) ? u.quota.retained : Math.ceil(this.limits.maxRetained / 2);
      const problem =
        u.retainedBytes - freed + cost > u.quota.retainedBytes
          ? `retained-bytes quota (${u.quota.retainedBytes})`
          : !mine && u.retainedCount + 1 > maxCount
            ? `retained quota (${maxCount} topics)`
            : undefined;
      if (problem !== undefined) {
        conn.error('QUOTA_EXCEEDED', `uid ${conn.peer.uid ?? 'anonymous'} is at its ${problem}; delivered but not retained`, { id });
        retain = false;
        owned = false;
        id = undefined;
      }
    }
    const r = this.publish(topic, payload, reply, hdr, retain, owned ? conn : undefined, originOf(conn), u);
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

  private checkStrict(topic: string, payload: Uint8Array): string | undefined {
    let value: unknown;
    try {
      value = decodeValue(payload, this.limits.maxNesting);
    } catch (err) {
      return `payload for "${topic}" is not portable CBOR: ${(err as Error).message}`;
    }
    const errors = this.validate!(topic, value);
    if (errors === undefined || errors.length === 0) return undefined;
    return `payload for "${topic}" breaks its schema: ${errors.slice(0, 5).join('; ')}`;
  }

  /** Publish and route; returns how many subscriptions matched. */
  publish(
    topic: string,
    payload: Uint8Array,
    reply: string | undefined,
    hdr: Record<string, string> | undefined,
    retain: boolean,
    owner: Connection | undefined,
    origin: Origin | undefined,
    usage?: { retainedBytes: number; retainedCount: number },
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
    const matched = this.route(msg) + (stored?.logs.length ?? 0);
    return { matched, retainFailed, logs: stored?.logs ?? [], refused: stored?.refused ?? [], failed: stored?.failed ?? [] };
  }

  private route(msg: Published): number {
    const match = this.sublist.match(msg.topic);
    let n = 0;
    for (const sub of match.plain) {
      if (!sub.conn.alive) continue;
      // A filtered subscription takes no seq for what it may not read: that is not a loss.
      if (sub.filter && !sub.conn.perms!.canRead(msg.topic)) continue;
      sub.conn.out.deliver(sub, msg, ++sub.seq);
      n++;
    }
    for (const group of match.groups) {
      const members = group.members;
      for (let tries = 0; tries < members.length; tries++) {
        const sub = members[group.next++ % members.length]!;
        if (!sub.conn.alive) continue;
        if (sub.filter && !sub.conn.perms!.canRead(msg.topic, 'serve')) continue;
        sub.conn.out.deliver(sub, msg, ++sub.seq);
        n++;
        break;
      }
    }
    this.stats.msgsOut += n;
    return n;
  }

  addSub(sub: BrokerSub, withRetained: boolean): void {
    // Retained replay is queued before the subscription goes live so nothing overtakes it.
    if (withRetained && this.retained.count > 0) {
      for (const msg of this.retained.matching(sub.pattern)) {
        if (sub.filter && !sub.conn.perms!.canRead(msg.topic)) continue;
        sub.conn.out.deliver(sub, msg, 0);
      }
    }
    this.sublist.insert(sub);
  }

  removeSub(sub: BrokerSub): void {
    if (sub.durable !== undefined) this.durables?.detach(sub.conn, sub);
    else this.sublist.remove(sub);
  }

  attachDurable(
    conn: Connection,
    sub: BrokerSub,
    name: string,
    o: { maxBytes?: number; maxAgeMs?: number; overflow?: Overflow },
  ): { name: ErrorName; text: string } | undefined {
    if (this.durables === undefined) return { name: 'DURABLE_UNAVAILABLE', text: 'this broker has no data directory (start it with --data DIR) and cannot keep durable subscriptions' };
    const u = conn.usage;
    if (u !== undefined && this.durables.get(name) === undefined) {
      // The durable-bytes quota counts the disk quotas of the queues a uid creates.
      const want = o.maxBytes ?? this.durables.opts.defaultMaxBytes;
      if (u.durableBytes + want > u.quota.durableBytes) {
        return { name: 'QUOTA_EXCEEDED', text: `uid ${conn.peer.uid ?? 'anonymous'} may reserve ${u.quota.durableBytes - u.durableBytes} more bytes of durable storage, not ${want} (durableMaxBytes)` };
      }
      u.durableBytes += want;
    }
    const q = this.durables.ensure(name, sub.pattern, o, this.access === undefined ? undefined : identityOf(conn));
    if (typeof q === 'string') return { name: 'DURABLE_MISMATCH', text: q };
    const busy = this.durables.attach(q, conn, sub);
    if (busy !== undefined) return { name: 'DURABLE_BUSY', text: busy };
    return undefined;
  }

  ackDurable(conn: Connection, sub: BrokerSub, mid: number): void {
    this.durables?.ack(conn, sub, mid);
  }

  /** Publish one of the broker's own `$SYS` messages. */
  sys(topic: string, value: unknown): void {
    if (this.sublist.size === 0) return;
    this.route(new Published(topic, encodeValue(value), undefined, undefined, false, undefined));
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
    let msgsIn = this.stats.msgsIn;
    let bytesIn = this.stats.bytesIn;
    let subscriptions = 0;
    let queuedBytes = 0;
    for (const c of this.conns.values()) {
      msgsIn += c.msgsIn;
      bytesIn += c.bytesIn;
      subscriptions += c.subs.size;
      queuedBytes += c.out.qBytes;
    }
    const mem = process.memoryUsage();
    return {
      memory: { rss: mem.rss, heapUsed: mem.heapUsed },
      slowest: this.slowest(),
      connections: this.openCount,
      connectionsTotal: this.stats.connectionsTotal,
      subscriptions,
      retained: this.retained.count,
      retainedBytes: this.retained.totalBytes,
      inboxes: this.inboxes.size,
      msgsIn,
      bytesIn,
      msgsOut: this.stats.msgsOut,
      drops: { ...this.stats.drops },
      errors: { ...this.stats.errors },
      queuedBytes,
      uptimeMs: Date.now() - this.startedAt,
    };
  }

  private slowest(): BrokerStats['slowest'] {
    const rows: BrokerStats['slowest'] = [];
    for (const c of this.conns.values()) {
      let dropped = 0;
      for (const s of c.subs.values()) dropped += s.dropped;
      if (c.out.qBytes > 0 || dropped > 0) rows.push({ cid: c.cid, name: c.name, queuedBytes: c.out.qBytes, dropped });
    }
    rows.sort((a, b) => b.queuedBytes - a.queuedBytes || b.dropped - a.dropped);
    return rows.slice(0, 5);
  }

  clientStats(): ClientStats[] {
    const out: ClientStats[] = [];
    for (const c of this.conns.values()) {
      let dropped = 0;
      const subscriptions: SubStats[] = [];
      for (const s of c.subs.values()) {
        dropped += s.dropped;
        subscriptions.push({
          sid: s.sid,
          pattern: s.pattern,
          ...(s.queue === undefined ? {} : { queue: s.queue }),
          policy: s.policy,
          delivered: s.delivered,
          dropped: s.dropped,
          queuedMsgs: s.qMsgs,
          queuedBytes: s.qBytes,
        });
      }
      out.push({
        cid: c.cid,
        name: c.name,
        transport: c.transport,
        ...c.peer,
        connectedAt: new Date(c.connectedAt).toISOString(),
        msgsIn: c.msgsIn,
        bytesIn: c.bytesIn,
        queuedBytes: c.out.qBytes,
        queuedMsgs: c.out.qMsgs,
        dropped,
        subscriptions,
      });
    }
    return out;
  }

  /** Requests to the broker itself: `$SYS.req.stats`, `$SYS.req.clients`. */
  sysRequest(conn: Connection, topic: string, reply: string, id: number | undefined, payload: Uint8Array = EMPTY): void {
    let result: unknown;
    // The broker's answers carry no `from`: they may only go to the requester's own inbox, or
    // anyone could make the broker speak on camera topics, other users' inboxes or $SYS.
    if (!isInboxTopic(reply) || !this.mayReplyTo(reply, conn.peer.uid)) {
      return conn.deny('reply-to', reply, { id });
    }
    if (topic.startsWith('$SYS.req.durable.')) {
      const action = topic.slice('$SYS.req.durable.'.length);
      const perms = conn.perms;
      if (perms !== undefined && !perms.admin) {
        let name: unknown;
        try {
          name = (decodeValue(payload) as { name?: unknown } | undefined)?.name;
        } catch {
          name = undefined;
        }
        if (action === 'list' || typeof name !== 'string' || !perms.canUseDurable(name)) return conn.deny('request', topic, { id });
      }
      const r = this.durableRequest(action, payload);
      if (id !== undefined) conn.sendFrame({ op: 'ok', id });
      this.route(new Published(reply, encodeValue(r), undefined, undefined, false, undefined));
      return;
    }
    if (conn.perms !== undefined && !conn.perms.admin) return conn.deny('request', topic, { id });
    switch (topic) {
      case '$SYS.req.stats':
        result = this.getStats();
        break;
      case '$SYS.req.clients':
        result = this.clientStats();
        break;
      default:
        if (id !== undefined) conn.error('NO_RESPONDERS', `the broker answers $SYS.req.stats and $SYS.req.clients, not "${topic}"`, { id });
        return;
    }
    if (id !== undefined) conn.sendFrame({ op: 'ok', id });
    this.route(new Published(reply, encodeValue({ ok: true, result }), undefined, undefined, false, undefined));
  }

  /** `udsbus durable list|info|purge|delete`: answers in the reply envelope (PROTOCOL.md §8). */
  private durableRequest(action: string, payload: Uint8Array): unknown {
    const d = this.durables;
    if (d === undefined) return { ok: false, error: { code: 'unavailable', message: 'this broker has no data directory (--data DIR)' } };
    if (action === 'list') return { ok: true, result: d.list() };
    let name: unknown;
    try {
      name = (decodeValue(payload) as { name?: unknown } | undefined)?.name;
    } catch {
      name = undefined;
    }
    if (typeof name !== 'string') return { ok: false, error: { code: 'invalid-argument', message: 'payload must be {name: "<durable name>"}' } };
    const q = d.get(name);
    if (q === undefined) return { ok: false, error: { code: 'not-found', message: `no durable named "${name}"` } };
    switch (action) {
      case 'info':
        return { ok: true, result: d.info(q) };
      case 'purge':
        d.purge(q);
        return { ok: true, result: d.info(q) };
      case 'delete':
        if (q.consumer !== undefined) return { ok: false, error: { code: 'busy', message: `durable "${name}" has a consumer attached; detach it first` } };
        d.delete(q);
        this.returnDurableBytes(q.def);
        return { ok: true, result: { deleted: name } };
      default:
        return { ok: false, error: { code: 'invalid-argument', message: `unknown durable action "${action}" (list, info, purge, delete)` } };
    }
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

function identityOf(conn: Connection): Identity {
  const p = conn.peer;
  return p.uid !== undefined ? { uid: p.uid, gid: p.gid!, groups: p.groups ?? [p.gid!] } : { anonymous: true };
}

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
