/**
 * Building blocks shared by all payload schemas.
 *
 * Patterns are written in the common subset of ECMA-262, Python `re` and Go RE2
 * (no look-around, no back-references, `[0-9]` rather than `\d`) so the emitted
 * JSON Schema files validate identically in every client language.
 */
import { Type, type ObjectOptions, type Static, type TObject, type TProperties } from '@sinclair/typebox';

/** Characters allowed in one topic token (see the bus topic grammar). */
export const TOKEN_CHARS = 'A-Za-z0-9_~%@:=-';
/** Ids (camera ids, rule ids) are tokens capped well below the 256-byte topic limit. */
export const ID_MAX_LENGTH = 64;
export const TOPIC_MAX_BYTES = 256;
export const TOPIC_MAX_TOKENS = 16;

export const TOKEN_PATTERN = `^[${TOKEN_CHARS}]{1,${ID_MAX_LENGTH}}$`;
export const TOPIC_PATTERN = `^[${TOKEN_CHARS}]+(\\.[${TOKEN_CHARS}]+){0,${TOPIC_MAX_TOKENS - 1}}$`;
/** RFC 3339 profile of ISO 8601: a zone designator is required so times are unambiguous. */
export const DATE_TIME_PATTERN =
  '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$';
/** Host name or IP literal; `@`, `/` and whitespace are excluded so `user:pass@host` cannot slip in. */
export const HOST_PATTERN = '^[^\\s/@?#]+$';
/** Absolute URI whose authority has no userinfo: credentials never travel on the bus. */
export const URI_PATTERN = '^[A-Za-z][A-Za-z0-9+.-]*://[^\\s/?#@]+([/?#][^\\s]*)?$';
export const HTTP_URI_PATTERN = '^[Hh][Tt][Tt][Pp][Ss]?://[^\\s/?#@]+([/?#][^\\s]*)?$';

/**
 * Readable explanations for pattern failures; TypeBox would otherwise print the raw regex.
 * Keyed by pattern source so it works no matter how schemas are cloned or composed.
 */
export const PATTERN_MESSAGES: ReadonlyMap<string, string> = new Map([
  [TOKEN_PATTERN, `Expected a topic token: 1-${ID_MAX_LENGTH} characters of [${TOKEN_CHARS}] (use toTopicToken())`],
  [TOPIC_PATTERN, 'Expected a concrete topic: dot-separated tokens without wildcards'],
  [DATE_TIME_PATTERN, 'Expected an ISO 8601 date-time with time zone, e.g. 2024-05-01T12:00:00.000Z'],
  [HOST_PATTERN, 'Expected a host name or IP address without credentials, path or spaces'],
  [URI_PATTERN, 'Expected an absolute URI without user:password@ credentials'],
  [HTTP_URI_PATTERN, 'Expected an http(s) URI without user:password@ credentials'],
]);

export const SchemaVersion = Type.Literal(1, { description: 'Payload schema version; bumped only on incompatible changes.' });

export const CameraId = Type.String({
  pattern: TOKEN_PATTERN,
  description: 'Camera id as used in topics (a valid topic token, see toTopicToken()).',
});

export const RuleId = Type.String({
  pattern: TOKEN_PATTERN,
  description: 'Alert rule id as used in topics (a valid topic token).',
});

export function dateTime(description = 'ISO 8601 / RFC 3339 date-time with time zone.') {
  return Type.String({ pattern: DATE_TIME_PATTERN, description });
}

export function topic(description = 'A concrete bus topic (no wildcards).') {
  return Type.String({ pattern: TOPIC_PATTERN, maxLength: TOPIC_MAX_BYTES, description });
}

/** ONVIF SimpleItem values after the worker's best-effort type coercion. */
export const SimpleValue = Type.Union([Type.String(), Type.Number(), Type.Boolean()]);
export type SimpleValue = Static<typeof SimpleValue>;

export function simpleItems(description: string) {
  return Type.Record(Type.String(), SimpleValue, { description });
}
export type SimpleItems = Record<string, SimpleValue>;

/** Closed object: unknown properties are rejected (catches typos and leaked fields such as passwords). */
export function Closed<T extends TProperties>(properties: T, options: ObjectOptions = {}): TObject<T> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}
