/**
 * What arrives from the broker, sent where it belongs: deliveries to their subscription or to a
 * waiting request, `ok` and `err` to the request or subscription that caused them, `loss` notices
 * to the subscription that lost. A payload is checked here, once, on arrival (one pass, no
 * allocation) and decoded only when the application reads it.
 */
import { checkPortableCbor } from '../protocol/cbor-check.js';
import { problemText, type DecodedFrame } from '../protocol/codec.js';
import { UdsbusError } from '../protocol/errors.js';
import type { MsgFrame } from '../protocol/msg-reader.js';
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

  /** A delivery, from the fixed-shape reader or the generic decoder. */
  msg(f: DecodedFrame | MsgFrame): void {
    const sid = f.sid as number;
    const bytes = f.payload as Uint8Array;
    const problem = bytes.length === 0 ? null : checkPortableCbor(bytes, 0, bytes.length, this.maxNesting());
    if (problem !== null) {
      this.error(new UdsbusError(problem, `payload rejected: ${problemText(problem)}`));
      return;
    }
    if (sid === this.requests.inboxSid) {
      this.requests.onReply(f.topic as string, () => new Received(f, bytes, 0));
      return;
    }
    this.subs.deliver(sid, f, bytes);
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
