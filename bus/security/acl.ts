/**
 * Access control for the bus: who may publish, subscribe, request, serve, use durable
 * subscriptions and administer the broker, from a policy file (SECURITY.md, "The ACL file").
 *
 * This module knows nothing of the broker: it takes identities (the kernel-verified uid, gid and
 * groups of a Unix-socket peer, or "anonymous" for TCP clients) and answers questions. Deny by
 * default: once a file is loaded, nothing is allowed that a rule does not grant, root included.
 *
 * @example
 *   const r = await loadAclFile('/etc/udsbus/acl');
 *   if (!r.ok) throw new Error(formatAclErrors('/etc/udsbus/acl', r.errors));
 *   const perms = r.acl.bind(peerCred);            // once per connection
 *   perms.allows('publish', 'camera.event.cam-01.motion');
 *   perms.subscribeDecision('>');                  // 'allow' | 'deny' | 'filter'
 *   perms.canRead('camera.event.cam-01.motion');   // per delivery on a 'filter' subscription
 */
import { open } from 'node:fs/promises';
import { checkPattern, checkTopic, type TopicLimits } from '../topics/grammar.js';
import {
  parseAclSpec,
  type AclAction,
  type AclError,
  type AclRule,
  type AclSpec,
  type NameResolver,
  type Principal,
  type Quota,
  type TopicAction,
} from './acl-parse.js';
import { isInboxPattern, isInboxTopic } from '../topics/grammar.js';
import { PatternSet, type Grant, type SubscribeDecision } from './acl-patterns.js';
import { patternsIntersect } from '../topics/match.js';
import { resolveNames, resolverFrom, type NameLookupOptions } from './users.js';

export type { AclAction, AclError, AclRule, NameResolver, Principal, Quota, TopicAction } from './acl-parse.js';
export type { SubscribeDecision } from './acl-patterns.js';
export { isInboxPattern, isInboxTopic } from '../topics/grammar.js';

/** A Unix-socket peer as the kernel reported it at connect time (a PeerCred fits). */
export type LocalIdentity = { readonly uid: number; readonly gid: number; readonly groups: readonly number[] };
/** A client without a verified identity: every TCP client. */
export type AnonymousIdentity = { readonly anonymous: true };
export type Identity = LocalIdentity | AnonymousIdentity;

/**
 * Which grants a subscription reads through: a plain `sub` needs `subscribe`; a `sub` with a
 * `queue` group needs `serve` (joining a group takes messages away from its other members).
 */
export type ReadVia = 'subscribe' | 'serve';

export type AclOptions = {
  /**
   * Length limits for patterns in the file. Default: the grammar only, no length limit (a grant
   * longer than the broker's limits is harmless: no topic can match it).
   */
  limits?: TopicLimits;
  /** Entries of each per-identity topic cache (default 1024). */
  cacheSize?: number;
  /** Distinct identities kept compiled (default 256). */
  identityCacheSize?: number;
};

export type AclParseResult = { readonly ok: true; readonly acl: Acl } | { readonly ok: false; readonly errors: readonly AclError[] };

export type Explanation = {
  readonly allowed: boolean;
  /** For subscribe/serve. */
  readonly decision?: SubscribeDecision;
  /** Lines of the rules that decided it (empty for a denial: nothing granted it). */
  readonly lines: readonly number[];
  readonly reason: string;
};

/** Unlimited, for every key nobody set: the broker's global limits still apply. */
export const UNLIMITED_QUOTA: Quota = Object.freeze({
  connections: Number.POSITIVE_INFINITY,
  subscriptions: Number.POSITIVE_INFINITY,
  queueBytes: Number.POSITIVE_INFINITY,
  retainedBytes: Number.POSITIVE_INFINITY,
  retained: Number.POSITIVE_INFINITY,
  durableBytes: Number.POSITIVE_INFINITY,
});

const GRAMMAR_ONLY: TopicLimits = { maxTopicBytes: Number.POSITIVE_INFINITY, maxTopicTokens: Number.POSITIVE_INFINITY };
const DOLLAR = 36;
const MAX_FILE_BYTES = 1024 * 1024;

/**
 * Parse an ACL file's text. Names are resolved through `resolver` now, never later.
 *
 * @example
 *   parseAcl('allow user 1000 publish camera.>\n', { resolveUser: () => undefined, resolveGroup: () => undefined })
 */
export function parseAcl(text: string, resolver: NameResolver, opts: AclOptions = {}): AclParseResult {
  const { spec, errors } = parseAclSpec(text, resolver, opts.limits);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, acl: new Acl(spec, opts) };
}

export type LoadAclOptions = AclOptions & {
  /** Resolve names with this instead of /etc/passwd, /etc/group and getent (tests). */
  resolver?: NameResolver;
  /** Where to look names up (ignored with `resolver`). */
  names?: NameLookupOptions;
};

/**
 * Read and parse an ACL file. Never rejects: a file that cannot be read, is not a regular file,
 * is larger than 1 MiB or is writable by every user (anyone could grant themselves access) is an
 * error on line 0. On SIGHUP the broker calls this again and swaps the Acl only when `ok`.
 */
export async function loadAclFile(path: string, opts: LoadAclOptions = {}): Promise<AclParseResult> {
  let text: string;
  try {
    const fh = await open(path, 'r');
    try {
      // fstat the open file, so the checks apply to what is read.
      const st = await fh.stat();
      if (!st.isFile()) return fileError(`${path} is not a regular file`);
      if ((st.mode & 0o002) !== 0) {
        return fileError(`${path} is writable by every user (mode ${(st.mode & 0o7777).toString(8).padStart(4, '0')}), so anyone could grant themselves access: chmod o-w ${path}`);
      }
      if (st.size > MAX_FILE_BYTES) return fileError(`${path} is larger than ${MAX_FILE_BYTES} bytes`);
      text = await fh.readFile('utf8');
    } finally {
      await fh.close();
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return fileError(`cannot read ${path}: ${e.code ?? ''}${e.code !== undefined ? ' ' : ''}${e.message}`);
  }
  if (opts.resolver !== undefined) return parseAcl(text, opts.resolver, opts);
  // First pass only collects the names the file mentions, so they can be looked up without
  // blocking (getent may ask a directory service); the second pass is the real one.
  const users = new Set<string>();
  const groups = new Set<string>();
  parseAclSpec(
    text,
    {
      resolveUser: (n) => (users.add(n), 0),
      resolveGroup: (n) => (groups.add(n), 0),
    },
    opts.limits,
  );
  const resolved = await resolveNames({ users, groups }, opts.names);
  return parseAcl(text, resolverFrom(resolved), opts);
}

function fileError(message: string): AclParseResult {
  return { ok: false, errors: [{ line: 0, message }] };
}

/** `path:line: message` lines (just `path: message` for line 0), for logs and the CLI. */
export function formatAclErrors(path: string, errors: readonly AclError[]): string {
  return errors.map((e) => (e.line === 0 ? `${path}: ${e.message}` : `${path}:${e.line}: ${e.message}`)).join('\n');
}

export function isAnonymous(identity: Identity): identity is AnonymousIdentity {
  // Anything without a numeric uid has no verified identity: treat it as anonymous (fail closed).
  return typeof (identity as Partial<LocalIdentity>).uid !== 'number';
}

export function describeIdentity(identity: Identity): string {
  if (isAnonymous(identity)) return 'an anonymous client';
  const others = (identity.groups ?? []).filter((g) => g !== identity.gid);
  return `uid ${identity.uid} (gid ${identity.gid}${others.length > 0 ? `, groups ${others.join(',')}` : ''})`;
}

/**
 * A loaded policy. Immutable: a reload builds a new one. The evaluation methods here look the
 * identity up in a cache (by object, then by uid/gid/groups) and delegate to its Permissions;
 * a broker that keeps `bind(identity)` per connection skips even that.
 */
export class Acl {
  readonly rules: readonly AclRule[];
  private readonly byObject = new WeakMap<object, Permissions>();
  private readonly byKey = new Map<string, Permissions>();
  private readonly cacheSize: number;
  private readonly identityCacheSize: number;

  constructor(
    private readonly spec: AclSpec,
    opts: AclOptions = {},
  ) {
    this.rules = spec.rules;
    this.cacheSize = opts.cacheSize ?? 1024;
    this.identityCacheSize = opts.identityCacheSize ?? 256;
  }

  /**
   * The compiled permissions of one identity. Pass the same (unchanging) object for a connection
   * — the PeerCred from peercred.get(), or `{anonymous: true}` — and later calls are one WeakMap
   * lookup; identities with the same uid, gid and groups share one compilation and its caches.
   */
  bind(identity: Identity): Permissions {
    const hit = this.byObject.get(identity);
    if (hit !== undefined) return hit;
    const key = identityKey(identity);
    let perms = this.byKey.get(key);
    if (perms === undefined) {
      perms = new Permissions(this.spec, identity, this.cacheSize);
      if (this.byKey.size >= this.identityCacheSize) {
        const first = this.byKey.keys().next();
        if (first.done !== true) this.byKey.delete(first.value);
      }
      this.byKey.set(key, perms);
    }
    this.byObject.set(identity, perms);
    return perms;
  }

  /**
   * May `identity` do `action`? `target` is a concrete topic for publish/request, a pattern for
   * subscribe/serve (true only when every topic it can match is allowed — see
   * subscribeDecision for the 'filter' case), a durable name for durable; admin takes none.
   */
  allows(identity: Identity, action: 'admin', target?: string): boolean;
  allows(identity: Identity, action: Exclude<AclAction, 'admin'>, target: string): boolean;
  allows(identity: Identity, action: AclAction, target?: string): boolean {
    return this.bind(identity).allows(action as 'admin', target);
  }

  /** May `identity` receive a message on this concrete topic? For per-delivery filtering. */
  canRead(identity: Identity, topic: string, via: ReadVia = 'subscribe'): boolean {
    return this.bind(identity).canRead(topic, via);
  }

  /** Are all, none or some of the topics `pattern` can match readable by `identity`? */
  subscribeDecision(identity: Identity, pattern: string, via: ReadVia = 'subscribe'): SubscribeDecision {
    return this.bind(identity).subscribeDecision(pattern, via);
  }

  /** The quota of a uid (or of all anonymous clients together): its line, else the default line, else unlimited — key by key. */
  quotaFor(uid: number | 'anonymous'): Quota {
    const own = uid === 'anonymous' ? this.spec.quotaAnonymous : this.spec.quotaUsers.get(uid);
    return { ...UNLIMITED_QUOTA, ...this.spec.quotaDefault?.values, ...own?.values };
  }

  /** Why `identity` may or may not do `action` on `target`, naming rule lines. Off the hot path. */
  explain(identity: Identity, action: AclAction, target?: string): Explanation {
    return this.bind(identity).explain(action, target);
  }
}

/** One identity's compiled grants. Obtain with `acl.bind(identity)`. */
export class Permissions {
  /** Line of the `admin` rule that applies, 0 when none. */
  readonly adminLine: number;
  /** Line of `root allow-all` when it applies, else 0. */
  readonly allowAllLine: number;
  /**
   * The identity may subscribe to its own inbox (`_INBOX.<token>.…`): the line of its first
   * `request` rule, else of its admin or first `durable` rule (management requests), else 0.
   */
  readonly inboxLine: number;
  /** The identity may publish replies to inbox topics: line of its first `serve` rule, else 0. */
  readonly replyLine: number;
  readonly quota: Quota;
  private readonly sets: Readonly<Record<TopicAction | 'durable', PatternSet>>;
  private readonly who: string;

  constructor(spec: AclSpec, identity: Identity, cacheSize: number) {
    const anonymous = isAnonymous(identity);
    const applies = spec.rules.filter((r) => principalApplies(r.principal, identity));
    const grants = (action: AclAction): Grant[] =>
      applies.filter((r) => r.action === action).flatMap((r) => r.targets.map((pattern) => ({ pattern, tokens: pattern.split('.'), line: r.line })));
    const firstLine = (action: AclAction): number => applies.find((r) => r.action === action)?.line ?? 0;
    this.sets = {
      publish: new PatternSet(grants('publish'), cacheSize),
      subscribe: new PatternSet(grants('subscribe'), cacheSize),
      request: new PatternSet(grants('request'), cacheSize),
      serve: new PatternSet(grants('serve'), cacheSize),
      durable: new PatternSet(grants('durable'), cacheSize),
    };
    this.allowAllLine = !anonymous && identity.uid === 0 ? spec.rootAllowAll : 0;
    this.adminLine = this.allowAllLine || firstLine('admin');
    this.inboxLine = this.allowAllLine || firstLine('request') || this.adminLine || firstLine('durable');
    this.replyLine = this.allowAllLine || firstLine('serve');
    const own = anonymous ? spec.quotaAnonymous : spec.quotaUsers.get(identity.uid);
    this.quota = Object.freeze({ ...UNLIMITED_QUOTA, ...spec.quotaDefault?.values, ...own?.values });
    this.who = describeIdentity(identity);
  }

  get admin(): boolean {
    return this.adminLine !== 0;
  }

  /** See Acl.allows. */
  allows(action: 'admin', target?: string): boolean;
  allows(action: Exclude<AclAction, 'admin'>, target: string): boolean;
  allows(action: AclAction, target?: string): boolean {
    if (action === 'admin') return this.adminLine !== 0;
    if (target === undefined) return false;
    switch (action) {
      case 'publish':
        return this.canPublish(target);
      case 'request':
        return this.canRequest(target);
      case 'subscribe':
      case 'serve':
        return this.subscribeDecision(target, action) === 'allow';
      case 'durable':
        return this.canUseDurable(target);
    }
  }

  /** A `pub` without `reply`. `$` topics: never (they are the broker's). */
  canPublish(topic: string): boolean {
    if (topic.charCodeAt(0) === DOLLAR) return false;
    if (this.allowAllLine !== 0) return checkTopic(topic, GRAMMAR_ONLY) === null;
    if (this.replyLine !== 0 && isInboxTopic(topic)) return checkTopic(topic, GRAMMAR_ONLY) === null;
    return this.sets.publish.matches(topic);
  }

  /** A `pub` with `reply` to `topic`; `$SYS.req.…` (management) needs admin. */
  canRequest(topic: string): boolean {
    if (topic.charCodeAt(0) === DOLLAR) return this.adminLine !== 0 && topic.startsWith('$SYS.req.') && checkTopic(topic, GRAMMAR_ONLY) === null;
    if (this.allowAllLine !== 0) return checkTopic(topic, GRAMMAR_ONLY) === null;
    return this.sets.request.matches(topic);
  }

  /**
   * Attach to, ack, purge or delete the durable subscription `name`. The management requests
   * `$SYS.req.durable.info|purge|delete {name}` are allowed with this or with admin; the topic
   * pattern a durable is bound to is still checked as a subscription.
   */
  canUseDurable(name: string): boolean {
    if (name.charCodeAt(0) === DOLLAR) return false;
    if (this.allowAllLine !== 0) return checkTopic(name, GRAMMAR_ONLY) === null;
    return this.sets.durable.matches(name);
  }

  /**
   * May a subscription of this identity receive a message on `topic`? The per-delivery check for
   * 'filter' subscriptions: one Map lookup when the topic was seen recently.
   */
  canRead(topic: string, via: ReadVia = 'subscribe'): boolean {
    if (this.allowAllLine !== 0) return true;
    if (topic.charCodeAt(0) === DOLLAR) return this.adminLine !== 0;
    return this.sets[via].matches(topic);
  }

  /**
   * 'allow': every topic `pattern` can match is readable, deliver without checks. 'deny': none
   * is, refuse the `sub` (PERMISSION_DENIED). 'filter': some are; accept and check each
   * delivery with canRead. An invalid pattern is 'deny'.
   */
  subscribeDecision(pattern: string, via: ReadVia = 'subscribe'): SubscribeDecision {
    if (checkPattern(pattern, GRAMMAR_ONLY) !== null) return 'deny';
    if (this.allowAllLine !== 0) return 'allow';
    if (pattern.charCodeAt(0) === DOLLAR) return this.adminLine !== 0 ? 'allow' : 'deny';
    if (this.inboxLine !== 0 && isInboxPattern(pattern)) return 'allow';
    return this.sets[via].decide(pattern.split('.'));
  }

  explain(action: AclAction, target?: string): Explanation {
    const who = this.who;
    const allowAll = (what: string): Explanation => ({ allowed: true, lines: [this.allowAllLine], reason: `root allow-all (line ${this.allowAllLine}) grants ${what}` });
    const denied = (reason: string): Explanation => ({ allowed: false, lines: [], reason });
    if (action === 'admin') {
      if (this.allowAllLine !== 0) return allowAll('admin');
      if (this.adminLine !== 0) return { allowed: true, lines: [this.adminLine], reason: `line ${this.adminLine} grants admin to ${who}` };
      return denied(`no rule grants admin to ${who}`);
    }
    if (target === undefined) return denied(`${action} needs a ${action === 'durable' ? 'durable name' : 'topic or pattern'}`);
    const topicAction = action === 'publish' || action === 'request' || action === 'durable';
    if (topicAction ? checkTopic(target, GRAMMAR_ONLY) !== null : checkPattern(target, GRAMMAR_ONLY) !== null) {
      return denied(`"${target}" is not a valid ${action === 'durable' ? 'name' : topicAction ? 'topic' : 'pattern'}`);
    }
    const isDollar = target.charCodeAt(0) === DOLLAR;
    switch (action) {
      case 'publish': {
        if (isDollar) return denied(`topics starting with "$" are published by the broker only`);
        if (this.allowAllLine !== 0) return allowAll(`publish on "${target}"`);
        if (this.replyLine !== 0 && isInboxTopic(target)) {
          return { allowed: true, lines: [this.replyLine], reason: `"${target}" is a reply topic and line ${this.replyLine} lets ${who} serve requests` };
        }
        return this.explainMatch('publish', target);
      }
      case 'request': {
        if (isDollar) {
          if (!target.startsWith('$SYS.req.')) return denied(`"${target}" is not a management request ($SYS.req.…)`);
          return this.explain('admin');
        }
        if (this.allowAllLine !== 0) return allowAll(`request on "${target}"`);
        return this.explainMatch('request', target);
      }
      case 'durable': {
        if (isDollar) return denied(`durable names starting with "$" belong to the broker`);
        if (this.allowAllLine !== 0) return allowAll(`durable "${target}"`);
        return this.explainMatch('durable', target);
      }
      case 'subscribe':
      case 'serve': {
        const decision = this.subscribeDecision(target, action);
        const base = { allowed: decision === 'allow', decision };
        if (this.allowAllLine !== 0) return { ...allowAll(`${action} on "${target}"`), decision };
        if (isDollar) {
          return this.adminLine !== 0
            ? { ...base, lines: [this.adminLine], reason: `line ${this.adminLine} grants admin, which reads every $ topic` }
            : { ...base, lines: [], reason: `reading $ topics needs admin; no rule grants it to ${who}` };
        }
        if (this.inboxLine !== 0 && isInboxPattern(target)) {
          return { ...base, lines: [this.inboxLine], reason: `"${target}" is an inbox and line ${this.inboxLine} lets ${who} make requests` };
        }
        const tokens = target.split('.');
        const lines = [...new Set(this.sets[action].grants.filter((g) => patternsIntersect(tokens, g.tokens)).map((g) => g.line))];
        const rules = lines.length === 1 ? `line ${lines[0]}` : `lines ${lines.join(', ')}`;
        const s = lines.length === 1 ? 's' : '';
        if (decision === 'allow') return { ...base, lines, reason: `${rules} cover${s} every topic of "${target}" for ${who}` };
        if (decision === 'filter') {
          return { ...base, lines, reason: `${rules} grant${s} only part of "${target}" to ${who}: deliveries are filtered topic by topic` };
        }
        const hint = action === 'serve' ? ' (a subscription with a queue group needs serve)' : '';
        return { ...base, lines, reason: `no ${action} rule for ${who} matches any topic of "${target}"${hint}` };
      }
    }
  }

  private explainMatch(action: 'publish' | 'request' | 'durable', target: string): Explanation {
    const line = this.sets[action].matchLine(target);
    if (line !== 0) return { allowed: true, lines: [line], reason: `line ${line} grants ${action} on "${target}" to ${this.who}` };
    return { allowed: false, lines: [], reason: `no ${action} rule for ${this.who} matches "${target}"` };
  }
}

function principalApplies(p: Principal, identity: Identity): boolean {
  if (isAnonymous(identity)) return p.kind === 'anonymous';
  switch (p.kind) {
    case 'anonymous':
      return false;
    case 'any':
      return true;
    case 'user':
      return identity.uid === p.uid;
    case 'group':
      // `?? []`: a caller's identity without groups (no SO_PEERGROUPS) still has its gid.
      return identity.gid === p.gid || (identity.groups ?? []).includes(p.gid);
  }
}

function identityKey(identity: Identity): string {
  if (isAnonymous(identity)) return 'anonymous';
  const groups = [...new Set(identity.groups ?? [])].filter((g) => g !== identity.gid).sort((a, b) => a - b);
  return `${identity.uid}:${identity.gid}:${groups.join(',')}`;
}
