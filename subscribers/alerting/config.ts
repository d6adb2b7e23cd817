/**
 * The alerting config file: rules, sinks and rate limits. Validated with TypeBox at start-up;
 * every problem is reported with file:line and JSON path, and nothing starts until all are fixed.
 *
 * @example
 * {
 *   "timezone": "Europe/Berlin",
 *   "sinks": { "ops": { "type": "webhook", "url": "http://127.0.0.1:8080/alerts" } },
 *   "rules": [{ "id": "night-motion", "topic": "camera.event.*.motion",
 *               "when": [{ "path": "active", "equals": true }],
 *               "windows": [{ "from": "22:00", "to": "06:00" }],
 *               "cooldownMs": 60000, "sinks": ["bus", "ops"] }]
 * }
 */
import { Type, type Static } from '@sinclair/typebox';
import { isValidPattern, isValidToken } from '../../schemas/topics.js';
import { LogLevelSchema } from '../common/env.js';
import { loadJsonConfig, type SemanticCheck } from '../common/config.js';
import { placeholdersIn } from '../common/template.js';

const Ms = (description: string, minimum = 0) => Type.Integer({ minimum, description });

export const Condition = Type.Object(
  {
    path: Type.String({ minLength: 1, description: 'Dot path into the payload, e.g. "active", "data.IsMotion", "classes".' }),
    equals: Type.Optional(Type.Unknown({ description: 'The value equals this (deep equality).' })),
    in: Type.Optional(Type.Array(Type.Unknown(), { minItems: 1, description: 'The value (or, for an array, any element) is one of these.' })),
    exists: Type.Optional(Type.Boolean({ description: 'true: the path has a value; false: it has none.' })),
    gt: Type.Optional(Type.Number({ description: 'The value is a number greater than this.' })),
    lt: Type.Optional(Type.Number({ description: 'The value is a number less than this.' })),
  },
  { additionalProperties: false, description: 'All operators given must hold.' },
);
export type Condition = Static<typeof Condition>;

export const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const HHMM = '^([01][0-9]|2[0-3]):[0-5][0-9]$';

export const TimeWindow = Type.Object(
  {
    from: Type.String({ pattern: HHMM, description: 'Local time HH:MM, inclusive.' }),
    to: Type.String({ pattern: HHMM, description: 'Local time HH:MM, exclusive; earlier than from = crosses midnight.' }),
    days: Type.Optional(Type.Array(Type.Union(DAYS.map((d) => Type.Literal(d))), { minItems: 1, description: 'Days the window starts on (default every day).' })),
  },
  { additionalProperties: false },
);
export type TimeWindow = Static<typeof TimeWindow>;

export const Storm = Type.Object(
  {
    windowMs: Ms('Length of a rate-limit window.', 1),
    maxAlerts: Type.Integer({ minimum: 1, description: 'Alerts sent per rule and camera per window; the rest are summarised at its end.' }),
  },
  { additionalProperties: false },
);
export type Storm = Static<typeof Storm>;

export const WebhookSink = Type.Object(
  {
    type: Type.Literal('webhook'),
    url: Type.String({ pattern: '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$', description: 'POST target.' }),
    headers: Type.Optional(Type.Record(Type.String(), Type.String())),
    timeoutMs: Type.Optional(Ms('Per attempt (default 5000).', 1)),
    retries: Type.Optional(Type.Integer({ minimum: 0, maximum: 20, description: 'Extra attempts after a failure (default 3).' })),
    backoffMs: Type.Optional(Ms('First retry delay, doubled each time (default 500).', 1)),
    maxBackoffMs: Type.Optional(Ms('Longest retry delay (default 30000).', 1)),
  },
  { additionalProperties: false },
);
export const CommandSink = Type.Object(
  {
    type: Type.Literal('command'),
    command: Type.Array(Type.String(), { minItems: 1, description: 'argv, run without a shell; placeholders {ruleId} {cameraId} {topic} {severity} {message} {time} {count} {suppressed} {json} {payload.<path>}.' }),
    stdin: Type.Optional(Type.Union([Type.Literal('json'), Type.Literal('none')], { description: '"json": the alert as JSON on stdin (default).' })),
    timeoutMs: Type.Optional(Ms('Stop the command after this long (default 10000).', 1)),
  },
  { additionalProperties: false },
);
export const BusSink = Type.Object({ type: Type.Literal('bus') }, { additionalProperties: false });
export const Sink = Type.Union([WebhookSink, CommandSink, BusSink]);
export type WebhookSink = Static<typeof WebhookSink>;
export type CommandSink = Static<typeof CommandSink>;
export type Sink = Static<typeof Sink>;

export const Rule = Type.Object(
  {
    id: Type.String({ description: 'Rule id, a topic token: alerts go to alert.<id>.' }),
    topic: Type.String({ minLength: 1, description: 'Topic pattern the rule watches, e.g. camera.event.*.motion.' }),
    when: Type.Optional(Type.Array(Condition, { description: 'All must hold.' })),
    windows: Type.Optional(Type.Array(TimeWindow, { minItems: 1, description: 'Only inside one of these (local time).' })),
    severity: Type.Optional(Type.Union([Type.Literal('info'), Type.Literal('warning'), Type.Literal('critical')])),
    message: Type.Optional(Type.String({ minLength: 1, description: 'Template, e.g. "Motion at {cameraId}".' })),
    cooldownMs: Type.Optional(Ms('After an alert for a camera, further matches for it are suppressed this long (counted in the next alert).')),
    dedupe: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Paths whose values, repeated for a camera, are the same state: only the first alerts.' })),
    storm: Type.Optional(Storm),
    sinks: Type.Optional(Type.Array(Type.String({ minLength: 1 }), { minItems: 1, description: 'Sink names; "bus" is built in (default ["bus"]).' })),
    includeEvent: Type.Optional(Type.Boolean({ description: 'Copy the triggering payload into the alert (default true).' })),
    retained: Type.Optional(Type.Boolean({ description: 'Also evaluate retained messages replayed at start-up (default false).' })),
    enabled: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type Rule = Static<typeof Rule>;

export const AlertingConfig = Type.Object(
  {
    socket: Type.Optional(Type.String({ minLength: 1 })),
    name: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    logLevel: Type.Optional(LogLevelSchema),
    timezone: Type.Optional(Type.String({ minLength: 1, description: 'IANA zone for time windows (default: the system\'s local time).' })),
    storm: Type.Optional(Storm),
    sinks: Type.Optional(Type.Record(Type.String(), Sink)),
    rules: Type.Array(Rule, { minItems: 1 }),
  },
  { additionalProperties: false },
);
export type AlertingConfig = Static<typeof AlertingConfig>;

export const DEFAULT_STORM: Storm = { windowMs: 60_000, maxAlerts: 10 };
export const TEMPLATE_FIELDS = ['ruleId', 'cameraId', 'topic', 'severity', 'message', 'time', 'count', 'suppressed', 'json'] as const;

export const checkAlertingConfig: SemanticCheck<AlertingConfig> = (c) => {
  const problems: Array<{ path: string; message: string }> = [];
  const sinkNames = new Set(['bus', ...Object.keys(c.sinks ?? {})]);
  const templates = (s: string, path: string, allowed: readonly string[]) => {
    for (const name of placeholdersIn(s)) {
      if (!allowed.includes(name) && !name.startsWith('payload.')) {
        problems.push({ path, message: `unknown placeholder {${name}}; use ${allowed.map((a) => `{${a}}`).join(' ')} or {payload.<path>}` });
      }
    }
  };
  if (c.timezone !== undefined) {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: c.timezone });
    } catch {
      problems.push({ path: '/timezone', message: `unknown time zone "${c.timezone}" (use an IANA name such as "Europe/Berlin")` });
    }
  }
  for (const [name, sink] of Object.entries(c.sinks ?? {})) {
    if (name === 'bus' && sink.type !== 'bus') problems.push({ path: `/sinks/${name}`, message: '"bus" is the built-in bus sink; choose another name' });
    if (sink.type === 'command') sink.command.forEach((a, i) => templates(a, `/sinks/${name}/command/${i}`, TEMPLATE_FIELDS));
  }
  const ids = new Map<string, number>();
  c.rules.forEach((r, i) => {
    const at = `/rules/${i}`;
    if (!isValidToken(r.id) || r.id.length > 64) problems.push({ path: `${at}/id`, message: 'Expected a topic token: 1-64 characters of A-Za-z0-9_~%@:=-' });
    const dup = ids.get(r.id);
    if (dup !== undefined) problems.push({ path: `${at}/id`, message: `duplicate rule id "${r.id}" (also /rules/${dup}/id)` });
    ids.set(r.id, i);
    if (!isValidPattern(r.topic)) problems.push({ path: `${at}/topic`, message: `invalid topic pattern "${r.topic}": dot-separated tokens, "*" for one token, a final ">" for the rest` });
    r.when?.forEach((w, j) => {
      const ops = ['equals', 'in', 'exists', 'gt', 'lt'].filter((k) => k in w);
      if (ops.length === 0) problems.push({ path: `${at}/when/${j}`, message: 'needs an operator: equals, in, exists, gt or lt' });
    });
    r.windows?.forEach((w, j) => {
      if (w.from === w.to) problems.push({ path: `${at}/windows/${j}`, message: 'from and to are equal; leave "windows" out for all day' });
    });
    r.sinks?.forEach((s, j) => {
      if (!sinkNames.has(s)) problems.push({ path: `${at}/sinks/${j}`, message: `no sink named "${s}"; define it under "sinks" (known: ${[...sinkNames].join(', ')})` });
    });
    if (r.message !== undefined) templates(r.message, `${at}/message`, TEMPLATE_FIELDS.filter((f) => f !== 'message' && f !== 'json'));
  });
  return problems;
};

/** Load and validate an alerting config (throws ConfigError with file:line: /path: reason). */
export function loadAlertingConfig(file: string): AlertingConfig {
  return loadJsonConfig(file, AlertingConfig, checkAlertingConfig);
}
