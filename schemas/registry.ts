/** Which schema applies to which topic: the taxonomy as data, for validators, emitters and docs. */
import type { TSchema } from '@sinclair/typebox';
import type { TopicType } from 'udsbus';
import {
  Alert,
  CAMERA_EVENT_SCHEMAS,
  CameraDiscovered,
  CameraLost,
  CameraStatus,
  RecordingStarted,
  RecordingStopped,
  RecordingClip,
  type CameraEventByKind,
} from './payloads.js';
import { RPC_SCHEMAS, type RpcReplyByAction, type RpcRequestByAction } from './rpc.js';
import { CAMERA_EVENT_KINDS, CAMERA_RPC_ACTIONS, parseTopic, type CameraEventKind, type CameraRpcAction } from './topics.js';

export interface SchemaEntry {
  /** File name (without .json) under schemas/json/. */
  readonly name: string;
  /** Subscription pattern of the topics this schema applies to. */
  readonly pattern: string;
  /** `request`/`reply` for camera.rpc; replies travel on the requester's reply topic. */
  readonly role: 'payload' | 'request' | 'reply';
  readonly schema: TSchema;
}

export const SCHEMA_ENTRIES: readonly SchemaEntry[] = [
  { name: 'camera-discovered', pattern: 'camera.discovered.*', role: 'payload', schema: CameraDiscovered },
  { name: 'camera-lost', pattern: 'camera.lost.*', role: 'payload', schema: CameraLost },
  { name: 'camera-status', pattern: 'camera.status.*', role: 'payload', schema: CameraStatus },
  ...CAMERA_EVENT_KINDS.map((kind) => ({
    name: `camera-event-${kind}`,
    pattern: `camera.event.*.${kind}`,
    role: 'payload' as const,
    schema: CAMERA_EVENT_SCHEMAS[kind],
  })),
  { name: 'alert', pattern: 'alert.*', role: 'payload', schema: Alert },
  { name: 'recording-started', pattern: 'recording.started.*', role: 'payload', schema: RecordingStarted },
  { name: 'recording-stopped', pattern: 'recording.stopped.*', role: 'payload', schema: RecordingStopped },
  { name: 'recording-clip', pattern: 'recording.clip.*', role: 'payload', schema: RecordingClip },
  ...CAMERA_RPC_ACTIONS.flatMap((action) => [
    {
      name: `camera-rpc-${action}-request`,
      pattern: `camera.rpc.*.${action}`,
      role: 'request' as const,
      schema: RPC_SCHEMAS[action].request,
    },
    {
      name: `camera-rpc-${action}-reply`,
      pattern: `camera.rpc.*.${action}`,
      role: 'reply' as const,
      schema: RPC_SCHEMAS[action].reply,
    },
  ]),
];

export interface SchemaOptions {
  /** For camera.rpc topics: the schema of the reply instead of the request. */
  readonly reply?: boolean;
}

/**
 * The schema for a concrete topic of the taxonomy, or undefined (unknown topic,
 * wildcard pattern, or `reply` asked for a non-RPC topic).
 */
export function schemaForTopic(topic: string, options: SchemaOptions = {}): TSchema | undefined {
  const info = parseTopic(topic);
  if (info === undefined) return undefined;
  if (info.type === 'camera.rpc') return RPC_SCHEMAS[info.action][options.reply === true ? 'reply' : 'request'];
  if (options.reply === true) return undefined;
  switch (info.type) {
    case 'camera.discovered':
      return CameraDiscovered;
    case 'camera.lost':
      return CameraLost;
    case 'camera.status':
      return CameraStatus;
    case 'camera.event':
      return CAMERA_EVENT_SCHEMAS[info.kind];
    case 'alert':
      return Alert;
    case 'recording.started':
      return RecordingStarted;
    case 'recording.stopped':
      return RecordingStopped;
    case 'recording.clip':
      return RecordingClip;
  }
}

/**
 * Payload types of the taxonomy by subscription pattern (camera RPC: the request). The one type
 * map behind `PayloadOf` and the client's typed `publish`/`subscribe`/`request` (the
 * augmentation below); SCHEMA_ENTRIES is the same list as values (test/types checks they agree).
 */
export type TaxonomyPayloads = {
  'camera.discovered.*': CameraDiscovered;
  'camera.lost.*': CameraLost;
  'camera.status.*': CameraStatus;
  'alert.*': Alert;
  'recording.started.*': RecordingStarted;
  'recording.stopped.*': RecordingStopped;
  'recording.clip.*': RecordingClip;
} & { [K in CameraEventKind as `camera.event.*.${K}`]: CameraEventByKind[K] } & {
  [A in CameraRpcAction as `camera.rpc.*.${A}`]: RpcRequestByAction[A];
};

/** Reply payload types (the `{ok, result}` envelope, as sent) of the taxonomy's RPC patterns. */
export type TaxonomyReplies = { [A in CameraRpcAction as `camera.rpc.*.${A}`]: RpcReplyByAction[A] };

// Importing udsbus-nvr/schemas types the client by the taxonomy. This file is the only one that
// names the library's module for types (here and in the `TopicType` import above): when the
// library is imported by its package name, change both specifiers together.
declare module 'udsbus' {
  interface TopicPayloads extends TaxonomyPayloads {}
  interface TopicReplies extends TaxonomyReplies {}
}

/**
 * Payload type of a topic or pattern known at compile time (e.g. from the `topics` builders):
 * the union for a pattern covering several entries, unknown otherwise.
 */
export type PayloadOf<T extends string> = TopicType<TaxonomyPayloads, T>;

/** Reply type of a camera.rpc topic known at compile time; unknown otherwise. */
export type ReplyOf<T extends string> = TopicType<TaxonomyReplies, T>;
