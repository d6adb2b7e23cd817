/**
 * Payload schemas of the published (non-RPC) camera topics. The TypeBox values are the
 * single source of truth: TypeScript types come from `Static`, validators from
 * TypeCompiler, and schemas/json/*.json from emit.ts.
 */
import { Type, type Static, type TProperties } from '@sinclair/typebox';
import {
  CameraId,
  Closed,
  dateTime,
  HOST_PATTERN,
  HTTP_URI_PATTERN,
  RuleId,
  SchemaVersion,
  simpleItems,
  topic,
} from './common.js';
import type { CameraEventKind } from './topics.js';

// ---------------------------------------------------------------- camera.event.<cameraId>.<kind>

const Operation = Type.Union([Type.Literal('initialized'), Type.Literal('changed'), Type.Literal('deleted')], {
  description: 'ONVIF PropertyOperation, present when the ONVIF event is a property event.',
});

const RuleName = Type.String({ minLength: 1, description: 'Analytics rule name (ONVIF Source "Rule" item).' });
const ObjectId = Type.String({ minLength: 1, description: 'Tracked object id reported by the camera.' });

/** Classes the publisher normalises vendor words to; any other class is passed through in lower case. */
export const OBJECT_CLASSES = ['person', 'vehicle', 'face', 'animal', 'package'] as const;

const TimeIssue = Type.Union([Type.Literal('missing'), Type.Literal('invalid'), Type.Literal('out-of-range')], {
  description:
    'Why `time` is the receive time rather than the camera\'s: UtcTime absent, unparsable (e.g. Hikvision\'s 0000-00-00), or before 2000 / in the future (a camera without a clock).',
});

/** Fields every camera event carries, ahead of the kind-specific normalised fields. */
function cameraEvent<K extends CameraEventKind, P extends TProperties>(kind: K, extra: P, description: string) {
  return Closed(
    {
      v: SchemaVersion,
      cameraId: CameraId,
      kind: Type.Literal(kind),
      time: dateTime(
        'Event time: the camera\'s UtcTime corrected by the camera clock offset measured at connect (see cameraTime), or the receive time when the camera sent no usable time (see timeIssue).',
      ),
      cameraTime: Type.Optional(
        Type.String({ maxLength: 64, description: 'UtcTime exactly as the camera sent it (uncorrected, possibly invalid).' }),
      ),
      timeIssue: Type.Optional(TimeIssue),
      receivedAt: dateTime('When the worker received the notification.'),
      operation: Type.Optional(Operation),
      initial: Type.Boolean({
        description:
          'True for Initialized property states sent on (re)subscription: a snapshot of current state, not a fresh occurrence.',
      }),
      // Optional only so that v1 payloads from older producers stay valid; this publisher always sets both.
      pulse: Type.Optional(
        Type.Boolean({
          description:
            'True for a momentary occurrence that has no end (a line crossing, a doorbell press sent once); false for a state, whose end arrives as its own event with ended=true. Always set by the ONVIF publisher; absent means unknown (older producers).',
        }),
      ),
      ended: Type.Optional(
        Type.Boolean({
          description:
            'True when this event reports that a state ended (motion stopped, object left, alarm cleared). Consumers that start things (recording, alarms) act on ended=false only. Always set by the ONVIF publisher; absent means false.',
        }),
      ),
      late: Type.Optional(
        Type.Literal(true, {
          description:
            'The event happened well before it was received (a replay after a reconnect, or a queue the camera flushed): history, not a live alarm.',
        }),
      ),
      videoSource: Type.Optional(
        Type.String({
          minLength: 1,
          description:
            'Video source (channel) the event belongs to, normalised from VideoSourceToken, VideoSourceConfigurationToken (mapped through the profiles), Source, VideoSource or channel items. Matches CameraProfile.videoSource.',
        }),
      ),
      snapshot: Type.Optional(
        Closed(
          {
            path: Type.String({ minLength: 1, description: 'The JPEG in the publisher\'s snapshot spool (oldest files are deleted first).' }),
            size: Type.Integer({ minimum: 0 }),
            sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
          },
          { description: 'The camera snapshot taken for this event, by reference (the publisher\'s snapshots option).' },
        ),
      ),
      snapshotError: Type.Optional(Type.String({ description: 'Why a snapshot configured for this kind could not be taken.' })),
      onvifTopic: Type.String({
        minLength: 1,
        description: 'Original ONVIF topic, e.g. tns1:RuleEngine/CellMotionDetector/Motion.',
      }),
      source: simpleItems('ONVIF Source SimpleItems (e.g. VideoSourceConfigurationToken, Rule).'),
      key: Type.Optional(simpleItems('ONVIF Key SimpleItems, when the camera sends any.')),
      data: simpleItems('ONVIF Data SimpleItems, unmodified apart from type coercion.'),
      elements: Type.Optional(Type.Record(Type.String(), Type.Unknown(), {
        description: 'ONVIF ElementItems (XML content, e.g. tt:Frame) converted to JSON, when present.',
      })),
      ...extra,
    },
    { title: `CameraEvent${kind[0]!.toUpperCase()}${kind.slice(1)}`, description: `camera.event.<cameraId>.${kind}: ${description}` },
  );
}

const OptionalActive = (what: string) =>
  Type.Optional(Type.Boolean({ description: `${what} Absent for pulse events (pulse=true).` }));

export const CameraEventMotion = cameraEvent(
  'motion',
  { rule: Type.Optional(RuleName), active: Type.Boolean({ description: 'Motion currently detected.' }) },
  'Motion detection (cell motion, motion alarm, VMD, PIR). A state.',
);
export const CameraEventTamper = cameraEvent(
  'tamper',
  { rule: Type.Optional(RuleName), active: Type.Boolean({ description: 'Tampering currently detected.' }) },
  'Tamper detection (camera covered, moved, defocused, scene too dark/bright). A state.',
);
export const CameraEventInput = cameraEvent(
  'input',
  {
    input: Type.String({ minLength: 1, description: 'Input token (InputToken, port, AlarmIn index, virtual input).' }),
    active: Type.Boolean({ description: 'Logical state of the input.' }),
  },
  'Digital/alarm input state change (also virtual inputs). A state.',
);
export const CameraEventField = cameraEvent(
  'field',
  {
    rule: Type.Optional(RuleName),
    inside: Type.Boolean({ description: 'An object is inside the field/area.' }),
    objectId: Type.Optional(ObjectId),
  },
  'Field (area/intrusion/loitering) detection. A state.',
);
export const CameraEventLine = cameraEvent(
  'line',
  { rule: Type.Optional(RuleName), objectId: Type.Optional(ObjectId), active: OptionalActive('Line-crossing state, for cameras that report it as one (Tapo IsLineCross).') },
  'Line crossing: a pulse (ONVIF LineDetector/Crossed), or a state on cameras that report one.',
);
export const CameraEventObject = cameraEvent(
  'object',
  {
    rule: Type.Optional(RuleName),
    active: OptionalActive('Object(s) of the classes currently detected.'),
    classes: Type.Optional(
      Type.Array(Type.String({ minLength: 1 }), {
        description: `Object classes, normalised to ${OBJECT_CLASSES.join('/')} where recognised (others lower-cased), from the data items or implied by the topic.`,
      }),
    ),
    objectId: Type.Optional(ObjectId),
  },
  'Analytics object detection (person, vehicle, face, animal, package). A state; a pulse when the camera sends no state.',
);
export const CameraEventSound = cameraEvent(
  'sound',
  { rule: Type.Optional(RuleName), active: OptionalActive('Sound (level/audio analytics) currently detected.') },
  'Audio detection (sound level, detected sound class). A state.',
);
export const CameraEventDoorbell = cameraEvent(
  'doorbell',
  { active: OptionalActive('Button pressed / visitor present.') },
  'Doorbell button / visitor. A state on cameras that send true then false, else a pulse.',
);
export const CameraEventRelay = cameraEvent(
  'relay',
  {
    relay: Type.Optional(Type.String({ minLength: 1, description: 'Relay output token.' })),
    active: Type.Boolean({ description: 'Relay output energised.' }),
  },
  'Relay (alarm output) state. A state.',
);
export const CameraEventStorage = cameraEvent(
  'storage',
  {
    storage: Type.Optional(Type.String({ minLength: 1, description: 'Storage token (SD card, disk).' })),
    active: Type.Boolean({ description: 'A storage failure is present.' }),
  },
  'Storage failure (SD card missing/full/broken, disk error). A state; ended=true when the failure cleared.',
);
export const CameraEventHealth = cameraEvent(
  'health',
  {
    metric: Type.String({ minLength: 1, description: 'What is reported, e.g. processor-usage, fan-failure, last-reboot.' }),
    active: OptionalActive('A failure condition is present.'),
    value: Type.Optional(Type.Union([Type.Number(), Type.String()], { description: 'A reading (e.g. percent, a date).' })),
  },
  'Device health: failures (fan, power, temperature) as states, readings (processor usage, last reboot) as pulses.',
);
export const CameraEventOther = cameraEvent(
  'other',
  {},
  'Any other ONVIF event, passed through; consult onvifTopic, source and data. pulse and ended are false: the meaning is unknown.',
);

export const CAMERA_EVENT_SCHEMAS = {
  motion: CameraEventMotion,
  tamper: CameraEventTamper,
  input: CameraEventInput,
  field: CameraEventField,
  line: CameraEventLine,
  object: CameraEventObject,
  sound: CameraEventSound,
  doorbell: CameraEventDoorbell,
  relay: CameraEventRelay,
  storage: CameraEventStorage,
  health: CameraEventHealth,
  other: CameraEventOther,
} as const;

export type CameraEventMotion = Static<typeof CameraEventMotion>;
export type CameraEventTamper = Static<typeof CameraEventTamper>;
export type CameraEventInput = Static<typeof CameraEventInput>;
export type CameraEventField = Static<typeof CameraEventField>;
export type CameraEventLine = Static<typeof CameraEventLine>;
export type CameraEventObject = Static<typeof CameraEventObject>;
export type CameraEventOther = Static<typeof CameraEventOther>;
export type CameraEventByKind = { [K in CameraEventKind]: Static<(typeof CAMERA_EVENT_SCHEMAS)[K]> };
/** Any camera event, discriminated by `kind`. */
export type CameraEvent = CameraEventByKind[CameraEventKind];

// ---------------------------------------------------------------- camera.discovered.<cameraId>

export const CameraProfile = Closed(
  {
    token: Type.String({ minLength: 1, description: 'ONVIF media profile token.' }),
    name: Type.String(),
    encoding: Type.Optional(Type.String({ description: 'Video encoding, e.g. H264, H265, JPEG.' })),
    width: Type.Optional(Type.Integer({ minimum: 1 })),
    height: Type.Optional(Type.Integer({ minimum: 1 })),
    fps: Type.Optional(Type.Number({ exclusiveMinimum: 0 })),
    ptz: Type.Optional(Type.Boolean({ description: 'The profile has a PTZ configuration.' })),
    videoSource: Type.Optional(
      Type.String({ minLength: 1, description: 'Token of the video source (channel) this profile encodes; events carry the same token.' }),
    ),
    videoSourceConfiguration: Type.Optional(
      Type.String({ minLength: 1, description: 'Token of the profile\'s VideoSourceConfiguration (what analytics events name).' }),
    ),
  },
  { description: 'Summary of one media profile.' },
);
export type CameraProfile = Static<typeof CameraProfile>;

export const CameraDiscovered = Closed(
  {
    v: SchemaVersion,
    cameraId: CameraId,
    name: Type.Optional(Type.String()),
    manufacturer: Type.Optional(Type.String()),
    model: Type.Optional(Type.String()),
    firmware: Type.Optional(Type.String()),
    serial: Type.Optional(Type.String()),
    hardwareId: Type.Optional(Type.String()),
    address: Closed(
      {
        host: Type.String({ pattern: HOST_PATTERN, description: 'Host name or IP address.' }),
        port: Type.Integer({ minimum: 1, maximum: 65535 }),
      },
      { description: 'Network address of the device service. Never contains credentials.' },
    ),
    xaddr: Type.String({ pattern: HTTP_URI_PATTERN, description: 'ONVIF device service URL, without credentials.' }),
    discoveredBy: Type.Union([Type.Literal('static'), Type.Literal('ws-discovery'), Type.Literal('ssdp'), Type.Literal('cli')]),
    profiles: Type.Array(CameraProfile, { description: 'Media profiles; empty when they could not be read.' }),
    time: dateTime('When the camera was discovered.'),
  },
  { title: 'CameraDiscovered', description: 'camera.discovered.<cameraId>: a camera was found (retained per camera).' },
);
export type CameraDiscovered = Static<typeof CameraDiscovered>;

// ---------------------------------------------------------------- camera.lost.<cameraId>

export const CameraLost = Closed(
  {
    v: SchemaVersion,
    cameraId: CameraId,
    lastSeen: dateTime('Last time the camera answered or was announced.'),
    time: dateTime(),
  },
  { title: 'CameraLost', description: 'camera.lost.<cameraId>: a camera disappeared (not retained).' },
);
export type CameraLost = Static<typeof CameraLost>;

// ---------------------------------------------------------------- camera.status.<cameraId>

export const ErrorCode = Type.Union(
  [
    Type.Literal('unreachable'),
    Type.Literal('unauthorized'),
    Type.Literal('camera-fault'),
    Type.Literal('invalid-argument'),
    Type.Literal('not-found'),
    Type.Literal('timeout'),
    Type.Literal('internal'),
  ],
  { description: 'Machine-readable error code.' },
);
export type ErrorCode = Static<typeof ErrorCode>;
export const ERROR_CODES = ErrorCode.anyOf.map((l) => l.const);

export const CameraStatus = Closed(
  {
    v: SchemaVersion,
    cameraId: CameraId,
    state: Type.Union([Type.Literal('online'), Type.Literal('offline'), Type.Literal('error'), Type.Literal('auth-failed')], {
      description:
        'auth-failed: the camera refused our credentials so often that the publisher stopped trying (fix them and restart it).',
    }),
    address: Type.Optional(
      Type.String({
        minLength: 1,
        description:
          'host:port of the camera as configured. A camera that refused our credentials before its id was known reports under a provisional id (from its name or address); this field links that status to the camera once its real id is known.',
      }),
    ),
    name: Type.Optional(Type.String({ description: 'The camera\'s configured display name.' })),
    reason: Type.Optional(Type.String({ description: 'Human-readable cause, e.g. "publisher-disconnected".' })),
    code: Type.Optional(ErrorCode),
    since: dateTime('When the camera entered this state.'),
    time: dateTime('When this message was produced.'),
  },
  {
    title: 'CameraStatus',
    description: 'camera.status.<cameraId>: connectivity state (retained, owned by the publisher connection).',
  },
);
export type CameraStatus = Static<typeof CameraStatus>;

// ---------------------------------------------------------------- alert.<ruleId>

export const Alert = Closed(
  {
    v: SchemaVersion,
    ruleId: RuleId,
    cameraId: Type.Optional(CameraId),
    topic: topic('Topic of the message that triggered the alert.'),
    severity: Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')]),
    message: Type.String({ minLength: 1 }),
    time: dateTime(),
    count: Type.Optional(Type.Integer({ minimum: 1, description: 'Matching messages folded into this alert.' })),
    suppressed: Type.Optional(
      Type.Integer({ minimum: 0, description: 'Alerts of this rule suppressed (throttled) since the last one sent.' }),
    ),
    event: Type.Optional(Type.Unknown({ description: 'Copy of the triggering payload.' })),
  },
  { title: 'Alert', description: 'alert.<ruleId>: an alert raised by the alerting service.' },
);
export type Alert = Static<typeof Alert>;

// ---------------------------------------------------------------- recording.started|stopped.<cameraId>

export const RecordingTrigger = Closed(
  { topic: topic(), time: dateTime() },
  { description: 'A bus message that started or extended the recording.' },
);
export type RecordingTrigger = Static<typeof RecordingTrigger>;

const recordingBase = {
  v: SchemaVersion,
  sessionId: Type.String({ minLength: 1, maxLength: 128, description: 'Recording session id, equal in started/stopped.' }),
  cameraId: CameraId,
  start: dateTime('Recording start (including pre-roll).'),
  triggers: Type.Array(RecordingTrigger, { description: 'Empty for manual/scheduled recordings.' }),
};

export const RecordingStarted = Closed(
  {
    ...recordingBase,
    reason: Type.Union([Type.Literal('event'), Type.Literal('manual'), Type.Literal('schedule'), Type.Literal('continuous')]),
  },
  { title: 'RecordingStarted', description: 'recording.started.<cameraId>: a recording session began.' },
);
export type RecordingStarted = Static<typeof RecordingStarted>;

export const RecordingStopped = Closed(
  {
    ...recordingBase,
    end: dateTime('Recording end (including post-roll).'),
    reason: Type.Union([
      Type.Literal('idle'),
      Type.Literal('manual'),
      Type.Literal('schedule'),
      Type.Literal('max-duration'),
      Type.Literal('error'),
      Type.Literal('shutdown'),
    ]),
  },
  { title: 'RecordingStopped', description: 'recording.stopped.<cameraId>: a recording session ended.' },
);
export type RecordingStopped = Static<typeof RecordingStopped>;

// ---------------------------------------------------------------- recording.clip.<cameraId>

export const RecordingClip = Closed(
  {
    v: SchemaVersion,
    sessionId: Type.String({ minLength: 1, maxLength: 128, description: 'The session the clip belongs to (as in recording.started/stopped).' }),
    cameraId: CameraId,
    path: Type.String({ minLength: 1, maxLength: 4096, description: "The clip's path on the recorder's host; complete (written to a temp file, fsynced, renamed)." }),
    start: dateTime('Wall-clock time of the first video in the clip: at or before the session start, by at most one segment.'),
    end: dateTime('Wall-clock time of the end of the video in the clip.'),
    durationS: Type.Number({ minimum: 0, description: 'Container duration (ffprobe), seconds; end − start minus the gaps.' }),
    bytes: Type.Integer({ minimum: 0, description: 'File size.' }),
    sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the file, lower-case hex.' }),
    gaps: Type.Array(Closed({ from: dateTime(), to: dateTime() }, { description: 'A stream outage inside the session; the video skips it.' }), {
      description: 'Stream outages inside the session, oldest first; empty when the stream never dropped.',
    }),
  },
  { title: 'RecordingClip', description: 'recording.clip.<cameraId>: a session\'s clip was written completely and listed in the session index.' },
);
export type RecordingClip = Static<typeof RecordingClip>;
