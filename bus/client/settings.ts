/**
 * A client's connection settings from its options, with every default in one place (README's
 * client options table documents the same values).
 */
import type { TransportOptions } from './transport.js';
import type { ConnectOptions } from './types.js';

export function transportSettings(opts: ConnectOptions): TransportOptions {
  return {
    socket: opts.socket,
    tcp: opts.tcp,
    dial: opts.dial,
    name: opts.name ?? '',
    flow: opts.flow,
    keepaliveMs: opts.keepaliveMs,
    will: opts.will,
    reconnect: opts.reconnect ?? true,
    reconnectInitialMs: opts.reconnectInitialMs ?? 50,
    reconnectMaxMs: opts.reconnectMaxMs ?? 2000,
    maxReconnectAttempts: opts.maxReconnectAttempts ?? Infinity,
    outageBufferBytes: opts.outageBufferBytes ?? 1024 * 1024,
    connectTimeoutMs: opts.connectTimeoutMs ?? 5000,
    expectBrokerUid: opts.expectBrokerUid,
  };
}
