/**
 * Structural check of one CBOR item against the protocol's portable subset (PROTOCOL.md §3),
 * run on bytes from other processes *before* cbor-x sees them: cbor-x accepts its own extension
 * tags (packed CBOR, shared references, records, bignums) that can blow a small frame up into
 * gigabytes or minutes of CPU, and has no strict mode. One pass, no allocation, no recursion.
 */
export type CborProblem = 'BAD_CBOR' | 'UNSUPPORTED_CBOR' | 'TOO_DEEP';

/** Returns null when buf[start, end) holds exactly one portable CBOR item. */
export function checkPortableCbor(
  buf: Uint8Array,
  start = 0,
  end = buf.length,
  maxNesting = 32,
): CborProblem | null {
  if (isWholeString(buf, start, end)) return null;
  let pos = start;
  // remaining[i]: items still expected in the i-th open container; depth 0 is the top level.
  const remaining: number[] = [1];
  let depth = 0;
  for (;;) {
    if (remaining[depth] === 0) {
      if (depth === 0) break;
      depth--;
      continue;
    }
    if (pos >= end) return 'BAD_CBOR';
    const ib = buf[pos++]!;
    const major = ib >> 5;
    const info = ib & 31;
    let arg: number;
    if (info < 24) {
      arg = info;
    } else if (info === 24) {
      if (pos + 1 > end) return 'BAD_CBOR';
      arg = buf[pos]!;
      pos += 1;
    } else if (info === 25) {
      if (pos + 2 > end) return 'BAD_CBOR';
      arg = (buf[pos]! << 8) | buf[pos + 1]!;
      pos += 2;
    } else if (info === 26) {
      if (pos + 4 > end) return 'BAD_CBOR';
      arg = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
      pos += 4;
    } else if (info === 27) {
      if (pos + 8 > end) return 'BAD_CBOR';
      const hi = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
      const lo = buf[pos + 4]! * 0x1000000 + ((buf[pos + 5]! << 16) | (buf[pos + 6]! << 8) | buf[pos + 7]!);
      // Only lengths use arg; anything this large cannot fit in a frame anyway.
      arg = hi > 0 ? Number.MAX_SAFE_INTEGER : lo;
      pos += 8;
    } else if (info === 31) {
      return 'UNSUPPORTED_CBOR'; // indefinite length or a stray break
    } else {
      return 'BAD_CBOR'; // 28-30 are reserved
    }
    remaining[depth]!--;
    switch (major) {
      case 0:
      case 1:
        break;
      case 2:
      case 3:
        if (arg > end - pos) return 'BAD_CBOR';
        pos += arg;
        break;
      case 4:
      case 5: {
        const items = major === 5 ? arg * 2 : arg;
        // Every item takes at least one byte: refuse counts that cannot fit before anything
        // downstream preallocates for them.
        if (items > end - pos) return 'BAD_CBOR';
        if (depth + 1 > maxNesting) return 'TOO_DEEP';
        if (items > 0) {
          depth++;
          remaining[depth] = items;
        }
        break;
      }
      case 6:
        return 'UNSUPPORTED_CBOR';
      default:
        // Major 7: false, true, null, undefined and the three float widths only.
        if (info < 24) {
          if (info < 20) return 'UNSUPPORTED_CBOR';
        } else if (info === 24) {
          return 'UNSUPPORTED_CBOR';
        }
    }
  }
  return pos === end ? null : 'BAD_CBOR';
}

/**
 * One byte or text string with a definite head of up to 4 bytes that fills [start, end) exactly:
 * the commonest payload (opaque bytes), answered without the general walk and its stack array.
 * Anything else, including a malformed string, is left to the walk, which names the problem.
 */
function isWholeString(buf: Uint8Array, start: number, end: number): boolean {
  if (start >= end) return false;
  const ib = buf[start]!;
  const major = ib >> 5;
  if (major !== 2 && major !== 3) return false;
  const info = ib & 31;
  let arg: number;
  let pos = start + 1;
  if (info < 24) arg = info;
  else if (info === 24 && pos + 1 <= end) arg = buf[pos++]!;
  else if (info === 25 && pos + 2 <= end) {
    arg = (buf[pos]! << 8) | buf[pos + 1]!;
    pos += 2;
  } else if (info === 26 && pos + 4 <= end) {
    arg = buf[pos]! * 0x1000000 + ((buf[pos + 1]! << 16) | (buf[pos + 2]! << 8) | buf[pos + 3]!);
    pos += 4;
  } else return false;
  return arg === end - pos;
}
