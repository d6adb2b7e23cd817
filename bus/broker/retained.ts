/**
 * Last retained message per topic, bounded in count and payload bytes (PROTOCOL.md §9). Owned
 * entries remember their connection so they can be cleared when it ends.
 */
import { patternMatches } from '../protocol/topics.js';
import type { Published } from './message.js';

export type RetainedEntry = { msg: Published; owner: string | undefined; usage: { retainedBytes: number } | undefined };

export class RetainedStore {
  private readonly byTopic = new Map<string, RetainedEntry>();
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
  set(msg: Published, owner: string | undefined, usage?: { retainedBytes: number }): boolean {
    const old = this.byTopic.get(msg.topic);
    const freed = old === undefined ? 0 : old.msg.payload.length;
    if (old === undefined && this.byTopic.size >= this.maxCount) return false;
    if (this.bytes - freed + msg.payload.length > this.maxBytes) return false;
    this.bytes += msg.payload.length - freed;
    if (old?.usage !== undefined) old.usage.retainedBytes -= freed;
    if (usage !== undefined) usage.retainedBytes += msg.payload.length;
    this.byTopic.set(msg.topic, { msg, owner, usage });
    return true;
  }

  delete(topic: string): boolean {
    const old = this.byTopic.get(topic);
    if (old === undefined) return false;
    this.bytes -= old.msg.payload.length;
    if (old.usage !== undefined) old.usage.retainedBytes -= old.msg.payload.length;
    this.byTopic.delete(topic);
    return true;
  }

  get(topic: string): RetainedEntry | undefined {
    return this.byTopic.get(topic);
  }

  /** Retained messages whose topic matches the pattern, oldest first. */
  *matching(pattern: string): Iterable<Published> {
    for (const e of this.byTopic.values()) if (patternMatches(pattern, e.msg.topic)) yield e.msg;
  }
}
