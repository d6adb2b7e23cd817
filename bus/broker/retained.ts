/**
 * Last retained message per topic, bounded in count and stored bytes (PROTOCOL.md §9). Owned
 * entries remember their connection so they can be cleared when it ends. Topics are kept in a
 * token trie so a subscribe walks only the branches its pattern can match, never the whole store.
 */
import { TopicTrie } from '../topics/trie.js';
import type { Published } from './message.js';

export type RetainedEntry = {
  msg: Published;
  owner: string | undefined;
  usage: { retainedBytes: number; retainedCount: number } | undefined;
  /** What the entry costs: the message's shared encoded body (topic, payload, headers, from). */
  bytes: number;
};

type Slot = { entry: RetainedEntry | undefined };

export class RetainedStore {
  private readonly byTopic = new Map<string, RetainedEntry>();
  private readonly trie = new TopicTrie<Slot>((s) => s.entry === undefined);
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
    this.trie.at(msg.topic, () => ({ entry: undefined })).entry = entry;
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
    const slot = this.trie.get(topic);
    if (slot !== undefined) slot.entry = undefined;
    this.trie.prune(topic);
    return true;
  }

  get(topic: string): RetainedEntry | undefined {
    return this.byTopic.get(topic);
  }

  /** Retained messages whose topic matches the pattern, found by walking the trie. */
  matching(pattern: string): Published[] {
    const out: Published[] = [];
    this.trie.forEachMatchedBy(pattern, (slot) => {
      if (slot.entry !== undefined) out.push(slot.entry.msg);
    });
    return out;
  }
}
