/**
 * Request/reply on the client (PROTOCOL.md §8): one inbox subscription per client, a token per
 * request, answers matched by token (replies) or by frame id (NO_RESPONDERS and other refusals),
 * timeouts created where the call is made; serving in a queue group with the reply envelope; and
 * publisher confirms, which are answered by id the same way.
 */
import { randomBytes } from 'node:crypto';
import type { Subscription } from 'rxjs';
import { NoRespondersError, RemoteError, TimeoutError, UdsbusError } from '../protocol/errors.js';
import { encodeValue } from '../protocol/codec.js';
import type { Subscriptions } from './subscriptions.js';
import type { Transport } from './transport.js';
import type { Message } from './types.js';

type PendingRequest = { resolve: (m: Message) => void; reject: (e: Error) => void; timer: NodeJS.Timeout; id: number };

export type RequestOptions = { timeout?: number; hdr?: Record<string, string> };

export interface RequestHost {
  readonly transport: Transport;
  readonly subscriptions: Subscriptions;
  readonly requestTimeoutMs: number;
  checkTopic(topic: string, request: boolean): void;
  publish(topic: string, payload: unknown, opts: { hdr?: Record<string, string> }): void;
  error(err: Error): void;
}

export class Requests {
  readonly inbox = `_INBOX.${randomBytes(6).toString('hex')}`;
  /** The inbox subscription's sid, 0 until the first request. */
  inboxSid = 0;
  private reqSeq = 0;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly byId = new Map<number, string>();
  private readonly confirms = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(private readonly host: RequestHost) {}

  /** After a welcome: the inbox again (before buffered requests are replayed). */
  resubscribe(): void {
    if (this.inboxSid !== 0) this.host.subscriptions.sendSub(this.inboxSid, `${this.inbox}.>`, { retained: false });
  }

  // ---- requests ---------------------------------------------------------------------------

  async request<T>(topic: string, payload: unknown, opts: RequestOptions): Promise<T> {
    const msg = await this.requestMessage(topic, payload, opts);
    const p = msg.payload as { ok?: unknown; result?: unknown; error?: { code?: unknown; message?: unknown; data?: unknown } } | undefined;
    // The reply envelope of PROTOCOL.md §8; a reply without it is returned as it is.
    if (p !== null && typeof p === 'object' && typeof p.ok === 'boolean') {
      if (p.ok) return p.result as T;
      const e = p.error ?? {};
      throw new RemoteError(String(e.code ?? 'internal'), String(e.message ?? ''), e.data);
    }
    return msg.payload as T;
  }

  requestMessage(topic: string, payload: unknown, opts: RequestOptions): Promise<Message> {
    const h = this.host;
    const timeout = opts.timeout ?? h.requestTimeoutMs;
    // Created here so its stack points at the caller.
    const timeoutError = new TimeoutError(`no reply to "${topic}" within ${timeout} ms`);
    h.checkTopic(topic, true);
    const bytes = encodeValue(payload, h.transport.limits.maxNesting);
    if (this.inboxSid === 0) {
      this.inboxSid = h.subscriptions.nextSid();
      h.subscriptions.sendSub(this.inboxSid, `${this.inbox}.>`, { retained: false });
    }
    const token = (++this.reqSeq).toString(36);
    const id = h.transport.nextId();
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(token);
        this.byId.delete(id);
        reject(timeoutError);
      }, timeout);
      this.pending.set(token, { resolve, reject, timer, id });
      this.byId.set(id, token);
      try {
        h.transport.sendPub({ topic, payload: bytes, reply: `${this.inbox}.${token}`, hdr: opts.hdr, id });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(token);
        this.byId.delete(id);
        reject(err as Error);
      }
    });
  }

  /** A message on the inbox subscription: the reply to one of our requests. */
  onReply(topic: string, msg: Message): void {
    const token = topic.slice(this.inbox.length + 1);
    const req = this.pending.get(token);
    if (req === undefined) return;
    this.pending.delete(token);
    this.byId.delete(req.id);
    clearTimeout(req.timer);
    req.resolve(msg);
  }

  // ---- confirms ---------------------------------------------------------------------------

  /** Publish with confirm: resolves once the broker has stored the message durably. */
  confirm(frameFor: (id: number) => Buffer): Promise<void> {
    const id = this.host.transport.nextId();
    const frame = frameFor(id);
    return new Promise<void>((resolve, reject) => {
      this.confirms.set(id, { resolve, reject });
      try {
        this.host.transport.send(frame);
      } catch (err) {
        this.confirms.delete(id);
        reject(err as Error);
      }
    });
  }

  /** `ok` for an id: a confirm resolves; a request's `ok` only means it was routed. */
  onOk(id: number): void {
    const c = this.confirms.get(id);
    if (c !== undefined) {
      this.confirms.delete(id);
      c.resolve();
      return;
    }
    this.byId.delete(id);
  }

  /** `err` for an id: the confirm or request it answers fails; false when the id is not ours. */
  onError(id: number, err: UdsbusError): boolean {
    const c = this.confirms.get(id);
    if (c !== undefined) {
      this.confirms.delete(id);
      c.reject(err);
      return true;
    }
    const token = this.byId.get(id);
    if (token === undefined) return false;
    this.byId.delete(id);
    const req = this.pending.get(token);
    if (req) {
      this.pending.delete(token);
      clearTimeout(req.timer);
      req.reject(err.codeName === 'NO_RESPONDERS' ? new NoRespondersError(err.message.replace(/^NO_RESPONDERS: /, ''), id) : err);
    }
    return true;
  }

  /** The connection dropped: a confirm in flight may or may not have been stored. */
  onLost(): void {
    for (const c of this.confirms.values()) c.reject(new UdsbusError('DISCONNECTED', 'connection lost before the broker confirmed the message; publish it again'));
    this.confirms.clear();
  }

  /** The client closed for good: every open request fails. */
  onFinished(): void {
    const err = new UdsbusError('DISCONNECTED', 'the client was closed');
    for (const r of this.pending.values()) {
      clearTimeout(r.timer);
      r.reject(err);
    }
    this.pending.clear();
  }

  // ---- serving ----------------------------------------------------------------------------

  serve<Req, Res>(pattern: string, handler: (req: Message<Req>) => Res | Promise<Res>, queue: string): Subscription {
    return this.host.subscriptions.observable<Req>(pattern, { queue, retained: false }).subscribe((req) => {
      if (req.reply === undefined) return;
      const to = req.reply;
      void (async () => {
        let reply: unknown;
        let hdr: Record<string, string> | undefined;
        try {
          reply = { ok: true, result: await handler(req) };
        } catch (err) {
          const e = err as { code?: unknown; message?: unknown; data?: unknown };
          const error: Record<string, unknown> = { code: typeof e.code === 'string' ? e.code : 'internal', message: String(e.message ?? err) };
          if (e.data !== undefined) error.data = e.data;
          reply = { ok: false, error };
          hdr = { status: 'error' };
        }
        try {
          this.host.publish(to, reply, hdr === undefined ? {} : { hdr });
        } catch (sendErr) {
          // A result or error data that cannot be encoded still gets a failure reply, as in the
          // Python and Go clients; only a closed connection leaves the requester to time out.
          try {
            this.host.publish(to, { ok: false, error: { code: 'internal', message: `the reply could not be encoded: ${(sendErr as Error).message}` } }, { hdr: { status: 'error' } });
          } catch {
            // disconnected: nothing can be sent
          }
          this.host.error(sendErr as Error);
        }
      })();
    });
  }
}
