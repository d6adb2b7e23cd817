/** Small statistics helpers: percentiles over samples, medians over runs. */

export type Percentiles = { n: number; p50: number; p99: number; p999: number; max: number; mean: number };

/** Nearest-rank percentiles; sorts a copy. Empty input gives NaN everywhere but n. */
export function percentiles(samples: ArrayLike<number>): Percentiles {
  const a = Float64Array.from(samples).sort();
  const n = a.length;
  if (n === 0) return { n: 0, p50: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const at = (p: number) => a[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += a[i]!;
  return { n, p50: at(0.5), p99: at(0.99), p999: at(0.999), max: a[n - 1]!, mean: sum / n };
}

export function median(xs: readonly number[]): number {
  const a = xs.filter((x) => Number.isFinite(x)).sort((x, y) => x - y);
  if (a.length === 0) return NaN;
  const m = a.length >> 1;
  return a.length % 2 === 1 ? a[m]! : (a[m - 1]! + a[m]!) / 2;
}

/**
 * Merges the results of several runs of one measurement: every number becomes the median of its
 * runs (arrays element by element when every run has the same length), a boolean is true only if
 * it is true in every run, anything else is taken from the first run.
 */
export function medianOfRuns<T>(runs: readonly T[]): T {
  if (runs.length <= 1) return runs[0]!;
  return merge(runs as unknown[]) as T;
}

function merge(vals: unknown[]): unknown {
  const first = vals[0];
  if (typeof first === 'number') return median(vals.filter((v): v is number => typeof v === 'number'));
  // Flags such as "the loss books balance" must hold in every run.
  if (typeof first === 'boolean') return vals.every((v) => v === true);
  if (Array.isArray(first)) {
    if (!vals.every((v) => Array.isArray(v) && v.length === first.length)) return first;
    return first.map((_, i) => merge(vals.map((v) => (v as unknown[])[i])));
  }
  if (first === null || typeof first !== 'object') return first;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(first)) {
    out[k] = merge(vals.map((v) => (v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined)));
  }
  return out;
}

export function round(x: number, digits = 0): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
