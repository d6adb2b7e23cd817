/**
 * ONVIF notification (as the `onvif` library hands it to an 'event' listener) → the camera event
 * payload of SCHEMAS.md. Pure and total: anything it cannot map becomes kind `other`, with the
 * raw topic and items kept.
 *
 * The library's shape: `{topic: {_: 'tns1:…'} | 'tns1:…', message: {message: {$: {UtcTime,
 * PropertyOperation}, source: {simpleItem}, key?: {simpleItem}, data: {simpleItem, elementItem?}}}}`,
 * where `simpleItem` is an object for one item and an array for several, `Value`s are already
 * converted ("true" → true, "12" → 12, "…Z" dates → Date) and `UtcTime` is a Date only when it
 * ends in `Z`.
 */
import type { CameraEvent, CameraEventByKind } from '../../schemas/payloads.js';
import type { SimpleItems, SimpleValue } from '../../schemas/common.js';
import type { CameraEventKind } from '../../schemas/topics.js';

type Obj = Record<string, unknown>;

function obj(v: unknown): Obj | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined;
}

function list(v: unknown): unknown[] {
  return v === undefined || v === null ? [] : Array.isArray(v) ? v : [v];
}

function simpleValue(v: unknown): SimpleValue | undefined {
  if (typeof v === 'string' || typeof v === 'boolean') return v;
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? undefined : v.toISOString();
  return undefined;
}

/** `{simpleItem: [{$: {Name, Value}}]}` → `{Name: Value}`. */
function simpleItems(node: unknown): SimpleItems {
  const out: SimpleItems = {};
  for (const item of list(obj(node)?.['simpleItem'])) {
    const attrs = obj(obj(item)?.['$']);
    const name = attrs?.['Name'];
    const value = simpleValue(attrs?.['Value']);
    if (name === undefined || name === null || value === undefined) continue;
    out[String(name)] = value;
  }
  return out;
}

const MAX_DEPTH = 16;

/** XML converted by the library → plain, CBOR-portable JSON (Dates as text, nothing undefined). */
function plain(v: unknown, depth = 0): unknown {
  if (depth > MAX_DEPTH) return null;
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v.toISOString();
  if (typeof v === 'number') return Number.isFinite(v) ? v : String(v);
  if (typeof v === 'string' || typeof v === 'boolean' || v === null) return v;
  if (Array.isArray(v)) return v.map((x) => plain(x, depth + 1));
  if (typeof v === 'object') {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v as Obj)) {
      if (x === undefined || typeof x === 'function') continue;
      out[k] = plain(x, depth + 1);
    }
    return out;
  }
  return null;
}

/** ElementItems (source, key and data) by name, their XML content converted to JSON. */
function elementItems(...nodes: unknown[]): Obj | undefined {
  const out: Obj = {};
  let any = false;
  for (const node of nodes) {
    for (const item of list(obj(node)?.['elementItem'])) {
      const o = obj(item);
      if (!o) continue;
      const name = obj(o['$'])?.['Name'];
      const { $: _attrs, ...content } = o;
      out[name === undefined || name === null ? `element${Object.keys(out).length}` : String(name)] = plain(content);
      any = true;
    }
  }
  return any ? out : undefined;
}

const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(9999, 11, 31);

/**
 * UtcTime → ISO 8601 with zone. A time without a zone is UTC (ONVIF); an unparsable or absurd one
 * (all-zero dates from cameras without a clock) falls back to the receive time.
 */
function eventTime(v: unknown, receivedAt: Date): string {
  let d: Date | undefined;
  if (v instanceof Date) d = v;
  else if (typeof v === 'string' && v.trim() !== '') {
    const s = v.trim();
    const zoned = /(Z|[+-][0-9]{2}:?[0-9]{2})$/i.test(s) ? s : `${s}Z`;
    d = new Date(zoned);
  }
  if (d === undefined || Number.isNaN(d.getTime()) || d.getTime() < EARLIEST || d.getTime() > LATEST) {
    return receivedAt.toISOString();
  }
  return d.toISOString();
}

const OPERATIONS = { Initialized: 'initialized', Changed: 'changed', Deleted: 'deleted' } as const;

function pickBoolean(items: SimpleItems, preferred: readonly string[]): boolean | undefined {
  for (const name of preferred) {
    const v = items[name];
    if (typeof v === 'boolean') return v;
    if (v === 'true' || v === 1) return true;
    if (v === 'false' || v === 0) return false;
  }
  for (const v of Object.values(items)) if (typeof v === 'boolean') return v;
  return undefined;
}

function pickText(items: SimpleItems, names: readonly string[]): string | undefined {
  for (const name of names) {
    const v = items[name];
    if (v !== undefined && String(v) !== '') return String(v);
  }
  return undefined;
}

/** Which kind an ONVIF topic is; checked in this order (the path after the prefix, any case). */
const KIND_RULES: readonly [CameraEventKind, RegExp][] = [
  ['line', /LineDetector|LineCross|\/Crossed$|Tripwire/i],
  ['field', /FieldDetector|ObjectsInside|Intrusion|RegionEntrance|RegionExit/i],
  ['object', /ObjectDetect|ObjectDetector|ObjectClassification|PeopleDetect|HumanDetect|VehicleDetect|FaceDetect/i],
  ['tamper', /Tamper|GlobalSceneChange|ImageTooDark|ImageTooBright|ImageTooBlurry|Defocus/i],
  ['input', /DigitalInput|Trigger\/Input|IO\/Port|\/Input$/i],
  ['motion', /Motion/i],
];

export function kindOfTopic(topic: string): CameraEventKind {
  const path = topic.slice(topic.indexOf(':') + 1);
  for (const [kind, re] of KIND_RULES) if (re.test(path)) return kind;
  return 'other';
}

export interface NormalizedEvent {
  kind: CameraEventKind;
  payload: CameraEvent;
}

/** Never throws; an event it cannot map to its kind's fields becomes `other`. */
export function normalizeNotification(msg: unknown, cameraId: string, receivedAt: Date = new Date()): NormalizedEvent {
  const m = obj(msg);
  const rawTopic = m?.['topic'];
  const topicText = typeof rawTopic === 'string' ? rawTopic : obj(rawTopic)?.['_'];
  const onvifTopic = typeof topicText === 'string' && topicText.trim() !== '' ? topicText.trim() : 'unknown';
  const inner = obj(obj(m?.['message'])?.['message']);
  const attrs = obj(inner?.['$']);
  const source = simpleItems(inner?.['source']);
  const data = simpleItems(inner?.['data']);
  const keyNode = inner?.['key'];
  const key = keyNode === undefined ? undefined : simpleItems(keyNode);
  const elements = elementItems(inner?.['source'], keyNode, inner?.['data']);
  const opRaw = attrs?.['PropertyOperation'];
  const operation = typeof opRaw === 'string' && opRaw in OPERATIONS ? OPERATIONS[opRaw as keyof typeof OPERATIONS] : undefined;

  const base = {
    v: 1 as const,
    cameraId,
    time: eventTime(attrs?.['UtcTime'], receivedAt),
    receivedAt: receivedAt.toISOString(),
    ...(operation !== undefined ? { operation } : {}),
    initial: operation === 'initialized',
    onvifTopic,
    source,
    ...(key !== undefined && Object.keys(key).length > 0 ? { key } : {}),
    data,
    ...(elements !== undefined ? { elements } : {}),
  };
  const other = (): NormalizedEvent => ({ kind: 'other', payload: { ...base, kind: 'other' } });
  const all = { ...source, ...(key ?? {}), ...data };
  const rule = pickText(source, ['Rule', 'RuleName']);
  const withRule = rule !== undefined ? { rule } : {};

  switch (kindOfTopic(onvifTopic)) {
    case 'motion': {
      const active = pickBoolean(data, ['IsMotion', 'State', 'Motion', 'MotionActive']);
      if (active === undefined) return other();
      return { kind: 'motion', payload: { ...base, kind: 'motion', active } satisfies CameraEventByKind['motion'] };
    }
    case 'tamper': {
      const active = pickBoolean(data, ['IsTamper', 'State', 'IsGlobalSceneChange', 'IsTooDark', 'IsTooBright', 'IsTooBlurry']);
      if (active === undefined) return other();
      return { kind: 'tamper', payload: { ...base, kind: 'tamper', active } satisfies CameraEventByKind['tamper'] };
    }
    case 'input': {
      const active = pickBoolean(data, ['LogicalState', 'State', 'Level']);
      const input = pickText(source, ['InputToken', 'Token', 'Index', 'Port', 'Input']) ?? pickText(source, Object.keys(source));
      if (active === undefined || input === undefined) return other();
      return { kind: 'input', payload: { ...base, kind: 'input', input, active } satisfies CameraEventByKind['input'] };
    }
    case 'field': {
      const inside = pickBoolean(data, ['IsInside', 'State', 'Inside']);
      if (inside === undefined) return other();
      return { kind: 'field', payload: { ...base, kind: 'field', ...withRule, inside } satisfies CameraEventByKind['field'] };
    }
    case 'line': {
      const objectId = pickText(all, ['ObjectId', 'ObjectID']);
      return {
        kind: 'line',
        payload: { ...base, kind: 'line', ...withRule, ...(objectId !== undefined ? { objectId } : {}) } satisfies CameraEventByKind['line'],
      };
    }
    case 'object': {
      const objectId = pickText({ ...(key ?? {}), ...data }, ['ObjectId', 'ObjectID']);
      const classText = pickText(data, ['ClassTypes', 'ClassType', 'Class', 'ObjectType', 'Type']);
      const classes = classText
        ?.split(/[\s,;]+/)
        .map((c) => c.toLowerCase())
        .filter((c) => c !== '');
      return {
        kind: 'object',
        payload: {
          ...base,
          kind: 'object',
          ...withRule,
          ...(classes !== undefined && classes.length > 0 ? { classes } : {}),
          ...(objectId !== undefined ? { objectId } : {}),
        } satisfies CameraEventByKind['object'],
      };
    }
    default:
      return other();
  }
}
