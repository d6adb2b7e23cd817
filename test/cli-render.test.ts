/** The CLI's pure helpers: payload rendering, --where, pattern reduction, duplicate suppression. */
import { describe, expect, it } from 'vitest';
import { Dedupe, matchesWhere, parseWhere, reducePatterns } from '../cli/filter.js';
import { covers } from '../bus/index.js';
import { fromJson, parsePayloadArg, renderCompact, table, toJson } from '../cli/render.js';

describe('toJson / fromJson', () => {
  it('byte strings are {"$bytes": hex} both ways; bigints become strings; undefined null', () => {
    const v = { a: new Uint8Array([0, 255]), b: [1n << 60n, undefined], c: 'x' };
    const j = toJson(v);
    expect(j).toEqual({ a: { $bytes: '00ff' }, b: [String(1n << 60n), null], c: 'x' });
    const back = fromJson(JSON.parse(JSON.stringify(j))) as { a: Uint8Array };
    expect(back.a).toBeInstanceOf(Uint8Array);
    expect([...back.a]).toEqual([0, 255]);
  });

  it('a subarray view renders only its own bytes', () => {
    const buf = new Uint8Array([1, 2, 3, 4]);
    expect(toJson(buf.subarray(1, 3))).toEqual({ $bytes: '0203' });
  });

  it('parsePayloadArg: JSON is parsed, other text stays a string, bad hex is refused', () => {
    expect(parsePayloadArg('{"x":1}')).toEqual({ x: 1 });
    expect(parsePayloadArg('42')).toBe(42);
    expect(parsePayloadArg('hello world')).toBe('hello world');
    expect(() => parsePayloadArg('{"$bytes":"abc"}')).toThrow(/even number of hex digits/);
    expect(parsePayloadArg('{"$bytes":"ab","other":1}')).toEqual({ $bytes: 'ab', other: 1 });
  });
});

describe('renderCompact', () => {
  it('reads like the data, with h\'…\' for bytes', () => {
    expect(renderCompact({ active: true, 'odd key': null, n: [1, 2.5], s: 'q"' })).toBe('{active: true, "odd key": null, n: [1, 2.5], s: "q\\""}');
    expect(renderCompact(new Uint8Array([0xff, 0xd8]))).toBe("h'ffd8'");
    expect(renderCompact(new Uint8Array(100))).toBe("h'0000000000000000…'(100B)");
    expect(renderCompact(undefined)).toBe('(empty)');
  });

  it('shortens to max with …, unless full', () => {
    const long = { text: 'y'.repeat(100) };
    expect(renderCompact(long, { max: 20 })).toBe(`{text: "${'y'.repeat(11)}…`);
    expect(renderCompact(long, { max: 20, full: true })).toContain('y'.repeat(100));
    expect(renderCompact(new Uint8Array(100), { full: true })).toBe(`h'${'00'.repeat(100)}'`);
  });
});

describe('--where', () => {
  it('compares JSON values when they parse, text otherwise, along dot paths', () => {
    const p = { active: true, n: 3, s: '3', camera: { id: 'cam-01' }, zones: [7, 8], blob: new Uint8Array([1]) };
    const ok = (...w: string[]) => matchesWhere(p, w.map(parseWhere));
    expect(ok('active=true')).toBe(true);
    expect(ok('active="true"')).toBe(false);
    expect(ok('n=3')).toBe(true);
    expect(ok('s=3')).toBe(false);
    expect(ok('s="3"')).toBe(true);
    expect(ok('camera.id=cam-01')).toBe(true);
    expect(ok('camera={"id":"cam-01"}')).toBe(true);
    expect(ok('zones.1=8')).toBe(true);
    expect(ok('blob={"$bytes":"01"}')).toBe(true);
    expect(ok('missing=null')).toBe(false);
    expect(ok('missing!=1')).toBe(true);
    expect(ok('active=true', 'n!=3')).toBe(false);
    expect(ok('url=http://x/?a=b')).toBe(false);
    expect(parseWhere('url=http://x/?a=b').value).toBe('http://x/?a=b');
    expect(matchesWhere(undefined, [parseWhere('a=1')])).toBe(false);
  });

  it('refuses what is not FIELD=VALUE', () => {
    expect(() => parseWhere('active')).toThrow(/FIELD=VALUE/);
    expect(() => parseWhere('a..b=1')).toThrow(/dot path/);
  });
});

describe('patterns', () => {
  it('covers() knows wildcards and the $ rule', () => {
    expect(covers('>', 'camera.>')).toBe(true);
    expect(covers('>', '_INBOX.>')).toBe(true);
    expect(covers('>', '$SYS.>')).toBe(false);
    expect(covers('camera.>', 'camera.*.motion')).toBe(true);
    expect(covers('camera.*.motion', 'camera.>')).toBe(false);
    expect(covers('camera.*', 'camera.x')).toBe(true);
    expect(covers('camera.x', 'camera.*')).toBe(false);
    expect(covers('a.*.c', 'a.b.c')).toBe(true);
    expect(covers('a.>', 'a')).toBe(false);
  });

  it('reducePatterns drops covered and duplicate patterns, keeps order', () => {
    expect(reducePatterns(['camera.*.motion', 'camera.>', 'alert.*', 'camera.>'])).toEqual(['camera.>', 'alert.*']);
    expect(reducePatterns(['>', '$SYS.>'])).toEqual(['>', '$SYS.>']);
  });
});

describe('Dedupe', () => {
  const b = (s: string) => new Uint8Array(Buffer.from(s));
  it('drops the back-to-back copy for another subscription, keeps a real repeat', () => {
    const d = new Dedupe();
    expect(d.isCopy('t', b('x'), 1, false)).toBe(false);
    expect(d.isCopy('t', b('x'), 2, false)).toBe(true);
    expect(d.isCopy('t', b('x'), 1, false)).toBe(false); // published again
    expect(d.isCopy('t', b('x'), 2, false)).toBe(true);
    expect(d.isCopy('t', b('y'), 2, false)).toBe(false);
  });

  it('retained replays are copies per topic across subscriptions, until reset', () => {
    const d = new Dedupe();
    expect(d.isCopy('s.a', b('1'), 1, true)).toBe(false);
    expect(d.isCopy('s.b', b('2'), 1, true)).toBe(false);
    expect(d.isCopy('s.a', b('1'), 2, true)).toBe(true);
    d.reset();
    expect(d.isCopy('s.a', b('1'), 1, true)).toBe(false);
  });
});

describe('table', () => {
  it('pads columns and right-aligns numbers', () => {
    expect(table(['topic', 'msgs'], [['a.b', 3], ['long.topic', 120]])).toBe('topic       msgs\na.b            3\nlong.topic   120');
  });
});
