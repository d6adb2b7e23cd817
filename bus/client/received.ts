/**
 * The message object a subscriber receives: fields read from the `msg` frame, the payload decoded
 * lazily. Its own module so the client face stays small and the per-message class is easy to find.
 */
import { decodeCheckedValue } from '../protocol/codec.js';
import type { MsgFields } from '../protocol/msg-reader.js';
import type { Message, Origin } from './types.js';

/**
 * A delivered message. The payload's bytes were checked on arrival; they are decoded on the first
 * read of `payload` (and kept), so a subscriber that only counts, forwards or stores bytes never
 * pays for decoding.
 */
export class Received implements Message {
  readonly topic: string;
  readonly sid: number;
  readonly seq: number;
  readonly retained: boolean;
  readonly reply: string | undefined;
  readonly hdr: Readonly<Record<string, string>> | undefined;
  readonly from: Origin | undefined;
  readonly mid: number | undefined;
  readonly redelivered: boolean;
  private decoded = false;
  private value: unknown;
  // The payload is buf[pstart..pend): a view is made only when asked for.
  private view: Uint8Array | undefined;
  private readonly buf: Uint8Array;
  private readonly pstart: number;
  private readonly pend: number;

  /** `f` is the reader's, reused for the next frame: every field is copied out here. */
  constructor(f: MsgFields, buf: Uint8Array, readonly lost: number) {
    this.topic = f.topic;
    this.sid = f.sid;
    this.seq = f.seq;
    this.retained = f.retained;
    this.reply = f.reply;
    this.hdr = f.hdr;
    this.from = f.from as Origin | undefined;
    this.mid = f.mid;
    this.redelivered = f.redelivered;
    this.buf = buf;
    this.pstart = f.pstart;
    this.pend = f.pend;
  }

  /** The payload's CBOR bytes (a view into what was read; not copied). */
  get bytes(): Uint8Array {
    if (this.view === undefined) {
      const b = this.buf;
      this.view = this.pstart === 0 && this.pend === b.length ? b : b.subarray(this.pstart, this.pend);
    }
    return this.view;
  }

  get size(): number {
    return this.pend - this.pstart;
  }

  get payload(): unknown {
    if (!this.decoded) {
      // Checked on arrival with this connection's maxNesting before the message was made.
      this.value = decodeCheckedValue(this.bytes);
      this.decoded = true;
    }
    return this.value;
  }

  /** Plain data for logs and JSON: the payload as its value. */
  toJSON(): Record<string, unknown> {
    return { topic: this.topic, payload: this.payload, sid: this.sid, seq: this.seq, retained: this.retained, reply: this.reply, hdr: this.hdr, lost: this.lost, from: this.from, mid: this.mid, redelivered: this.redelivered };
  }
}
