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
import { checkTopic, type TopicLimits } from '../topics/grammar.js';
import { patternCovered, patternsIntersect } from '../topics/match.js';
import { TopicTrie } from '../topics/trie.js';

const GRAMMAR_ONLY: TopicLimits = { maxTopicBytes: Number.POSITIVE_INFINITY, maxTopicTokens: Number.POSITIVE_INFINITY };

export type Grant = { readonly pattern: string; readonly tokens: readonly string[]; readonly line: number };

const DOLLAR = 36;

type Slot = { line: number };

export type SubscribeDecision = 'allow' | 'deny' | 'filter';

export class PatternSet {
  private readonly trie = new TopicTrie<Slot>(() => false);
  private readonly tokenLists: readonly (readonly string[])[];
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
    this.tokenLists = grants.map((g) => g.tokens);
    for (const g of grants) {
      // The first rule line that grants a pattern is the one explanations name.
      const slot = this.trie.at(g.pattern, () => ({ line: 0 }));
      if (slot.line === 0) slot.line = g.line;
    }
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
    let line = 0;
    this.trie.forEachMatch(topic, (slot) => {
      if (line === 0 || slot.line < line) line = slot.line;
    });
    return line;
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
    return patternCovered(this.tokenLists, pattern) ? 'allow' : 'filter';
  }
}
