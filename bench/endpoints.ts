/** Where a benchmark client connects: plain data, passed from the orchestrator to its workers. */

export type SystemName = 'udsbus' | 'udsbus-tcp' | 'raw' | 'nats' | 'mosquitto' | 'redis';

export const PEERS: readonly SystemName[] = ['nats', 'mosquitto', 'redis'];

export type Endpoint =
  | { kind: 'udsbus'; socket: string }
  | { kind: 'udsbus-tcp'; host: string; port: number }
  | { kind: 'raw'; socket: string }
  | { kind: 'nats'; host: string; port: number }
  | { kind: 'mqtt'; socket: string }
  | { kind: 'redis'; socket: string };

export function describeEndpoint(ep: Endpoint): string {
  switch (ep.kind) {
    case 'udsbus-tcp':
    case 'nats':
      return `${ep.kind} ${ep.host}:${ep.port}`;
    default:
      return `${ep.kind} ${ep.socket}`;
  }
}
