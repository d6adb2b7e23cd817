/**
 * What each event kind looks like on the wire: topic, Source and Data items, property or pulse.
 * Shapes follow the ONVIF Core/Analytics specs and what common firmware sends.
 */
import type { MediaModel, VideoSourceModel } from '../media-model.js';
import type { CameraEvent, ItemValue, PropertyOperation } from '../types.js';

export type Item = readonly [name: string, value: ItemValue];

/** One NotificationMessage, before XML. */
export interface Notification {
  readonly topic: string;
  readonly source: readonly Item[];
  readonly data: readonly Item[];
  /** Properties carry PropertyOperation and are replayed as Initialized to new subscribers. */
  readonly property: boolean;
  readonly operation: PropertyOperation | undefined;
  readonly utcTime: Date;
  /** Verbatim UtcTime, to imitate firmware that sends odd timestamps. */
  readonly rawUtcTime?: string;
}

export type ItemType = 'xs:boolean' | 'xs:int' | 'xs:float' | 'xs:string' | 'tt:ReferenceToken';

/** A topic as GetEventProperties describes it. */
export interface TopicDescription {
  readonly topic: string;
  readonly property: boolean;
  readonly source: readonly (readonly [string, ItemType])[];
  readonly data: readonly (readonly [string, ItemType])[];
}

export const TOPIC = {
  motion: 'tns1:RuleEngine/CellMotionDetector/Motion',
  tamper: 'tns1:RuleEngine/TamperDetector/Tamper',
  field: 'tns1:RuleEngine/FieldDetector/ObjectsInside',
  lineCrossing: 'tns1:RuleEngine/LineDetector/Crossed',
  object: 'tns1:RuleEngine/ObjectDetector/Object',
  digitalInput: 'tns1:Device/Trigger/DigitalInput',
} as const;

export const DEFAULT_RULE = {
  motion: 'MyMotionDetectorRule',
  tamper: 'MyTamperDetectorRule',
  field: 'MyFieldDetectorRule',
  lineCrossing: 'MyLineDetectorRule',
  object: 'MyObjectDetectorRule',
} as const;

const ANALYTICS_SOURCE = [
  ['VideoSourceConfigurationToken', 'tt:ReferenceToken'],
  ['VideoAnalyticsConfigurationToken', 'tt:ReferenceToken'],
  ['Rule', 'xs:string'],
] as const;

export const BUILTIN_TOPICS: readonly TopicDescription[] = [
  { topic: TOPIC.motion, property: true, source: ANALYTICS_SOURCE, data: [['IsMotion', 'xs:boolean']] },
  { topic: TOPIC.tamper, property: true, source: ANALYTICS_SOURCE, data: [['IsTamper', 'xs:boolean']] },
  { topic: TOPIC.field, property: true, source: ANALYTICS_SOURCE, data: [['IsInside', 'xs:boolean']] },
  { topic: TOPIC.lineCrossing, property: false, source: ANALYTICS_SOURCE, data: [['ObjectId', 'xs:int']] },
  {
    topic: TOPIC.object,
    property: true,
    source: ANALYTICS_SOURCE,
    data: [
      ['ObjectId', 'xs:int'],
      ['ClassTypes', 'xs:string'],
      ['Likelihood', 'xs:float'],
      ['State', 'xs:boolean'],
    ],
  },
  {
    topic: TOPIC.digitalInput,
    property: true,
    source: [['InputToken', 'tt:ReferenceToken']],
    data: [['LogicalState', 'xs:boolean']],
  },
];

export interface TopicContext {
  readonly media: MediaModel;
  readonly digitalInputs: readonly string[];
  readonly now: () => Date;
}

function sourceFor(ctx: TopicContext, token: string | undefined): VideoSourceModel {
  const s = token === undefined ? ctx.media.sources[0] : ctx.media.sources.find((v) => v.token === token);
  if (!s) throw new Error(`unknown video source ${token ?? ''}`);
  return s;
}

function analyticsSource(ctx: TopicContext, videoSource: string | undefined, rule: string): Item[] {
  const s = sourceFor(ctx, videoSource);
  return [
    ['VideoSourceConfigurationToken', s.configToken],
    ['VideoAnalyticsConfigurationToken', s.analyticsToken],
    ['Rule', rule],
  ];
}

/** Turns a CameraEvent into its notification; `operation` is filled in by the caller for properties. */
export function toNotification(ev: CameraEvent, ctx: TopicContext): Notification {
  const utcTime = ev.at ?? ctx.now();
  const base = { utcTime, operation: undefined };
  switch (ev.kind) {
    case 'motion':
    case 'tamper':
    case 'field': {
      const dataName = ev.kind === 'motion' ? 'IsMotion' : ev.kind === 'tamper' ? 'IsTamper' : 'IsInside';
      return {
        ...base,
        topic: TOPIC[ev.kind],
        property: true,
        source: analyticsSource(ctx, ev.videoSource, ev.rule ?? DEFAULT_RULE[ev.kind]),
        data: [[dataName, ev.state]],
      };
    }
    case 'lineCrossing':
      return {
        ...base,
        topic: TOPIC.lineCrossing,
        property: false,
        source: analyticsSource(ctx, ev.videoSource, ev.rule ?? DEFAULT_RULE.lineCrossing),
        data: [['ObjectId', ev.objectId ?? 0]],
      };
    case 'object':
      return {
        ...base,
        topic: TOPIC.object,
        property: true,
        source: analyticsSource(ctx, ev.videoSource, ev.rule ?? DEFAULT_RULE.object),
        data: [
          ['ObjectId', ev.objectId ?? 0],
          ['ClassTypes', ev.classTypes.join(' ')],
          ['Likelihood', ev.likelihood ?? (ev.state ? 0.9 : 0)],
          ['State', ev.state],
        ],
      };
    case 'digitalInput': {
      const input = ev.input ?? ctx.digitalInputs[0];
      if (input === undefined || !ctx.digitalInputs.includes(input)) throw new Error(`unknown digital input ${input ?? ''}`);
      return { ...base, topic: TOPIC.digitalInput, property: true, source: [['InputToken', input]], data: [['LogicalState', ev.state]] };
    }
    case 'custom':
      // Topic segments become element names in GetEventProperties, so they must be XML names.
      // Vendors put their own segments under tns1 (Axis `tns1:Device/tnsaxis:IO/Port`), so any
      // segment may carry a prefix; the first one must.
      if (!/^[A-Za-z_][\w.-]*:[A-Za-z_][\w.-]*(\/([A-Za-z_][\w.-]*:)?[A-Za-z_][\w.-]*)*$/.test(ev.topic)) {
        throw new Error(`custom topic must look like prefix:Path/To/Topic, got ${ev.topic}`);
      }
      return {
        ...base,
        topic: ev.topic,
        property: ev.property ?? false,
        operation: ev.property ? ev.operation : undefined,
        source: Object.entries(ev.source ?? {}),
        data: Object.entries(ev.data),
        ...(ev.rawUtcTime !== undefined ? { rawUtcTime: ev.rawUtcTime } : {}),
      };
  }
}

/** The current state of every built-in property at power-on: nothing detected, inputs open. */
export function powerOnStates(ctx: TopicContext): Notification[] {
  const out: Notification[] = [];
  for (const s of ctx.media.sources) {
    for (const kind of ['motion', 'tamper', 'field'] as const) {
      out.push(toNotification({ kind, state: false, videoSource: s.token }, ctx));
    }
    out.push(toNotification({ kind: 'object', state: false, classTypes: [], videoSource: s.token, likelihood: 0 }, ctx));
  }
  for (const input of ctx.digitalInputs) out.push(toNotification({ kind: 'digitalInput', state: false, input }, ctx));
  return out;
}

/** Identity of a property instance: its topic plus its Source items. */
export function propertyKey(n: Pick<Notification, 'topic' | 'source'>): string {
  return `${n.topic}|${n.source.map(([k, v]) => `${k}=${String(v)}`).join('&')}`;
}

export function itemType(v: ItemValue): ItemType {
  if (typeof v === 'boolean') return 'xs:boolean';
  if (typeof v === 'number') return Number.isInteger(v) ? 'xs:int' : 'xs:float';
  return 'xs:string';
}

/** Describes a custom topic from one of its notifications. */
export function describe(n: Notification): TopicDescription {
  return {
    topic: n.topic,
    property: n.property,
    source: n.source.map(([k, v]) => [k, itemType(v)] as const),
    data: n.data.map(([k, v]) => [k, itemType(v)] as const),
  };
}
