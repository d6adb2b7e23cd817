/**
 * Subscription index: a token trie with dedicated `*` and `>` children (after nats-server's
 * sublist), so matching a topic costs O(tokens × matching branches) whatever the number of
 * non-matching subscriptions, plus a bounded cache of results per literal topic.
 */
export interface Subscriber {
  readonly pattern: string;
  readonly queue: string | undefined;
}

/** Members of one queue group at one pattern; one of them gets each message. */
export type QueueGroup<S> = { members: S[]; next: number };

export type MatchResult<S> = { readonly plain: readonly S[]; readonly groups: readonly QueueGroup<S>[] };

class TrieNode<S> {
  children: Map<string, TrieNode<S>> | undefined;
  star: TrieNode<S> | undefined;
  gt: TrieNode<S> | undefined;
  plain: S[] = [];
  groups: Map<string, QueueGroup<S>> | undefined;

  isEmpty(): boolean {
    return (
      this.plain.length === 0 &&
      (this.groups === undefined || this.groups.size === 0) &&
      (this.children === undefined || this.children.size === 0) &&
      this.star === undefined &&
      this.gt === undefined
    );
  }
}

const EMPTY_RESULT: MatchResult<never> = Object.freeze({ plain: Object.freeze([]), groups: Object.freeze([]) });

export class Sublist<S extends Subscriber> {
  private readonly root = new TrieNode<S>();
  private readonly cache = new Map<string, MatchResult<S>>();
  private count = 0;

  constructor(private readonly cacheSize = 4096) {}

  get size(): number {
    return this.count;
  }

  insert(sub: S): void {
    let node = this.root;
    for (const token of sub.pattern.split('.')) {
      if (token === '*') node = node.star ??= new TrieNode<S>();
      else if (token === '>') node = node.gt ??= new TrieNode<S>();
      else {
        node.children ??= new Map();
        let child = node.children.get(token);
        if (child === undefined) node.children.set(token, (child = new TrieNode<S>()));
        node = child;
      }
    }
    if (sub.queue === undefined) node.plain.push(sub);
    else {
      node.groups ??= new Map();
      let group = node.groups.get(sub.queue);
      if (group === undefined) node.groups.set(sub.queue, (group = { members: [], next: 0 }));
      group.members.push(sub);
    }
    this.count++;
    // Invalidating beats patching: subscription changes are rare next to publishes.
    this.cache.clear();
  }

  remove(sub: S): boolean {
    const tokens = sub.pattern.split('.');
    const path: TrieNode<S>[] = [];
    let node: TrieNode<S> | undefined = this.root;
    for (const token of tokens) {
      path.push(node);
      node = token === '*' ? node.star : token === '>' ? node.gt : node.children?.get(token);
      if (node === undefined) return false;
    }
    let removed = false;
    if (sub.queue === undefined) {
      const i = node.plain.indexOf(sub);
      if (i >= 0) {
        node.plain.splice(i, 1);
        removed = true;
      }
    } else {
      const group = node.groups?.get(sub.queue);
      const i = group ? group.members.indexOf(sub) : -1;
      if (group && i >= 0) {
        group.members.splice(i, 1);
        if (group.members.length === 0) node.groups!.delete(sub.queue);
        removed = true;
      }
    }
    if (!removed) return false;
    this.count--;
    this.cache.clear();
    // Prune empty nodes so a churn of unique patterns cannot grow the trie forever.
    for (let i = tokens.length - 1; i >= 0 && node.isEmpty(); i--) {
      const parent: TrieNode<S> = path[i]!;
      const token = tokens[i]!;
      if (token === '*') parent.star = undefined;
      else if (token === '>') parent.gt = undefined;
      else parent.children?.delete(token);
      node = parent;
    }
    return true;
  }

  match(topic: string): MatchResult<S> {
    const cached = this.cache.get(topic);
    if (cached !== undefined) return cached;
    if (this.count === 0) return EMPTY_RESULT;
    const plain: S[] = [];
    const groups: QueueGroup<S>[] = [];
    const tokens = topic.split('.');
    collect(this.root, tokens, 0, topic.charCodeAt(0) === 36, plain, groups);
    const result: MatchResult<S> = plain.length === 0 && groups.length === 0 ? EMPTY_RESULT : { plain, groups };
    if (this.cache.size >= this.cacheSize) {
      // Drop the oldest entry (Map keeps insertion order): bounded, and cheap.
      const first = this.cache.keys().next();
      if (!first.done) this.cache.delete(first.value);
    }
    this.cache.set(topic, result);
    return result;
  }
}

function addNode<S>(node: TrieNode<S>, plain: S[], groups: QueueGroup<S>[]): void {
  for (const s of node.plain) plain.push(s);
  if (node.groups !== undefined) for (const g of node.groups.values()) groups.push(g);
}

function collect<S>(node: TrieNode<S>, tokens: string[], i: number, dollar: boolean, plain: S[], groups: QueueGroup<S>[]): void {
  if (i === tokens.length) {
    addNode(node, plain, groups);
    return;
  }
  const child = node.children?.get(tokens[i]!);
  if (child !== undefined) collect(child, tokens, i + 1, dollar, plain, groups);
  // Wildcards in the first position never match the broker's `$` topics.
  if (i === 0 && dollar) return;
  if (node.star !== undefined) collect(node.star, tokens, i + 1, dollar, plain, groups);
  if (node.gt !== undefined) addNode(node.gt, plain, groups);
}
