/** The durable fields of a `sub` frame (PROTOCOL.md §17), checked before anything is counted or created. */
import type { DecodedFrame } from '../protocol/codec.js';
import type { ErrorName } from '../protocol/errors.js';
import { DURABLE_NAME_RE } from '../protocol/limits.js';

export type DurableSpec = { name: string; opts: { maxBytes?: number; maxAgeMs?: number; overflow?: 'reject' | 'drop-oldest' } };

export function checkDurable(f: DecodedFrame): DurableSpec | { error: ErrorName; text: string } {
  const name = f.durable;
  if (typeof name !== 'string' || !DURABLE_NAME_RE.test(name)) {
    return { error: 'INVALID_DURABLE_NAME', text: 'sub "durable" must be 1 to 64 characters of A-Z a-z 0-9 _ - (the durable name)' };
  }
  const overflow = f.durableOverflow;
  if (overflow !== undefined && overflow !== 'reject' && overflow !== 'drop-oldest') return { error: 'BAD_FRAME', text: 'sub "durableOverflow" must be "reject" or "drop-oldest"' };
  for (const k of ['durableMaxBytes', 'durableMaxAgeMs'] as const) {
    if (f[k] !== undefined && !isUint(f[k])) return { error: 'BAD_FRAME', text: `sub "${k}" must be a uint` };
  }
  if (f.durableMaxBytes !== undefined && (f.durableMaxBytes as number) < 16 * 1024) return { error: 'BAD_FRAME', text: 'sub "durableMaxBytes" must be at least 16384' };
  return {
    name,
    opts: {
      ...(f.durableMaxBytes !== undefined ? { maxBytes: f.durableMaxBytes as number } : {}),
      ...(f.durableMaxAgeMs !== undefined ? { maxAgeMs: f.durableMaxAgeMs as number } : {}),
      ...(overflow !== undefined ? { overflow } : {}),
    },
  };
}

function isUint(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0;
}
