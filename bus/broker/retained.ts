/**
 * Last retained message per topic, bounded in count and stored bytes (PROTOCOL.md §9). Owned
 * entries remember their connection so they can be cleared when it ends. Topics are kept in a
 * token trie so a subscribe walks only the branches its pattern can match, never the whole store.
 */
import type { Published } from './message.js';

export type RetainedEntry = {
  msg: Published;
  owner: string | undefined;
  usage: { retainedBytes: number; retainedCount: number } | undefined;
  /** What the entry costs: the message's shared encoded body (topic, payload, headers, from). */
  bytes: number;
};

type Node = { children: Map<string, Node>; entry: RetainedEntry | undefined };

const newNode = (): Node => ({ children: new Map(), entry: undefined });

export class RetainedStore {
  private readonly byTopic = new Map<string, RetainedEntry>();
  private readonly root = newNode();
  private bytes = 0;

  constructor(
    private readonly maxCount: number,
    private readonly maxBytes: number,
  ) {}

  get count(): number {
    return this.byTopic.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Stores msg (already flagged retained); false when it does not fit. */
  set(msg: Published, owner: string | undefined, usage?: RetainedEntry['usage']): boolean {
    const old = this.byTopic.get(msg.topic);
    const freed = old === undefined ? 0 : old.bytes;
    const cost = msg.body.length;
    if (old === undefined && this.byTopic.size >= this.maxCount) return false;
    if (this.bytes - freed + cost > this.maxBytes) return false;
    if (old !== undefined) this.release(old);
    this.bytes += cost;
    if (usage !== undefined) {
      usage.retainedBytes += cost;
      usage.retainedCount++;
    }
    const entry: RetainedEntry = { msg, owner, usage, bytes: cost };
    this.byTopic.set(msg.topic, entry);
    let node = this.root;
    for (const t of msg.topic.split('.')) {
      let next = node.children.get(t);
      if (next === undefined) node.children.set(t, (next = newNode()));
      node = next;
    }
    node.entry = entry;
    return true;
  }

  private release(e: RetainedEntry): void {
    this.bytes -= e.bytes;
    if (e.usage !== undefined) {
      e.usage.retainedBytes -= e.bytes;
      e.usage.retainedCount--;
    }
  }

  delete(topic: string): boolean {
    const old = this.byTopic.get(topic);
    if (old === undefined) return false;
    this.release(old);
    this.byTopic.delete(topic);
    // Unlink the leaf and prune branches left empty.
    const path: Node[] = [this.root];
    const tokens = topic.split('.');
    for (const t of tokens) path.push(path[path.length - 1]!.children.get(t)!);
    path[path.length - 1]!.entry = undefined;
    for (let i = tokens.length; i > 0; i--) {
      const n = path[i]!;
      if (n.entry !== undefined || n.children.size > 0) break;
      path[i - 1]!.children.delete(tokens[i - 1]!);
    }
    return true;
  }

  get(topic: string): RetainedEntry | undefined {
    return this.byTopic.get(topic);
  }

  /** Retained messages whose topic matches the pattern (`*` one token, `>` one or more). */
  *matching(pattern: string): Iterable<Published> {
    yield* walk(this.root, pattern.split('.'), 0);
  }
}

function* walk(node: Node, p: readonly string[], i: number): Iterable<Published> {
  if (i === p.length) {
    if (node.entry !== undefined) yield node.entry.msg;
    return;
  }
  const tok = p[i]!;
  if (tok === '>') {
    for (const child of node.children.values()) yield* everything(child);
    return;
  }
  if (tok === '*') {
    for (const child of node.children.values()) yield* walk(child, p, i + 1);
    return;
  }
  const child = node.children.get(tok);
  if (child !== undefined) yield* walk(child, p, i + 1);
}

function* everything(node: Node): Iterable<Published> {
  if (node.entry !== undefined) yield node.entry.msg;
  for (const child of node.children.values()) yield* everything(child);
}
