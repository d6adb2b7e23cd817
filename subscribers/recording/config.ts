/** The recording subscriber's config file: schema, defaults and the checks a schema cannot make. */
import { Type, type Static } from '@sinclair/typebox';
import { isValidToken } from '../../schemas/topics.js';
import { LogLevelSchema } from '../common/env.js';
import { loadJsonConfig, type SemanticCheck } from '../common/config.js';
import { placeholdersIn } from '../common/template.js';

const Ms = (description: string, minimum = 0) => Type.Integer({ minimum, description });

export const RECORDER_PLACEHOLDERS = ['cameraId', 'sessionId', 'rtspUri', 'file', 'maxSeconds', 'start', 'startCompact'] as const;

export const RecorderConfig = Type.Object(
  {
    command: Type.Array(Type.String(), {
      minItems: 1,
      description: 'argv of the recorder, run without a shell; placeholders: {cameraId} {sessionId} {rtspUri} {file} {maxSeconds} {start} {startCompact}',
    }),
    file: Type.Optional(Type.String({ minLength: 1, description: 'Output path template, e.g. /var/lib/nvr/{cameraId}/{sessionId}.mp4; its directory is created.' })),
    profile: Type.Optional(Type.String({ minLength: 1, description: 'Media profile token for the stream-uri request (default: the camera\'s first).' })),
    streamUriTimeoutMs: Type.Optional(Ms('Timeout of the camera.rpc.<id>.stream-uri request.', 1)),
    killTimeoutMs: Type.Optional(Ms('Grace period between SIGTERM and SIGKILL when a session ends.', 1)),
  },
  { additionalProperties: false },
);
export type RecorderConfig = Static<typeof RecorderConfig>;

export const ClipsConfig = Type.Object(
  {
    dir: Type.String({ minLength: 1, description: 'Clips go to <dir>/<cameraId>/<sessionId>.mp4; the segment ring to <dir>/.ring/<cameraId>/.' }),
    ffmpeg: Type.Optional(Type.String({ minLength: 1, description: 'ffmpeg binary (default "ffmpeg" on PATH).' })),
    ffprobe: Type.Optional(Type.String({ minLength: 1, description: 'ffprobe binary (default "ffprobe" on PATH).' })),
    streams: Type.Optional(
      Type.Record(Type.String(), Type.String({ minLength: 1 }), { description: 'Fixed RTSP URIs by camera id; other cameras are asked over camera.rpc.<id>.stream-uri.' }),
    ),
    profile: Type.Optional(Type.String({ minLength: 1, description: 'Media profile token for stream-uri requests (default: the camera\'s first).' })),
    streamUriTimeoutMs: Type.Optional(Ms('Timeout of the stream-uri request.', 1)),
    segmentSeconds: Type.Optional(Type.Number({ minimum: 0.5, maximum: 60, description: 'Target segment length (default 2); segments end on key frames.' })),
    ringSeconds: Type.Optional(Type.Number({ minimum: 1, description: 'History kept per camera (default 60, at least pre-roll + 2 segments).' })),
    ringBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Most bytes of unpinned segments per camera (default 256 MiB).' })),
    budgetBytes: Type.Optional(Type.Integer({ minimum: 1, description: 'Disk budget for clips per camera, oldest deleted first (default 10 GiB).' })),
    maxAgeHours: Type.Optional(Type.Number({ exclusiveMinimum: 0, description: 'Clips older than this are deleted (default: kept until the budget needs room).' })),
    stallTimeoutMs: Type.Optional(Ms('A stream silent this long counts as dropped and is reconnected (default 5000).', 100)),
    coverTimeoutMs: Type.Optional(Ms('How long a closed session waits for video up to its end (default 15000).', 0)),
  },
  { additionalProperties: false },
);
export type ClipsConfig = Static<typeof ClipsConfig>;

export const TriggerKinds = Type.Object(
  {
    motion: Type.Optional(Type.Boolean()),
    field: Type.Optional(Type.Boolean()),
    object: Type.Optional(Type.Boolean()),
    line: Type.Optional(Type.Boolean()),
    input: Type.Optional(Type.Boolean()),
    tamper: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false, description: 'Which event kinds start sessions (default: motion, field, object, line).' },
);
export type TriggerKinds = Static<typeof TriggerKinds>;

export const RecordingConfig = Type.Object(
  {
    socket: Type.Optional(Type.String({ minLength: 1, description: 'Broker socket (default: --socket, UDSBUS_SOCKET, the per-user default).' })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Client name shown in $SYS (default "recording").' })),
    indexFile: Type.String({ minLength: 1, description: 'Session index: append-only JSON lines, fsynced per record.' }),
    preRollMs: Type.Optional(Ms('Recording starts this long before the first trigger (default 5000).')),
    postRollMs: Type.Optional(Ms('Recording continues this long after the last trigger ends (default 10000).')),
    maxDurationMs: Type.Optional(Ms('Longest session, start (with pre-roll) to end (default 600000).', 1)),
    triggers: Type.Optional(TriggerKinds),
    cameras: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { description: 'Only these camera ids (default: all).' })),
    startOnInitial: Type.Optional(Type.Boolean({ description: 'Let Initialized states (initial: true, "motion is ongoing") open sessions (default false).' })),
    recorder: Type.Optional(RecorderConfig),
    clips: Type.Optional(ClipsConfig),
    logLevel: Type.Optional(LogLevelSchema),
  },
  { additionalProperties: false },
);
export type RecordingConfig = Static<typeof RecordingConfig>;

export const checkRecordingConfig: SemanticCheck<RecordingConfig> = (c) => {
  const problems: Array<{ path: string; message: string }> = [];
  const pre = c.preRollMs ?? DEFAULTS.preRollMs;
  const max = c.maxDurationMs ?? DEFAULTS.maxDurationMs;
  if (max <= pre) problems.push({ path: '/maxDurationMs', message: `must be longer than preRollMs (${pre})` });
  c.cameras?.forEach((id, i) => {
    if (!isValidToken(id)) problems.push({ path: `/cameras/${i}`, message: 'Expected a camera id (a topic token)' });
  });
  const check = (s: string, path: string) => {
    for (const name of placeholdersIn(s)) {
      if (!(RECORDER_PLACEHOLDERS as readonly string[]).includes(name)) {
        problems.push({ path, message: `unknown placeholder {${name}}; use one of ${RECORDER_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}` });
      }
    }
  };
  for (const id of Object.keys(c.clips?.streams ?? {})) {
    if (!isValidToken(id)) problems.push({ path: `/clips/streams/${id}`, message: 'Expected a camera id (a topic token)' });
  }
  c.recorder?.command.forEach((a, i) => check(a, `/recorder/command/${i}`));
  if (c.recorder?.file !== undefined) {
    check(c.recorder.file, '/recorder/file');
    if (placeholdersIn(c.recorder.file).includes('file')) problems.push({ path: '/recorder/file', message: '{file} cannot refer to itself' });
  }
  if (c.recorder !== undefined && c.recorder.file === undefined && c.recorder.command.some((a) => placeholdersIn(a).includes('file'))) {
    problems.push({ path: '/recorder/command', message: 'uses {file} but /recorder/file is not set' });
  }
  return problems;
};

export const DEFAULTS = {
  preRollMs: 5_000,
  postRollMs: 10_000,
  maxDurationMs: 600_000,
  streamUriTimeoutMs: 5_000,
  killTimeoutMs: 5_000,
  triggers: { motion: true, field: true, object: true, line: true, input: false, tamper: false } satisfies Required<TriggerKinds>,
} as const;

/** Load and validate a recording config file (throws ConfigError with file:line: /path: reason). */
export function loadRecordingConfig(file: string): RecordingConfig {
  return loadJsonConfig(file, RecordingConfig, checkRecordingConfig);
}
