/**
 * How the CLI shows payloads. One rule everywhere for JSON: a CBOR byte string is the object
 * {"$bytes": "<lowercase hex>"} (toJson), and `pub`/`req` read that same object back as bytes
 * (fromJson). Integers beyond 2^53 become decimal strings. The compact one-line rendering for
 * people (renderCompact) uses CBOR diagnostic notation for bytes: h'00ff'.
 */

/** A decoded payload as plain JSON: byte strings as {"$bytes": hex}, bigints as strings, undefined as null. */
export function toJson(v: unknown): unknown {
  if (v instanceof Uint8Array) return { $bytes: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('hex') };
  if (Array.isArray(v)) return v.map(toJson);
  if (v instanceof Map) return Object.fromEntries([...v.entries()].map(([k, x]) => [String(k), toJson(x)]));
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  if (typeof v === 'bigint') return v.toString();
  if (v === undefined) return null;
  return v;
}

/** The inverse of toJson for input: {"$bytes": hex} becomes a Uint8Array. */
export function fromJson(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(fromJson);
  if (v !== null && typeof v === 'object') {
    const keys = Object.keys(v);
    const hex = (v as { $bytes?: unknown }).$bytes;
    if (keys.length === 1 && typeof hex === 'string') {
      if (!/^([0-9a-fA-F]{2})*$/.test(hex)) throw new Error(`{"$bytes": …} needs an even number of hex digits, got "${hex.slice(0, 20)}"`);
      return new Uint8Array(Buffer.from(hex, 'hex'));
    }
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fromJson(x)]));
  }
  return v;
}

/** Text that is JSON becomes that value (with $bytes converted); anything else is sent as a string. */
export function parsePayloadArg(text: string): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return text;
  }
  return fromJson(parsed);
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** 999B, 1.2kB, 3.4MB (powers of 1024). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}kB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)}MB`;
  return `${(n / 1024 ** 3).toFixed(1)}GB`;
}

const SHORT_BYTES = 24;
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$-]*$/;

/**
 * A readable one-line rendering: {active: true, cameraId: "cam-01", jpeg: h'ffd8…'(2.1kB)}.
 * Without `full`, byte strings longer than 24 bytes show their first 8 bytes and their size,
 * and the whole text is cut at `max` characters with "…".
 */
export function renderCompact(v: unknown, opts: { full?: boolean; max?: number } = {}): string {
  const text = render(v, opts.full === true);
  const max = opts.max;
  if (opts.full === true || max === undefined || text.length <= max) return text;
  return `${text.slice(0, Math.max(1, max - 1))}…`;
}

function render(v: unknown, full: boolean): string {
  if (v === undefined) return '(empty)';
  if (v === null) return 'null';
  if (v instanceof Uint8Array) {
    if (full || v.length <= SHORT_BYTES) return `h'${hex(v)}'`;
    return `h'${hex(v.subarray(0, 8))}…'(${formatBytes(v.length)})`;
  }
  if (Array.isArray(v)) return `[${v.map((x) => render(x, full)).join(', ')}]`;
  if (v instanceof Map) return `{${[...v.entries()].map(([k, x]) => `${render(k, full)}: ${render(x, full)}`).join(', ')}}`;
  if (typeof v === 'object') {
    return `{${Object.entries(v)
      .map(([k, x]) => `${IDENT.test(k) ? k : JSON.stringify(k)}: ${render(x, full)}`)
      .join(', ')}}`;
  }
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return v.toString();
  return String(v);
}

/** ANSI colours, or identity functions when colour is off. */
export type Palette = { dim: Paint; topic: Paint; flag: Paint; reply: Paint; error: Paint; bold: Paint };
type Paint = (s: string) => string;

/**
 * Colour only for a terminal, never when NO_COLOR is set (https://no-color.org); FORCE_COLOR=1
 * turns it on for a pipe (e.g. `| less -R`).
 */
export function colourFor(stream: NodeJS.WriteStream, env: NodeJS.ProcessEnv = process.env): Palette {
  const force = env.FORCE_COLOR !== undefined && env.FORCE_COLOR !== '' && env.FORCE_COLOR !== '0';
  const on = (env.NO_COLOR === undefined || env.NO_COLOR === '') && (force || stream.isTTY === true);
  const sgr = (code: string): Paint => (on ? (s) => `\x1b[${code}m${s}\x1b[0m` : (s) => s);
  return { dim: sgr('2'), topic: sgr('36'), flag: sgr('33'), reply: sgr('35'), error: sgr('31'), bold: sgr('1') };
}

/** A plain text table: columns padded, numbers right-aligned. */
export function table(headers: readonly string[], rows: ReadonlyArray<ReadonlyArray<string | number>>): string {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? formatNumber(c) : c)));
  const numeric = headers.map((_, i) => rows.length > 0 && rows.every((r) => typeof r[i] === 'number'));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) =>
    r
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...cells.map(line)].join('\n');
}

export function formatNumber(n: number): string {
  if (Number.isInteger(n)) return String(n);
  return n >= 100 ? n.toFixed(0) : n.toFixed(1);
}

/** 3d04h, 2h05m, 4m07s, 12.3s */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d${String(h % 24).padStart(2, '0')}h`;
}
