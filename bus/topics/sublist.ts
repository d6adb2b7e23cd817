/**
 * Subscription index for routing: subscribers kept in the shared token trie, plus a bounded cache
 * of results per literal topic. The cache is patched on subscribe and unsubscribe, as
 * nats-server's sublist does, instead of being thrown away: on a bus where a request/reply
 * subscribes an inbox every few milliseconds, clearing it would make every publish a trie walk.
 * Cached results are never mutated in place (a route may be iterating one while a delivery closes
 * a slow consumer and unsubscribes it); a patch replaces the entry.
 */
import { patternMatches } from './match.js';
import { TopicTrie } from './trie.js';

export interface Subscriber {
  readonly pattern: string;
  readonly queue: string | undefined;
}

/** Members of one queue group at one pattern; one of them gets each message. */
export type QueueGroup<S> = { members: S[]; next: number };

export type MatchResult<S> = { readonly plain: readonly S[]; readonly groups: readonly QueueGroup<S>[] };

type Slot<S> = { plain: S[]; groups: Map<string, QueueGroup<S>> | undefined };

const EMPTY_RESULT: MatchResult<never> = Object.freeze({ plain: Object.freeze([]), groups: Object.freeze([]) });

const slotEmpty = (s: Slot<unknown>): boolean => s.plain.length === 0 && (s.groups === undefined || s.groups.size === 0);

export class Sublist<S extends Subscriber> {
  private readonly trie = new TopicTrie<Slot<S>>(slotEmpty);
  private readonly cache = new Map<string, MatchResult<S>>();
  private count = 0;

  constructor(private readonly cacheSize = 4096) {}

  get size(): number {
    return this.count;
  }

  insert(sub: S): void {
    const slot = this.trie.at(sub.pattern, () => ({ plain: [], groups: undefined }));
    let newGroup: QueueGroup<S> | undefined;
    if (sub.queue === undefined) slot.plain.push(sub);
    else {
      slot.groups ??= new Map();
      let group = slot.groups.get(sub.queue);
      if (group === undefined) slot.groups.set(sub.queue, (group = newGroup = { members: [], next: 0 }));
      group.members.push(sub);
    }
    this.count++;
    // Patch: a new plain subscriber or a new group joins the results it matches; a new member
    // of an existing group is already there through the group object.
    if (sub.queue !== undefined && newGroup === undefined) return;
    for (const [topic, r] of this.cache) {
      if (!patternMatches(sub.pattern, topic)) continue;
      this.cache.set(topic, newGroup === undefined ? { plain: [...r.plain, sub], groups: r.groups } : { plain: r.plain, groups: [...r.groups, newGroup] });
    }
  }

  remove(sub: S): boolean {
    const slot = this.trie.get(sub.pattern);
    if (slot === undefined) return false;
    let goneGroup: QueueGroup<S> | undefined;
    if (sub.queue === undefined) {
      const i = slot.plain.indexOf(sub);
      if (i < 0) return false;
      slot.plain.splice(i, 1);
    } else {
      const group = slot.groups?.get(sub.queue);
      const i = group ? group.members.indexOf(sub) : -1;
      if (group === undefined || i < 0) return false;
      // Copy-on-write: a route may be iterating this group's members right now.
      group.members = group.members.filter((m) => m !== sub);
      if (group.members.length === 0) {
        slot.groups!.delete(sub.queue);
        goneGroup = group;
      }
    }
    this.count--;
    this.trie.prune(sub.pattern);
    if (sub.queue !== undefined && goneGroup === undefined) return true;
    for (const [topic, r] of this.cache) {
      if (!patternMatches(sub.pattern, topic)) continue;
      const next = goneGroup === undefined ? { plain: r.plain.filter((s) => s !== sub), groups: r.groups } : { plain: r.plain, groups: r.groups.filter((g) => g !== goneGroup) };
      if (next.plain.length === 0 && next.groups.length === 0) this.cache.set(topic, EMPTY_RESULT);
      else this.cache.set(topic, next);
    }
    return true;
  }

  match(topic: string): MatchResult<S> {
    const cached = this.cache.get(topic);
    if (cached !== undefined) return cached;
    if (this.count === 0) return EMPTY_RESULT;
    const plain: S[] = [];
    const groups: QueueGroup<S>[] = [];
    this.trie.forEachMatch(topic, (slot) => {
      for (const s of slot.plain) plain.push(s);
      if (slot.groups !== undefined) for (const g of slot.groups.values()) groups.push(g);
    });
    const result: MatchResult<S> = plain.length === 0 && groups.length === 0 ? EMPTY_RESULT : { plain, groups };
    if (this.cache.size >= this.cacheSize) {
      // Drop the oldest entry (Map keeps insertion order): bounded, and cheap.
      const first = this.cache.keys().next();
      if (!first.done) this.cache.delete(first.value);
    }
    this.cache.set(topic, result);
    return result;
  }

  /** How many topics have a cached result (for tests of the patching). */
  get cachedTopics(): number {
    return this.cache.size;
  }
}
