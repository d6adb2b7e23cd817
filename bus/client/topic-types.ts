/**
 * Payload types by topic, at compile time only. The library knows no topics: these registries are
 * empty here and filled by module augmentation from a package that owns a taxonomy (udsbus's
 * `schemas/` does it for the camera topics), so the library depends on no schema package.
 *
 * A topic or pattern given as a literal (or a template literal such as `camera.event.${string}.motion`)
 * is split into tokens and compared with every registered pattern, token by token: `*` is one
 * token, `>` the rest (one or more). The result is the union of the payload types of the
 * registered patterns it can meet, or `unknown` when it meets none or is a plain `string`. A
 * `${string}` part counts as one token that only a wildcard meets. Registered patterns are meant
 * not to overlap; where they do, a topic gets the union.
 *
 * Cost: the walk is tail recursive and bounded by the token count (at most 16 by the grammar);
 * a literal topic is first filtered with one template-literal check per registered pattern, so
 * it is walked against the one or two patterns that can match. Results are cached per topic.
 */

/**
 * Payload types by subscription pattern: for camera RPC topics, the request.
 *
 * @example
 * declare module 'udsbus' {
 *   interface TopicPayloads {
 *     'camera.event.*.motion': { v: 1; cameraId: string; active: boolean };
 *   }
 * }
 */
export interface TopicPayloads {}

/** Reply payload types (as sent on the wire, e.g. the `{ok, result}` envelope) by request pattern. */
export interface TopicReplies {}

/** Can one token of a topic/pattern and one token of a registered pattern name the same token? */
type TokenMeets<A extends string, B extends string> = A extends '*'
  ? true
  : B extends '*'
    ? true
    : string extends A
      ? false // a non-literal token is matched only by a wildcard: its value is not known here
      : [A] extends [B]
        ? true
        : false;

/**
 * Does some topic match both A and B? Walked on the strings a token at a time; `>` takes the
 * rest (one token or more). Most registered patterns differ in the first or second token, so
 * the walk usually stops there.
 */
type Meets<A extends string, B extends string> = A extends '>'
  ? true
  : B extends '>'
    ? true
    : A extends `${infer AH}.${infer AR}`
      ? B extends `${infer BH}.${infer BR}`
        ? TokenMeets<AH, BH> extends true
          ? Meets<AR, BR>
          : false
        : false
      : B extends `${string}.${string}`
        ? false
        : TokenMeets<A, B>;

/** A registered pattern as a template literal type (`a.*.b` -> `a.${string}.b`): a cheap first filter. */
type Loose<P extends string> = P extends `${infer H}.${infer R}` ? `${LooseToken<H>}.${Loose<R>}` : LooseToken<P>;
type LooseToken<T extends string> = T extends '*' | '>' ? string : T;

/**
 * The keys of registry R whose pattern meets topic or pattern S. A topic without wildcards (what
 * publish and request see) is first tested against each pattern as a template literal, one
 * assignability check, and walked token by token only where that passes.
 */
type MeetingKeys<R, S extends string> = S extends `${string}*${string}` | `${string}>${string}`
  ? { [P in keyof R & string]: Meets<S, P> extends true ? P : never }[keyof R & string]
  : { [P in keyof R & string]: S extends Loose<P> ? (Meets<S, P> extends true ? P : never) : never }[keyof R & string];

/**
 * The union of registry R's types for topic or pattern S, or unknown when S is `string` or meets
 * no pattern of R. `PayloadFor` and `ReplyFor` are this over the augmentable registries; a
 * taxonomy package can use it over its own map so its types and the client's agree by construction.
 */
export type TopicType<R, S extends string> = string extends S ? unknown : [MeetingKeys<R, S>] extends [never] ? unknown : R[MeetingKeys<R, S>];

/**
 * The payload type of a topic or subscription pattern: `PayloadFor<'camera.event.cam-01.motion'>`
 * is the motion payload, `PayloadFor<'camera.event.*.*'>` the union of all event payloads,
 * `PayloadFor<string>` and unregistered topics `unknown`.
 */
export type PayloadFor<S extends string> = TopicType<TopicPayloads, S>;

/** The reply payload (as sent) of a request topic, unknown when not registered. */
export type ReplyFor<S extends string> = TopicType<TopicReplies, S>;

/**
 * What `request()` resolves with: the `result` of an `{ok, result}` envelope reply (an `ok: false`
 * reply rejects with RemoteError), or the reply itself when it is no envelope.
 */
export type ResultFor<S extends string> = ResultOfReply<ReplyFor<S>>;

type ResultOfReply<R> = unknown extends R ? unknown : [Extract<R, { ok: true }>] extends [never] ? R : Extract<R, { ok: true }> extends { result: infer X } ? X : R;

/**
 * A message's payload type as a subscription sees it: an explicit `T` wins; else the registered
 * type, or undefined — an empty payload (a cleared retained message) reaches subscribers too.
 */
export type Delivered<T, S extends string> = [T] extends [never] ? (unknown extends PayloadFor<S> ? unknown : PayloadFor<S> | undefined) : T;
