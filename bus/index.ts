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
export type { TopicPayloads, TopicReplies, PayloadFor, ReplyFor, ResultFor, Delivered, TopicType } from './client/topic-types.js';
export { startBroker, SocketPathError } from './broker/server.js';
export type { StartBrokerOptions, BrokerHandle } from './broker/server.js';
export { Broker } from './broker/broker.js';
export type { BrokerOptions } from './broker/broker.js';
export type { BrokerEvents, ConnectionView, DenialRecord } from './broker/events.js';
export * from './core.js';
export { defaultSocketPath, lookupDefaultSocket, socketCandidates, systemSocketPath, SYSTEM_SOCKET } from './paths.js';
export { memoryPair } from './memory.js';
export { checkBroker, resolveTrust, type ExpectBrokerUid, type Trust } from './client/broker-identity.js';
