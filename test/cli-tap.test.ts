/** `udsbus tap`, the built binary against a real broker: filtering, --json, exits, request/reply. */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../bus/index.js';
import { startTestBus, type TestBus } from './helpers/harness.js';
import { runToEnd, startTap, type CliProcess } from './helpers/cli.js';

let bus: TestBus;
let pub: Client;
const running: CliProcess[] = [];

beforeAll(async () => {
  bus = await startTestBus();
  pub = await bus.client({ name: 'test-pub' });
});
afterEach(() => {
  for (const p of running.splice(0)) p.kill('SIGKILL');
});
afterAll(async () => {
  await bus.close();
});

async function tap(...args: string[]): Promise<CliProcess> {
  const p = await startTap(['-s', bus.socket, ...args]);
  running.push(p);
  return p;
}

describe('udsbus tap', () => {
  it('shows only the topics its patterns match, once each even when patterns overlap', async () => {
    const t = await tap('f1.camera.>', 'f1.camera.*.motion', 'f1.alert.*');
    pub.publish('f1.other.x', { no: 1 });
    pub.publish('f1.camera.cam-01.motion', { active: true });
    pub.publish('f1.alert.night', 'x');
    pub.publish('f1.alert.night.deeper', 'no');
    pub.publish('f1.camera.cam-02.tamper', { active: false });
    pub.publish('f1.end', 0);
    pub.publish('f1.camera.last', 1);
    await t.waitOut((l) => l.includes('f1.camera.last'));
    const topics = t.out.map((l) => l.split(' ')[1]);
    expect(topics).toEqual(['f1.camera.cam-01.motion', 'f1.alert.night', 'f1.camera.cam-02.tamper', 'f1.camera.last']);
    expect(t.out[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} f1\.camera\.cam-01\.motion \d+B( from \S+\((pid \d+|unverified)\))? \{active: true\}$/);
  });

  it('--json prints one parseable object per message with payload, time and delivery metadata', async () => {
    const t = await tap('--json', 'j1.>');
    const before = Date.now();
    pub.publish('j1.cam', { active: true, jpeg: new Uint8Array([0xff, 0xd8, 0x00]), n: 3 }, { hdr: { trace: 'abc' } });
    pub.publish('j1.empty');
    const lines = await t.waitOutLines(2);
    const [a, b] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(a).toMatchObject({
      topic: 'j1.cam',
      payload: { active: true, jpeg: { $bytes: 'ffd800' }, n: 3 },
      seq: 1,
      retained: false,
      reply: null,
      hdr: { trace: 'abc' },
      lost: 0,
      from: { name: 'test-pub', cid: expect.any(String) },
    });
    expect(typeof a!.sid).toBe('number');
    expect(a!.size).toBeGreaterThan(0);
    expect(Date.parse(a!.time as string)).toBeGreaterThanOrEqual(before - 5);
    expect(a!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(b).toMatchObject({ topic: 'j1.empty', payload: null, size: 0, seq: 2, reply: null, hdr: null });
    // Notices are never on stdout.
    expect(t.out.every((l) => l.startsWith('{'))).toBe(true);
  });

  it('--from keeps the messages of one publisher, and the text line names it', async () => {
    const other = await bus.client({ name: 'other-pub' });
    const t = await tap('--from', 'other-pub', 'from1.>');
    pub.publish('from1.x', { by: 'test-pub' });
    other.publish('from1.x', { by: 'other-pub' });
    const line = await t.waitOut((l) => l.includes('from1.x'));
    expect(line).toMatch(/ from1\.x \d+B from other-pub\((pid \d+|unverified)\) \{by: "other-pub"\}$/);
    pub.publish('from1.end', 0);
    other.publish('from1.end', 1);
    await t.waitOut((l) => l.includes('from1.end'));
    expect(t.out).toHaveLength(2);
  });

  it('--raw shows the payload bytes in hex (and as "raw" with --json)', async () => {
    const t = await tap('--raw', 'r1.>');
    const j = await tap('--raw', '--json', 'r1.>');
    pub.publish('r1.x', { a: 1 });
    expect(await t.waitOut((l) => l.includes('r1.x'))).toMatch(/ r1\.x 4B( from \S+\((pid \d+|unverified)\))? a1616101$/);
    expect(JSON.parse(await j.waitOut((l) => l.includes('r1.x')))).toMatchObject({ raw: 'a1616101', payload: { a: 1 } });
  });

  it('--count N exits 0 after N messages', async () => {
    const t = await tap('--count', '2', 'c1.>');
    for (let i = 0; i < 5; i++) pub.publish('c1.x', i);
    const r = await t.exited;
    expect(r.code).toBe(0);
    expect(t.out).toHaveLength(2);
  });

  it('--timeout exits 3 when idle that long, saying so on stderr', async () => {
    const t = await tap('--timeout', '0.3', 'idle1.>');
    const r = await t.exited;
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/udsbus tap: no message for 0\.3 s \(--timeout\); exiting with code 3/);
  });

  it('--timeout restarts with every message', async () => {
    const t = await tap('--timeout', '0.6', 'idle2.>');
    pub.publish('idle2.a', 1);
    await t.waitOut((l) => l.includes('idle2.a'));
    pub.publish('idle2.b', 2);
    await t.waitOut((l) => l.includes('idle2.b'));
    expect((await t.exited).code).toBe(3);
  });

  it('--where filters on payload fields (dot paths, JSON values, != and AND)', async () => {
    const t = await tap('--json', '--where', 'active=true', '--where', 'camera.id=cam-01', '--where', 'zone!=3', 'w1.>');
    pub.publish('w1.e', { active: false, camera: { id: 'cam-01' }, n: 1 });
    pub.publish('w1.e', { active: 'true', camera: { id: 'cam-01' }, n: 2 }); // string, not JSON true
    pub.publish('w1.e', { active: true, camera: { id: 'cam-02' }, n: 3 });
    pub.publish('w1.e', { active: true, camera: { id: 'cam-01' }, zone: 3, n: 4 });
    pub.publish('w1.e', { active: true, n: 5 });
    pub.publish('w1.e', { active: true, camera: { id: 'cam-01' }, n: 6 });
    pub.publish('w1.e', { active: true, camera: { id: 'cam-01' }, zone: 2, n: 7 });
    await t.waitOut((l) => l.includes('"n":7'));
    expect(t.out.map((l) => (JSON.parse(l) as { payload: { n: number } }).payload.n)).toEqual([6, 7]);
  });

  it('replays retained messages by default, skips them with --no-retained, prints only them with --retained-only', async () => {
    pub.publish('ret1.cam-01', { state: 'online' }, { retain: true });
    pub.publish('ret1.cam-02', { state: 'offline' }, { retain: true });
    await pub.flush();
    const only = await runToEnd(['tap', '-s', bus.socket, '--retained-only', '--json', 'ret1.>']);
    expect(only.code).toBe(0);
    const rows = only.stdout.split('\n').map((l) => JSON.parse(l) as { topic: string; retained: boolean; seq: number });
    expect(rows.map((r) => [r.topic, r.retained, r.seq]).sort()).toEqual([
      ['ret1.cam-01', true, 0],
      ['ret1.cam-02', true, 0],
    ]);

    const withRetained = await tap('ret1.>');
    await withRetained.waitOut((l) => l.includes('ret1.cam-02') && l.includes(' retained '));
    const live = await tap('--no-retained', 'ret1.>');
    pub.publish('ret1.cam-03', { state: 'online' });
    await live.waitOut((l) => l.includes('ret1.cam-03'));
    expect(live.out.some((l) => l.includes('retained'))).toBe(false);
  });

  it('shows a request and its reply together, with the round-trip time', async () => {
    const server = await bus.client({ name: 'server' });
    server.serve('rpc1.echo', (m) => ({ echoed: m.payload }));
    await server.flush();
    // A narrow pattern: the reply on _INBOX.… is found through tap's own inbox subscription.
    const t = await tap('rpc1.>');
    const j = await tap('--json', 'rpc1.>');
    const requester = await bus.client({ name: 'requester' });
    expect(await requester.request('rpc1.echo', { hi: 1 })).toEqual({ echoed: { hi: 1 } });
    const req = await t.waitOut((l) => l.includes('rpc1.echo'));
    expect(req).toMatch(/ rpc1\.echo \d+B → _INBOX\.\S+( from \S+\((pid \d+|unverified)\))? \{hi: 1\}$/);
    const reply = await t.waitOut((l) => l.includes('↳'));
    expect(reply).toMatch(/↳ _INBOX\.\S+ \d+B \([\d.]+ ms, reply to rpc1\.echo\)( from \S+\((pid \d+|unverified)\))? \{ok: true, result: \{echoed: \{hi: 1\}\}\}$/);
    const [jr, jp] = (await j.waitOutLines(2)).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(jr).toMatchObject({ topic: 'rpc1.echo' });
    expect(jp).toMatchObject({ topic: jr!.reply, inReplyTo: { topic: 'rpc1.echo' }, payload: { ok: true } });
    expect(typeof (jp!.inReplyTo as { rttMs: unknown }).rttMs).toBe('number');
  });

  it('reports a request that gets no reply on stderr', async () => {
    const silent = await bus.client({ name: 'silent' });
    silent.subscribe('rpc2.>').subscribe();
    await silent.flush();
    const t = await tap('--reply-timeout', '0.3', 'rpc2.>');
    const requester = await bus.client({ name: 'requester2' });
    await expect(requester.request('rpc2.nobody-answers', {}, { timeout: 200 })).rejects.toThrow(/no reply/);
    await t.waitErr((l) => /udsbus tap: no reply within 0\.3 s to rpc2\.nobody-answers \(reply topic _INBOX\.\S+\)/.test(l));
    expect(t.out).toHaveLength(1);
  });

  it('--stats prints a per-topic table on Ctrl-C and exits 0', async () => {
    const t = await tap('--stats', 's1.>');
    for (let i = 0; i < 3; i++) pub.publish('s1.a', i);
    pub.publish('s1.b', 0);
    await t.waitOutLines(4);
    t.kill('SIGINT');
    const r = await t.exited;
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/udsbus tap: 4 messages on 2 topics in [\d.]+ s/);
    expect(r.stderr).toMatch(/^topic\s+msgs\s+bytes\s+msg\/s$/m);
    expect(r.stderr).toMatch(/^s1\.a\s+3\s/m);
    expect(r.stderr).toMatch(/^s1\.b\s+1\s/m);
  });

  it('shortens long payloads unless --full', async () => {
    const t = await tap('long1.>');
    const f = await tap('--full', 'long1.>');
    pub.publish('long1.x', { text: 'y'.repeat(1000), blob: new Uint8Array(100) });
    const short = await t.waitOut((l) => l.includes('long1.x'));
    const full = await f.waitOut((l) => l.includes('long1.x'));
    expect(short.length).toBeLessThan(500);
    expect(short.endsWith('…')).toBe(true);
    expect(full).toContain('y'.repeat(1000));
    expect(full).toContain(`h'${'00'.repeat(100)}'`);
  });

  it('rejects an invalid pattern with exit 1 before connecting', async () => {
    const r = await runToEnd(['tap', '-s', bus.socket, 'camera..x']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^udsbus: invalid pattern "camera\.\.x"/);
  });
});

describe('udsbus tap under pressure and in colour', () => {
  it('reports lost messages on stderr and in "lost", and keeps going', async () => {
    const small = await startTestBus({ limits: { outQueueBytes: 32 * 1024, outQueueMsgs: 64 } });
    try {
      const t = await startTap(['-s', small.socket, '--json', 'loss1.>']);
      running.push(t);
      const p = await small.client({ name: 'flood' });
      // A stopped tap reads nothing: the kernel buffers fill, then its queue, then the broker drops.
      t.child.kill('SIGSTOP');
      const blob = new Uint8Array(4096);
      for (let i = 0; i < 2000; i++) {
        if (!p.publish('loss1.x', { i, blob })) await p.drain();
      }
      p.publish('loss1.last', { done: true });
      await p.flush();
      t.child.kill('SIGCONT');
      await t.waitOut((l) => l.includes('loss1.last'), 20_000);
      const notice = await t.waitErr((l) => /udsbus tap: \d+ messages? lost on "loss1\.>" \(policy drop-oldest, last lost seq \d+\): tap read too slowly/.test(l));
      const lostInNotices = t.err.filter((l) => l.includes(' lost on ')).reduce((a, l) => a + Number(/(\d+) messages? lost/.exec(l)![1]), 0);
      const rows = t.out.map((l) => JSON.parse(l) as { seq: number; lost: number });
      expect(notice).toBeTruthy();
      expect(rows.some((r) => r.lost > 0)).toBe(true);
      // Nothing is dropped silently: delivered + lost = the last seq (PROTOCOL.md §10).
      expect(rows.length + lostInNotices).toBe(rows.at(-1)!.seq);
      expect(rows.reduce((a, r) => a + r.lost, 0)).toBe(lostInNotices);
    } finally {
      await small.close();
    }
  });

  it('colours only when asked: never in a pipe by default, FORCE_COLOR=1 forces, NO_COLOR wins', async () => {
    const plain = await startTap(['-s', bus.socket, 'col1.>'], { env: { NO_COLOR: '' } });
    const forced = await startTap(['-s', bus.socket, 'col1.>'], { env: { NO_COLOR: '', FORCE_COLOR: '1' } });
    const both = await startTap(['-s', bus.socket, 'col1.>'], { env: { NO_COLOR: '1', FORCE_COLOR: '1' } });
    running.push(plain, forced, both);
    pub.publish('col1.x', { a: 1 });
    const esc = '\x1b[';
    expect(await plain.waitOut((l) => l.includes('col1.x'))).not.toContain(esc);
    expect(await forced.waitOut((l) => l.includes('col1.x'))).toContain(`${esc}36mcol1.x${esc}0m`);
    expect(await both.waitOut((l) => l.includes('col1.x'))).not.toContain(esc);
  });
});
