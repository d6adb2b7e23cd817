/**
 * Camera topic taxonomy: grammar checks, id -> token mapping, topic builders and patterns.
 *
 * Grammar (enforced by the broker): dot-separated tokens of [A-Za-z0-9_~%@:=-]+,
 * at most 256 bytes and 16 tokens; subscriptions may use `*` (one token) and a
 * trailing `>` (one or more tokens).
 */
import { createHash } from 'node:crypto';
import { checkPattern, checkTopic, isTokenChar, isValidToken as grammarToken } from 'udsbus/core';
import { ID_MAX_LENGTH, TOPIC_MAX_BYTES, TOPIC_MAX_TOKENS } from './common.js';

export { ID_MAX_LENGTH, TOPIC_MAX_BYTES, TOPIC_MAX_TOKENS } from './common.js';

export const CAMERA_EVENT_KINDS = [
  'motion',
  'tamper',
  'input',
  'field',
  'line',
  'object',
  'sound',
  'doorbell',
  'relay',
  'storage',
  'health',
  'other',
] as const;
export type CameraEventKind = (typeof CAMERA_EVENT_KINDS)[number];

/** RPC actions of the ONVIF worker; dashes rather than dots so each action is one token. */
export const CAMERA_RPC_ACTIONS = [
  'info',
  'stream-uri',
  'snapshot-uri',
  'users-list',
  'users-create',
  'users-delete',
  'ptz-move',
  'ptz-stop',
] as const;
export type CameraRpcAction = (typeof CAMERA_RPC_ACTIONS)[number];

const HASH_LENGTH = 8;
const LIMITS = { maxTopicBytes: TOPIC_MAX_BYTES, maxTopicTokens: TOPIC_MAX_TOKENS };

/** One token of the topic grammar (bus/topics), the single definition of what a token is. */
export function isValidToken(token: string): boolean {
  return grammarToken(token);
}

/** A concrete topic (no wildcards) as accepted for publishing. */
export function isValidTopic(topic: string): boolean {
  return checkTopic(topic, LIMITS) === null;
}

/** A subscription pattern: tokens, `*` for exactly one token, and `>` only as the last token. */
export function isValidPattern(pattern: string): boolean {
  return checkPattern(pattern, LIMITS) === null;
}

/** Runs of characters the grammar does not allow in a token, each replaced by `-`. */
function replaceInvalidRuns(s: string): string {
  let out = '';
  let inRun = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (isTokenChar(c)) {
      out += s[i];
      inRun = false;
    } else if (!inRun) {
      out += '-';
      inRun = true;
    }
  }
  return out;
}

/**
 * Map any device-reported identifier (serial, UUID, MAC, host name, free text) to a
 * stable topic token.
 *
 * - Case-insensitive and whitespace-trimmed: `AA:BB` and ` aa:bb ` give the same token,
 *   because devices report MACs/UUIDs in either case.
 * - Already-valid lower-case ids of at most `maxLength` chars are returned unchanged
 *   (so the function is idempotent and typical serials/MACs/UUIDs stay readable).
 * - Otherwise invalid characters become `-` (accents are stripped first) and an 8-hex
 *   SHA-256 suffix of the case-folded input is appended, so ids that only differ in
 *   replaced or truncated characters still get different tokens.
 */
export function toTopicToken(s: string, maxLength: number = ID_MAX_LENGTH): string {
  if (!Number.isInteger(maxLength) || maxLength < HASH_LENGTH + 2) {
    throw new RangeError(`toTopicToken: maxLength must be an integer >= ${HASH_LENGTH + 2}`);
  }
  const canonical = s.normalize('NFKC').trim().toLowerCase();
  if (canonical.length > 0 && canonical.length <= maxLength && grammarToken(canonical)) return canonical;

  const hash = createHash('sha256').update(canonical, 'utf8').digest('hex').slice(0, HASH_LENGTH);
  const unaccented = canonical
    .normalize('NFKD')
    .replace(/\p{M}+/gu, ''); // "Café" -> "cafe" reads better than "caf-"
  const slug = replaceInvalidRuns(unaccented)
    .slice(0, maxLength - HASH_LENGTH - 1)
    .replace(/^-+|-+$/g, '');
  return slug.length > 0 ? `${slug}-${hash}` : hash;
}

function token(value: string, what: string): string {
  if (!isValidToken(value) || value.length > ID_MAX_LENGTH) {
    // Builders never rewrite ids silently: the payload's id must equal the topic token.
    throw new TypeError(`invalid ${what} ${JSON.stringify(value)}: expected a topic token (see toTopicToken())`);
  }
  return value;
}

function oneOf<T extends string>(value: T, allowed: readonly string[], what: string): T {
  if (!allowed.includes(value)) throw new TypeError(`unknown ${what} ${JSON.stringify(value)}`);
  return value;
}

/** Topic builders. They throw TypeError on ids that are not valid tokens. */
export const topics = {
  /** Retained. Published by the ONVIF worker when a camera is (re)discovered. */
  cameraDiscovered: (cameraId: string): `camera.discovered.${string}` =>
    `camera.discovered.${token(cameraId, 'cameraId')}`,
  /** Published by the ONVIF worker when a camera disappears from discovery/config. */
  cameraLost: (cameraId: string): `camera.lost.${string}` => `camera.lost.${token(cameraId, 'cameraId')}`,
  /** Retained, owned by the publisher's connection (last will: offline). */
  cameraStatus: (cameraId: string): `camera.status.${string}` => `camera.status.${token(cameraId, 'cameraId')}`,
  cameraEvent: <K extends CameraEventKind>(cameraId: string, kind: K): `camera.event.${string}.${K}` =>
    `camera.event.${token(cameraId, 'cameraId')}.${oneOf(kind, CAMERA_EVENT_KINDS, 'event kind')}`,
  cameraRpc: <A extends CameraRpcAction>(cameraId: string, action: A): `camera.rpc.${string}.${A}` =>
    `camera.rpc.${token(cameraId, 'cameraId')}.${oneOf(action, CAMERA_RPC_ACTIONS, 'rpc action')}`,
  alert: (ruleId: string): `alert.${string}` => `alert.${token(ruleId, 'ruleId')}`,
  recordingStarted: (cameraId: string): `recording.started.${string}` =>
    `recording.started.${token(cameraId, 'cameraId')}`,
  recordingStopped: (cameraId: string): `recording.stopped.${string}` =>
    `recording.stopped.${token(cameraId, 'cameraId')}`,
  recordingClip: (cameraId: string): `recording.clip.${string}` => `recording.clip.${token(cameraId, 'cameraId')}`,
} as const;

/** Subscription patterns for the taxonomy. */
export const patterns = {
  cameraDiscovered: 'camera.discovered.*',
  cameraLost: 'camera.lost.*',
  cameraStatus: 'camera.status.*',
  cameraEvent: 'camera.event.*.*',
  cameraRpc: 'camera.rpc.*.*',
  camera: 'camera.>',
  alert: 'alert.*',
  recordingStarted: 'recording.started.*',
  recordingStopped: 'recording.stopped.*',
  recordingClip: 'recording.clip.*',
  recording: 'recording.*.*',
  /** All events of one camera. */
  cameraEventsOf: (cameraId: string): `camera.event.${string}.*` => `camera.event.${token(cameraId, 'cameraId')}.*`,
  /** One kind of event from every camera, e.g. all motion. */
  cameraEventsOfKind: <K extends CameraEventKind>(kind: K): `camera.event.*.${K}` =>
    `camera.event.*.${oneOf(kind, CAMERA_EVENT_KINDS, 'event kind')}`,
  /** What an ONVIF worker serving one camera subscribes to. */
  cameraRpcOf: (cameraId: string): `camera.rpc.${string}.*` => `camera.rpc.${token(cameraId, 'cameraId')}.*`,
} as const;

/** Recommended camera.status reason for the last-will message registered by a publisher. */
export const LAST_WILL_REASON = 'publisher-disconnected';

export type TopicInfo =
  | { type: 'camera.discovered' | 'camera.lost' | 'camera.status'; cameraId: string }
  | { type: 'camera.event'; cameraId: string; kind: CameraEventKind }
  | { type: 'camera.rpc'; cameraId: string; action: CameraRpcAction }
  | { type: 'alert'; ruleId: string }
  | { type: 'recording.started' | 'recording.stopped' | 'recording.clip'; cameraId: string };

/**
 * Classify a concrete topic of the taxonomy, or undefined for anything else
 * (other topics, wildcard patterns, unknown kinds/actions, malformed ids).
 */
export function parseTopic(topic: string): TopicInfo | undefined {
  const t = topic.split('.');
  const [a, b, c, d] = t;
  const id = (s: string | undefined): s is string => s !== undefined && s.length <= ID_MAX_LENGTH && grammarToken(s);
  if (a === 'camera') {
    if (t.length === 3 && id(c) && (b === 'discovered' || b === 'lost' || b === 'status')) {
      return { type: `camera.${b}`, cameraId: c };
    }
    if (t.length === 4 && id(c) && d !== undefined) {
      if (b === 'event' && (CAMERA_EVENT_KINDS as readonly string[]).includes(d)) {
        return { type: 'camera.event', cameraId: c, kind: d as CameraEventKind };
      }
      if (b === 'rpc' && (CAMERA_RPC_ACTIONS as readonly string[]).includes(d)) {
        return { type: 'camera.rpc', cameraId: c, action: d as CameraRpcAction };
      }
    }
    return undefined;
  }
  if (a === 'alert' && t.length === 2 && id(b)) return { type: 'alert', ruleId: b };
  if (a === 'recording' && t.length === 3 && id(c) && (b === 'started' || b === 'stopped' || b === 'clip')) {
    return { type: `recording.${b}`, cameraId: c };
  }
  return undefined;
}
