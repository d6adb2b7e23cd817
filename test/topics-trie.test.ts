/**
 * bus/topics: the one trie behind routing, access rules and retained lookup, and the routing
 * cache that is patched on subscribe/unsubscribe instead of cleared. Checked against the plain
 * matcher on random patterns and topics.
 */
import { describe, expect, it } from 'vitest';
import { covers, patternMatches, Sublist, TopicTrie } from '../bus/topics/index.js';

// A deterministic generator so a failure can be replayed.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}
const TOKENS = ['camera', 'event', 'cam-01', 'cam-02', 'motion', '$SYS', 'x'];
function topic(r: () => number): string {
  const n = 1 + Math.floor(r() * 4);
  const t: string[] = [];
  for (let i = 0; i < n; i++) {
    let tok = TOKENS[Math.floor(r() * TOKENS.length)]!;
    if (tok === '$SYS' && i > 0) tok = 'y';
    t.push(tok);
  }
  return t.join('.');
}
function pattern(r: () => number): string {
  const t = topic(r).split('.');
  for (let i = 0; i < t.length; i++) if (r() < 0.3) t[i] = '*';
  if (r() < 0.3) t[t.length - 1] = '>';
  return t.join('.');
}

type Sub = { pattern: string; queue: string | undefined; id: number };

describe('Sublist on the shared trie, with a patched cache', () => {
  it('answers like the plain matcher through 3,000 random subscribes, unsubscribes and matches', () => {
    const r = rng(7);
    const list = new Sublist<Sub>(64);
    const live: Sub[] = [];
    let id = 0;
    let patched = 0;
    for (let step = 0; step < 3000; step++) {
      const x = r();
      if (x < 0.25) {
        const s: Sub = { pattern: pattern(r), queue: r() < 0.2 ? 'q' : undefined, id: ++id };
        const before = list.cachedTopics;
        list.insert(s);
        live.push(s);
        // The cache survives a subscribe (it is patched, not cleared).
        expect(list.cachedTopics).toBe(before);
        if (before > 0) patched++;
      } else if (x < 0.4 && live.length > 0) {
        const i = Math.floor(r() * live.length);
        expect(list.remove(live[i]!)).toBe(true);
        live.splice(i, 1);
      } else {
        const t = topic(r);
        const m = list.match(t);
        const want = live.filter((s) => patternMatches(s.pattern, t));
        const got = [...m.plain, ...m.groups.flatMap((g) => g.members)];
        expect(got.map((s) => s.id).sort()).toEqual(want.map((s) => s.id).sort());
      }
    }
    expect(list.size).toBe(live.length);
    expect(patched).toBeGreaterThan(100);
  });

  it('never changes a result a route may be iterating', () => {
    const list = new Sublist<Sub>();
    const a: Sub = { pattern: 'a.>', queue: undefined, id: 1 };
    const b: Sub = { pattern: 'a.b', queue: undefined, id: 2 };
    list.insert(a);
    list.insert(b);
    const r = list.match('a.b');
    list.remove(a);
    expect(r.plain.map((s) => s.id).sort()).toEqual([1, 2]);
    expect(list.match('a.b').plain.map((s) => s.id)).toEqual([2]);
  });

  it('prunes the trie: a churn of unique patterns leaves nothing behind', () => {
    const list = new Sublist<Sub>();
    for (let i = 0; i < 1000; i++) {
      const s: Sub = { pattern: `_INBOX.t${i}.>`, queue: undefined, id: i };
      list.insert(s);
      list.match(`_INBOX.t${i}.1`);
      list.remove(s);
    }
    expect(list.size).toBe(0);
    expect(list.match('_INBOX.t5.1').plain).toHaveLength(0);
  });
});

describe('TopicTrie', () => {
  it('finds stored topics by pattern (retained lookup) like the plain matcher', () => {
    const r = rng(11);
    const trie = new TopicTrie<{ topic: string }>(() => false);
    const topics = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const t = topic(r);
      topics.add(t);
      trie.at(t, () => ({ topic: t }));
    }
    for (let i = 0; i < 300; i++) {
      const p = pattern(r);
      const got: string[] = [];
      trie.forEachMatchedBy(p, (s) => got.push(s.topic));
      expect(got.sort()).toEqual([...topics].filter((t) => patternMatches(p, t)).sort());
    }
  });
});

describe('covers (one pattern over another)', () => {
  it('agrees with matching on every topic of the sample', () => {
    const r = rng(3);
    const sample = Array.from({ length: 400 }, () => topic(r));
    for (let i = 0; i < 400; i++) {
      const a = pattern(r);
      const b = pattern(r);
      if (covers(a, b)) for (const t of sample) if (patternMatches(b, t)) expect(patternMatches(a, t), `${a} ⊇ ${b} at ${t}`).toBe(true);
    }
    expect(covers('camera.>', 'camera.*.x')).toBe(true);
    expect(covers('camera.*', 'camera.>')).toBe(false);
    expect(covers('>', '$SYS.x')).toBe(false);
    expect(covers('$SYS.>', '$SYS.x')).toBe(true);
  });
});
