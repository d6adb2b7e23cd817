/**
 * Pattern algebra for access rules: a set of granted patterns (PROTOCOL.md §6 grammar, never
 * starting with `$`) that answers three questions.
 *
 * - `matches(topic)` — does any granted pattern match this concrete topic? A token trie with `*`
 *   and `>` children, walked without splitting the topic, plus a bounded cache of answers per
 *   topic: this runs for every delivery on a filtered subscription.
 * - `decide(pattern)` — for a subscription pattern: are all (`allow`), none (`deny`) or some
 *   (`filter`) of the topics it can match covered by the set?
 * - `matchLine(topic)` — which rule line grants it (for explanations; not cached).
 *
 * Coverage of a pattern by a *union* of patterns is decided exactly on the grammar without a
 * length bound: `camera.>` is covered by `camera.*` plus `camera.*.>` together, though by neither
 * alone. The broker's `maxTopicTokens` bound is ignored, which can only turn an `allow` or a
 * `deny` into a `filter` (never the other way round), so the answer is always safe.
 */
import { checkTopic, type TopicLimits } from '../protocol/topics.js';

const GRAMMAR_ONLY: TopicLimits = { maxTopicBytes: Number.POSITIVE_INFINITY, maxTopicTokens: Number.POSITIVE_INFINITY };

export type Grant = { readonly pattern: string; readonly tokens: readonly string[]; readonly line: number };

/** Is there at least one topic that both patterns match? (Neither may start with `$`.) */
export function patternsIntersect(a: readonly string[], b: readonly string[]): boolean {
  for (let i = 0; ; i++) {
    const x = a[i];
    const y = b[i];
    if (x === undefined || y === undefined) return x === undefined && y === undefined;
    // `>` takes one or more tokens; the other pattern has at least one left here, and whatever
    // it matches from here on is a non-empty tail.
    if (x === '>' || y === '>') return true;
    if (x !== '*' && y !== '*' && x !== y) return false;
  }
}

/**
 * Is every topic that `p` matches also matched by at least one of `grants`?
 *
 * A wildcard position of `p` may hold any token, so the hardest topic to cover puts there a
 * *fresh* token that no grant spells out; only a grant with a wildcard at that position matches
 * it. So `p` is covered exactly when, for every length `p` can produce, the topic made of `p`'s
 * literals and fresh tokens is matched by some grant. Past the longest grant only `>` grants
 * match, and each one that matches at one such length matches at all longer ones, so checking up
 * to one token past the longest grant is enough.
 */
export function patternCovered(grants: readonly Grant[], p: readonly string[]): boolean {
  const open = p[p.length - 1] === '>';
  const fixed = open ? p.length - 1 : p.length;
  let maxLen = fixed + 1;
  for (const g of grants) if (g.tokens.length > maxLen) maxLen = g.tokens.length;
  const lastLen = open ? maxLen + 1 : fixed;
  for (let len = open ? fixed + 1 : fixed; len <= lastLen; len++) {
    let covered = false;
    for (const g of grants) {
      if (grantMatchesShape(g.tokens, p, fixed, len)) {
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}

/** Does grant `g` match the topic of length `len` made of `p`'s literals and fresh tokens? */
function grantMatchesShape(g: readonly string[], p: readonly string[], fixed: number, len: number): boolean {
  for (let i = 0; i < g.length; i++) {
    const t = g[i]!;
    if (t === '>') return len > i;
    if (i >= len) return false;
    if (t === '*') continue;
    // A literal in the grant matches only the same literal in `p`, never a fresh token.
    if (i >= fixed) return false;
    const q = p[i]!;
    if (q === '*' || q !== t) return false;
  }
  return g.length === len;
}

const DOLLAR = 36;

class Node {
  children: Map<string, Node> | undefined;
  star: Node | undefined;
  /** A granted pattern ends in `>` here: any non-empty tail matches. */
  gtLine = 0;
  /** A granted pattern ends exactly here (its line number, 0 when none). */
  endLine = 0;
}

export type SubscribeDecision = 'allow' | 'deny' | 'filter';

export class PatternSet {
  private readonly root = new Node();
  // Two generations instead of LRU bookkeeping: look in both, insert into `recent`, and when it is
  // full it becomes `older` (the previous `older` is dropped). A hot topic survives by being
  // copied forward on its next hit. No per-hit work beyond Map lookups, no iterator on eviction.
  private recent = new Map<string, boolean>();
  private older = new Map<string, boolean>();
  private readonly generationSize: number;
  readonly grants: readonly Grant[];

  /** `cacheSize`: answers kept per set (at most; at least half of it). */
  constructor(grants: readonly Grant[], cacheSize = 1024) {
    this.grants = grants;
    this.generationSize = Math.max(1, Math.ceil(cacheSize / 2));
    for (const g of grants) this.insert(g);
  }

  private insert(g: Grant): void {
    let node = this.root;
    for (const token of g.tokens) {
      if (token === '>') {
        if (node.gtLine === 0) node.gtLine = g.line;
        return;
      }
      if (token === '*') node = node.star ??= new Node();
      else {
        node.children ??= new Map();
        let child = node.children.get(token);
        if (child === undefined) node.children.set(token, (child = new Node()));
        node = child;
      }
    }
    if (node.endLine === 0) node.endLine = g.line;
  }

  /** Does any grant match this (valid, concrete) topic? Cached; `$` topics never match. */
  matches(topic: string): boolean {
    if (this.grants.length === 0) return false;
    const hit = this.recent.get(topic);
    if (hit !== undefined) return hit;
    let result = this.older.get(topic);
    // Validated on a miss only: a cached answer was validated when it was computed.
    result ??= checkTopic(topic, GRAMMAR_ONLY) === null && this.matchLine(topic) !== 0;
    if (this.recent.size >= this.generationSize) {
      this.older = this.recent;
      this.recent = new Map();
    }
    this.recent.set(topic, result);
    return result;
  }

  /** The line of a grant that matches `topic`, or 0. Uncached. */
  matchLine(topic: string): number {
    // Grants never start with `$`, and a wildcard-first grant never matches a `$` topic.
    if (this.grants.length === 0 || topic.charCodeAt(0) === DOLLAR) return 0;
    return walk(this.root, topic, 0);
  }

  /** How a subscription to `pattern` (tokens, not starting with `$`) relates to this set. */
  decide(pattern: readonly string[]): SubscribeDecision {
    let any = false;
    for (const g of this.grants) {
      if (patternsIntersect(pattern, g.tokens)) {
        any = true;
        break;
      }
    }
    if (!any) return 'deny';
    return patternCovered(this.grants, pattern) ? 'allow' : 'filter';
  }
}

/** Match the token starting at `pos` and everything after it; returns a grant line or 0. */
function walk(node: Node, topic: string, pos: number): number {
  // There is at least one token left at `pos`, so a `>` here matches.
  if (node.gtLine !== 0) return node.gtLine;
  const dot = topic.indexOf('.', pos);
  const last = dot < 0;
  if (node.children !== undefined) {
    const child = node.children.get(last ? (pos === 0 ? topic : topic.slice(pos)) : topic.slice(pos, dot));
    if (child !== undefined) {
      const line = last ? child.endLine : walk(child, topic, dot + 1);
      if (line !== 0) return line;
    }
  }
  if (node.star !== undefined) {
    const line = last ? node.star.endLine : walk(node.star, topic, dot + 1);
    if (line !== 0) return line;
  }
  return 0;
}

/**
 * The inbox grammar (PROTOCOL.md §8): `_INBOX.<token>.…`, at least three tokens, the second one
 * literal. A requester's own inbox is one `<token>`; a pattern with a wildcard in that place
 * would read everybody's replies and is not an inbox pattern.
 */
export function isInboxPattern(pattern: string): boolean {
  if (!pattern.startsWith('_INBOX.')) return false;
  const second = pattern.indexOf('.', 7);
  if (second < 0) return false;
  const token = pattern.slice(7, second);
  return token !== '*' && token !== '>' && second + 1 < pattern.length;
}

/** A concrete reply topic `_INBOX.<token>.<…>` (at least three tokens). */
export function isInboxTopic(topic: string): boolean {
  return isInboxPattern(topic) && topic.indexOf('*') < 0 && topic.indexOf('>') < 0;
}
