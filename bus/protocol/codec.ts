/**
 * The one codec shared by broker and client: frames are a 4-byte big-endian length and one CBOR
 * item from the portable subset. No side knows which side it is on.
 */
import { Buffer } from 'node:buffer';
// cbor-x/decode is cbor-x without its native string extractor (see cbor-native.ts).
import { Decoder, Encoder } from 'cbor-x/decode';
import { checkPortableCbor, type CborProblem } from './cbor-check.js';
import { UdsbusError } from './errors.js';

// cbor-x defaults add its own tags (records, typed arrays, tag 259 maps); none may reach the wire.
const encoder = new Encoder({
  useRecords: false,
  tagUint8Array: false,
  // @ts-expect-error: a real option (cbor-x encode.js) missing from its typings.
  useTag259ForMaps: false,
  pack: false,
  structuredClone: false,
  variableMapSize: true,
  bundleStrings: false,
});
// One decoder for all connections is safe only because records are off: no state carries over.
// int64AsNumber (a real option missing from cbor-x's typings): an integer is the same value
// whatever width it was encoded in (PROTOCOL.md §3).
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true, bundleStrings: false, int64AsNumber: true } as ConstructorParameters<typeof Decoder>[0]);

export const EMPTY = Buffer.alloc(0);

/** Encodes one application value into portable CBOR bytes, or throws UNSUPPORTED_CBOR. */
export function encodeValue(value: unknown, maxNesting = 32): Buffer {
  if (value === undefined) return EMPTY;
  let bytes: Buffer;
  try {
    bytes = encoder.encode(value);
  } catch (err) {
    throw new UdsbusError('UNSUPPORTED_CBOR', `payload cannot be encoded as CBOR: ${(err as Error).message}`, { cause: err });
  }
  const problem = checkPortableCbor(bytes, 0, bytes.length, maxNesting);
  if (problem !== null) {
    throw new UdsbusError(
      problem,
      'payload uses CBOR outside the portable subset (Date, Set, typed arrays other than Uint8Array, bigints beyond 64 bits, or nesting too deep); send plain maps, arrays, strings, numbers and byte strings',
    );
  }
  return bytes;
}

/** Decodes payload bytes after checking them; empty bytes decode to undefined. */
export function decodeValue(bytes: Uint8Array, maxNesting = 32): unknown {
  if (bytes.length === 0) return undefined;
  const problem = checkPortableCbor(bytes, 0, bytes.length, maxNesting);
  if (problem !== null) throw new UdsbusError(problem, `payload rejected: ${problemText(problem)}`);
  return decoder.decode(bytes);
}

/**
 * Decodes payload bytes that `checkPortableCbor` has already passed (the client checks them on
 * arrival and decodes on first read): the check is not run twice on the subscriber's hot path.
 */
export function decodeCheckedValue(bytes: Uint8Array): unknown {
  return bytes.length === 0 ? undefined : decoder.decode(bytes);
}

/** Encodes a frame map with its length prefix. */
export function encodeFrame(frame: object): Buffer {
  const body = encoder.encode(frame);
  const out = Buffer.allocUnsafe(body.length + 4);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

export type DecodedFrame = { readonly op?: unknown; readonly [key: string]: unknown };

export type FrameResult = { ok: true; frame: DecodedFrame } | { ok: false; problem: CborProblem | 'BAD_FRAME'; text: string };

/**
 * Checks and decodes a frame body (without its length prefix). Byte strings in the result are
 * views into `body`, not copies; copy what must outlive the read buffer.
 */
export function decodeFrame(body: Uint8Array, maxNesting = 32): FrameResult {
  const problem = checkPortableCbor(body, 0, body.length, maxNesting);
  if (problem !== null) return { ok: false, problem, text: problemText(problem) };
  let frame: unknown;
  try {
    frame = decoder.decode(body);
  } catch (err) {
    return { ok: false, problem: 'BAD_CBOR', text: `undecodable CBOR: ${(err as Error).message}` };
  }
  if (frame === null || typeof frame !== 'object' || Array.isArray(frame) || frame instanceof Uint8Array || frame instanceof Map) {
    return { ok: false, problem: 'BAD_FRAME', text: 'a frame must be a CBOR map with text keys' };
  }
  return { ok: true, frame: frame as DecodedFrame };
}

export function problemText(problem: CborProblem): string {
  switch (problem) {
    case 'BAD_CBOR':
      return 'not one well-formed CBOR item (truncated, trailing bytes or a reserved head)';
    case 'UNSUPPORTED_CBOR':
      return 'CBOR outside the portable subset: tags and indefinite lengths are not allowed (PROTOCOL.md §3)';
    case 'TOO_DEEP':
      return 'CBOR nested deeper than maxNesting';
  }
}
