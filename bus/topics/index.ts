/** Topics: the grammar (PROTOCOL.md §6), the token trie, the routing index and pattern algebra. */
export { checkTopic, checkPattern, isReservedTopic, describeTopicProblem, isTokenChar, isValidToken, isInboxPattern, isInboxTopic } from './grammar.js';
export type { TopicProblem, TopicLimits } from './grammar.js';
export { patternMatches, patternsIntersect, patternCovered, covers } from './match.js';
export { TopicTrie } from './trie.js';
export { Sublist } from './sublist.js';
export type { Subscriber, QueueGroup, MatchResult } from './sublist.js';
