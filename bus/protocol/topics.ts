/**
 * Topic grammar (PROTOCOL.md §6): dot-separated tokens of `A-Z a-z 0-9 _ - ~ % @ : =`; a leading
 * `$` marks the broker's own topics; patterns may use `*` for one token and a final `>` for one or
 * more. Checked with a character table in one pass, no regular expressions, no allocation.
 */
export type TopicProblem = 'INVALID_TOPIC' | 'INVALID_PATTERN' | 'TOPIC_TOO_LONG' | 'TOPIC_TOO_DEEP';

export type TopicLimits = { maxTopicBytes: number; maxTopicTokens: number };

const TOKEN_CHAR = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-~%@:=') TOKEN_CHAR[c.charCodeAt(0)] = 1;

const DOT = 46;
const STAR = 42;
const GT = 62;
const DOLLAR = 36;

function check(s: string, limits: TopicLimits, pattern: boolean): TopicProblem | null {
  const bad = pattern ? 'INVALID_PATTERN' : 'INVALID_TOPIC';
  const n = s.length;
  if (n === 0) return bad;
  if (n > limits.maxTopicBytes) {
    // Non-ASCII would make the byte length larger still; either way it is too long.
    return 'TOPIC_TOO_LONG';
  }
  let tokens = 1;
  let tokenStart = 0;
  for (let i = 0; i <= n; i++) {
    const c = i === n ? DOT : s.charCodeAt(i);
    if (c === DOT) {
      const len = i - tokenStart;
      if (len === 0) return bad;
      if (i < n) tokens++;
      tokenStart = i + 1;
      continue;
    }
    if (c < 128 && TOKEN_CHAR[c] === 1) continue;
    if (c === DOLLAR && i === 0) continue;
    if (pattern && (c === STAR || c === GT)) {
      // A wildcard is a whole token; `>` only as the last one.
      const tokenEnd = i + 1;
      if (i !== tokenStart || (tokenEnd < n && s.charCodeAt(tokenEnd) !== DOT)) return bad;
      if (c === GT && tokenEnd !== n) return bad;
      continue;
    }
    return bad;
  }
  // A lone `$` is not a topic.
  if (s.charCodeAt(0) === DOLLAR && (n === 1 || s.charCodeAt(1) === DOT)) return bad;
  if (tokens > limits.maxTopicTokens) return 'TOPIC_TOO_DEEP';
  return null;
}

/** null when `topic` is a valid concrete topic (no wildcards). */
export function checkTopic(topic: string, limits: TopicLimits): TopicProblem | null {
  return check(topic, limits, false);
}

/** null when `pattern` is a valid subscription pattern. */
export function checkPattern(pattern: string, limits: TopicLimits): TopicProblem | null {
  return check(pattern, limits, true);
}

export function isReservedTopic(topic: string): boolean {
  return topic.charCodeAt(0) === DOLLAR;
}

/** Does a (valid) pattern match a (valid) topic? Used off the hot path (retained replay). */
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

export function describeTopicProblem(problem: TopicProblem, s: string, limits: TopicLimits): string {
  switch (problem) {
    case 'TOPIC_TOO_LONG':
      return `topic "${s.slice(0, 64)}…" is longer than ${limits.maxTopicBytes} bytes`;
    case 'TOPIC_TOO_DEEP':
      return `topic "${s}" has more than ${limits.maxTopicTokens} tokens`;
    case 'INVALID_PATTERN':
      return `invalid pattern "${s}": tokens of A-Z a-z 0-9 _ - ~ % @ : =, separated by dots; '*' for one token, a final '>' for the rest`;
    case 'INVALID_TOPIC':
      return `invalid topic "${s}": tokens of A-Z a-z 0-9 _ - ~ % @ : =, separated by dots, no wildcards`;
  }
}
