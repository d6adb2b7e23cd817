/**
 * The vendor-agnostic mapping from ONVIF notifications to event kinds: one ordered table of topic
 * patterns and item names, no vendor branches in code. docs/onvif-publisher.md lists it for
 * users; test/onvif-event-map.test.ts runs every fixture of the vendor catalogue
 * (publishers/onvif/simulator/fixtures/vendors.ts) through it.
 *
 * How a rule is matched:
 * - the topic's path is compared with every namespace prefix removed (`tns1:Device/tnsaxis:IO/Port`
 *   → `Device/IO/Port`) and in any case, because vendors put their own segments under tns1 and
 *   differ in case (`TpSmartEvent`/`TPSmartEvent`);
 * - the first rule whose pattern matches wins, so specific rules come first: Tapo sends person,
 *   line and intrusion detections under `CellMotionDetector/…`, which must not become motion;
 * - item names are compared in any case (Axis uses `active`/`state`, others `State`/`IsMotion`).
 *
 * States are read as booleans from true/false, 1/0, "true"/"1"/"false"/"0", active/inactive,
 * on/off (Axis sends 0/1, relays send active/inactive).
 */
import type { CameraEventKind } from '../../schemas/topics.js';

export type MappedKind = Exclude<CameraEventKind, 'other'>;

export interface EventRule {
  /** A short name, for docs and tests. */
  readonly id: string;
  readonly kind: MappedKind;
  /** Matched against the prefix-free topic path, any case. */
  readonly topic: RegExp;
  /** Data (then Source/Key) items that carry the state, in order of preference, any case. */
  readonly state?: readonly string[];
  /**
   * What an event without any state item is: `pulse` (a momentary occurrence), or `other` (the
   * kind needs a state to mean anything, e.g. motion without IsMotion).
   */
  readonly withoutState: 'pulse' | 'other';
  /** Object classes implied by the topic (Reolink PeopleDetect, Uniview HumanShapeDetect). */
  readonly classes?: readonly string[];
  /** Items whose name names the class and whose value is the state (Tapo IsPeople/IsVehicle/IsPet). */
  readonly classFlags?: Readonly<Record<string, string>>;
  /** Read classes from ClassTypes-like items; an empty list there means the objects left (AJAX). */
  readonly classItems?: boolean;
  /** For `health`: the metric name. */
  readonly metric?: string;
  /** For `health` readings: the item carrying the value. */
  readonly value?: readonly string[];
}

const OBJECT_STATE = ['State', 'IsInside', 'IsDetected', 'Active', 'IsObject'];

/** The table, in match order. */
export const EVENT_RULES: readonly EventRule[] = [
  // ---- objects whose class the topic names (before motion: Tapo nests them under CellMotionDetector)
  {
    id: 'tapo-smart-event',
    kind: 'object',
    topic: /(^|\/)(TPSmartEventDetector\/TPSmartEvent|CellMotionDetector\/TpSmartEvent)$/i,
    classFlags: { IsPeople: 'person', IsVehicle: 'vehicle', IsPet: 'animal', IsBabyCry: 'baby-cry', IsFace: 'face' },
    withoutState: 'other',
  },
  {
    id: 'person',
    kind: 'object',
    topic: /(^|\/)(PeopleDetector\/People|CellMotionDetector\/People|MyRuleDetector\/PeopleDetect|IVA\/HumanShapeDetect|HumanShapeDetect|HumanDetect(or)?(\/\w+)?|PersonDetect(ion)?)$/i,
    classes: ['person'],
    state: ['IsPeople', 'IsPerson', 'IsHuman', ...OBJECT_STATE],
    withoutState: 'pulse',
  },
  {
    id: 'vehicle',
    kind: 'object',
    topic: /(^|\/)(MyRuleDetector\/VehicleDetect|IVB\/VehicleDetect|VehicleDetect(ion)?|VehicleDetector\/Vehicle)$/i,
    classes: ['vehicle'],
    state: ['IsVehicle', 'IsCar', ...OBJECT_STATE],
    withoutState: 'pulse',
  },
  {
    id: 'face',
    kind: 'object',
    topic: /(^|\/)(MyRuleDetector\/FaceDetect|FaceDetect(ion|or)?(\/\w+)?)$/i,
    classes: ['face'],
    state: ['IsFace', ...OBJECT_STATE],
    withoutState: 'pulse',
  },
  {
    id: 'animal',
    kind: 'object',
    topic: /(^|\/)(MyRuleDetector\/DogCatDetect|DogCatDetect|AnimalDetect(ion)?|PetDetect(ion)?)$/i,
    classes: ['animal'],
    state: ['IsPet', 'IsAnimal', 'IsDogCat', ...OBJECT_STATE],
    withoutState: 'pulse',
  },
  {
    id: 'package',
    kind: 'object',
    topic: /(^|\/)(MyRuleDetector\/Package|PackageDetect(ion)?)$/i,
    classes: ['package'],
    state: ['IsPackage', ...OBJECT_STATE],
    withoutState: 'pulse',
  },
  // ---- doorbell (Reolink Visitor; generic call buttons)
  {
    id: 'doorbell',
    kind: 'doorbell',
    topic: /(^|\/)(MyRuleDetector\/Visitor|Visitor|Doorbell\w*|CallButton\w*|DoorBell\/\w+)$/i,
    state: ['State', 'IsVisitor', 'Pressed', 'Active'],
    withoutState: 'pulse',
  },
  // ---- line crossing (before motion: Tapo CellMotionDetector/LineCross)
  {
    id: 'line',
    kind: 'line',
    topic: /(LineDetector|LineCross(ing)?|CrossLine|Tripwire|FenceGuard|\/Crossed$)/i,
    state: ['IsLineCross', 'IsCrossed', 'State', 'Active'],
    withoutState: 'pulse',
  },
  // ---- fields / intrusion / loitering
  {
    id: 'field',
    kind: 'field',
    topic: /(FieldDetector|ObjectsInside|Intrusion|RegionEntrance|RegionExit|EnteringField|LeavingField|ObjectInField|LoiteringGuard|Loitering)/i,
    state: ['IsInside', 'IsIntrusion', 'IsLoitering', 'State', 'Active'],
    withoutState: 'other',
  },
  // ---- generic object analytics, classes from the items (ONVIF ObjectDetection, AJAX, Axis AOA)
  {
    id: 'object',
    kind: 'object',
    topic: /(ObjectDetect(ion|or)?|ObjectClassification|ObjectAnalytics|ObjectTracker|\/Object$)/i,
    classItems: true,
    state: OBJECT_STATE,
    withoutState: 'pulse',
  },
  // ---- tamper and image problems (before motion: Tapo CellMotionDetector/Tamper)
  {
    id: 'tamper',
    kind: 'tamper',
    topic: /(Tamper|GlobalSceneChange|ImageTooDark|ImageTooBright|ImageTooBlurry|Defocus|SceneChange|VideoBlind|CameraCovered|Shelter)/i,
    state: ['IsTamper', 'IsGlobalSceneChange', 'IsTooDark', 'IsTooBright', 'IsTooBlurry', 'State', 'Active'],
    withoutState: 'other',
  },
  // ---- sound
  {
    id: 'sound',
    kind: 'sound',
    topic: /(AudioAnalytics\/Audio\/DetectedSound|AudioSource\/TriggerLevel|AudioMutation|AudioAlarm|SoundAlarm|SoundDetect\w*|AudioDetect\w*|AudioSource\/\w*Alarm)/i,
    state: ['IsSoundDetected', 'Triggered', 'State', 'Active', 'IsAlarm'],
    withoutState: 'pulse',
  },
  // ---- relay outputs (before inputs: `Device/Trigger/Relay`)
  {
    id: 'relay',
    kind: 'relay',
    topic: /(Trigger\/Relay$|RelayOutput|AlarmOut\w*|OutputPort|IO\/OutputPort|Device\/IO\/Relay)/i,
    state: ['LogicalState', 'State', 'Active', 'RelayLogicalState'],
    withoutState: 'other',
  },
  // ---- alarm / digital / virtual inputs
  {
    id: 'input',
    kind: 'input',
    topic: /(DigitalInput|Trigger\/Input|AlarmIn\w*|VirtualInput|IO\/Port$|IOPort|InputPort|\/Input$|ExternalAlarm|LocalAlarm|IO\/ManualTrigger)/i,
    state: ['LogicalState', 'State', 'Active', 'Level'],
    withoutState: 'other',
  },
  // ---- storage
  {
    id: 'storage',
    kind: 'storage',
    topic: /(HardwareFailure\/StorageFailure|StorageFailure|Storage\/\w*(Failure|Error|Full|Alarm|Alert|Disruption)|SDCard\w*|HDD\w*(Error|Full|Failure)|RecordingFailure|Disk(Error|Full|Failure))/i,
    state: ['Failed', 'Failure', 'IsFailure', 'Error', 'Alert', 'State', 'Active', 'Full'],
    withoutState: 'other',
  },
  // ---- device health
  {
    id: 'health-failure',
    kind: 'health',
    topic: /HardwareFailure\/(FanFailure|PowerSupplyFailure|TemperatureCritical|\w+)/i,
    state: ['Failed', 'Failure', 'Critical', 'State', 'Active'],
    withoutState: 'other',
  },
  {
    id: 'processor-usage',
    kind: 'health',
    topic: /Monitoring\/ProcessorUsage$/i,
    metric: 'processor-usage',
    value: ['Value', 'Usage'],
    withoutState: 'pulse',
  },
  {
    id: 'recording-job',
    kind: 'health',
    topic: /RecordingConfig\/JobState$/i,
    metric: 'recording-job',
    state: ['State'],
    withoutState: 'pulse',
  },
  {
    id: 'count-aggregation',
    kind: 'health',
    topic: /CountAggregation\/Counter$/i,
    metric: 'object-count',
    value: ['Count'],
    withoutState: 'pulse',
  },
  {
    id: 'operating-time',
    kind: 'health',
    topic: /Monitoring\/(OperatingTime\/\w+|Backup\/Last)$/i,
    value: ['Status', 'Value', 'Time'],
    withoutState: 'pulse',
  },
  // ---- motion last: anything with Motion in a segment, VMD, PIR
  {
    id: 'motion',
    kind: 'motion',
    topic: /(CellMotionDetector\/Motion$|VideoSource\/MotionAlarm$|MotionRegionDetector|MotionDetect\w*|MotionAlarm|MotionGuard|\/VMD\/|(^|\/)VMD3?\/|\/Sensor\/PIR$|(^|\/)PIR$|\/Motion$)/i,
    state: ['IsMotion', 'State', 'Motion', 'MotionActive', 'Active', 'Alarm'],
    withoutState: 'other',
  },
];

/** `tns1:Device/tnsaxis:IO/Port` → `Device/IO/Port`. */
export function topicPath(topic: string): string {
  return topic
    .split('/')
    .map((seg) => seg.slice(seg.indexOf(':') + 1))
    .join('/');
}

/** Topic → rule; cameras send few distinct topics, so the table is scanned once per topic. */
const cache = new Map<string, EventRule | null>();
const CACHE_MAX = 4096;

export function ruleFor(topic: string): EventRule | undefined {
  let rule = cache.get(topic);
  if (rule === undefined) {
    const path = topicPath(topic);
    rule = EVENT_RULES.find((r) => r.topic.test(path)) ?? null;
    // Bounded against a camera inventing topics: forget everything rather than grow.
    if (cache.size >= CACHE_MAX) cache.clear();
    cache.set(topic, rule);
  }
  return rule ?? undefined;
}

/** The kind a topic maps to (`other` when no rule matches). */
export function kindOfTopic(topic: string): CameraEventKind {
  return ruleFor(topic)?.kind ?? 'other';
}

const TRUE = new Set(['true', '1', 'active', 'on', 'yes', 'open', 'alarm']);
const FALSE = new Set(['false', '0', 'inactive', 'off', 'no', 'closed', 'normal', 'idle']);

/** true/false, 1/0, "true"/"1"/"false"/"0", active/inactive, on/off; anything else undefined. */
export function toBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v === 1 ? true : v === 0 ? false : undefined;
  if (typeof v === 'string') {
    const s = v.trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  return undefined;
}

/** An item by name, any case. */
export function item<T>(items: Readonly<Record<string, T>>, name: string): T | undefined {
  if (name in items) return items[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(items)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

const CLASS_WORDS: Readonly<Record<string, string>> = {
  human: 'person',
  humans: 'person',
  people: 'person',
  person: 'person',
  pedestrian: 'person',
  body: 'person',
  humanface: 'face',
  face: 'face',
  vehicle: 'vehicle',
  vehicles: 'vehicle',
  car: 'vehicle',
  truck: 'vehicle',
  bus: 'vehicle',
  bike: 'vehicle',
  bicycle: 'vehicle',
  motorcycle: 'vehicle',
  motorvehicle: 'vehicle',
  licenseplate: 'vehicle',
  animal: 'animal',
  pet: 'animal',
  dog: 'animal',
  cat: 'animal',
  dogcat: 'animal',
  package: 'package',
  parcel: 'package',
};

/** A vendor's class word → person/vehicle/face/animal/package, or the word in lower case. */
export function normalizeClass(word: string): string {
  const w = word.trim().toLowerCase();
  return CLASS_WORDS[w.replace(/[\s_-]/g, '')] ?? w;
}

export const CLASS_ITEMS = ['ClassTypes', 'ClassType', 'Class', 'ObjectType', 'Type', 'ObjectClass', 'Classes'];
