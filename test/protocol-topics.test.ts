import { describe, expect, it } from 'vitest';
import { checkPattern, checkTopic, patternMatches } from '../bus/topics/index.js';
import { Sublist } from '../bus/topics/index.js';
import { DEFAULT_LIMITS } from '../bus/protocol/limits.js';

const L = DEFAULT_LIMITS;

describe('topic grammar (the table in PROTOCOL.md §6)', () => {
  const rows: Array<[string, string | null, string | null]> = [
    ['camera.event.cam-01.motion', null, null],
    ['camera.discovered.00:1A:2B:3C:4D:5E', null, null],
    ['alert.night_motion', null, null],
    ['$SYS.broker.stats', null, null],
    ['camera.*.cam-01.>', 'INVALID_TOPIC', null],
    ['camera.>', 'INVALID_TOPIC', null],
    ['>', 'INVALID_TOPIC', null],
    ['camera..motion', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['.camera', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['camera.', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['camera.ev*nt', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['camera.>.motion', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['camera/event', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['kamera.ü', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['camera.$x', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['$', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['a b', 'INVALID_TOPIC', 'INVALID_PATTERN'],
    ['a.>>', 'INVALID_TOPIC', 'INVALID_PATTERN'],
  ];
  it.each(rows)('%s', (s, asTopic, asPattern) => {
    expect(checkTopic(s, L)).toBe(asTopic);
    expect(checkPattern(s, L)).toBe(asPattern);
  });

  it('enforces length and depth', () => {
    expect(checkTopic('a'.repeat(257), L)).toBe('TOPIC_TOO_LONG');
    expect(checkTopic(Array(17).fill('a').join('.'), L)).toBe('TOPIC_TOO_DEEP');
    expect(checkTopic(Array(16).fill('a').join('.'), L)).toBeNull();
  });
});

describe('matching', () => {
  const cases: Array<[string, string, boolean]> = [
    ['a.b', 'a.b', true],
    ['a.*', 'a.b', true],
    ['a.*', 'a.b.c', false],
    ['a.>', 'a.b.c', true],
    ['a.>', 'a', false],
    ['*.b', 'a.b', true],
    ['>', 'a', true],
    ['>', '$SYS.x', false],
    ['*.x', '$SYS.x', false],
    ['$SYS.>', '$SYS.x', true],
    ['a.*.c.>', 'a.b.c.d.e', true],
    ['a.*.c.>', 'a.b.x.d', false],
  ];

  it.each(cases)('%s vs %s → %s', (p, t, want) => {
    expect(patternMatches(p, t)).toBe(want);
    const sl = new Sublist<{ pattern: string; queue: undefined }>();
    const s = { pattern: p, queue: undefined };
    sl.insert(s);
    expect(sl.match(t).plain.includes(s)).toBe(want);
  });

  it('matches the trie against the reference on random patterns, and prunes on removal', () => {
    const tokens = ['a', 'b', 'c', '*'];
    let seed = 11;
    const r = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    const subs: Array<{ pattern: string; queue: undefined }> = [];
    const sl = new Sublist<{ pattern: string; queue: undefined }>();
    for (let i = 0; i < 300; i++) {
      const n = 1 + Math.floor(r() * 4);
      const parts = Array.from({ length: n }, () => tokens[Math.floor(r() * tokens.length)]!);
      if (r() < 0.3) parts.push('>');
      const s = { pattern: parts.join('.'), queue: undefined };
      subs.push(s);
      sl.insert(s);
    }
    for (let i = 0; i < 300; i++) {
      const n = 1 + Math.floor(r() * 5);
      const topic = Array.from({ length: n }, () => ['a', 'b', 'c'][Math.floor(r() * 3)]!).join('.');
      const want = subs.filter((s) => patternMatches(s.pattern, topic)).length;
      expect(sl.match(topic).plain.length).toBe(want);
    }
    for (const s of subs) expect(sl.remove(s)).toBe(true);
    expect(sl.size).toBe(0);
    expect(sl.match('a.b').plain.length).toBe(0);
  });

  it('puts one member of each queue group in the result', () => {
    const sl = new Sublist<{ pattern: string; queue: string | undefined }>();
    const a = { pattern: 'w.>', queue: 'g' };
    const b = { pattern: 'w.>', queue: 'g' };
    const c = { pattern: 'w.>', queue: undefined };
    sl.insert(a);
    sl.insert(b);
    sl.insert(c);
    const m = sl.match('w.x');
    expect(m.plain).toEqual([c]);
    expect(m.groups.length).toBe(1);
    expect(m.groups[0]!.members).toEqual([a, b]);
  });
});
