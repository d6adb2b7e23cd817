/** `udsbus pub`, `req` and `stats`, the built binary against a real broker. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client, Message } from '../bus/index.js';
import { startTestBus, takeN, type TestBus } from './helpers/harness.js';
import { runToEnd, startCli } from './helpers/cli.js';

let bus: TestBus;
let sub: Client;

beforeAll(async () => {
  bus = await startTestBus();
  sub = await bus.client({ name: 'test-sub' });
});
afterAll(async () => {
  await bus.close();
});

const cli = (...args: string[]) => runToEnd([...args, '--socket', bus.socket]);

async function received(pattern: string, n: number, act: () => Promise<unknown>): Promise<Message[]> {
  const got = takeN(sub.subscribe(pattern), n, 30_000);
  await sub.flush();
  await act();
  return got;
}

describe('udsbus pub', () => {
  it('sends JSON as CBOR, text as a string, {"$bytes"} as bytes, headers in hdr', async () => {
    const msgs = await received('p1.>', 3, async () => {
      expect((await cli('pub', 'p1.json', '{"active":true,"img":{"$bytes":"ffd8"}}', '-H', 'trace=abc', '--header', 'k=v=w')).code).toBe(0);
      expect((await cli('pub', 'p1.text', 'hello world')).code).toBe(0);
      expect((await cli('pub', 'p1.string', '42', '--string')).code).toBe(0);
    });
    expect(msgs[0]).toMatchObject({ topic: 'p1.json', payload: { active: true }, hdr: { trace: 'abc', k: 'v=w' } });
    const img = (msgs[0]!.payload as { img: Uint8Array }).img;
    expect(img).toBeInstanceOf(Uint8Array);
    expect([...img]).toEqual([0xff, 0xd8]);
    expect(msgs[1]!.payload).toBe('hello world');
    expect(msgs[2]!.payload).toBe('42');
  });

  it('reads the payload from --stdin or --file', async () => {
    const file = join(bus.dir, 'payload.json');
    writeFileSync(file, '{"from":"file"}\n');
    const msgs = await received('p2.>', 2, async () => {
      expect((await runToEnd(['pub', '--socket', bus.socket, 'p2.stdin', '--stdin'], { input: '{"from":"stdin"}\n' })).code).toBe(0);
      expect((await cli('pub', 'p2.file', '--file', file)).code).toBe(0);
    });
    expect(msgs.map((m) => m.payload)).toEqual([{ from: 'stdin' }, { from: 'file' }]);
  });

  it('--retain keeps the message; an empty retained publish clears it', async () => {
    expect((await cli('pub', '--retain', 'p3.state', '{"state":"online"}')).code).toBe(0);
    const r = await runToEnd(['tap', '--socket', bus.socket, '--retained-only', '--json', 'p3.>']);
    expect(JSON.parse(r.stdout)).toMatchObject({ topic: 'p3.state', retained: true, payload: { state: 'online' } });
    expect((await cli('pub', '--retain', 'p3.state')).code).toBe(0);
    expect((await runToEnd(['tap', '--socket', bus.socket, '--retained-only', 'p3.>'])).stdout).toBe('');
  });

  it('--repeat --rate publishes N messages and prints a msgs/s summary on stderr', async () => {
    let r: Awaited<ReturnType<typeof cli>> | undefined;
    const msgs = await received('p4.>', 200, async () => {
      r = await cli('pub', 'p4.load', '{"n":1}', '--repeat', '200', '--rate', '2000');
    });
    expect(msgs).toHaveLength(200);
    expect(r!.code).toBe(0);
    expect(r!.stderr).toMatch(/^udsbus pub: 200 messages to p4\.load in [\d.]+ s \(\d+ msgs\/s\)$/);
    // 200 at 2000/s takes about 0.1 s; not instantly.
    expect(Number(/in ([\d.]+) s/.exec(r!.stderr)![1])).toBeGreaterThanOrEqual(0.09);
  });

  it('refuses bad input with exit 1 and one line saying what to do', async () => {
    const reserved = await cli('pub', '$SYS.x', '1');
    expect(reserved.code).toBe(1);
    expect(reserved.stderr).toMatch(/^udsbus: topics starting with "\$" belong to the broker/);
    const invalid = await cli('pub', 'a..b', '1');
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toMatch(/^udsbus: invalid topic "a\.\.b"/);
    const two = await cli('pub', 'a.b', '1', '--stdin');
    expect(two.code).toBe(1);
    expect(two.stderr.trim().split('\n')).toHaveLength(1);
    const badCount = await cli('pub', 'a.b', '--repeat', 'x');
    expect(badCount.code).toBe(1);
    expect(badCount.stderr).toMatch(/--repeat/);
  });
});

describe('udsbus req', () => {
  it('prints the result as JSON and exits 0', async () => {
    const server = await bus.client({ name: 'server' });
    server.serve('q1.add', (m) => {
      const { a, b } = m.payload as { a: number; b: number };
      return { sum: a + b, raw: new Uint8Array([1, 2]) };
    });
    await server.flush();
    const r = await cli('req', 'q1.add', '{"a":2,"b":3}');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ sum: 5, raw: { $bytes: '0102' } });
    const env = await cli('req', 'q1.add', '{"a":1,"b":1}', '--envelope');
    expect(JSON.parse(env.stdout)).toEqual({ ok: true, result: { sum: 2, raw: { $bytes: '0102' } } });
  });

  it('exits 4 when nobody serves the topic', async () => {
    const r = await cli('req', 'q2.nobody', '{}');
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^udsbus: no responders: nobody subscribes to "q2\.nobody"/);
  });

  it('exits 5 when the reply does not come within --timeout', async () => {
    const silent = await bus.client({ name: 'silent' });
    silent.subscribe('q3.slow').subscribe();
    await silent.flush();
    const r = await cli('req', 'q3.slow', '{}', '--timeout', '0.3');
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/^udsbus: no reply to "q3\.slow" within 0\.3 s/);
  });

  it('exits 6 with the remote error code and message', async () => {
    const server = await bus.client({ name: 'failing' });
    server.serve('q4.fail', () => {
      throw Object.assign(new Error('camera cam-01 does not answer'), { code: 'unreachable', data: { host: '10.0.0.5' } });
    });
    await server.flush();
    const r = await cli('req', 'q4.fail');
    expect(r.code).toBe(6);
    expect(r.stderr.trim()).toBe('udsbus: remote error unreachable: camera cam-01 does not answer');
    expect(JSON.parse(r.stdout)).toEqual({ host: '10.0.0.5' });
  });

  it("asks the broker itself on $SYS.req.stats", async () => {
    const r = await cli('req', '$SYS.req.stats');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toHaveProperty('connections');
  });
});

describe('udsbus stats', () => {
  it('--json shows the counters moving', async () => {
    const first = await cli('stats', '--json');
    expect(first.code).toBe(0);
    const a = JSON.parse(first.stdout) as { msgsIn: number; msgsOut: number; connections: number; time: string };
    expect(a.connections).toBeGreaterThanOrEqual(1);
    const p = await bus.client({ name: 'stats-pub' });
    for (let i = 0; i < 10; i++) p.publish('st1.x', i);
    await p.flush();
    const b = JSON.parse((await cli('stats', '--json')).stdout) as { msgsIn: number };
    expect(b.msgsIn).toBeGreaterThanOrEqual(a.msgsIn + 10);
  });

  it('--watch --json --count samples repeatedly; --clients lists connections', async () => {
    const s = startCli(['stats', '--socket', bus.socket, '--watch', '--json', '--clients', '--interval', '0.1', '--count', '3']);
    const r = await s.exited;
    expect(r.code).toBe(0);
    const rows = r.stdout.split('\n').map((l) => JSON.parse(l) as { uptimeMs: number; clients: Array<{ name: string }> });
    expect(rows).toHaveLength(3);
    expect(rows[2]!.uptimeMs).toBeGreaterThan(rows[0]!.uptimeMs);
    expect(rows[0]!.clients.map((c) => c.name)).toContain('test-sub');
  });

  it('prints a table', async () => {
    const r = await cli('stats', '--clients');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^connections\s+\d+ open, \d+ since start; \d+ subscriptions?$/m);
    expect(r.stdout).toMatch(/^messages in\s+\d+ \([\d.]+\/s\)/m);
    expect(r.stdout).toMatch(/^cid\s+name\s+transport/m);
    expect(r.stdout).toMatch(/test-sub/);
  });
});
