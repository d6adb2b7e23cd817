/**
 * A published message as the broker routes it. The part of a `msg` frame that is the same for
 * every subscriber (topic, payload, reply, headers, retained flag) is encoded once, at publish;
 * each delivery only adds its own head (length, map size, `op`, `sid`, `seq`).
 */
import { Buffer } from 'node:buffer';
import { asciiSize, copyInto, headSize, key, writeAscii, writeBytes, writeHead } from '../protocol/cbor-writer.js';
import { encodeValue } from '../protocol/codec.js';
import { payloadToJsonText } from '../protocol/json-mode.js';

const K_OP = key('op');
const V_MSG = key('msg');
const K_SID = key('sid');
const K_SEQ = key('seq');
const K_TOPIC = key('topic');
const K_PAYLOAD = key('payload');
const K_REPLY = key('reply');
const K_HDR = key('hdr');
const K_RETAINED = key('retained');
const K_FROM = key('from');
const K_MID = key('mid');
const K_REDELIVERED = key('redelivered');
const K_FREF = key('fref');

/** Who published: the connection's `from` map, pre-encoded for both encodings. */
export type Origin = {
  readonly cid: string;
  readonly cbor: Buffer;
  readonly json: string;
  /** The `from` pair as a `msg` map ends with it (fromTail), made once per connection. */
  tail?: Buffer;
  /** For connections that take `from` by reference (§7): the number, made on first use. */
  ref?: number;
  /** `fref` and the number: the tail of a borrowed message for such connections. */
  refTail?: Buffer;
  /** The `who` frame that tells a connection what `ref` stands for. */
  who?: Buffer;
  /** The connections that were told (each is told `forget` when this publisher goes). */
  holders?: Set<{ forget(o: Origin): void }>;
};

const NO_TAIL = new Uint8Array(0);

/** The `from` key and map, for messages whose body is borrowed. */
function fromTail(origin: Origin): Buffer {
  return (origin.tail = Buffer.concat([K_FROM, origin.cbor]));
}
const CBOR_TRUE = 0xf5;

// References are numbered per process: unique for a broker's lifetime, as §7 asks.
let nextRef = 0;

function refOf(o: Origin): number {
  return (o.ref ??= ++nextRef);
}

/** The `from` of a borrowed message as a reference (`fref`), for connections that asked. */
export function refTail(msg: Published): Uint8Array {
  if (msg.tail.length === 0) return msg.tail;
  const o = msg.origin!;
  if (o.refTail !== undefined) return o.refTail;
  const ref = refOf(o);
  const b = Buffer.allocUnsafe(K_FREF.length + headSize(ref));
  b.set(K_FREF, 0);
  writeHead(b, K_FREF.length, 0, ref);
  return (o.refTail = b);
}

const K_OP_WHO = Buffer.concat([K_OP, key('who'), key('ref')]);
const K_OP_FORGET = Buffer.concat([K_OP, key('forget'), key('ref')]);

/** `{op: "who", ref, from}`, whole (length prefix included), made once per publisher. */
export function whoFrame(o: Origin): Buffer {
  return (o.who ??= refFrame(K_OP_WHO, o, true));
}

/** `{op: "forget", ref}`: the publisher is gone, and the number will not come again. */
export function forgetFrame(o: Origin): Buffer {
  return refFrame(K_OP_FORGET, o, false);
}

/** `prefix` (`op`, its value, the `ref` key), the reference, then `from` when asked for. */
function refFrame(prefix: Buffer, o: Origin, withFrom: boolean): Buffer {
  const ref = refOf(o);
  const n = 1 + prefix.length + headSize(ref) + (withFrom ? K_FROM.length + o.cbor.length : 0);
  const b = Buffer.allocUnsafe(4 + n);
  b.writeUInt32BE(n, 0);
  b[4] = withFrom ? 0xa3 : 0xa2;
  b.set(prefix, 5);
  const off = writeHead(b, 5 + prefix.length, 0, ref);
  if (withFrom) {
    b.set(K_FROM, off);
    b.set(o.cbor, off + K_FROM.length);
  }
  return b;
}

export class Published {
  /** The shared part of the `msg` map: `pairs` key/value pairs, already CBOR (with `tail`). */
  readonly body: Uint8Array;
  /** Pairs after `body`: the publisher's `from` when `body` is borrowed; else empty. */
  readonly tail: Uint8Array;
  readonly pairs: number;
  // Where the payload lies in `body`: the view is made only when retained, durable or JSON
  // delivery asks for it, not for every routed message.
  private readonly pstart: number;
  private readonly pend: number;
  private view: Uint8Array | undefined;

  constructor(
    readonly topic: string,
    payload: Uint8Array,
    readonly reply: string | undefined,
    readonly hdr: Readonly<Record<string, string>> | undefined,
    readonly retained: boolean,
    /** The publishing connection; undefined for the broker's own messages. */
    readonly origin: Origin | undefined,
    /** For deliveries from a durable queue: the stable message id. */
    readonly durable?: { readonly mid: number; readonly redelivered: boolean },
    /**
     * The pub frame's `topic` and `payload` pairs (pub-reader.ts `shared`): for a plain message
     * from a client they are the start of the `msg` map already, so they are borrowed instead of
     * copied, and `from` follows as the tail. No copy per publish. The view into the socket's
     * read buffer is valid while the message is routed and batched, and nothing keeps it longer:
     * a delivery that has to wait is queued as a finished frame (out-ring.ts).
     */
    shared?: Uint8Array,
  ) {
    if (shared !== undefined && origin !== undefined && reply === undefined && hdr === undefined && !retained && durable === undefined) {
      this.body = shared;
      this.tail = origin.tail ?? fromTail(origin);
      this.pairs = 3;
      this.pstart = shared.length - payload.length;
      this.pend = shared.length;
      return;
    }
    this.tail = NO_TAIL;
    const hdrBytes = hdr === undefined ? undefined : encodeValue(hdr);
    let size = K_TOPIC.length + asciiSize(topic) + K_PAYLOAD.length + headSize(payload.length) + payload.length;
    let pairs = 2;
    if (reply !== undefined) {
      size += K_REPLY.length + asciiSize(reply);
      pairs++;
    }
    if (hdrBytes !== undefined) {
      size += K_HDR.length + hdrBytes.length;
      pairs++;
    }
    if (retained) {
      size += K_RETAINED.length + 1;
      pairs++;
    }
    if (origin !== undefined) {
      size += K_FROM.length + origin.cbor.length;
      pairs++;
    }
    if (durable !== undefined) {
      size += K_MID.length + headSize(durable.mid);
      pairs++;
      if (durable.redelivered) {
        size += K_REDELIVERED.length + 1;
        pairs++;
      }
    }
    const body = Buffer.allocUnsafe(size);
    body.set(K_TOPIC, 0);
    let off = K_TOPIC.length;
    off = writeAscii(body, off, topic);
    body.set(K_PAYLOAD, off);
    off = writeBytes(body, off + K_PAYLOAD.length, payload);
    this.pstart = off - payload.length;
    this.pend = off;
    if (reply !== undefined) {
      body.set(K_REPLY, off);
      off = writeAscii(body, off + K_REPLY.length, reply);
    }
    if (hdrBytes !== undefined) {
      body.set(K_HDR, off);
      off += K_HDR.length;
      body.set(hdrBytes, off);
      off += hdrBytes.length;
    }
    if (retained) {
      body.set(K_RETAINED, off);
      off += K_RETAINED.length;
      body[off++] = CBOR_TRUE;
    }
    if (origin !== undefined) {
      body.set(K_FROM, off);
      off += K_FROM.length;
      body.set(origin.cbor, off);
      off += origin.cbor.length;
    }
    if (durable !== undefined) {
      body.set(K_MID, off);
      off = writeHead(body, off + K_MID.length, 0, durable.mid);
      if (durable.redelivered) {
        body.set(K_REDELIVERED, off);
        off += K_REDELIVERED.length;
        body[off++] = CBOR_TRUE;
      }
    }
    this.body = body;
    this.pairs = pairs;
  }

  /** The payload bytes, as a view into `body`. */
  get payload(): Uint8Array {
    this.view ??= this.body.subarray(this.pstart, this.pend);
    return this.view;
  }

  private json: Buffer | undefined;

  /**
   * The shared part of the message for JSON-mode subscribers, built on first use: once per
   * message per encoding, not once per subscriber.
   */
  jsonPart(): Buffer {
    if (this.json !== undefined) return this.json;
    let s = `"topic":${JSON.stringify(this.topic)}`;
    const p = payloadToJsonText(this.payload);
    if (p !== undefined) s += `,"payload":${p}`;
    if (this.reply !== undefined) s += `,"reply":${JSON.stringify(this.reply)}`;
    if (this.hdr !== undefined) s += `,"hdr":${JSON.stringify(this.hdr)}`;
    if (this.retained) s += ',"retained":true';
    if (this.origin !== undefined) s += `,"from":${this.origin.json}`;
    if (this.durable !== undefined) s += `,"mid":${this.durable.mid}${this.durable.redelivered ? ',"redelivered":true' : ''}`;
    this.json = Buffer.from(`${s}}\n`);
    return this.json;
  }

  /** The same message as replayed from the retained store (flag set, no reply). */
  asRetained(): Published {
    return new Published(this.topic, this.payload, undefined, this.hdr, true, this.origin);
  }
}

const FIXED_HEAD = 4 + 1 + K_OP.length + V_MSG.length + K_SID.length + K_SEQ.length;
// `op`, "msg", `sid` (11 bytes) and `seq` (4) as big-endian words, written through a DataView:
// three stores (the last overlapping the second) instead of eleven byte stores.
const OP_MSG_SID = Buffer.concat([K_OP, V_MSG, K_SID]);
const OMS = new DataView(OP_MSG_SID.buffer, OP_MSG_SID.byteOffset, OP_MSG_SID.length);
const W0 = OMS.getInt32(0);
const W1 = OMS.getInt32(4);
const W2 = OMS.getInt32(OP_MSG_SID.length - 4);
const W_SEQ = new DataView(K_SEQ.buffer, K_SEQ.byteOffset, 4).getInt32(0);

// The batch buffer's DataView, made again only when the broker writes into another buffer.
let viewed: Uint8Array | undefined;
let view: DataView | undefined;

function viewOf(buf: Uint8Array): DataView {
  if (buf !== viewed) {
    viewed = buf;
    view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  return view!;
}

/**
 * Bytes of the whole `msg` frame (length prefix included) for one delivery. `tail` is the
 * message's own, or `refTail(msg)` for a connection that takes `from` by reference.
 */
export function msgFrameSize(sid: number, seq: number, msg: Published, tail: Uint8Array = msg.tail): number {
  return FIXED_HEAD + headSize(sid) + headSize(seq) + msg.body.length + tail.length;
}

/** Writes one `msg` frame at `off`; returns the offset after it. */
export function writeMsgFrame(buf: Buffer, off: number, sid: number, seq: number, msg: Published, tail: Uint8Array = msg.tail): number {
  const v = viewOf(buf);
  const start = off;
  // A msg map has at most 11 pairs: its head is one byte.
  v.setUint8(off + 4, 0xa0 | (msg.pairs + 3));
  v.setInt32(off + 5, W0);
  v.setInt32(off + 9, W1);
  v.setInt32(off + 5 + OP_MSG_SID.length - 4, W2);
  off = writeHead(buf, off + 5 + OP_MSG_SID.length, 0, sid);
  v.setInt32(off, W_SEQ);
  off = writeHead(buf, off + 4, 0, seq);
  off = copyInto(buf, off, msg.body);
  off = copyInto(buf, off, tail);
  v.setUint32(start, off - start - 4);
  return off;
}

/** JSON-mode delivery: `{"op":"msg","sid":N,"seq":M,` + the shared part. */
function jsonHead(sid: number, seq: number): string {
  return `{"op":"msg","sid":${sid},"seq":${seq},`;
}

export function jsonMsgFrameSize(sid: number, seq: number, msg: Published): number {
  return jsonHead(sid, seq).length + msg.jsonPart().length;
}

export function writeJsonMsgFrame(buf: Buffer, off: number, sid: number, seq: number, msg: Published): number {
  off += buf.write(jsonHead(sid, seq), off, 'latin1');
  const part = msg.jsonPart();
  part.copy(buf, off);
  return off + part.length;
}
