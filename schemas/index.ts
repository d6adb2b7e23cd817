/** udsbus-nvr/schemas: camera topic taxonomy, payload schemas, types and validators. */
export {
  CAMERA_EVENT_KINDS,
  CAMERA_RPC_ACTIONS,
  ID_MAX_LENGTH,
  LAST_WILL_REASON,
  TOPIC_MAX_BYTES,
  TOPIC_MAX_TOKENS,
  isValidPattern,
  isValidToken,
  isValidTopic,
  parseTopic,
  patterns,
  toTopicToken,
  topics,
  type CameraEventKind,
  type CameraRpcAction,
  type TopicInfo,
} from './topics.js';
export {
  Alert,
  CAMERA_EVENT_SCHEMAS,
  CameraDiscovered,
  CameraEventField,
  CameraEventInput,
  CameraEventLine,
  CameraEventMotion,
  CameraEventObject,
  CameraEventOther,
  CameraEventTamper,
  CameraLost,
  CameraProfile,
  CameraStatus,
  ERROR_CODES,
  ErrorCode,
  RecordingStarted,
  RecordingStopped,
  RecordingClip,
  RecordingTrigger,
  type CameraEvent,
  type CameraEventByKind,
} from './payloads.js';
export {
  RPC_SCHEMAS,
  RpcError,
  type RpcReply,
  type RpcReplyByAction,
  type RpcRequestByAction,
  type RpcResultByAction,
} from './rpc.js';
export { type SimpleItems, type SimpleValue } from './common.js';
export {
  SCHEMA_ENTRIES,
  schemaForTopic,
  type PayloadOf,
  type ReplyOf,
  type SchemaEntry,
  type SchemaOptions,
  type TaxonomyPayloads,
  type TaxonomyReplies,
} from './registry.js';
export { SchemaError, assertValid, validatorFor, type ValidationResult, type Validator } from './validate.js';
export { validated } from './rx.js';
