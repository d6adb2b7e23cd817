/**
 * The ACL file format (SECURITY.md, "The ACL file"): one directive per line, `#` starts a comment.
 *
 *   allow PRINCIPAL ACTION[,ACTION…] TARGET…    grant actions on topic patterns / durable names
 *   allow PRINCIPAL admin                       grant the `$` topics and management commands
 *   root allow-all                              uid 0 may do everything (it may not otherwise)
 *   quota default|anonymous|user NAME|UID KEY=VALUE…
 *
 *   PRINCIPAL := user NAME|UID | group NAME|GID | anonymous | any
 *
 * There is deliberately no `deny`: the rules form a union, so their order does not matter and a
 * subscription's allow/deny/filter decision is exact (see acl-patterns.ts). Every problem is
 * reported with its line number; parsing goes on after an error so one run shows them all.
 */
import { checkPattern, describeTopicProblem, type TopicLimits } from '../topics/grammar.js';

export type TopicAction = 'publish' | 'subscribe' | 'request' | 'serve';
export type AclAction = TopicAction | 'durable' | 'admin';

export const TOPIC_ACTIONS: readonly TopicAction[] = ['publish', 'subscribe', 'request', 'serve'];
const ACTIONS: readonly AclAction[] = [...TOPIC_ACTIONS, 'durable', 'admin'];

export type Principal =
  | { readonly kind: 'user'; readonly uid: number; readonly label: string }
  | { readonly kind: 'group'; readonly gid: number; readonly label: string }
  | { readonly kind: 'anonymous' }
  | { readonly kind: 'any' };

/** One action of one `allow` line (a line with `publish,subscribe` gives two rules). */
export type AclRule = {
  readonly line: number;
  readonly principal: Principal;
  readonly action: AclAction;
  /** Topic patterns; durable names or `*` for `durable`; empty for `admin`. */
  readonly targets: readonly string[];
  /** The line as written, without its comment, for explanations. */
  readonly text: string;
};

/** Per-uid limits; `Infinity` means unlimited. */
export type Quota = {
  /** Simultaneous connections of the uid. */
  readonly connections: number;
  /** Live subscriptions over all of the uid's connections. */
  readonly subscriptions: number;
  /** Bytes waiting in the outbound queues of all of the uid's connections. */
  readonly queueBytes: number;
  /** Bytes (topic, payload, headers, identity) of retained messages the uid published that are still stored. */
  readonly retainedBytes: number;
  /** Retained topics the uid's messages hold; unset: half of the broker's maxRetained. */
  readonly retained: number;
  /** Bytes stored for the uid's durable subscriptions. */
  readonly durableBytes: number;
};

export type QuotaKey = keyof Quota;

export type QuotaLine = { readonly line: number; readonly values: Partial<Quota> };

export type AclError = { readonly line: number; readonly message: string };

export type AclSpec = {
  readonly rules: readonly AclRule[];
  /** Line of `root allow-all`, 0 when absent. */
  readonly rootAllowAll: number;
  readonly quotaDefault: QuotaLine | undefined;
  readonly quotaAnonymous: QuotaLine | undefined;
  readonly quotaUsers: ReadonlyMap<number, QuotaLine>;
};

/** Turns user and group names into ids when the file is loaded; undefined when unknown. */
export interface NameResolver {
  resolveUser(name: string): number | undefined;
  resolveGroup(name: string): number | undefined;
}

const QUOTA_KEYS: ReadonlyMap<string, { key: QuotaKey; bytes: boolean }> = new Map([
  ['connections', { key: 'connections', bytes: false }],
  ['subscriptions', { key: 'subscriptions', bytes: false }],
  ['queue-bytes', { key: 'queueBytes', bytes: true }],
  ['retained-bytes', { key: 'retainedBytes', bytes: true }],
  ['retained', { key: 'retained', bytes: false }],
  ['durable-bytes', { key: 'durableBytes', bytes: true }],
]);

const UNITS: ReadonlyMap<string, number> = new Map([
  ['', 1],
  ['K', 1024],
  ['KiB', 1024],
  ['M', 1024 ** 2],
  ['MiB', 1024 ** 2],
  ['G', 1024 ** 3],
  ['GiB', 1024 ** 3],
]);

/** uid_t/gid_t is 32 bits and (uid_t)-1 means "no id" to the kernel. */
const MAX_ID = 0xfffffffe;
const MAX_ERRORS = 100;

/** Patterns in rules follow the bus grammar; the length limits are the broker's business. */
const GRAMMAR_ONLY: TopicLimits = { maxTopicBytes: Number.POSITIVE_INFINITY, maxTopicTokens: Number.POSITIVE_INFINITY };

export function parseAclSpec(text: string, resolver: NameResolver, limits: TopicLimits = GRAMMAR_ONLY): { spec: AclSpec; errors: AclError[] } {
  const rules: AclRule[] = [];
  const errors: AclError[] = [];
  let rootAllowAll = 0;
  let quotaDefault: QuotaLine | undefined;
  let quotaAnonymous: QuotaLine | undefined;
  const quotaUsers = new Map<number, QuotaLine>();

  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (errors.length >= MAX_ERRORS) {
      errors.push({ line: i + 1, message: `stopped after ${MAX_ERRORS} errors` });
      break;
    }
    const lineNo = i + 1;
    let raw = lines[i]!;
    if (i === 0 && raw.charCodeAt(0) === 0xfeff) raw = raw.slice(1);
    const hash = raw.indexOf('#');
    const body = (hash < 0 ? raw : raw.slice(0, hash)).trim();
    if (body === '') continue;
    const words = body.split(/[ \t]+/);
    const fail = (message: string): void => {
      errors.push({ line: lineNo, message });
    };

    switch (words[0]) {
      case 'allow': {
        const p = parsePrincipal(words, 1, resolver);
        if ('error' in p) {
          fail(p.error);
          break;
        }
        const actionWord = words[p.next];
        if (actionWord === undefined) {
          fail(`missing action after the principal (expected ${listOf(ACTIONS)})`);
          break;
        }
        const actions = parseActions(actionWord);
        if ('error' in actions) {
          fail(actions.error);
          break;
        }
        const targets = words.slice(p.next + 1);
        const problem = checkTargets(actions.list, targets, limits);
        if (problem !== null) {
          fail(problem);
          break;
        }
        for (const action of actions.list) rules.push({ line: lineNo, principal: p.principal, action, targets, text: body.replace(/[ \t]+/g, ' ') });
        break;
      }
      case 'root': {
        if (words[1] !== 'allow-all' || words.length !== 2) {
          fail(`expected "root allow-all" (root gets nothing it is not granted otherwise)`);
        } else if (rootAllowAll !== 0) {
          fail(`"root allow-all" repeated (first on line ${rootAllowAll})`);
        } else {
          rootAllowAll = lineNo;
        }
        break;
      }
      case 'quota': {
        const subject = words[1];
        let next = 2;
        let kind: 'default' | 'anonymous' | 'user';
        let uid = -1;
        let label = '';
        if (subject === 'default' || subject === 'anonymous') {
          kind = subject;
          label = subject === 'default' ? 'the default quota' : 'the anonymous quota';
        } else if (subject === 'user') {
          const p = parsePrincipal(words, 1, resolver);
          if ('error' in p) {
            fail(p.error);
            break;
          }
          if (p.principal.kind !== 'user') throw new Error('unreachable');
          kind = 'user';
          uid = p.principal.uid;
          label = /^[0-9]+$/.test(p.principal.label) ? `uid ${uid}` : `user ${p.principal.label} (uid ${uid})`;
          next = p.next;
        } else if (subject === 'group' || subject === 'any') {
          fail(`quotas are per user (uid): write "quota user NAME|UID …" or "quota default …", not "quota ${subject}"`);
          break;
        } else {
          fail(subject === undefined ? 'missing quota subject: default, anonymous or user NAME|UID' : `unknown quota subject "${subject}" (expected default, anonymous or user NAME|UID)`);
          break;
        }
        const values = parseQuotaValues(words.slice(next));
        if ('error' in values) {
          fail(values.error);
          break;
        }
        const entry: QuotaLine = { line: lineNo, values: values.quota };
        const previous = kind === 'default' ? quotaDefault : kind === 'anonymous' ? quotaAnonymous : quotaUsers.get(uid);
        if (previous !== undefined) {
          fail(kind === 'user' ? `duplicate quota for ${label}: line ${previous.line} already sets it` : `duplicate quota: line ${previous.line} already sets ${label}`);
          break;
        }
        if (kind === 'default') quotaDefault = entry;
        else if (kind === 'anonymous') quotaAnonymous = entry;
        else quotaUsers.set(uid, entry);
        break;
      }
      case 'deny':
        fail('there are no deny rules: everything not allowed is denied, so leave the grant out (or narrow its pattern)');
        break;
      default:
        fail(`unknown directive "${words[0]}" (expected allow, quota or root allow-all)`);
    }
  }
  return { spec: { rules, rootAllowAll, quotaDefault, quotaAnonymous, quotaUsers }, errors };
}

type PrincipalResult = { principal: Principal; next: number } | { error: string };

function parsePrincipal(words: readonly string[], at: number, resolver: NameResolver): PrincipalResult {
  const kind = words[at];
  switch (kind) {
    case 'anonymous':
    case 'any':
      return { principal: { kind }, next: at + 1 };
    case 'user':
    case 'group': {
      const what = kind === 'user' ? 'user' : 'group';
      const name = words[at + 1];
      if (name === undefined) return { error: `missing ${what} name or ${kind === 'user' ? 'uid' : 'gid'} after "${kind}"` };
      if (/^[0-9]+$/.test(name)) {
        const id = Number(name);
        if (!Number.isSafeInteger(id) || id > MAX_ID) return { error: `${kind === 'user' ? 'uid' : 'gid'} ${name} is out of range (0 … ${MAX_ID})` };
        return { principal: kind === 'user' ? { kind, uid: id, label: name } : { kind, gid: id, label: name }, next: at + 2 };
      }
      let id: number | undefined;
      try {
        id = kind === 'user' ? resolver.resolveUser(name) : resolver.resolveGroup(name);
      } catch (err) {
        return { error: `cannot look up ${what} "${name}": ${err instanceof Error ? err.message : String(err)}` };
      }
      if (id === undefined) {
        return { error: `unknown ${what} "${name}" (not in the ${kind === 'user' ? 'passwd' : 'group'} database; create it, fix the name, or use a numeric ${kind === 'user' ? 'uid' : 'gid'})` };
      }
      return { principal: kind === 'user' ? { kind, uid: id, label: name } : { kind, gid: id, label: name }, next: at + 2 };
    }
    case undefined:
      return { error: 'missing principal (expected user NAME|UID, group NAME|GID, anonymous or any)' };
    default:
      return { error: `unknown principal "${kind}" (expected user NAME|UID, group NAME|GID, anonymous or any)` };
  }
}

function parseActions(word: string): { list: AclAction[] } | { error: string } {
  const list: AclAction[] = [];
  for (const a of word.split(',')) {
    if (a === '') return { error: `empty action in "${word}" (separate actions with commas, no spaces)` };
    if (!(ACTIONS as readonly string[]).includes(a)) return { error: `unknown action "${a}" (expected ${listOf(ACTIONS)})` };
    if (list.includes(a as AclAction)) return { error: `action "${a}" listed twice` };
    list.push(a as AclAction);
  }
  if (list.length > 1) {
    for (const alone of ['admin', 'durable'] as const) {
      if (list.includes(alone)) {
        return {
          error:
            alone === 'admin'
              ? '"admin" takes no patterns: put it on a line of its own'
              : '"durable" takes durable subscription names, not topics: put it on a line of its own',
        };
      }
    }
  }
  return { list };
}

function checkTargets(actions: readonly AclAction[], targets: readonly string[], limits: TopicLimits): string | null {
  const action = actions[0]!;
  if (action === 'admin') {
    return targets.length === 0 ? null : `"admin" takes no patterns (it grants every $ topic and the management commands), but got "${targets.join(' ')}"`;
  }
  if (targets.length === 0) {
    return action === 'durable'
      ? 'missing durable subscription name(s) after "durable"'
      : `missing topic pattern(s) after "${actions.join(',')}"`;
  }
  const seen = new Set<string>();
  for (const t of targets) {
    if (seen.has(t)) return `"${t}" listed twice`;
    seen.add(t);
    if (t.charCodeAt(0) === 36) {
      return action === 'durable'
        ? `durable name "${t}": names starting with "$" belong to the broker`
        : `"${t}": topics starting with "$" belong to the broker; reading them is granted by "admin" alone, and no client publishes them`;
    }
    if (action === 'durable' && t.includes('.')) {
      return `durable name "${t}": durable names are single tokens (PROTOCOL.md §17), so write a name or "*" (any name)`;
    }
    const problem = checkPattern(t, limits);
    if (problem !== null) {
      const message = describeTopicProblem(problem, t, limits);
      return action === 'durable' ? `durable name: ${message}` : message;
    }
  }
  return null;
}

function parseQuotaValues(words: readonly string[]): { quota: Partial<Quota> } | { error: string } {
  if (words.length === 0) return { error: `missing quota values (KEY=VALUE with KEY one of ${listOf([...QUOTA_KEYS.keys()])})` };
  const quota: { -readonly [K in QuotaKey]?: number } = {};
  const seen = new Set<string>();
  for (const w of words) {
    const eq = w.indexOf('=');
    if (eq <= 0) return { error: `expected KEY=VALUE, got "${w}"` };
    const name = w.slice(0, eq);
    const value = w.slice(eq + 1);
    const spec = QUOTA_KEYS.get(name);
    if (spec === undefined) return { error: `unknown quota "${name}" (expected ${listOf([...QUOTA_KEYS.keys()])})` };
    if (seen.has(name)) return { error: `quota "${name}" set twice on one line` };
    seen.add(name);
    const n = parseQuotaValue(value, spec.bytes);
    if (n === undefined) {
      return {
        error: spec.bytes
          ? `invalid ${name} "${value}": a whole number of bytes, optionally with K/KiB, M/MiB or G/GiB (powers of 1024), or "unlimited"`
          : `invalid ${name} "${value}": a whole number or "unlimited"`,
      };
    }
    quota[spec.key] = n;
  }
  return { quota };
}

function parseQuotaValue(value: string, bytes: boolean): number | undefined {
  if (value === 'unlimited') return Number.POSITIVE_INFINITY;
  const m = /^([0-9]+)([A-Za-z]*)$/.exec(value);
  if (m === null) return undefined;
  const unit = m[2]!;
  if (unit !== '' && !bytes) return undefined;
  const factor = UNITS.get(unit);
  if (factor === undefined) return undefined;
  const n = Number(m[1]) * factor;
  return Number.isSafeInteger(n) ? n : undefined;
}

function listOf(items: readonly string[]): string {
  return items.length === 1 ? items[0]! : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}
