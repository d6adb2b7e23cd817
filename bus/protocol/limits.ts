/** Protocol version and the broker's default limits (PROTOCOL.md §13). */
export const PROTOCOL_VERSION = 1;

/** A frame's length must keep its first byte 0x00 so the first byte can select the encoding. */
export const HARD_MAX_FRAME_BYTES = 0xffffff;

export type Limits = {
  maxFrameBytes: number;
  maxTopicBytes: number;
  maxTopicTokens: number;
  maxNesting: number;
  maxHeaders: number;
  maxHeaderBytes: number;
  maxSubscriptions: number;
  maxConnections: number;
  maxPendingConnections: number;
  outQueueBytes: number;
  outQueueMsgs: number;
  maxRetained: number;
  maxRetainedBytes: number;
  handshakeTimeoutMs: number;
  keepaliveMs: number;
};

export const DEFAULT_LIMITS: Readonly<Limits> = Object.freeze({
  maxFrameBytes: 1024 * 1024,
  maxTopicBytes: 256,
  maxTopicTokens: 16,
  maxNesting: 32,
  maxHeaders: 64,
  maxHeaderBytes: 16 * 1024,
  maxSubscriptions: 1000,
  maxConnections: 16_000,
  maxPendingConnections: 1024,
  outQueueBytes: 8 * 1024 * 1024,
  outQueueMsgs: 65_536,
  maxRetained: 10_000,
  maxRetainedBytes: 64 * 1024 * 1024,
  handshakeTimeoutMs: 5_000,
  keepaliveMs: 30_000,
});

export const KEEPALIVE_MIN_MS = 100;
export const KEEPALIVE_MAX_MS = 600_000;

/** Durable names: one topic token of these characters, short enough for any file system's names. */
export const DURABLE_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;
