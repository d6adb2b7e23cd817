/**
 * One client connection, independent of its transport: it is handed any Duplex stream (a Unix or
 * TCP socket, or an in-memory pair in tests). It parses frames, enforces the handshake and
 * per-connection limits, and asks the broker to route what it publishes.
 */
import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { decodeFrame, encodeValue, type DecodedFrame } from '../protocol/codec.js';
import { ErrorCodes, type ErrorName } from '../protocol/errors.js';
import { KEEPALIVE_MAX_MS, KEEPALIVE_MIN_MS, PROTOCOL_VERSION, type Limits } from '../protocol/limits.js';
import { payloadFromJson } from '../protocol/json-mode.js';
import { ReadCache, readPubFrameAt, type PubFrame } from '../protocol/pub-reader.js';
import { UdsbusError } from '../protocol/errors.js';
import { checkPattern, checkTopic, describeTopicProblem, isInboxPattern, isInboxTopic, isReservedTopic } from '../topics/grammar.js';
import type { Permissions } from '../security/acl.js';
import type { Usage } from './access.js';
import { checkDurable, type DurableSpec } from './durable-spec.js';
import { CBOR_ENCODING, CBOR_REFS_ENCODING, JSON_ENCODING, type InputParser, type WireEncoding } from './encoding.js';
import type { CloseReason, ConnectionHost, PeerInfo, Transport } from './host.js';
import type { Origin } from './message.js';
import { Outbound, POLICIES, type Policy } from './outbound.js';
import { PacingState, type Paced } from './pacing.js';
import { BrokerSub, type SubOwner } from './subscription.js';

export type { CloseReason, PeerInfo, Transport } from './host.js';
export { BrokerSub } from './subscription.js';

type Will = { topic: string; payload: Uint8Array; retain: boolean };

const CLOSE_REASON_FOR: Partial<Record<ErrorName, CloseReason>> = {
  SLOW_CONSUMER: 'slow-consumer',
  KEEPALIVE_TIMEOUT: 'keepalive',
  SHUTTING_DOWN: 'shutdown',
};

export class Connection implements SubOwner, Paced {
  readonly cid: string;
  name = '';
  state: 'handshake' | 'open' | 'closing' | 'closed' = 'handshake';
  readonly out: Outbound;
  readonly subs = new Map<number, BrokerSub>();
  /** Topics whose retained message this connection owns. */
  readonly owned = new Set<string>();
  will: Will | undefined;
  keepaliveMs: number;
  /** Under an ACL: what this connection may do, and its uid's usage for quotas. */
  perms: Permissions | undefined;
  usage: Usage | undefined;
  /** Since when an incomplete frame has been waiting for its remaining bytes. */
  partialSince: number | undefined;
  readonly connectedAt = Date.now();
  lastRecv = Date.now();
  /** A whole frame arrived since the last sweep (which then moves lastRecv). */
  gotFrame = false;
  pingOutstanding = false;
  closeReason: CloseReason | undefined;
  /**
   * What this publisher prefers when a subscriber falls behind (hello `flow`, §10): be paced
   * (the default), or never wait and let subscribers' overflow policies drop.
   */
  flow: 'pace' | 'drop' = 'pace';
  readonly pacing = new PacingState();
  clean = false;
  msgsIn = 0;
  bytesIn = 0;
  private parser: InputParser;
  private sawFirstByte = false;
  /** Encoding chosen by the peer's first byte (PROTOCOL.md §1). */
  encoding: WireEncoding = CBOR_ENCODING;
  private graceTimer: NodeJS.Timeout | undefined;
  private readonly limits: Readonly<Limits>;
  /** The fixed-shape `pub` reader's memory of this connection's last topic (issue 15). */
  private readonly readCache = new ReadCache();

  constructor(
    private readonly host: ConnectionHost<Connection>,
    readonly stream: Duplex,
    readonly transport: Transport,
    readonly peer: PeerInfo,
  ) {
    this.cid = host.nextCid();
    this.limits = host.config.limits;
    this.keepaliveMs = this.limits.keepaliveMs;
    this.out = new Outbound(stream, host.outboundOwnerFor(this), host.config.outbound);
    this.parser = CBOR_ENCODING.parser(
      this.limits.maxFrameBytes,
      (body) => this.onFrame(body),
      (e) => this.fail(e.code, e.text),
      (buf, start, end) => this.onFrameAt(buf, start, end),
    );
    stream.on('data', (chunk: Buffer) => this.onData(chunk));
    stream.on('drain', () => {
      this.out.onDrain();
      this.maybeEnd();
    });
    stream.on('end', () => {
      this.closeReason ??= 'eof';
      stream.end();
    });
    stream.on('error', () => {
      this.closeReason ??= 'error';
    });
    stream.on('close', () => this.onClosed());
  }

  get alive(): boolean {
    return this.state === 'open';
  }

  pauseReading(): void {
    if (this.state !== 'closed') this.stream.pause();
  }

  resumeReading(): void {
    if (this.state !== 'closed') this.stream.resume();
  }

  progressMark(): number {
    return this.out.taken;
  }

  // ---- input ------------------------------------------------------------------------------

  private onData(chunk: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.bytesIn += chunk.length;
    if (!this.sawFirstByte && chunk.length > 0) {
      this.sawFirstByte = true;
      const first = chunk[0]!;
      if (first === 0x7b) {
        this.encoding = JSON_ENCODING;
        this.out.encoding = JSON_ENCODING;
        this.parser = JSON_ENCODING.parser(
          this.limits.maxFrameBytes,
          (line) => this.onJsonLine(line),
          (e) => this.fail(e.code, e.text),
        );
      } else if (first !== 0x00) {
        this.fail('BAD_PREAMBLE', `first byte 0x${first.toString(16).padStart(2, '0')} selects no encoding: CBOR frames start with 0x00, JSON lines with "{"`);
        return;
      }
    }
    this.parser.push(chunk);
    this.readCache.release(); // the reader's view of this chunk: no idle connection pins one
    // Only a frame that began and has not ended runs the frame deadline; a header alone counts.
    if (this.parser.midFrame) this.partialSince ??= Date.now();
    else this.partialSince = undefined;
  }

  /** A CBOR frame as `buf[start..end)` of the chunk it came in. */
  private onFrameAt(buf: Buffer, start: number, end: number): void {
    // The hot frame, read in its one fixed shape and in place, without the generic decoder;
    // anything unusual (and everything before the handshake) takes the checked generic path.
    if (this.state === 'open') {
      const p = readPubFrameAt(buf, start, end, this.readCache, this.limits.maxNesting);
      if (p !== undefined) {
        this.frameArrived();
        this.msgsIn++;
        try {
          this.onPub(p, p.shared);
        } catch (err) {
          this.host.internalError(this, err);
        }
        return;
      }
    }
    this.onFrame(buf.subarray(start, end));
  }

  /** Keepalive is kept by whole frames: bytes of a frame that never ends are not traffic. */
  private frameArrived(): void {
    // The sweep turns the flag into a time, so the hot path reads no clock.
    this.gotFrame = true;
    this.pingOutstanding = false;
    this.partialSince = undefined; // a frame ended: the next one's deadline starts afresh
  }

  private onFrame(body: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.frameArrived();
    const r = decodeFrame(body, this.limits.maxNesting);
    if (!r.ok) {
      if (r.problem === 'BAD_FRAME') this.error('BAD_FRAME', r.text, { fatal: this.state === 'handshake' });
      else this.fail(r.problem, r.text);
      return;
    }
    this.guarded(r.frame);
  }

  /**
   * The last line of defence: whatever a frame makes the broker throw ends this connection with
   * INTERNAL, logged, and never the broker or anyone else's connection.
   */
  private guarded(frame: DecodedFrame): void {
    try {
      this.handleFrame(frame);
    } catch (err) {
      this.host.internalError(this, err);
    }
  }

  /** JSON mode: the same frames, with payloads as JSON values (PROTOCOL.md §15). */
  private onJsonLine(line: Buffer): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.gotFrame = true;
    this.pingOutstanding = false;
    this.partialSince = undefined; // a frame ended: the next one's deadline starts afresh
    let f: unknown;
    try {
      f = JSON.parse(line.toString('utf8'));
    } catch (err) {
      return this.error('BAD_FRAME', `not a JSON object: ${(err as Error).message}`, { fatal: this.state === 'handshake' });
    }
    if (f === null || typeof f !== 'object' || Array.isArray(f)) {
      return this.error('BAD_FRAME', 'a JSON frame must be an object', { fatal: this.state === 'handshake' });
    }
    const frame = f as Record<string, unknown>;
    const maxNesting = this.limits.maxNesting;
    try {
      if (frame.op === 'pub') frame.payload = payloadFromJson(frame, maxNesting);
      if (frame.op === 'hello' && frame.will !== null && typeof frame.will === 'object') {
        const will = frame.will as Record<string, unknown>;
        will.payload = payloadFromJson(will, maxNesting);
      }
    } catch (err) {
      const e = err as UdsbusError;
      const name = e instanceof UdsbusError && e.codeName === 'TOO_DEEP' ? 'TOO_DEEP' : 'BAD_FRAME';
      // During the handshake there is nothing to go on with: a bad hello ends the connection now.
      return this.error(name, e.message, { id: typeof frame.id === 'number' ? frame.id : undefined, fatal: this.state === 'handshake' });
    }
    this.guarded(frame);
  }

  private handleFrame(f: DecodedFrame): void {
    const op = f.op;
    // A known field of the wrong type is refused, never read as absent (§4): here `id`.
    if (f.id !== undefined && !isUint(f.id)) return this.error('BAD_FRAME', '"id" must be a uint', { fatal: this.state === 'handshake' });
    if (this.state === 'handshake') {
      if (op !== 'hello') return this.fail('HANDSHAKE_REQUIRED', `the first frame must be "hello", got ${describeOp(op)}`);
      return this.onHello(f);
    }
    this.msgsIn++;
    switch (op) {
      case 'pub':
        return this.onPub(f);
      case 'sub':
        return this.onSub(f);
      case 'unsub':
        return this.onUnsub(f);
      case 'ack':
        return this.onAck(f);
      case 'ping':
        return this.sendFrame({ op: 'pong', ...idOf(f) });
      case 'pong':
        return;
      case 'bye':
        this.clean = true;
        this.closeReason = 'bye';
        return this.end();
      case 'hello':
        return this.error('BAD_FRAME', 'hello was already received on this connection', idOf(f));
      default:
        if (typeof op !== 'string') return this.error('BAD_FRAME', 'frame has no text "op" field', idOf(f));
        return this.error('UNKNOWN_OP', `unknown op "${op.slice(0, 32)}"`, idOf(f));
    }
  }

  private onHello(f: DecodedFrame): void {
    if (typeof f.v !== 'number') return this.fail('BAD_FRAME', 'hello needs "v", the protocol version');
    if (f.v !== PROTOCOL_VERSION) return this.fail('UNSUPPORTED_VERSION', `protocol version ${f.v} is not supported; this broker speaks ${PROTOCOL_VERSION}`);
    if (f.name !== undefined && (typeof f.name !== 'string' || Buffer.byteLength(f.name) > 64)) {
      return this.fail('BAD_FRAME', 'hello "name" must be text of at most 64 bytes');
    }
    if (f.keepalive !== undefined) {
      if (!isUint(f.keepalive)) return this.fail('BAD_FRAME', 'hello "keepalive" must be a uint (ms)');
      // Deadlines are checked every sweepMs: a keepalive shorter than two sweeps cannot be kept.
      const floor = Math.max(KEEPALIVE_MIN_MS, 2 * this.host.config.sweepMs);
      this.keepaliveMs = Math.min(KEEPALIVE_MAX_MS, Math.max(Math.min(floor, this.limits.keepaliveMs), f.keepalive));
    }
    if (f.will !== undefined) {
      const w = f.will as Record<string, unknown> | null;
      if (w === null || typeof w !== 'object' || typeof w.topic !== 'string' || !(w.payload instanceof Uint8Array) || (w.retain !== undefined && typeof w.retain !== 'boolean')) {
        return this.fail('BAD_FRAME', 'hello "will" must be a map {topic: text, payload: bytes, retain?: bool}');
      }
      const problem = checkTopic(w.topic, this.limits);
      if (problem !== null) return this.fail(problem, describeTopicProblem(problem, w.topic, this.limits));
      if (isReservedTopic(w.topic)) return this.fail('RESERVED_TOPIC', `clients cannot publish to "${w.topic}"`);
      this.will = { topic: w.topic, payload: Buffer.from(w.payload), retain: w.retain === true };
    }
    if (f.flow !== undefined) {
      if (f.flow !== 'pace' && f.flow !== 'drop') return this.fail('BAD_FRAME', 'hello "flow" must be "pace" or "drop"');
      this.flow = f.flow;
    }
    if (f.fromRefs !== undefined && typeof f.fromRefs !== 'boolean') return this.fail('BAD_FRAME', 'hello "fromRefs" must be a bool');
    // By reference in CBOR only: a JSON-mode client reads every `from` whole.
    const refs = f.fromRefs === true && this.encoding === CBOR_ENCODING;
    this.name = typeof f.name === 'string' ? f.name : '';
    this.stampIdentity();
    if (!this.host.admit(this)) return;
    if (this.perms !== undefined && this.will !== undefined && !this.perms.canPublish(this.will.topic)) {
      this.host.denied(this, 'publish', this.will.topic);
      return this.fail('PERMISSION_DENIED', `may not publish the will on "${this.will.topic}"`);
    }
    this.state = 'open';
    if (refs) {
      this.out.refs = new Set();
      this.out.encoding = CBOR_REFS_ENCODING;
    }
    this.sendFrame({
      op: 'welcome',
      v: PROTOCOL_VERSION,
      cid: this.cid,
      boot: this.host.config.bootId,
      server: this.host.config.serverName,
      keepalive: this.keepaliveMs,
      limits: { ...this.limits, keepaliveMs: this.keepaliveMs },
      ...(refs ? { fromRefs: true } : {}),
      ...idOf(f),
    });
    this.host.onOpen(this);
  }

  /** The last topic this connection published on that passed the checks (same string object). */
  private checkedTopic: string | undefined;

  /** `shared` only from the fixed-shape reader, never from a decoded frame's fields. */
  private onPub(f: DecodedFrame | PubFrame, shared?: Uint8Array): void {
    // Per publish: no object unless there is something to answer (errors carry `{id}`).
    const idNum = isUint(f.id) ? f.id : undefined;
    const id = idNum === undefined ? NO_ID : { id: idNum };
    const topic = f.topic;
    const payload = f.payload;
    if (typeof topic !== 'string') return this.error('BAD_FRAME', 'pub needs "topic" (text)', id);
    if (!(payload instanceof Uint8Array)) return this.error('BAD_FRAME', 'pub needs "payload" (a byte string)', id);
    if (f.retain !== undefined && typeof f.retain !== 'boolean') return this.error('BAD_FRAME', 'pub "retain" must be a bool', id);
    if (f.owned !== undefined && typeof f.owned !== 'boolean') return this.error('BAD_FRAME', 'pub "owned" must be a bool', id);
    if (f.confirm !== undefined && typeof f.confirm !== 'boolean') return this.error('BAD_FRAME', 'pub "confirm" must be a bool', id);
    const limits = this.limits;
    // A publisher repeats its topic: the fixed-shape reader hands back the same string object for
    // the same bytes, so a topic checked once (grammar, limits, not reserved) is not checked again.
    const checked = topic === this.checkedTopic;
    if (!checked) {
      const problem = checkTopic(topic, limits);
      if (problem !== null) return this.error(problem, describeTopicProblem(problem, topic, limits), id);
    }
    let reply: string | undefined;
    if (f.reply !== undefined) {
      if (typeof f.reply !== 'string') return this.error('BAD_FRAME', 'pub "reply" must be text (a topic)', id);
      if (checkTopic(f.reply, limits) !== null) {
        return this.error('INVALID_TOPIC', `pub "reply" must be a valid topic`, id);
      }
      reply = f.reply;
    }
    if (!checked) {
      if (isReservedTopic(topic)) {
        if (reply !== undefined && topic.startsWith('$SYS.req.')) return this.host.sysRequest(this, topic, reply, idNum, payload);
        return this.error('RESERVED_TOPIC', `topics starting with "$" belong to the broker: "${topic}"`, id);
      }
      this.checkedTopic = topic;
    }
    const perms = this.perms;
    if (perms !== undefined) {
      const ok = reply === undefined ? perms.canPublish(topic) : perms.canRequest(topic) && isInboxTopic(reply);
      if (!ok) return this.deny(reply === undefined ? 'publish' : 'request', topic, id);
      // A reply may only be aimed at an inbox nobody else owns (SECURITY.md: inbox tokens).
      if (reply !== undefined && !this.host.mayReplyTo(reply, this.peer.uid)) return this.deny('reply-to', reply, id);
    }
    let hdr: Record<string, string> | undefined;
    if (f.hdr !== undefined) {
      const h = checkHeaders(f.hdr, limits);
      if (typeof h === 'string') return this.error('HEADERS_TOO_LARGE', h, id);
      if (h === undefined) return this.error('BAD_FRAME', 'pub "hdr" must be a map of text to text', id);
      hdr = h;
    }
    const retain = f.retain === true;
    if (f.confirm === true && idNum === undefined) return this.error('BAD_FRAME', 'pub with "confirm" needs an "id" to answer', id);
    this.host.publish(this, { topic, payload, reply, hdr, retain, owned: retain && f.owned === true, id: idNum, confirm: f.confirm === true, shared });
  }

  private onSub(f: DecodedFrame): void {
    const id = idOf(f);
    const { sid, pattern } = f;
    if (!isUint(sid) || sid === 0 || sid > 0xffffffff) return this.error('BAD_FRAME', 'sub needs "sid", a uint from 1 to 2^32-1', id);
    if (typeof pattern !== 'string') return this.error('BAD_FRAME', 'sub needs "pattern" (text)', { ...id, sid });
    const limits = this.limits;
    const problem = checkPattern(pattern, limits);
    if (problem !== null) {
      const name = problem === 'INVALID_TOPIC' ? 'INVALID_PATTERN' : problem;
      return this.error(name, describeTopicProblem(name, pattern, limits), { ...id, sid });
    }
    if (this.subs.has(sid)) return this.error('DUPLICATE_SID', `sid ${sid} is already subscribed`, { ...id, sid });
    if (this.subs.size >= limits.maxSubscriptions) {
      return this.error('TOO_MANY_SUBSCRIPTIONS', `this connection already has ${limits.maxSubscriptions} subscriptions (maxSubscriptions)`, { ...id, sid });
    }
    let queue: string | undefined;
    if (f.queue !== undefined) {
      if (typeof f.queue !== 'string' || f.queue.includes('.') || checkTopic(f.queue, limits) !== null) {
        return this.error('BAD_FRAME', 'sub "queue" must be a single topic token', { ...id, sid });
      }
      queue = f.queue;
    }
    if (f.retained !== undefined && typeof f.retained !== 'boolean') return this.error('BAD_FRAME', 'sub "retained" must be a bool', { ...id, sid });
    let policy: Policy = 'drop-oldest';
    if (f.policy !== undefined) {
      if (!POLICIES.includes(f.policy as Policy)) return this.error('BAD_FRAME', `sub "policy" must be one of ${POLICIES.join(', ')}`, { ...id, sid });
      policy = f.policy as Policy;
    }
    for (const k of ['maxMsgs', 'maxBytes'] as const) {
      if (f[k] !== undefined && (!isUint(f[k]) || f[k] === 0)) return this.error('BAD_FRAME', `sub "${k}" must be a positive uint`, { ...id, sid });
    }
    const sub = new BrokerSub(
      this,
      sid,
      pattern,
      queue,
      policy,
      (f.maxMsgs as number | undefined) ?? Infinity,
      (f.maxBytes as number | undefined) ?? Infinity,
    );
    let durable: DurableSpec | undefined;
    if (f.durable !== undefined) {
      const d = checkDurable(f);
      if (typeof d === 'object' && 'error' in d) return this.error(d.error, d.text, { ...id, sid });
      durable = d;
    }
    if (this.perms !== undefined) {
      const decision = this.perms.subscribeDecision(pattern, queue === undefined ? 'subscribe' : 'serve');
      if (decision === 'deny') return this.deny(queue === undefined ? 'subscribe' : 'serve', pattern, { ...id, sid });
      if (durable !== undefined && !this.perms.canUseDurable(durable.name)) return this.deny('durable', durable.name, { ...id, sid });
      const u = this.usage!;
      if (u.subscriptions >= u.quota.subscriptions) {
        return this.error('QUOTA_EXCEEDED', `uid ${this.peer.uid ?? 'anonymous'} is at its subscriptions quota (${u.quota.subscriptions})`, { ...id, sid });
      }
      if (isInboxPattern(pattern)) {
        if (!this.host.claimInbox(pattern, this.peer.uid)) return this.deny('subscribe', pattern, { ...id, sid });
        sub.inbox = true;
      }
      sub.filter = decision === 'filter';
      u.subscriptions++;
    }
    if (durable !== undefined) return this.onDurableSub(durable, sub, { ...id, sid });
    this.subs.set(sid, sub);
    this.out.subCount = this.subs.size;
    this.host.subscribe(sub, f.retained !== false);
    if (id.id !== undefined) this.sendFrame({ op: 'ok', id: id.id });
  }

  /** A durable subscription attaches to its queue instead of the live index (§17). */
  private onDurableSub(d: DurableSpec, sub: BrokerSub, ref: { id?: number; sid: number }): void {
    const name = d.name;
    const problem = this.host.subscribeDurable(this, sub, d);
    if (problem !== undefined) {
      if (this.usage !== undefined) this.usage.subscriptions--;
      if (sub.inbox) this.host.releaseInbox(sub.pattern);
      return this.error(problem.name, problem.text, ref);
    }
    this.subs.set(sub.sid, sub);
    sub.durable = name;
    this.out.subCount = this.subs.size;
    if (ref.id !== undefined) this.sendFrame({ op: 'ok', id: ref.id });
  }

  private onAck(f: DecodedFrame): void {
    const id = idOf(f);
    if (!isUint(f.sid)) return this.error('BAD_FRAME', 'ack needs "sid" (uint)', id);
    const sub = this.subs.get(f.sid);
    if (sub === undefined || sub.durable === undefined) return this.error('UNKNOWN_SID', 'ack needs "sid" of a live durable subscription', id);
    if (!isUint(f.mid)) return this.error('BAD_FRAME', 'ack needs "mid" (uint): everything up to it is acknowledged', id);
    this.host.ack(this, sub, f.mid);
    if (id.id !== undefined) this.sendFrame({ op: 'ok', id: id.id });
  }

  private onUnsub(f: DecodedFrame): void {
    const id = idOf(f);
    const sid = f.sid;
    if (!isUint(sid)) return this.error('BAD_FRAME', 'unsub needs "sid" (uint)', id);
    const sub = this.subs.get(sid);
    if (sub === undefined) return this.error('UNKNOWN_SID', `sid ${sid} is not subscribed`, { ...id, sid });
    this.removeSub(sub);
    if (id.id !== undefined) this.sendFrame({ op: 'ok', id: id.id });
  }

  removeSub(sub: BrokerSub): void {
    if (this.usage !== undefined) this.usage.subscriptions--;
    if (sub.inbox) this.host.releaseInbox(sub.pattern);
    this.subs.delete(sub.sid);
    this.out.subCount = this.subs.size;
    this.out.dropSub(sub);
    this.host.unsubscribe(sub);
  }

  /**
   * The `from` map stamped on every message this connection publishes (PROTOCOL.md §7): the
   * kernel-verified uid/gid/pid, and the client's own unverified name. Encoded once here.
   */
  fromCbor: Buffer | undefined;
  fromJson: string | undefined;
  origin: Origin | undefined;

  private stampIdentity(): void {
    const from: Record<string, unknown> = { cid: this.cid, name: this.name };
    if (this.peer.uid !== undefined) {
      from.uid = this.peer.uid;
      from.gid = this.peer.gid;
      from.pid = this.peer.pid;
    } else {
      from.anonymous = true;
    }
    this.fromCbor = encodeValue(from);
    this.fromJson = JSON.stringify(from);
  }

  /** Refuse an operation the ACL does not grant: an error frame, counted and published. */
  deny(action: string, target: string, extra: { id?: number | undefined; sid?: number } = {}): void {
    this.host.denied(this, action, target);
    this.error('PERMISSION_DENIED', `${action} "${target}" is not granted to this user`, extra);
  }

  // ---- output -----------------------------------------------------------------------------

  sendFrame(frame: object): void {
    if (this.state === 'closed') return;
    this.out.sendControl(this.encoding.control(frame));
  }

  /** A non-fatal error frame (unless `fatal` says otherwise). */
  error(name: ErrorName, text: string, extra: { id?: number | undefined; sid?: number; fatal?: boolean } = {}): void {
    if (extra.fatal === true) return this.fail(name, text, extra);
    this.host.countError(name);
    this.sendFrame(errFrame(name, text, extra));
  }

  /** A fatal error: tell the peer why, then close. */
  fail(name: ErrorName, text: string, extra: { id?: number | undefined; sid?: number } = {}): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.host.countError(name);
    this.parser.stop();
    this.closeReason ??= CLOSE_REASON_FOR[name] ?? 'protocol';
    const frame = this.encoding.control(errFrame(name, text, { ...extra, fatal: true }));
    if (name === 'SLOW_CONSUMER' || name === 'KEEPALIVE_TIMEOUT') {
      // Whatever is queued would never be read in time; the reason must be.
      this.out.discard();
      this.state = 'closing';
      this.stream.write(frame);
      this.endNow();
      return;
    }
    this.out.sendControl(frame);
    this.end();
  }

  /** Close after what is queued has been written (bounded by the broker's grace period). */
  end(): void {
    if (this.state === 'closing' || this.state === 'closed') return;
    this.state = 'closing';
    this.parser.stop();
    this.out.flush();
    this.maybeEnd();
    this.armGrace();
  }

  private endNow(): void {
    this.out.closed = true;
    this.stream.end();
    this.armGrace();
  }

  private armGrace(): void {
    this.graceTimer ??= setTimeout(() => this.stream.destroy(), this.host.config.closeGraceMs);
    this.graceTimer.unref();
  }

  /** Called after flushes and drains: a closing connection ends once its queue is empty. */
  maybeEnd(): void {
    if (this.state === 'closing' && !this.out.congested && !this.out.closed) this.endNow();
  }

  private onClosed(): void {
    if (this.state === 'closed') return;
    const wasOpen = this.state === 'open' || (this.state === 'closing' && this.name !== undefined);
    this.state = 'closed';
    this.out.closed = true;
    this.out.discard();
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.parser.stop();
    this.host.onClose(this, wasOpen);
  }
}

function errFrame(name: ErrorName, text: string, extra: { id?: number | undefined; sid?: number; fatal?: boolean }): object {
  const frame: Record<string, unknown> = { op: 'err', code: ErrorCodes[name], name, text };
  if (extra.id !== undefined) frame.id = extra.id;
  if (extra.sid !== undefined) frame.sid = extra.sid;
  if (extra.fatal) frame.fatal = true;
  return frame;
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}

const NO_ID: { id?: number } = Object.freeze({});

function idOf(f: DecodedFrame): { id?: number } {
  return isUint(f.id) ? { id: f.id } : {};
}

function describeOp(op: unknown): string {
  return typeof op === 'string' ? `"${op.slice(0, 32)}"` : 'a frame without a text "op"';
}

/** The headers, undefined when they are not text to text, or the text of a broken size limit. */
function checkHeaders(h: unknown, limits: Limits): Record<string, string> | undefined | string {
  if (h === null || typeof h !== 'object' || Array.isArray(h) || h instanceof Uint8Array || h instanceof Map) return undefined;
  let n = 0;
  let bytes = 0;
  for (const [k, v] of Object.entries(h)) {
    if (typeof v !== 'string') return undefined;
    n++;
    bytes += Buffer.byteLength(k) + Buffer.byteLength(v);
  }
  if (n > limits.maxHeaders) return `pub "hdr" has ${n} entries; at most ${limits.maxHeaders} (maxHeaders)`;
  if (bytes > limits.maxHeaderBytes) return `pub "hdr" keys and values total ${bytes} bytes; at most ${limits.maxHeaderBytes} (maxHeaderBytes)`;
  return h as Record<string, string>;
}

