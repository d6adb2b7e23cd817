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
import { CLASS_ITEMS, item, normalizeClass, ruleFor, toBool, topicPath } from './event-map.js';

export { kindOfTopic } from './event-map.js';

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

/** Before this a camera clock is unset (1970 on boards without RTC), not a real event time. */
const EARLIEST = Date.UTC(2000, 0, 1);
/** Corrected times further ahead of the receive time than this are not believed. */
const FUTURE_SLACK_MS = 24 * 3600_000;
/** The default for NormalizeOptions.lateAfterMs. */
export const DEFAULT_LATE_AFTER_MS = 60_000;

type TimeIssue = 'missing' | 'invalid' | 'out-of-range';

function parseCameraTime(v: unknown): { raw?: string; date?: Date; issue?: TimeIssue } {
  if (v instanceof Date) {
    return Number.isNaN(v.getTime()) ? { issue: 'invalid' } : { raw: v.toISOString(), date: v };
  }
  if (typeof v !== 'string' || v.trim() === '') return { issue: 'missing' };
  const raw = v.trim().slice(0, 64);
  // A time without a zone is UTC (ONVIF).
  const zoned = /(Z|[+-][0-9]{2}:?[0-9]{2})$/i.test(raw) ? raw : `${raw}Z`;
  const d = new Date(zoned);
  return Number.isNaN(d.getTime()) ? { raw, issue: 'invalid' } : { raw, date: d };
}

/**
 * `time`: the camera's UtcTime corrected by the measured clock offset, so a camera 3 h off gives
 * the true time; the receive time when the camera sent none, an unparsable one (Hikvision's
 * 0000-00-00T00:00:00Z) or an absurd one (before 2000, or a day in the future) — reported in
 * `timeIssue`, the text as sent kept in `cameraTime`.
 */
function eventTime(v: unknown, receivedAt: Date, offsetMs: number): { time: Date; cameraTime?: string; timeIssue?: TimeIssue } {
  const { raw, date, issue } = parseCameraTime(v);
  const keep = raw !== undefined ? { cameraTime: raw } : {};
  if (date === undefined) return { time: receivedAt, ...keep, timeIssue: issue ?? 'invalid' };
  const corrected = new Date(date.getTime() - offsetMs);
  if (date.getTime() < EARLIEST || corrected.getTime() > receivedAt.getTime() + FUTURE_SLACK_MS) {
    return { time: receivedAt, ...keep, timeIssue: 'out-of-range' };
  }
  return { time: corrected, ...keep };
}

const OPERATIONS = { Initialized: 'initialized', Changed: 'changed', Deleted: 'deleted' } as const;

function pickText(items: SimpleItems, names: readonly string[]): string | undefined {
  for (const name of names) {
    const v = item(items, name);
    if (v !== undefined && String(v) !== '') return String(v);
  }
  return undefined;
}

/** The first named item that reads as a boolean (any case), then any data item that is a real boolean. */
function pickState(data: SimpleItems, rest: SimpleItems, names: readonly string[]): boolean | undefined {
  for (const items of [data, rest]) {
    for (const name of names) {
      const b = toBool(item(items, name));
      if (b !== undefined) return b;
    }
  }
  for (const v of Object.values(data)) if (typeof v === 'boolean') return v;
  return undefined;
}

const VIDEO_SOURCE_ITEMS = ['VideoSourceToken', 'VideoSource', 'VideoSourceConfigurationToken', 'Source', 'channel', 'Channel', 'VideoInputToken'];
const INPUT_ITEMS = ['InputToken', 'Input', 'AlarmInToken', 'AlarmIn', 'Index', 'port', 'Port', 'Token', 'Channel', 'channel'];

export interface NormalizeOptions {
  /** When the notification was received (default: now). */
  receivedAt?: Date;
  /** Camera clock minus our clock, as measured at connect (ms); subtracted from UtcTime. */
  clockOffsetMs?: number;
  /** A non-initial event older than this when received is marked `late` (default 60 s). */
  lateAfterMs?: number;
  /** VideoSourceConfiguration token → video source token, from the camera's profiles. */
  videoSources?: ReadonlyMap<string, string>;
}

export interface NormalizedEvent {
  kind: CameraEventKind;
  payload: CameraEvent;
}

/** Never throws; an event it cannot map to its kind's fields becomes `other`. */
export function normalizeNotification(
  msg: unknown,
  cameraId: string,
  opts: NormalizeOptions | Date = {},
): NormalizedEvent {
  const o: NormalizeOptions = opts instanceof Date ? { receivedAt: opts } : opts;
  const receivedAt = o.receivedAt ?? new Date();
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
  const initial = operation === 'initialized';

  const { time, cameraTime, timeIssue } = eventTime(attrs?.['UtcTime'], receivedAt, o.clockOffsetMs ?? 0);
  const late = !initial && receivedAt.getTime() - time.getTime() > (o.lateAfterMs ?? DEFAULT_LATE_AFTER_MS);
  const rawSource = pickText(source, VIDEO_SOURCE_ITEMS);
  const videoSource = rawSource !== undefined ? (o.videoSources?.get(rawSource) ?? rawSource) : undefined;

  const common = {
    v: 1 as const,
    cameraId,
    time: time.toISOString(),
    ...(cameraTime !== undefined ? { cameraTime } : {}),
    ...(timeIssue !== undefined ? { timeIssue } : {}),
    receivedAt: receivedAt.toISOString(),
    ...(operation !== undefined ? { operation } : {}),
    initial,
    ...(late ? { late: true as const } : {}),
    ...(videoSource !== undefined ? { videoSource } : {}),
    onvifTopic,
    source,
    ...(key !== undefined && Object.keys(key).length > 0 ? { key } : {}),
    data,
    ...(elements !== undefined ? { elements } : {}),
  };
  const other = (): NormalizedEvent => ({ kind: 'other', payload: { ...common, pulse: false, ended: false, kind: 'other' } });
  const rule = ruleFor(onvifTopic);
  if (rule === undefined) return other();

  const rest = { ...source, ...(key ?? {}) };
  const all = { ...rest, ...data };
  const ruleName = pickText(source, ['Rule', 'RuleName']);
  const withRule = ruleName !== undefined ? { rule: ruleName } : {};
  const objectIdText = pickText({ ...(key ?? {}), ...data }, ['ObjectId', 'ObjectID']);
  const withObjectId = objectIdText !== undefined ? { objectId: objectIdText } : {};

  // The state, and for objects the classes, per the rule.
  let active: boolean | undefined;
  let classes: string[] | undefined = rule.classes !== undefined ? [...rule.classes] : undefined;
  if (rule.classFlags !== undefined) {
    for (const [name, cls] of Object.entries(rule.classFlags)) {
      const b = toBool(item(data, name));
      if (b === undefined) continue;
      active = b;
      classes = [cls];
      break;
    }
  } else if (rule.state !== undefined) {
    active = pickState(data, rest, rule.state);
  }
  if (rule.classItems) {
    const text = pickText(data, CLASS_ITEMS) ?? (item(data, 'ClassTypes') !== undefined ? '' : undefined);
    if (text !== undefined) {
      const list = [...new Set(text.split(/[\s,;]+/).filter((c) => c !== '').map(normalizeClass))];
      if (list.length > 0) classes = list;
      // AJAX: an empty ClassTypes is the end of the detection.
      active ??= list.length > 0;
    }
  }
  // A Deleted property is gone: its state ended, whatever items came with it.
  if (operation === 'deleted') active = false;
  if (active === undefined && rule.withoutState === 'other') return other();
  const pulse = active === undefined;
  const state = { pulse, ended: active === false };

  switch (rule.kind) {
    case 'motion':
    case 'tamper':
      return { kind: rule.kind, payload: { ...common, ...state, kind: rule.kind, ...withRule, active: active ?? true } };
    case 'input': {
      const input = pickText(rest, INPUT_ITEMS) ?? pickText(rest, Object.keys(rest)) ?? topicPath(onvifTopic).split('/').pop()!;
      return { kind: 'input', payload: { ...common, ...state, kind: 'input', input, active: active ?? true } };
    }
    case 'field':
      return { kind: 'field', payload: { ...common, ...state, kind: 'field', ...withRule, ...withObjectId, inside: active ?? true } };
    case 'line':
      return {
        kind: 'line',
        payload: { ...common, ...state, kind: 'line', ...withRule, ...withObjectId, ...(active !== undefined ? { active } : {}) },
      };
    case 'object':
      return {
        kind: 'object',
        payload: {
          ...common,
          ...state,
          kind: 'object',
          ...withRule,
          ...(active !== undefined ? { active } : {}),
          ...(classes !== undefined && classes.length > 0 ? { classes } : {}),
          ...withObjectId,
        } satisfies CameraEventByKind['object'],
      };
    case 'sound':
      return { kind: 'sound', payload: { ...common, ...state, kind: 'sound', ...withRule, ...(active !== undefined ? { active } : {}) } };
    case 'doorbell':
      return { kind: 'doorbell', payload: { ...common, ...state, kind: 'doorbell', ...(active !== undefined ? { active } : {}) } };
    case 'relay': {
      const relay = pickText(rest, ['RelayToken', 'Relay', 'RelayOutputToken', 'Token', 'port', 'Port', 'Index']);
      return { kind: 'relay', payload: { ...common, ...state, kind: 'relay', ...(relay !== undefined ? { relay } : {}), active: active ?? true } };
    }
    case 'storage': {
      const storage = pickText(rest, ['Token', 'StorageToken', 'Storage', 'Disk', 'Index', 'Source']);
      return { kind: 'storage', payload: { ...common, ...state, kind: 'storage', ...(storage !== undefined ? { storage } : {}), active: active ?? true } };
    }
    case 'health': {
      const metric = rule.metric ?? kebab(topicPath(onvifTopic).split('/').pop() ?? 'health');
      const v = rule.value !== undefined ? firstValue(all, rule.value) : undefined;
      return {
        kind: 'health',
        payload: {
          ...common,
          ...state,
          kind: 'health',
          metric,
          ...(active !== undefined ? { active } : {}),
          ...(v !== undefined ? { value: v } : {}),
        },
      };
    }
  }
}

function firstValue(items: SimpleItems, names: readonly string[]): number | string | undefined {
  for (const n of names) {
    const v = item(items, n);
    if (typeof v === 'number' || (typeof v === 'string' && v !== '')) return v;
  }
  return undefined;
}

function kebab(s: string): string {
  return s.replace(/([a-z0-9])([A-Z])/g, '$1-$2').toLowerCase();
}
