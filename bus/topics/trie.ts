/**
 * The one token trie behind every topic lookup: broker routing (patterns stored, a topic asks
 * which match), access rules (the same, for granted patterns) and the retained store (topics
 * stored, a pattern asks which it matches). Each node has literal children and dedicated `*` and
 * `>` children (after nats-server's sublist), so a lookup costs O(tokens × matching branches)
 * whatever the number of keys that do not match. What a node holds is the caller's business.
 */
const DOLLAR = 36;

class Node<P> {
  children: Map<string, Node<P>> | undefined;
  star: Node<P> | undefined;
  gt: Node<P> | undefined;
  payload: P | undefined;
}

export class TopicTrie<P> {
  private readonly root = new Node<P>();

  /**
   * @param isEmpty tells when a node's payload holds nothing any more, so `prune` can unlink it
   *   and a churn of unique keys cannot grow the trie forever.
   */
  constructor(private readonly isEmpty: (p: P) => boolean) {}

  /** The payload at `key` (a pattern or a topic), made with `create` when missing. */
  at(key: string, create: () => P): P {
    let node = this.root;
    for (const token of key.split('.')) {
      if (token === '*') node = node.star ??= new Node<P>();
      else if (token === '>') node = node.gt ??= new Node<P>();
      else {
        node.children ??= new Map();
        let child = node.children.get(token);
        if (child === undefined) node.children.set(token, (child = new Node<P>()));
        node = child;
      }
    }
    return (node.payload ??= create());
  }

  /** The payload at exactly `key`, if there is one. */
  get(key: string): P | undefined {
    let node: Node<P> | undefined = this.root;
    for (const token of key.split('.')) {
      node = token === '*' ? node.star : token === '>' ? node.gt : node.children?.get(token);
      if (node === undefined) return undefined;
    }
    return node.payload;
  }

  /** Unlink the nodes on `key`'s path whose payloads are empty and that have no children. */
  prune(key: string): void {
    const tokens = key.split('.');
    const path: Node<P>[] = [this.root];
    for (const token of tokens) {
      const node = path[path.length - 1]!;
      const next = token === '*' ? node.star : token === '>' ? node.gt : node.children?.get(token);
      if (next === undefined) return;
      path.push(next);
    }
    for (let i = tokens.length; i > 0; i--) {
      const node = path[i]!;
      if (node.payload !== undefined && !this.isEmpty(node.payload)) return;
      if ((node.children !== undefined && node.children.size > 0) || node.star !== undefined || node.gt !== undefined) return;
      const parent = path[i - 1]!;
      const token = tokens[i - 1]!;
      if (token === '*') parent.star = undefined;
      else if (token === '>') parent.gt = undefined;
      else parent.children?.delete(token);
    }
  }

  /**
   * Calls `fn` with the payload of every stored pattern that matches the concrete `topic`.
   * Wildcards in the first position never match the broker's `$` topics (PROTOCOL.md §6).
   */
  forEachMatch(topic: string, fn: (p: P) => void): void {
    collect(this.root, topic.split('.'), 0, topic.charCodeAt(0) === DOLLAR, fn);
  }

  /** Calls `fn` with the payload of every stored concrete topic that `pattern` matches. */
  forEachMatchedBy(pattern: string, fn: (p: P) => void): void {
    const tokens = pattern.split('.');
    walkPattern(this.root, tokens, 0, fn);
  }
}

function collect<P>(node: Node<P>, tokens: readonly string[], i: number, dollar: boolean, fn: (p: P) => void): void {
  if (i === tokens.length) {
    if (node.payload !== undefined) fn(node.payload);
    return;
  }
  const child = node.children?.get(tokens[i]!);
  if (child !== undefined) collect(child, tokens, i + 1, dollar, fn);
  if (i === 0 && dollar) return;
  if (node.star !== undefined) collect(node.star, tokens, i + 1, dollar, fn);
  // At least one token is left here, so a `>` matches.
  if (node.gt?.payload !== undefined) fn(node.gt.payload);
}

function walkPattern<P>(node: Node<P>, p: readonly string[], i: number, fn: (p: P) => void): void {
  if (i === p.length) {
    if (node.payload !== undefined) fn(node.payload);
    return;
  }
  const tok = p[i]!;
  const children = node.children;
  if (tok === '>' || tok === '*') {
    if (children === undefined) return;
    for (const [token, child] of children) {
      // A leading wildcard never matches the broker's `$` topics.
      if (i === 0 && token.charCodeAt(0) === DOLLAR) continue;
      if (tok === '>') everything(child, fn);
      else walkPattern(child, p, i + 1, fn);
    }
    return;
  }
  const child = children?.get(tok);
  if (child !== undefined) walkPattern(child, p, i + 1, fn);
}

function everything<P>(node: Node<P>, fn: (p: P) => void): void {
  if (node.payload !== undefined) fn(node.payload);
  if (node.children !== undefined) for (const child of node.children.values()) everything(child, fn);
}
