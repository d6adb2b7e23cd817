import { createConnection, type Socket } from 'node:net';
import { execFile, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../bus/index.js';
import { startTestBus, takeN, type TestBus } from './helpers/harness.js';

let bus: TestBus;
beforeEach(async () => {
  bus = await startTestBus();
});
afterEach(async () => {
  await bus.close();
});

class JsonConn {
  lines: Record<string, unknown>[] = [];
  private buf = '';
  private waiters: Array<() => void> = [];
  constructor(readonly sock: Socket) {
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => {
      this.buf += d;
      let i;
      while ((i = this.buf.indexOf('\n')) >= 0) {
        this.lines.push(JSON.parse(this.buf.slice(0, i)) as Record<string, unknown>);
        this.buf = this.buf.slice(i + 1);
      }
      for (const w of this.waiters.splice(0)) w();
    });
  }
  static open(path: string): Promise<JsonConn> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => resolve(new JsonConn(s)));
      s.once('error', reject);
    });
  }
  send(o: object): void {
    this.sock.write(`${JSON.stringify(o)}\n`);
  }
  async next(pred: (f: Record<string, unknown>) => boolean, ms = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + ms;
    for (;;) {
      const i = this.lines.findIndex(pred);
      if (i >= 0) return this.lines.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no matching line; have ${JSON.stringify(this.lines)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }
}

describe('newline-delimited JSON mode', () => {
  it('speaks the same frames; the broker translates between CBOR and JSON clients', async () => {
    const j = await JsonConn.open(bus.socket);
    cleanup.push(() => j.sock.destroy());
    j.send({ op: 'hello', v: 1, name: 'shell' });
    const welcome = await j.next((f) => f.op === 'welcome');
    expect(welcome.limits).toMatchObject({ maxFrameBytes: expect.any(Number) });
    j.send({ op: 'sub', sid: 1, pattern: 'camera.>', id: 1 });
    await j.next((f) => f.op === 'ok' && f.id === 1);

    const cbor = await bus.client();
    const fromJson = takeN(cbor.subscribe('shell.>'), 1);
    await cbor.flush();
    cbor.publish<string>('camera.event.cam-01.motion', { active: true, raw: Buffer.from([0xde, 0xad]) });
    const m = await j.next((f) => f.op === 'msg');
    expect(m).toEqual({
      op: 'msg',
      sid: 1,
      seq: 1,
      topic: 'camera.event.cam-01.motion',
      payload: { active: true, raw: { $bytes: 'dead' } },
      from: expect.objectContaining({ name: 'test', cid: cbor.cid }),
    });

    j.send({ op: 'pub', topic: 'shell.says', payload: { hello: 'from json', b: { $bytes: '0102' } } });
    const got = (await fromJson)[0]!;
    expect(got.payload).toEqual({ hello: 'from json', b: Buffer.from([1, 2]) });

    j.send({ op: 'pub', topic: 'bad..topic', payload: 1, id: 9 });
    expect(await j.next((f) => f.op === 'err')).toMatchObject({ code: ErrorCodes.INVALID_TOPIC, id: 9 });
    j.send({ op: 'ping', id: 3 });
    expect(await j.next((f) => f.op === 'pong')).toEqual({ op: 'pong', id: 3 });
  });

  it('encodes a message for JSON subscribers once, not once per subscriber', async () => {
    const conns = await Promise.all([1, 2, 3].map(() => JsonConn.open(bus.socket)));
    for (const c of conns) {
      cleanup.push(() => c.sock.destroy());
      c.send({ op: 'hello', v: 1 });
      c.send({ op: 'sub', sid: 1, pattern: 'x.y', id: 1 });
      await c.next((f) => f.op === 'ok');
    }
    const { Published } = await import('../bus/broker/message.js');
    let builds = 0;
    const orig = Published.prototype.jsonPart;
    Published.prototype.jsonPart = function (this: InstanceType<typeof Published>) {
      if ((this as unknown as { json?: Buffer }).json === undefined) builds++;
      return orig.call(this);
    };
    try {
      const p = await bus.client();
      p.publish('x.y', 'once');
      for (const c of conns) expect((await c.next((f) => f.op === 'msg')).payload).toBe('once');
      expect(builds).toBe(1);
    } finally {
      Published.prototype.jsonPart = orig;
    }
  });

  it('works from a shell with socat, as PROTOCOL.md shows', async () => {
    if (spawnSync('which', ['socat']).status !== 0) {
      console.warn('skipping the socat example: socat is not installed (apt-get install socat)');
      return;
    }
    const sub = await bus.client();
    const got = takeN(sub.subscribe('camera.event.>'), 1);
    await sub.flush();
    const script = `printf '%s\\n' '{"op":"hello","v":1,"name":"sh"}' '{"op":"pub","topic":"camera.event.cam-01.motion","payload":{"active":true}}' '{"op":"bye"}' | socat - UNIX-CONNECT:${bus.socket}`;
    // Async: the broker runs in this process and must keep serving while socat talks to it.
    const { stdout: out } = await promisify(execFile)('sh', ['-c', script], { encoding: 'utf8' });
    expect(JSON.parse(out.split('\n')[0]!)).toMatchObject({ op: 'welcome', v: 1 });
    expect((await got)[0]!.payload).toEqual({ active: true });
  });
});

const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});
