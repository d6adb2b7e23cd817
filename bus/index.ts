/**
 * udsbus: a local event bus over a Unix domain socket.
 *
 * @example
 * import { startBroker, connect } from 'udsbus';
 * const broker = await startBroker({ socket: '/tmp/bus.sock' });
 * const bus = await connect({ socket: '/tmp/bus.sock', name: 'demo' });
 */
export { connect, Client } from './client/client.js';
export type {
  ConnectOptions,
  PublishOptions,
  SubscribeOptions,
  Message,
  LossEvent,
  CloseInfo,
  ClientEvents,
  Policy,
  Origin,
} from './client/client.js';
export { startBroker, SocketPathError } from './broker/server.js';
export type { StartBrokerOptions, BrokerHandle } from './broker/server.js';
export { Broker } from './broker/broker.js';
export type { BrokerOptions, BrokerStats } from './broker/broker.js';
export { ErrorCodes, UdsbusError, TimeoutError, NoRespondersError, RemoteError, errorName } from './protocol/errors.js';
export type { ErrorName } from './protocol/errors.js';
export { DEFAULT_LIMITS, PROTOCOL_VERSION } from './protocol/limits.js';
export type { Limits } from './protocol/limits.js';
export { checkTopic, checkPattern, isReservedTopic, describeTopicProblem, isValidToken } from './topics/grammar.js';
export { patternMatches, covers } from './topics/match.js';
export { defaultSocketPath } from './paths.js';
export { memoryPair } from './memory.js';
export type { BrokerStats as Stats, ClientStats, Policy as OverflowPolicy } from './protocol/wire-types.js';
