/**
 * Deterministic records for the durable-log tests: gen(n) is always the same record, so a
 * reader can tell whether what it finds on disk is exactly what some writer wrote. The record's
 * time is BASE_TIME + n, which is how a reader recovers n.
 */
export const BASE_TIME = 1_700_000_000_000;

export type GenRecord = { n: number; topic: string; payload: Buffer; hdr: Record<string, string> | undefined; time: number };

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gen(n: number): GenRecord {
  const rnd = mulberry32(n * 2654435761);
  // Mostly small records; every 97th is 300 KB, so a kill can land inside one write(2).
  const size = n % 97 === 0 ? 300 * 1024 : Math.floor(rnd() * 2000);
  const payload = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) payload[i] = (rnd() * 256) | 0;
  const hdr = n % 3 === 0 ? { n: String(n), pad: 'v'.repeat(n % 20), 'ü-key': 'wert' } : undefined;
  return { n, topic: `camera.event.cam-${n % 13}.motion`, payload, hdr, time: BASE_TIME + n };
}
