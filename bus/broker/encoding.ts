/**
 * The two encodings a connection can speak (PROTOCOL.md §1, §15), as one object each: chosen by
 * the peer's first byte, then asked for everything that differs — how to parse input, how to
 * encode a control frame, how big a `msg` delivery is and how to write it. The rest of the broker
 * never branches on JSON versus CBOR.
 */
import { encodeFrame } from '../protocol/codec.js';
import { encodeJsonFrame, LineParser } from '../protocol/json-mode.js';
import { FrameParser, type ParseError } from '../protocol/parser.js';
import { jsonMsgFrameSize, msgFrameSize, refTail, writeJsonMsgFrame, writeMsgFrame, type Published } from './message.js';

export interface InputParser {
  push(chunk: Buffer): void;
  stop(): void;
  readonly midFrame: boolean;
}

export interface WireEncoding {
  readonly name: 'cbor' | 'json';
  /**
   * A parser for this encoding's frames (CBOR bodies or JSON lines). `onFrameAt`, where the
   * encoding can, hands a frame over in place in the chunk it arrived in (FrameParser).
   */
  parser(maxFrameBytes: number, onFrame: (body: Buffer) => void, onError: (e: ParseError) => void, onFrameAt?: (buf: Buffer, start: number, end: number) => void): InputParser;
  /** A whole control frame (length prefix or newline included). */
  control(frame: object): Buffer;
  /** Bytes of one `msg` delivery. */
  msgSize(sid: number, seq: number, msg: Published): number;
  /** Writes one `msg` delivery at `off`; returns the offset after it. */
  writeMsg(buf: Buffer, off: number, sid: number, seq: number, msg: Published): number;
}

export const CBOR_ENCODING: WireEncoding = {
  name: 'cbor',
  parser: (max, onFrame, onError, onFrameAt) => new FrameParser(max, onFrame, onError, onFrameAt),
  control: encodeFrame,
  msgSize: msgFrameSize,
  writeMsg: writeMsgFrame,
};

/** CBOR for a connection that said `fromRefs` in hello: a plain message's `from` as `fref` (§7). */
export const CBOR_REFS_ENCODING: WireEncoding = {
  ...CBOR_ENCODING,
  msgSize: (sid, seq, msg) => msgFrameSize(sid, seq, msg, refTail(msg)),
  writeMsg: (buf, off, sid, seq, msg) => writeMsgFrame(buf, off, sid, seq, msg, refTail(msg)),
};

export const JSON_ENCODING: WireEncoding = {
  name: 'json',
  parser: (max, onFrame, onError) => new LineParser(max, onFrame, onError),
  control: encodeJsonFrame,
  msgSize: jsonMsgFrameSize,
  writeMsg: writeJsonMsgFrame,
};
