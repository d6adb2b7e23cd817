/** Option value parsers for commander; each rejects bad input with a message that shows a good one. */
import { InvalidArgumentError, Option } from 'commander';

/** Seconds (fractions allowed) → milliseconds. */
export function seconds(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number of seconds above 0, like 5 or 0.5`);
  return Math.round(n * 1000);
}

/** A whole number ≥ 1. */
export function count(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`expected a whole number of at least 1, like 10`);
  return n;
}

/** A number > 0 (e.g. messages per second). */
export function positive(v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a number above 0, like 100`);
  return n;
}

/** Repeatable `--header k=v`, collected into a record. */
export function header(v: string, prev: Record<string, string> = {}): Record<string, string> {
  const i = v.indexOf('=');
  if (i <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, like --header trace=abc123`);
  return { ...prev, [v.slice(0, i)]: v.slice(i + 1) };
}

/** An option taking seconds (kept in ms), with its default shown in seconds in --help. */
export function secondsOption(flags: string, description: string, defaultMs?: number): Option {
  const o = new Option(flags, description).argParser(seconds);
  return defaultMs === undefined ? o : o.default(defaultMs, `${defaultMs / 1000}`);
}
