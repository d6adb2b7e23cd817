/**
 * The message object a subscriber receives: fields read from the `msg` frame, the payload decoded
 * lazily. Its own module so the client face stays small and the per-message class is easy to find.
 */
import { decodeCheckedValue, type DecodedFrame } from '../protocol/codec.js';
import type { MsgFrame } from '../protocol/msg-reader.js';
import type { Message, Origin } from './types.js';

/**
 * A delivered message. The payload's bytes were checked on arrival; they are decoded on the first
 * read of `payload` (and kept), so a subscriber that only counts, forwards or stores bytes never
 * pays for decoding.
 */
export class Received implements Message {
  readonly topic: string;
  readonly bytes: Uint8Array;
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

  constructor(
    f: DecodedFrame | MsgFrame,
    bytes: Uint8Array,
    readonly lost: number,
  ) {
    this.topic = f.topic as string;
    this.bytes = bytes;
    this.sid = f.sid as number;
    this.seq = (f.seq as number | undefined) ?? 0;
    this.retained = f.retained === true;
    this.reply = f.reply as string | undefined;
    this.hdr = f.hdr as Record<string, string> | undefined;
    this.from = f.from as Origin | undefined;
    this.mid = f.mid as number | undefined;
    this.redelivered = f.redelivered === true;
  }

  get payload(): unknown {
    if (!this.decoded) {
      // Checked in onMsg with this connection's maxNesting before the message was made.
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
