/**
 * The light face of the library: topic grammar and matching, limits and error codes — no
 * runtime dependencies, nothing of the client or broker. Tools that only check topics or print
 * errors (and the CLI at start-up, which must not carry the client into the broker's process)
 * import this; `udsbus` (bus/index.ts) re-exports all of it.
 */
export { checkTopic, checkPattern, isReservedTopic, describeTopicProblem, isTokenChar, isValidToken } from './topics/grammar.js';
export { patternMatches, covers } from './topics/match.js';
export { ErrorCodes, UdsbusError, TimeoutError, NoRespondersError, RemoteError, BrokerUntrustedError, errorName } from './protocol/errors.js';
export type { ErrorName } from './protocol/errors.js';
export { DEFAULT_LIMITS, PROTOCOL_VERSION } from './protocol/limits.js';
export type { Limits } from './protocol/limits.js';
export type { BrokerStats, ClientStats, Policy } from './protocol/wire-types.js';
