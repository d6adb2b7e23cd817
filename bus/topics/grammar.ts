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

/** Is `c` (a UTF-16 code unit) allowed inside a topic token? */
export function isTokenChar(c: number): boolean {
  return c < 128 && TOKEN_CHAR[c] === 1;
}

/** A single literal token (no dots, no wildcards, no `$`). */
export function isValidToken(token: string): boolean {
  if (token.length === 0) return false;
  for (let i = 0; i < token.length; i++) if (!isTokenChar(token.charCodeAt(i))) return false;
  return true;
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
