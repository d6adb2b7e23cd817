/** Which schema applies to which topic: the taxonomy as data, for validators, emitters and docs. */
import type { TSchema } from '@sinclair/typebox';
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

/** Payload type of a topic known at compile time (e.g. from the `topics` builders); unknown otherwise. */
export type PayloadOf<T extends string> = T extends `camera.event.${string}.${infer K}`
  ? K extends CameraEventKind
    ? CameraEventByKind[K]
    : unknown
  : T extends `camera.rpc.${string}.${infer A}`
    ? A extends CameraRpcAction
      ? RpcRequestByAction[A]
      : unknown
    : T extends `camera.discovered.${string}`
      ? CameraDiscovered
      : T extends `camera.lost.${string}`
        ? CameraLost
        : T extends `camera.status.${string}`
          ? CameraStatus
          : T extends `alert.${string}`
            ? Alert
            : T extends `recording.started.${string}`
              ? RecordingStarted
              : T extends `recording.stopped.${string}`
                ? RecordingStopped
                : T extends `recording.clip.${string}`
                  ? RecordingClip
                  : unknown;

/** Reply type of a camera.rpc topic known at compile time; unknown otherwise. */
export type ReplyOf<T extends string> = T extends `camera.rpc.${string}.${infer A}`
  ? A extends CameraRpcAction
    ? RpcReplyByAction[A]
    : unknown
  : unknown;
