/**
 * The client's connection to the broker, below subscriptions and requests: dialing (Unix socket,
 * TCP or any Duplex a `dial` function returns), framing, the hello/welcome handshake, keepalive,
 * reconnect with capped jittered backoff, batched writes, and the bounded outage buffer that
 * holds publishes while the broker is away. It knows nothing of sids or inboxes; what is not its
 * own business it hands to its `TransportHooks`.
 */
import { Buffer } from 'node:buffer';
import { statSync } from 'node:fs';
import { createConnection, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { decodeFrame, encodeFrame, encodeValue, type DecodedFrame } from '../protocol/codec.js';
import { BrokerUntrustedError, UdsbusError } from '../protocol/errors.js';
import { DEFAULT_LIMITS, PROTOCOL_VERSION, type Limits } from '../protocol/limits.js';
import { FrameParser } from '../protocol/parser.js';
import { encodePub, pubSize, writePub, type PubFields } from './frames.js';
import { MsgFields, ReadCache, readMsgFrameAt, type FromMap } from '../protocol/msg-reader.js';
import { lookupDefaultSocket, socketCandidates } from '../paths.js';
import { checkBroker, checkUnverifiable, resolveTrust, type ExpectBrokerUid } from './broker-identity.js';

export type TransportOptions = {
  socket?: string | undefined;
  tcp?: { host: string; port: number } | undefined;
  /** Any other way to reach a broker (an in-memory pair in tests): returns a fresh stream. */
  dial?: (() => Duplex) | undefined;
  name: string;
  flow?: 'pace' | 'drop' | undefined;
  keepaliveMs?: number | undefined;
  will?: { topic: string; payload?: unknown; retain?: boolean } | undefined;
  reconnect: boolean;
  reconnectInitialMs: number;
  reconnectMaxMs: number;
  maxReconnectAttempts: number;
  outageBufferBytes: number;
  connectTimeoutMs: number;
  expectBrokerUid?: ExpectBrokerUid | undefined;
};

export type CloseInfo = { reason: 'closed' | 'gave-up' | 'fatal'; error?: UdsbusError | Error };

/** What the layers above are told. */
export interface TransportHooks {
  /** After every welcome, before buffered publishes are replayed: send subscriptions again. */
  resubscribe(): void;
  /** A frame that is not the transport's own (ok, loss, err, and a `msg` of unusual shape). */
  frame(f: DecodedFrame): void;
  /** A `msg` frame in the broker's fixed shape (the hot path): `f` is reused for the next frame, its payload is in `buf`. */
  msg(f: MsgFields, buf: Uint8Array): void;
  opened(info: { reconnecting: boolean; attempt: number; brokerRestarted: boolean }): void;
  /** The connection dropped; `wasOpen` when it had completed its handshake. */
  lost(wasOpen: boolean): void;
  finished(info: CloseInfo): void;
  error(err: Error): void;
  drain(): void;
}

/** Above this many bytes buffered for the socket, publish() tells the caller to wait for drain(). */
export const HIGH_WATER = 1024 * 1024;
const BATCH = 64 * 1024;

export class Transport {
  state: 'connecting' | 'open' | 'reconnecting' | 'closed' = 'connecting';
  cid = '';
  boot: string | undefined;
  limits: Limits = { ...DEFAULT_LIMITS };
  private sock: Duplex | undefined;
  private parser: FrameParser | undefined;
  /** Output not yet written: sealed chunks, then the open batch's first batchOff bytes. */
  private wbuf: Buffer[] = [];
  private wbytes = 0;
  /** The open batch: frames are written straight into it (a pub frame is built in place). */
  private batch: Buffer | undefined;
  private batchOff = 0;
  /** A socket copies a chunk into the kernel before write() returns when it can; a Duplex may keep it. */
  private reusesBatch = false;
  private flushQueued = false;
  /** The socket said write() false: frames wait in wbuf (one batch) until it drains. */
  private blocked = false;
  private outage: Buffer[] = [];
  private outageBytes = 0;
  private lastRecv = Date.now();
  private keepaliveTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private attempts = 0;
  private idSeq = 0;
  private readonly pongWaiters = new Map<number, () => void>();
  private flushWaiters: Array<() => void> = [];
  private handshake: { resolve: () => void; reject: (e: Error) => void } | undefined;
  private finishedInfo: CloseInfo | undefined;
  /** The fixed-shape reader's memory: each publisher's `from` decoded once (issue 15). */
  private readonly readCache = new ReadCache();
  /** What the fast reader read from the last delivery; reused for every frame. */
  private readonly fields = new MsgFields();

  constructor(
    private readonly opts: TransportOptions,
    private readonly hooks: TransportHooks,
  ) {}

  /** A fresh request id, shared by pings, confirms and requests (PROTOCOL.md §4). */
  nextId(): number {
    return ++this.idSeq;
  }

  /** The socket of the last dial: the `socket` option, else the default lookup's pick then. */
  path = '';

  // ---- connecting -------------------------------------------------------------------------

  dial(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const o = this.opts;
      const trust = resolveTrust(o.expectBrokerUid);
      if (trust instanceof Error) return reject(trust);
      const unverifiable = o.dial !== undefined ? checkUnverifiable('a dialled stream', trust) : o.tcp ? checkUnverifiable('TCP', trust) : undefined;
      if (unverifiable !== undefined) return reject(unverifiable);
      // The default lookup runs on every dial: the broker it finds may start after the client.
      const path = (this.path = o.socket ?? lookupDefaultSocket());
      const sock: Duplex =
        o.dial !== undefined
          ? o.dial()
          : o.tcp
            ? createConnection({ host: o.tcp.host, port: o.tcp.port, noDelay: true, onread: readSlabs((b) => this.onRead(b)) })
            : createConnection({ path, onread: readSlabs((b) => this.onRead(b)) });
      this.sock = sock;
      this.reusesBatch = sock instanceof Socket;
      let settled = false;
      // Only a connection that completed its handshake may trigger a reconnect when it closes;
      // a failed attempt is retried by scheduleReconnect() alone (never twice).
      let opened = false;
      const timer = setTimeout(() => fail(new UdsbusError('TIMEOUT', `no welcome from the broker within ${o.connectTimeoutMs} ms`)), o.connectTimeoutMs);
      const fail = (e: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.handshake = undefined;
        sock.destroy();
        reject(e);
      };
      this.handshake = {
        resolve: () => {
          if (settled) return;
          settled = true;
          opened = true;
          clearTimeout(timer);
          this.handshake = undefined;
          resolve();
        },
        reject: fail,
      };
      this.readCache.refs.clear();
      const parser = (this.parser = new FrameParser(
        DEFAULT_LIMITS.maxFrameBytes * 16,
        (body) => this.onFrame(body),
        (e) => this.protocolError(new UdsbusError(e.code, e.text)),
        (buf, start, end) => this.onFrameAt(buf, start, end),
      ));
      const hello = () => {
        // `from` by reference: a publisher's identity comes once (`who`), then as a number.
        const frame: Record<string, unknown> = { op: 'hello', v: PROTOCOL_VERSION, name: o.name, fromRefs: true };
        if (o.keepaliveMs !== undefined) frame.keepalive = o.keepaliveMs;
        if (o.flow !== undefined) frame.flow = o.flow;
        if (o.will) frame.will = { topic: o.will.topic, payload: encodeValue(o.will.payload), retain: o.will.retain === true };
        sock.write(encodeFrame(frame));
      };
      // A socket says hello once connected; a dialled stream is connected already. On a Unix
      // socket the broker's uid is checked first, before a byte of ours leaves.
      if (o.dial !== undefined) hello();
      else if (o.tcp) sock.on('connect', hello);
      else {
        sock.on('connect', () => {
          const untrusted = checkBroker(sock as Socket, path, trust);
          if (untrusted !== undefined) fail(untrusted);
          else hello();
        });
      }
      // A dialled stream emits 'data'; a socket hands its reads to onRead (readSlabs).
      sock.on('data', (chunk: Buffer) => this.onRead(chunk));
      sock.on('drain', () => {
        this.blocked = false;
        this.flushWrites();
        this.hooks.drain();
      });
      sock.on('error', (err) => {
        if (!settled) fail(explainConnectError(err as NodeJS.ErrnoException, path, o.socket === undefined && o.tcp === undefined));
      });
      sock.on('close', () => {
        if (!settled) fail(new UdsbusError('DISCONNECTED', 'the broker closed the connection during the handshake'));
        if (opened && this.sock === sock) this.onClosed();
      });
    });
  }

  private onWelcome(f: DecodedFrame): void {
    this.cid = String(f.cid);
    const boot = typeof f.boot === 'string' ? f.boot : undefined;
    const brokerRestarted = this.boot !== undefined && boot !== undefined && boot !== this.boot;
    this.boot = boot;
    if (f.limits !== null && typeof f.limits === 'object') this.limits = { ...DEFAULT_LIMITS, ...(f.limits as Partial<Limits>) };
    const reconnecting = this.state === 'reconnecting';
    this.state = 'open';
    const attempt = this.attempts;
    this.attempts = 0;
    // Re-subscribe before replaying buffered publishes so replies and echoes are not missed.
    this.hooks.resubscribe();
    for (const b of this.outage) this.write(b);
    this.outage = [];
    this.outageBytes = 0;
    if (this.flushWaiters.length > 0) {
      const waiters = this.flushWaiters;
      this.flushWaiters = [];
      for (const w of waiters) void this.flush().then(w, w);
    }
    this.startKeepalive(typeof f.keepalive === 'number' ? f.keepalive : this.limits.keepaliveMs);
    this.handshake?.resolve();
    this.hooks.opened({ reconnecting, attempt, brokerRestarted });
  }

  private startKeepalive(ms: number): void {
    clearInterval(this.keepaliveTimer);
    this.keepaliveTimer = setInterval(() => {
      const idle = Date.now() - this.lastRecv;
      if (idle > 2 * ms) this.sock?.destroy(new Error(`no frame from the broker for ${idle} ms`));
      else if (idle > ms) this.writeControl(encodeFrame({ op: 'ping' }));
    }, Math.max(50, Math.floor(ms / 2)));
    this.keepaliveTimer.unref();
  }

  private onClosed(): void {
    clearInterval(this.keepaliveTimer);
    this.wbuf = [];
    this.wbytes = 0;
    this.batchOff = 0;
    this.blocked = false;
    this.parser?.stop();
    const wasOpen = this.state === 'open';
    this.hooks.lost(wasOpen);
    if (this.state === 'closed') return;
    if (!this.opts.reconnect || this.state === 'connecting') {
      if (this.state !== 'connecting') this.finish({ reason: 'gave-up' });
      return;
    }
    this.state = 'reconnecting';
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.state !== 'reconnecting') return;
    if (this.attempts >= this.opts.maxReconnectAttempts) {
      this.finish({ reason: 'gave-up', error: new UdsbusError('DISCONNECTED', `gave up after ${this.attempts} reconnect attempts`) });
      return;
    }
    const base = Math.min(this.opts.reconnectMaxMs, this.opts.reconnectInitialMs * 2 ** Math.min(this.attempts, 20));
    const delay = Math.round(base * (0.5 + Math.random() / 2));
    this.attempts++;
    this.reconnectTimer = setTimeout(() => {
      this.dial().catch((err: unknown) => {
        // A refused broker is worth saying on every attempt; a broker that is not up yet is not.
        if (err instanceof BrokerUntrustedError) this.hooks.error(err);
        this.scheduleReconnect();
      });
    }, delay);
  }

  // ---- input ------------------------------------------------------------------------------

  private onRead(chunk: Buffer): void {
    this.lastRecv = Date.now();
    this.parser?.push(chunk);
    this.readCache.release();
  }

  /** A frame in place: a delivery in the broker's layout is read without an object; else onFrame. */
  private onFrameAt(buf: Buffer, start: number, end: number): void {
    if (readMsgFrameAt(buf, start, end, this.fields, this.readCache, this.limits.maxNesting)) return this.hooks.msg(this.fields, buf);
    this.onFrame(buf.subarray(start, end));
  }

  private onFrame(body: Buffer): void {
    const r = decodeFrame(body, this.limits.maxNesting);
    if (!r.ok) {
      this.protocolError(new UdsbusError(r.problem, `bad frame from the broker: ${r.text}`));
      return;
    }
    const f = r.frame;
    switch (f.op) {
      case 'welcome':
        return this.onWelcome(f);
      case 'ping':
        this.writeControl(encodeFrame(f.id === undefined ? { op: 'pong' } : { op: 'pong', id: f.id }));
        return;
      case 'pong':
        this.answered(f.id);
        return;
      case 'who':
        if (typeof f.ref === 'number' && f.from !== null && typeof f.from === 'object') this.readCache.refs.set(f.ref, Object.freeze(f.from as FromMap));
        return;
      case 'forget':
        if (typeof f.ref === 'number') this.readCache.refs.delete(f.ref);
        return;
      case 'msg':
        // A delivery the fixed-shape reader did not take may still name its publisher by reference.
        return this.hooks.frame(typeof f.fref === 'number' ? { ...f, from: this.readCache.refs.get(f.fref) } : f);
      case 'ok':
        if (this.answered(f.id)) return;
        return this.hooks.frame(f);
      case 'err':
        if (this.handshake !== undefined && f.fatal === true) {
          this.handshake.reject(new UdsbusError(f.code as number, String(f.text ?? ''), { fatal: true }));
          return;
        }
        return this.hooks.frame(f);
      default:
        return this.hooks.frame(f);
    }
  }

  /** A pong or ok for one of our flush pings; false when the id is not ours. */
  private answered(id: unknown): boolean {
    const w = typeof id === 'number' ? this.pongWaiters.get(id) : undefined;
    if (w === undefined) return false;
    this.pongWaiters.delete(id as number);
    w();
    return true;
  }

  private protocolError(err: UdsbusError): void {
    this.hooks.error(err);
    this.sock?.destroy(err);
  }

  /** Cut the connection as if it failed (tests, and a peer that broke the protocol). */
  destroy(err?: Error): void {
    this.sock?.destroy(err);
  }

  // ---- output -----------------------------------------------------------------------------

  private write(frame: Buffer): void {
    const at = this.reserve(frame.length);
    if (at < 0) {
      // Larger than a batch: it goes as a chunk of its own, after what is already pending.
      this.seal();
      this.wbuf.push(frame);
      this.wbytes += frame.length;
      this.flushWrites();
      return;
    }
    frame.copy(this.batch!, at);
    this.commit(at + frame.length);
  }

  /** Room for `size` bytes in the open batch: the offset to write them at, or -1 (too large). */
  private reserve(size: number): number {
    if (size > BATCH) return -1;
    if (this.batch !== undefined && this.batchOff + size > this.batch.length) {
      this.seal();
      this.flushWrites();
    }
    this.batch ??= Buffer.allocUnsafeSlow(BATCH);
    return this.batchOff;
  }

  /** The open batch now holds bytes up to `end`: write them this turn, or now when a batch is full. */
  private commit(end: number): void {
    this.wbytes += end - this.batchOff;
    this.batchOff = end;
    if (this.wbytes >= BATCH) this.flushWrites();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushWrites);
    }
  }

  /** The open batch becomes a pending chunk; the next frame starts a new one. */
  private seal(): void {
    if (this.batchOff === 0) return;
    this.wbuf.push(this.batch!.subarray(0, this.batchOff));
    this.batch = undefined;
    this.batchOff = 0;
  }

  private readonly flushWrites = (): void => {
    this.flushQueued = false;
    const sock = this.sock;
    if (this.wbytes === 0 || sock === undefined || this.blocked) return;
    if (this.wbuf.length === 0) {
      // The common case, only the open batch: written from where it lies, and kept for the next
      // frames when the kernel took it whole (nothing left in the stream refers to it then).
      const chunk = this.batch!.subarray(0, this.batchOff);
      this.wbytes = 0;
      this.batchOff = 0;
      if (!sock.write(chunk)) this.blocked = true;
      if (!this.reusesBatch || sock.writableLength !== 0) this.batch = undefined;
      return;
    }
    this.seal();
    const chunk = this.wbuf.length === 1 ? this.wbuf[0]! : Buffer.concat(this.wbuf, this.wbytes);
    this.wbuf = [];
    this.wbytes = 0;
    if (!sock.write(chunk)) this.blocked = true;
  };

  /** Control frames (sub, unsub, ack, pong) go out now, or not at all while disconnected. */
  writeControl(frame: Buffer): void {
    if (this.state === 'open' && this.sock !== undefined) this.write(frame);
  }

  /** A `pub` frame, built in place in the open batch when it fits; otherwise as send(). */
  sendPub(p: PubFields): boolean {
    const size = pubSize(p);
    if (this.state !== 'open' || size > BATCH) return this.send(encodePub(p, size));
    const at = this.reserve(size);
    this.commit(writePub(this.batch!, at, size, p));
    return this.buffered() < HIGH_WATER;
  }

  /**
   * Publishes go out now, or into the bounded outage buffer while reconnecting. Returns false
   * when the caller should wait for drain(). Throws when the buffer is full or the client closed.
   */
  send(frame: Buffer): boolean {
    if (this.state === 'open') {
      this.write(frame);
      return this.buffered() < HIGH_WATER;
    }
    if (this.state === 'closed') throw new UdsbusError('DISCONNECTED', 'the client is closed');
    if (this.outageBytes + frame.length > this.opts.outageBufferBytes) {
      throw new UdsbusError('DISCONNECTED', `disconnected from the broker and the outage buffer (${this.opts.outageBufferBytes} bytes) is full; message not sent`);
    }
    this.outage.push(frame);
    this.outageBytes += frame.length;
    return false;
  }

  /** Bytes written but not yet taken by the kernel. */
  buffered(): number {
    return (this.sock?.writableLength ?? 0) + this.wbytes;
  }

  /** True while the socket is open and below the high-water mark. */
  get writable(): boolean {
    return this.sock === undefined || this.state !== 'open' || this.buffered() < HIGH_WATER;
  }

  /**
   * Resolves when the broker has processed every frame sent before it (a ping with an id,
   * answered in order); while reconnecting, once the next connection has done so.
   */
  flush(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new UdsbusError('DISCONNECTED', 'the client is closed'));
    return new Promise((resolve) => {
      if (this.state !== 'open') {
        this.flushWaiters.push(resolve);
        return;
      }
      const id = this.nextId();
      this.pongWaiters.set(id, resolve);
      this.write(encodeFrame({ op: 'ping', id }));
    });
  }

  /** Say bye after everything queued, wait for the broker to close (bounded), then finish. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const sock = this.sock;
    const wasOpen = this.state === 'open';
    this.state = 'closed';
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    if (sock !== undefined && wasOpen && !sock.destroyed) {
      this.write(encodeFrame({ op: 'bye' }));
      // Everything goes now, blocked or not: end() follows and must come after the bye.
      this.blocked = false;
      this.flushWrites();
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => {
          sock.destroy();
          resolve();
        }, 2000);
        sock.once('close', () => {
          clearTimeout(t);
          resolve();
        });
        sock.end();
      });
    } else {
      sock?.destroy();
    }
    this.finish({ reason: 'closed' });
  }

  private finish(info: CloseInfo): void {
    if (this.finishedInfo !== undefined) return;
    this.state = 'closed';
    this.finishedInfo = info;
    clearTimeout(this.reconnectTimer);
    clearInterval(this.keepaliveTimer);
    for (const w of this.pongWaiters.values()) w();
    this.pongWaiters.clear();
    for (const w of this.flushWaiters) w();
    this.flushWaiters = [];
    this.hooks.finished(info);
  }
}

function explainConnectError(err: NodeJS.ErrnoException, path: string, lookedUp: boolean): Error {
  switch (err.code) {
    case 'ENOENT':
      if (lookedUp) {
        const tried = socketCandidates();
        if (tried.length > 1) {
          return new UdsbusError('DISCONNECTED', `no broker socket at any of ${tried.join(', ')} (your own broker, then the system broker): start one with "udsbus broker", start the system broker, or pass the socket option / set UDSBUS_SOCKET`, { cause: err });
        }
      }
      return new UdsbusError('DISCONNECTED', `no broker socket at ${path}: start one with "udsbus broker --socket ${path}" or set UDSBUS_SOCKET`, { cause: err });
    case 'ECONNREFUSED':
      return new UdsbusError('DISCONNECTED', `no broker is listening on ${path} (stale socket file?): start one with "udsbus broker --socket ${path}"`, { cause: err });
    case 'EACCES':
    case 'EPERM':
      return new UdsbusError('DISCONNECTED', `permission denied on ${path}: ${describeAccess(path)}`, { cause: err });
    case 'ENOTSOCK':
      return new UdsbusError('DISCONNECTED', `${path} is not a socket: check --socket / UDSBUS_SOCKET`, { cause: err });
    default:
      return new UdsbusError('DISCONNECTED', `cannot connect to ${path}: ${err.message}`, { cause: err });
  }
}

function describeAccess(path: string): string {
  let st;
  try {
    st = statSync(path);
  } catch {
    return 'your user may not open the socket (check its owner, group and mode)';
  }
  const mode = (st.mode & 0o777).toString(8).padStart(4, '0');
  return `the socket is owned by uid ${st.uid}, gid ${st.gid}, mode ${mode}; run as that user or add your user to group ${st.gid}`;
}

// Socket reads land in slices of 256 KiB slabs (net's `onread`), not in a fresh 64 KiB buffer per
// read: one allocation per several reads. A delivery's payload is a view into its slab, so the
// slab lives while any message read into it does, as a read buffer would.
const SLAB_BYTES = 256 * 1024;
const READ_BYTES = 64 * 1024;

function readSlabs(onChunk: (chunk: Buffer) => void): { buffer: () => Buffer; callback: (n: number, buf: Buffer) => boolean } {
  let slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
  let off = 0;
  return {
    buffer: () => {
      if (SLAB_BYTES - off < READ_BYTES) {
        slab = Buffer.allocUnsafeSlow(SLAB_BYTES);
        off = 0;
      }
      return slab.subarray(off, off + READ_BYTES);
    },
    callback: (n, buf) => {
      off += n;
      onChunk(buf.subarray(0, n));
      return true;
    },
  };
}
