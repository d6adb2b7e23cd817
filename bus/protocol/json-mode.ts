/**
 * The newline-delimited JSON encoding (PROTOCOL.md §15) for clients that cannot speak CBOR: a
 * shell with socat, a stdlib-only script. Frames carry the same fields; payloads are JSON values
 * and byte strings are written as {"$bytes": "<hex>"} — the same rendering the CLI uses.
 */
import { Buffer } from 'node:buffer';
import { encodeValue, decodeValue } from './codec.js';
import { UdsbusError } from './errors.js';

/** A JSON-safe rendering of a decoded CBOR value. */
export function toJsonValue(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(toJsonValue);
  if (v instanceof Map) return Object.fromEntries([...v].map(([k, x]) => [String(k), toJsonValue(x)]));
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) out[k] = toJsonValue(x);
    return out;
  }
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number' && !Number.isFinite(v)) return null;
  return v;
}

const HEX = /^(?:[0-9a-fA-F]{2})*$/;

/** The inverse: {"$bytes": hex} becomes a byte string again. */
export function fromJsonValue(v: unknown, maxNesting = Number.POSITIVE_INFINITY, depth = 0): unknown {
  // Checked on the way down: a deep document must end in TOO_DEEP, not in a stack overflow.
  if (v === null || typeof v !== 'object') return v;
  if (depth > maxNesting) throw new UdsbusError('TOO_DEEP', `payload nests deeper than ${maxNesting} levels`);
  if (Array.isArray(v)) return v.map((x) => fromJsonValue(x, maxNesting, depth + 1));
  const o = v as Record<string, unknown>;
  const keys = Object.keys(o);
  if (keys.length === 1 && keys[0] === '$bytes' && typeof o.$bytes === 'string' && HEX.test(o.$bytes)) return Buffer.from(o.$bytes, 'hex');
  const out: Record<string, unknown> = {};
  for (const k of keys) out[k] = fromJsonValue(o[k], maxNesting, depth + 1);
  return out;
}

/** Payload bytes (CBOR) as JSON text; bytes that are not portable CBOR are shown as $bytes. */
export function payloadToJsonText(bytes: Uint8Array): string | undefined {
  if (bytes.length === 0) return undefined;
  let value: unknown;
  try {
    value = toJsonValue(decodeValue(bytes));
  } catch {
    value = { $bytes: Buffer.from(bytes).toString('hex') };
  }
  return JSON.stringify(value);
}

/** A JSON frame's `payload` (absent = empty) as CBOR bytes. */
export function payloadFromJson(frame: Record<string, unknown>, maxNesting: number): Buffer {
  if (!('payload' in frame)) return Buffer.alloc(0);
  return encodeValue(fromJsonValue(frame.payload, maxNesting), maxNesting);
}

/** A control frame as one JSON line. */
export function encodeJsonFrame(frame: object): Buffer {
  return Buffer.from(`${JSON.stringify(toJsonValue(frame))}\n`);
}

/**
 * Splits a byte stream into lines without holding more than maxLine bytes of an unfinished one.
 */
export class LineParser {
  private parts: Buffer[] = [];
  private len = 0;
  private stopped = false;

  constructor(
    private readonly maxLine: number,
    private readonly onLine: (line: Buffer) => void,
    private readonly onError: (err: { code: 'FRAME_TOO_LARGE'; text: string }) => void,
  ) {}

  /** True while a line has begun and not ended (the frame deadline runs). */
  get midFrame(): boolean {
    return this.len > 0;
  }

  get pendingBytes(): number {
    return this.len;
  }

  stop(): void {
    this.stopped = true;
    this.parts = [];
  }

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.stopped) {
      const nl = chunk.indexOf(0x0a, pos);
      const end = nl < 0 ? chunk.length : nl;
      if (this.len + (end - pos) > this.maxLine) {
        this.stopped = true;
        this.onError({ code: 'FRAME_TOO_LARGE', text: `JSON line longer than maxFrameBytes ${this.maxLine}` });
        return;
      }
      if (nl < 0) {
        this.parts.push(chunk.subarray(pos));
        this.len += chunk.length - pos;
        return;
      }
      let line = chunk.subarray(pos, nl);
      if (this.parts.length > 0) {
        this.parts.push(line);
        line = Buffer.concat(this.parts, this.len + line.length);
        this.parts = [];
        this.len = 0;
      }
      pos = nl + 1;
      if (line.length > 0 && !(line.length === 1 && line[0] === 0x0d)) this.onLine(line);
    }
  }
}
