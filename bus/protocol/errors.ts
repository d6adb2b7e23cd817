/**
 * The closed set of udsbus error codes. PROTOCOL.md §12 documents each one; a test keeps the two in
 * sync. Codes never change meaning; add new ones at the end of their range.
 */
export const ErrorCodes = {
  BAD_PREAMBLE: 1,
  FRAME_TOO_LARGE: 2,
  BAD_CBOR: 3,
  UNSUPPORTED_CBOR: 4,
  TOO_DEEP: 5,
  BAD_FRAME: 6,
  UNKNOWN_OP: 7,
  HANDSHAKE_REQUIRED: 8,
  UNSUPPORTED_VERSION: 9,
  HANDSHAKE_TIMEOUT: 10,
  FRAME_TIMEOUT: 11,
  HEADERS_TOO_LARGE: 12,
  INVALID_TOPIC: 20,
  INVALID_PATTERN: 21,
  TOPIC_TOO_LONG: 22,
  TOPIC_TOO_DEEP: 23,
  RESERVED_TOPIC: 24,
  TOO_MANY_CONNECTIONS: 30,
  TOO_MANY_SUBSCRIPTIONS: 31,
  DUPLICATE_SID: 32,
  UNKNOWN_SID: 33,
  RETAINED_LIMIT: 34,
  SLOW_CONSUMER: 35,
  KEEPALIVE_TIMEOUT: 36,
  NO_RESPONDERS: 40,
  TIMEOUT: 41,
  DISCONNECTED: 42,
  BROKER_UNTRUSTED: 43,
  PERMISSION_DENIED: 50,
  SCHEMA_INVALID: 51,
  QUOTA_EXCEEDED: 52,
  DURABLE_UNAVAILABLE: 60,
  DURABLE_BUSY: 61,
  DURABLE_FULL: 62,
  DURABLE_MISMATCH: 63,
  /** Reserved, never sent: management answers `not-found` in the reply envelope (PROTOCOL.md §17). */
  UNKNOWN_DURABLE: 64,
  STORE_FAILED: 65,
  INVALID_DURABLE_NAME: 66,
  SHUTTING_DOWN: 90,
  INTERNAL: 99,
} as const;

export type ErrorName = keyof typeof ErrorCodes;
export type ErrorCode = (typeof ErrorCodes)[ErrorName];

const namesByCode = new Map<number, ErrorName>(
  Object.entries(ErrorCodes).map(([name, code]) => [code, name as ErrorName]),
);

export function errorName(code: number): ErrorName | undefined {
  return namesByCode.get(code);
}

/** Every error udsbus raises or receives carries a stable code and name. */
export class UdsbusError extends Error {
  readonly code: number;
  readonly codeName: string;
  /** The frame id the error answers, when there is one. */
  readonly id: number | undefined;
  /** The subscription the error concerns, when there is one. */
  readonly sid: number | undefined;
  readonly fatal: boolean;

  constructor(
    name: ErrorName | number,
    text: string,
    extra: { id?: number | undefined; sid?: number | undefined; fatal?: boolean; cause?: unknown } = {},
  ) {
    const code = typeof name === 'number' ? name : ErrorCodes[name];
    const codeName = typeof name === 'number' ? (errorName(name) ?? `E${name}`) : name;
    super(`${codeName}: ${text}`, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.name = 'UdsbusError';
    this.code = code;
    this.codeName = codeName;
    this.id = extra.id;
    this.sid = extra.sid;
    this.fatal = extra.fatal ?? false;
  }
}

/** Request timed out on the client (never sent on the wire). */
export class TimeoutError extends UdsbusError {
  constructor(text: string) {
    super('TIMEOUT', text);
    this.name = 'TimeoutError';
  }
}

/** A request matched no subscriber, reported by the broker at once. */
export class NoRespondersError extends UdsbusError {
  constructor(text: string, id?: number) {
    super('NO_RESPONDERS', text, { id });
    this.name = 'NoRespondersError';
  }
}

/**
 * The client refused the broker before sending a byte: the process that listens on the socket
 * runs as a uid the client does not trust (option `expectBrokerUid`, SECURITY.md), or the client
 * could not find out which uid that is. Never sent on the wire.
 */
export class BrokerUntrustedError extends UdsbusError {
  constructor(
    text: string,
    /** The socket path the client connected to. */
    readonly path: string,
    /** The broker's uid, when it could be found out. */
    readonly brokerUid: number | undefined,
    /** The uids the client trusts. */
    readonly trusted: readonly number[],
  ) {
    super('BROKER_UNTRUSTED', text);
    this.name = 'BrokerUntrustedError';
  }
}

/** A serve() handler answered with a structured error (PROTOCOL.md §8). */
export class RemoteError extends Error {
  readonly code: string;
  readonly data: unknown;
  constructor(code: string, message: string, data?: unknown) {
    super(`${code}: ${message}`);
    this.name = 'RemoteError';
    this.code = code;
    this.data = data;
  }
}
