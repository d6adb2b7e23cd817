/**
 * CRC-32 (IEEE 802.3, the zlib/PNG/gzip polynomial) for durable-log records.
 *
 * Node ≥ 20.15 has a native `zlib.crc32`; `engines` still admits older Node 20 releases, so a
 * table-driven fallback computes the same function there. A test pins the two together.
 */
import * as zlib from 'node:zlib';

let table: Uint32Array | undefined;

function makeTable(): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

/** The portable implementation; exported so tests can compare it with the native one. */
export function crc32Table(data: Uint8Array, start = 0, end = data.length): number {
  const t = (table ??= makeTable());
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = t[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** CRC-32 of `data` (a view; pass a subarray to checksum part of a buffer). */
export const crc32: (data: Uint8Array) => number =
  typeof native === 'function' ? (data) => native(data) >>> 0 : (data) => crc32Table(data);

/** True when the native zlib.crc32 is in use (Node ≥ 20.15). */
export const nativeCrc32 = typeof native === 'function';
