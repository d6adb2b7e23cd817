/**
 * Pattern algebra on the grammar of PROTOCOL.md §6, for the places that compare patterns rather
 * than look topics up (those use the trie): one pattern against one topic, two patterns against
 * each other, and coverage of a pattern by a union of patterns (access rules, tap's reduction).
 */
const DOLLAR = 36;

/** Does a (valid) pattern match a (valid) topic? */
export function patternMatches(pattern: string, topic: string): boolean {
  const p = pattern.split('.');
  const t = topic.split('.');
  if (topic.charCodeAt(0) === DOLLAR && (p[0] === '*' || p[0] === '>')) return false;
  for (let i = 0; i < p.length; i++) {
    const pt = p[i]!;
    if (pt === '>') return t.length > i;
    if (i >= t.length) return false;
    if (pt !== '*' && pt !== t[i]) return false;
  }
  return p.length === t.length;
}

/** Is there at least one topic that both patterns (as tokens, neither starting with `$`) match? */
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
 * Is every topic that `p` matches also matched by at least one of `patterns` (all as tokens)?
 *
 * A wildcard position of `p` may hold any token, so the hardest topic to cover puts there a
 * *fresh* token that no pattern spells out; only a pattern with a wildcard at that position
 * matches it. So `p` is covered exactly when, for every length `p` can produce, the topic made of
 * `p`'s literals and fresh tokens is matched by some pattern. Past the longest pattern only `>`
 * patterns match, and each one that matches at one such length matches at all longer ones, so
 * checking up to one token past the longest pattern is enough.
 */
export function patternCovered(patterns: readonly (readonly string[])[], p: readonly string[]): boolean {
  const open = p[p.length - 1] === '>';
  const fixed = open ? p.length - 1 : p.length;
  let maxLen = fixed + 1;
  for (const g of patterns) if (g.length > maxLen) maxLen = g.length;
  const lastLen = open ? maxLen + 1 : fixed;
  for (let len = open ? fixed + 1 : fixed; len <= lastLen; len++) {
    let covered = false;
    for (const g of patterns) {
      if (matchesShape(g, p, fixed, len)) {
        covered = true;
        break;
      }
    }
    if (!covered) return false;
  }
  return true;
}

/** Does `g` match the topic of length `len` made of `p`'s literals and fresh tokens? */
function matchesShape(g: readonly string[], p: readonly string[], fixed: number, len: number): boolean {
  for (let i = 0; i < g.length; i++) {
    const t = g[i]!;
    if (t === '>') return len > i;
    if (i >= len) return false;
    if (t === '*') continue;
    // A literal matches only the same literal in `p`, never a fresh token.
    if (i >= fixed) return false;
    const q = p[i]!;
    if (q === '*' || q !== t) return false;
  }
  return g.length === len;
}

/** Does pattern `a` match every topic that pattern `b` matches? (Both valid patterns.) */
export function covers(a: string, b: string): boolean {
  const pa = a.split('.');
  const pb = b.split('.');
  // A leading wildcard never matches `$` topics; `$` patterns are literal there.
  if (b.charCodeAt(0) === DOLLAR) {
    if (pa[0] === '*' || pa[0] === '>') return false;
  }
  return patternCovered([pa], pb);
}
