/**
 * Bus payloads are CBOR, which has values JSON lacks. For JSON output (audit records, webhook
 * bodies) they are written in an explicit, reversible form instead of being lost or mangled:
 * byte strings as {"$bytes": "<hex>"}, non-finite floats as {"$float": "NaN"}, big integers as
 * {"$bigint": "<decimal>"}, undefined as {"$undefined": true}.
 */
export function toJsonSafe(v: unknown, depth = 0): unknown {
  if (depth > 64) return { $error: 'too deep' };
  if (v === undefined) return { $undefined: true };
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : { $float: String(v) };
  if (typeof v === 'bigint') return { $bigint: v.toString() };
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map((x) => toJsonSafe(x, depth + 1));
  if (v instanceof Map) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of v) out[String(k)] = toJsonSafe(x, depth + 1);
    return out;
  }
  if (typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) out[k] = toJsonSafe(x, depth + 1);
    return out;
  }
  return String(v);
}
