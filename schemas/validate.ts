/**
 * Topic-aware payload validation with readable errors.
 *
 * Hot path: one cached compiled TypeBox check per schema plus one tiny closure per topic;
 * error messages are only computed for payloads that fail.
 */
import type { TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import { PATTERN_MESSAGES } from './common.js';
import { schemaForTopic, type PayloadOf, type ReplyOf, type SchemaOptions } from './registry.js';
import { parseTopic } from './topics.js';

export type ValidationResult<T> = { ok: true; value: T } | { ok: false; errors: string[] };
export type Validator<T = unknown> = (payload: unknown) => ValidationResult<T>;

/** Thrown by assertValid; `errors` holds one "path: reason" line per problem. */
export class SchemaError extends Error {
  override readonly name = 'SchemaError';
  constructor(
    readonly topic: string,
    readonly errors: readonly string[],
  ) {
    super(`invalid payload for ${topic}: ${errors.join('; ')}`);
  }
}

/** More than this many messages would not help anyone reading a log line. */
const MAX_ERRORS = 20;
/** Bounds memory when publishers use many distinct topics; refilled lazily after a reset. */
const MAX_CACHED_TOPICS = 10_000;

const compiled = new Map<TSchema, TypeCheck<TSchema>>();
const byTopic = new Map<string, Validator | null>();

function compile(schema: TSchema): TypeCheck<TSchema> {
  let check = compiled.get(schema);
  if (check === undefined) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  return check;
}

/**
 * Validator for payloads published on `topic` (or, with `{reply: true}`, for replies to a
 * camera.rpc request on that topic); undefined when the topic has no schema. Besides the
 * schema, the id in the payload (`cameraId`, or `ruleId` for alerts) must equal the id in
 * the topic. The returned `value` is the payload itself (not copied or coerced).
 */
export function validatorFor<T extends string>(topic: T, options?: { reply?: false }): Validator<PayloadOf<T>> | undefined;
export function validatorFor<T extends string>(topic: T, options: { reply: true }): Validator<ReplyOf<T>> | undefined;
export function validatorFor(topic: string, options?: SchemaOptions): Validator | undefined;
export function validatorFor(topic: string, options: SchemaOptions = {}): Validator | undefined {
  const reply = options.reply === true;
  const key = reply ? `reply ${topic}` : topic; // a space cannot occur in a topic
  const cached = byTopic.get(key);
  if (cached !== undefined) return cached ?? undefined;

  const validator = build(topic, reply);
  if (byTopic.size >= MAX_CACHED_TOPICS) byTopic.clear();
  byTopic.set(key, validator ?? null);
  return validator;
}

function build(topic: string, reply: boolean): Validator | undefined {
  const schema = schemaForTopic(topic, { reply });
  if (schema === undefined) return undefined;
  const check = compile(schema);

  const info = parseTopic(topic);
  let idField: 'cameraId' | 'ruleId' | undefined;
  let idValue: string | undefined;
  if (info !== undefined && info.type !== 'camera.rpc') {
    if (info.type === 'alert') [idField, idValue] = ['ruleId', info.ruleId];
    else [idField, idValue] = ['cameraId', info.cameraId];
  }

  return (payload) => {
    if (!check.Check(payload)) return { ok: false, errors: readableErrors(check.Errors(payload)) };
    if (idField !== undefined && (payload as Record<string, unknown>)[idField] !== idValue) {
      return { ok: false, errors: [`/${idField}: Expected '${idValue}' (the id in the topic)`] };
    }
    return { ok: true, value: payload };
  };
}

/** Throws SchemaError unless `payload` is valid for `topic`; also throws for topics without a schema. */
export function assertValid<T extends string>(
  topic: T,
  payload: unknown,
  options?: { reply?: false },
): asserts payload is PayloadOf<T>;
export function assertValid<T extends string>(
  topic: T,
  payload: unknown,
  options: { reply: true },
): asserts payload is ReplyOf<T>;
export function assertValid(topic: string, payload: unknown, options: SchemaOptions = {}): void {
  const validate = validatorFor(topic, options);
  if (validate === undefined) {
    throw new SchemaError(topic, [`no ${options.reply === true ? 'reply ' : ''}schema for topic '${topic}'`]);
  }
  const result = validate(payload);
  if (!result.ok) throw new SchemaError(topic, result.errors);
}

// ---------------------------------------------------------------- error formatting

/** "path: reason" lines; one line per missing property and unions reported by their best-matching branch. */
export function readableErrors(errors: Iterable<ValueError>): string[] {
  const out: string[] = [];
  collect(errors, out);
  if (out.length === 0) out.push('/: Invalid value'); // defensive: Check failed but Errors found nothing
  return out;
}

function collect(errors: Iterable<ValueError>, out: string[]): void {
  const missing = new Set<string>();
  for (const e of errors) {
    if (out.length >= MAX_ERRORS) return;
    // TypeBox reports a missing property twice (required + type of undefined); keep the first.
    if (missing.has(e.path)) continue;
    const at = e.path === '' ? '/' : e.path;
    switch (e.type) {
      case ValueErrorType.ObjectRequiredProperty:
        missing.add(e.path);
        out.push(`${at}: Missing required property`);
        break;
      case ValueErrorType.ObjectAdditionalProperties:
        out.push(`${at}: Unexpected property`);
        break;
      case ValueErrorType.StringPattern:
        out.push(`${at}: ${PATTERN_MESSAGES.get(String(e.schema['pattern'])) ?? e.message}`);
        break;
      case ValueErrorType.Union:
        union(e, at, out);
        break;
      default:
        out.push(`${at}: ${e.message}`);
    }
  }
}

function union(e: ValueError, at: string, out: string[]): void {
  const variants: TSchema[] = Array.isArray(e.schema['anyOf']) ? (e.schema['anyOf'] as TSchema[]) : [];
  const branches = e.errors.map((it) => [...it]);

  // Enumerations and scalar unions: one combined message instead of one per branch.
  if (branches.every((b) => b.length === 1 && b[0]!.path === e.path)) {
    if (variants.every((v) => 'const' in v)) {
      out.push(`${at}: Expected one of ${variants.map((v) => JSON.stringify(v['const'])).join(', ')}`);
    } else {
      const expected = new Set(branches.map((b) => b[0]!.message.replace(/^Expected /, '')));
      out.push(`${at}: Expected ${[...expected].join(' | ')}`);
    }
    return;
  }

  // Discriminated object unions (reply `ok`, ptz `mode`): follow the branch the discriminator selects.
  const value = e.value;
  const disc = discriminator(variants);
  if (disc !== undefined && typeof value === 'object' && value !== null) {
    const tag = (value as Record<string, unknown>)[disc];
    const index = variants.findIndex((v) => literalOf(v, disc) === tag);
    if (index >= 0) return collect(branches[index] ?? [], out);
    out.push(
      `${at === '/' ? '' : at}/${disc}: Expected one of ${variants.map((v) => JSON.stringify(literalOf(v, disc))).join(', ')}`,
    );
    return;
  }

  // Otherwise the branch with the fewest complaints is the most likely intent.
  let best = branches[0] ?? [];
  for (const b of branches) if (b.length < best.length) best = b;
  collect(best, out);
}

function literalOf(schema: TSchema, key: string): unknown {
  const props = schema['properties'] as Record<string, TSchema> | undefined;
  const prop = props?.[key];
  return prop !== undefined && 'const' in prop ? prop['const'] : undefined;
}

/** A required property that is a distinct literal in every object branch. */
function discriminator(variants: TSchema[]): string | undefined {
  const first = variants[0];
  if (first === undefined || first['type'] !== 'object') return undefined;
  const required = (first['required'] as string[] | undefined) ?? [];
  return required.find((key) => {
    const tags = variants.map((v) => literalOf(v, key));
    return tags.every((t) => t !== undefined) && new Set(tags).size === tags.length;
  });
}
