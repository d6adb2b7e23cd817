/**
 * What `tap` shows: `--where` payload filters, overlapping patterns reduced to one subscription,
 * and one line per published message even when two of tap's subscriptions both receive it.
 */
import { InvalidArgumentError } from 'commander';
import { toJson } from './render.js';
import { covers } from 'udsbus/core';

export type Where = { path: string[]; op: '=' | '!='; value: unknown; text: string };

/**
 * FIELD=VALUE or FIELD!=VALUE; FIELD is a dot path into the payload (`camera.id`, `zones.0`);
 * VALUE is compared as JSON when it parses (`true`, `3`, `"3"`, `null`, `{"a":1}`), else as a string.
 */
export function parseWhere(text: string): Where {
  const m = /^([^=!]+?)(!=|=)(.*)$/s.exec(text);
  if (m === null || m[1] === undefined || m[2] === undefined || m[3] === undefined) {
    throw new InvalidArgumentError(`expected FIELD=VALUE or FIELD!=VALUE, e.g. --where active=true`);
  }
  const path = m[1].trim().split('.');
  if (path.some((p) => p === '')) throw new InvalidArgumentError(`"${m[1]}" is not a dot path like camera.id`);
  let value: unknown;
  try {
    value = JSON.parse(m[3]);
  } catch {
    value = m[3];
  }
  return { path, op: m[2] as '=' | '!=', value, text };
}

export function collectWhere(text: string, prev: Where[] = []): Where[] {
  return [...prev, parseWhere(text)];
}

/** All clauses hold (AND). A missing field is unequal to everything. */
export function matchesWhere(payload: unknown, clauses: readonly Where[]): boolean {
  if (clauses.length === 0) return true;
  const json = toJson(payload);
  for (const c of clauses) {
    const found = lookup(json, c.path);
    const eq = found.ok && deepEqual(found.value, c.value);
    if (c.op === '=' ? !eq : eq) return false;
  }
  return true;
}

function lookup(v: unknown, path: readonly string[]): { ok: true; value: unknown } | { ok: false } {
  let cur = v;
  for (const key of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, key)) return { ok: false };
    cur = (cur as Record<string, unknown>)[key];
  }
  return { ok: true, value: cur };
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => Object.hasOwn(b, k) && deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The patterns with those covered by another removed (first occurrence of duplicates kept). */
export function reducePatterns(patterns: readonly string[]): string[] {
  const out: string[] = [];
  patterns.forEach((p, i) => {
    const redundant = patterns.some((q, j) => j !== i && covers(q, p) && (!covers(p, q) || j < i));
    if (!redundant && !out.includes(p)) out.push(p);
  });
  return out;
}

/**
 * When two of our subscriptions match one publish, the broker sends one `msg` per subscription,
 * back to back. A message with the same topic and bytes as the previous one, for a subscription
 * that has not yet had this run, is such a copy; a repeat on a subscription already seen is a
 * new publish. Retained replays come per subscription, not back to back: a retained message is a
 * copy when another subscription already replayed the same bytes for its topic.
 */
export class Dedupe {
  private topic = '';
  private bytes: Uint8Array | undefined;
  private sids = new Set<number>();
  private retained = new Map<string, { bytes: Uint8Array; sids: Set<number> }>();

  isCopy(topic: string, bytes: Uint8Array, sid: number, retained: boolean): boolean {
    if (retained) {
      const seen = this.retained.get(topic);
      if (seen !== undefined && !seen.sids.has(sid) && Buffer.compare(bytes, seen.bytes) === 0) {
        seen.sids.add(sid);
        return true;
      }
      this.retained.set(topic, { bytes, sids: new Set([sid]) });
      return false;
    }
    const same = this.bytes !== undefined && topic === this.topic && Buffer.compare(bytes, this.bytes) === 0;
    if (same && !this.sids.has(sid)) {
      this.sids.add(sid);
      return true;
    }
    this.topic = topic;
    this.bytes = bytes;
    this.sids = new Set([sid]);
    return false;
  }

  /** After a reconnect the broker replays retained messages again; show them again. */
  reset(): void {
    this.bytes = undefined;
    this.retained.clear();
  }
}
