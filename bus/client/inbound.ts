/**
 * What arrives from the broker, sent where it belongs: deliveries to their subscription or to a
 * waiting request, `ok` and `err` to the request or subscription that caused them, `loss` notices
 * to the subscription that lost. A payload is checked here, once, on arrival (one pass, no
 * allocation) and decoded only when the application reads it.
 */
import { checkPortableCbor } from '../protocol/cbor-check.js';
import { problemText, type DecodedFrame } from '../protocol/codec.js';
import { UdsbusError } from '../protocol/errors.js';
import { MsgFields, type FromMap } from '../protocol/msg-reader.js';
import { Received } from './received.js';
import type { Requests } from './requests.js';
import type { Subscriptions } from './subscriptions.js';

export class Inbound {
  constructor(
    private readonly subs: Subscriptions,
    private readonly requests: Requests,
    /** The connection's current nesting limit (from `welcome`). */
    private readonly maxNesting: () => number,
    /** Errors nobody in particular waits for. */
    private readonly error: (err: UdsbusError) => void,
  ) {}

  /** A frame the generic decoder read. */
  frame(f: DecodedFrame): void {
    switch (f.op) {
      case 'msg':
        return this.msg(f);
      case 'ok':
        if (typeof f.id === 'number') this.requests.onOk(f.id);
        return;
      case 'loss':
        return this.subs.onLoss(f);
      case 'err':
        return this.err(f);
      default:
        return; // unknown ops from a newer broker are ignored
    }
  }

  /** A delivery the generic decoder read (a layout the fixed-shape reader does not take). */
  msg(f: DecodedFrame): void {
    const m = new MsgFields();
    const payload = f.payload as Uint8Array;
    m.sid = f.sid as number;
    m.seq = (f.seq as number | undefined) ?? 0;
    m.topic = f.topic as string;
    m.pstart = 0;
    m.pend = payload.length;
    m.reply = f.reply as string | undefined;
    m.hdr = f.hdr as Record<string, string> | undefined;
    m.retained = f.retained === true;
    m.from = f.from as FromMap | undefined;
    m.mid = f.mid as number | undefined;
    m.redelivered = f.redelivered === true;
    this.msgAt(m, payload);
  }

  /** A delivery: its fields, and its payload at `f.pstart..f.pend` of `buf`. */
  msgAt(f: MsgFields, buf: Uint8Array): void {
    const problem = f.pend === f.pstart ? null : checkPortableCbor(buf, f.pstart, f.pend, this.maxNesting());
    if (problem !== null) {
      this.error(new UdsbusError(problem, `payload rejected: ${problemText(problem)}`));
      return;
    }
    if (f.sid === this.requests.inboxSid) {
      this.requests.onReply(f.topic, new Received(f, buf, 0));
      return;
    }
    this.subs.deliver(f, buf);
  }

  private err(f: DecodedFrame): void {
    const err = new UdsbusError(f.code as number, String(f.text ?? ''), {
      id: f.id as number | undefined,
      sid: f.sid as number | undefined,
      fatal: f.fatal === true,
    });
    if (typeof f.id === 'number' && this.requests.onError(f.id, err)) return;
    if (typeof f.sid === 'number' && this.subs.onError(f.sid, err)) return;
    this.error(err);
  }
}
