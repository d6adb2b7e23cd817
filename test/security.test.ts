/**
 * Issue 11 with real identities: clients run as other uids (the test runs as root and spawns
 * them as nobody), so the broker sees kernel-verified credentials it cannot be talked out of.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type BrokerHandle, type Client } from '../bus/index.js';
import { loadPeerCred } from '../bus/security/peercred.js';
import { ROOT, spawnCli, takeN, tempDir, waitForLine } from './helpers/harness.js';

const isRoot = process.getuid?.() === 0;
const peercred = loadPeerCred();
const canRun = isRoot && peercred.available;
if (!canRun) {
  console.warn(
    `skipping the multi-user security tests: ${!isRoot ? 'they need root to run clients as other uids' : `peer credentials unavailable (${(peercred as { reason: string }).reason})`}`,
  );
}
const NOBODY = 65534;

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A client process running as another user, driven by JSON commands on stdin. */
const CHILD = `
import { connect } from ${JSON.stringify(`${ROOT}dist/bus/index.js`)};
import { encodeFrame, decodeFrame } from ${JSON.stringify(`${ROOT}dist/bus/protocol/codec.js`)};
import { FrameParser } from ${JSON.stringify(`${ROOT}dist/bus/protocol/parser.js`)};
import { createConnection } from 'node:net';
import { createInterface } from 'node:readline';
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n');
let c; const got = []; const subErrors = [];
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  try {
    if (cmd.cmd === 'connect') { c = await connect({ socket: cmd.socket, name: cmd.name, reconnect: false }); out({ ok: true, cid: c.cid, pid: process.pid }); }
    else if (cmd.cmd === 'pub') { await c.publish(cmd.topic, cmd.payload ?? null, { confirm: true, ...(cmd.opts ?? {}) }); out({ ok: true }); }
    else if (cmd.cmd === 'raw') {
      // Frames the client library would never send, on a connection of this uid.
      const got2 = [];
      const s = createConnection(cmd.socket);
      const p = new FrameParser(1 << 24, (b) => { const r = decodeFrame(b); if (r.ok) got2.push(r.frame); }, () => undefined);
      s.on('data', (d) => p.push(d));
      s.write(encodeFrame({ op: 'hello', v: 1, name: 'raw' }));
      for (const f of cmd.frames) { if (f.payloadHex !== undefined) { f.payload = Buffer.from(f.payloadHex, 'hex'); delete f.payloadHex; } s.write(encodeFrame(f)); }
      await new Promise((r) => setTimeout(r, cmd.ms ?? 500));
      s.destroy();
      out({ ok: true, frames: got2.map((f) => ({ op: f.op, name: f.name, id: f.id })) });
    }
    else if (cmd.cmd === 'rawpub') { c.publish(cmd.topic, cmd.payload ?? null, cmd.opts); await c.flush(); out({ ok: true }); }
    else if (cmd.cmd === 'sub') { c.subscribe(cmd.pattern, cmd.opts ?? {}).subscribe({ next: (m) => got.push({ topic: m.topic, from: m.from }), error: (e) => subErrors.push(e.message) }); await c.flush(); out({ ok: true }); }
    else if (cmd.cmd === 'messages') { await c.flush(); out({ ok: true, got: got.splice(0), subErrors: subErrors.splice(0), cid: c.cid }); }
    else if (cmd.cmd === 'req') { out({ ok: true, result: await c.request(cmd.topic, cmd.payload ?? {}, { timeout: 2000 }) }); }
    else if (cmd.cmd === 'exit') { await c?.close(); out({ ok: true }); process.exit(0); }
  } catch (e) { out({ ok: false, error: e.message }); }
}
`;

class Remote {
  private readonly lines: string[] = [];
  private waiter: (() => void) | undefined;
  constructor(readonly child: ChildProcess) {
    createInterface({ input: child.stdout! }).on('line', (l) => {
      this.lines.push(l);
      this.waiter?.();
    });
  }
  async do(cmd: object): Promise<Record<string, unknown>> {
    this.child.stdin!.write(`${JSON.stringify(cmd)}\n`);
    // Generous: a node process starting under another uid on a loaded 2-core machine is slow.
    const deadline = Date.now() + 30_000;
    while (this.lines.length === 0) {
      if (Date.now() > deadline) throw new Error(`no answer to ${JSON.stringify(cmd)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 200);
        this.waiter = () => {
          clearTimeout(t);
          r();
        };
      });
    }
    return JSON.parse(this.lines.shift()!) as Record<string, unknown>;
  }
}

function setup() {
  const t = tempDir();
  cleanups.push(t.cleanup);
  chmodSync(t.dir, 0o755);
  const script = join(t.dir, 'child.mjs');
  writeFileSync(script, CHILD, { mode: 0o644 });
  return { dir: t.dir, socket: join(t.dir, 'bus.sock'), acl: join(t.dir, 'acl'), script };
}

async function asUser(script: string, socket: string, name: string, opts: { uid?: number; gid?: number; groups?: number[] } = {}): Promise<Remote> {
  const uid = opts.uid ?? NOBODY;
  const gid = opts.gid ?? NOBODY;
  const child =
    opts.groups !== undefined
      ? spawn('setpriv', [`--reuid=${uid}`, `--regid=${gid}`, `--groups=${opts.groups.join(',')}`, process.execPath, script], { stdio: ['pipe', 'pipe', 'inherit'] })
      : spawn(process.execPath, [script], { uid, gid, stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  const r = new Remote(child);
  const hello = await r.do({ cmd: 'connect', socket, name });
  if (!hello.ok) throw new Error(`child could not connect: ${String(hello.error)}`);
  return r;
}

const RULES = `
root allow-all
allow user ${NOBODY} publish camera.>
allow user ${NOBODY} subscribe camera.event.> camera.status.>
allow user ${NOBODY} request camera.rpc.*.info
allow group 100 subscribe audit.>
quota user ${NOBODY} connections=3
`;

async function broker(s: ReturnType<typeof setup>, rules = RULES): Promise<BrokerHandle> {
  writeFileSync(s.acl, rules);
  const b = await startBroker({ socket: s.socket, mode: 0o666, aclFile: s.acl, statsIntervalMs: 0 });
  cleanups.push(() => b.close());
  return b;
}

async function rootClient(socket: string, name: string): Promise<Client> {
  const c = await connect({ socket, name, reconnect: false });
  cleanups.push(() => c.close());
  return c;
}

describe.runIf(canRun)('access rules by kernel-verified uid and group', { timeout: 90_000 }, () => {
  it('allows and denies publish, subscribe and request per rule, and counts and publishes denials', async () => {
    const s = setup();
    await broker(s);
    const admin = await rootClient(s.socket, 'admin');
    const denials = takeN(admin.subscribe('$SYS.acl.denied'), 3);
    admin.serve('camera.rpc.*.info', () => ({ model: 'sim' }));
    admin.serve('camera.rpc.*.users-create', () => ({ created: true }));
    await admin.flush();
    const nobody = await asUser(s.script, s.socket, 'plugin');
    expect(await nobody.do({ cmd: 'pub', topic: 'camera.event.cam-01.motion', payload: { active: true } })).toEqual({ ok: true });
    expect(await nobody.do({ cmd: 'pub', topic: 'alert.fake-tamper', payload: {} })).toMatchObject({ ok: false, error: expect.stringMatching(/PERMISSION_DENIED/) });
    expect(await nobody.do({ cmd: 'req', topic: 'camera.rpc.cam-01.info' })).toEqual({ ok: true, result: { model: 'sim' } });
    expect(await nobody.do({ cmd: 'req', topic: 'camera.rpc.cam-01.users-create' })).toMatchObject({ ok: false, error: expect.stringMatching(/PERMISSION_DENIED/) });
    await nobody.do({ cmd: 'sub', pattern: 'recording.>' });
    const m = await nobody.do({ cmd: 'messages' });
    expect(m.subErrors).toEqual([expect.stringMatching(/PERMISSION_DENIED/)]);
    const d = await denials;
    expect(d.map((x) => x.payload)).toEqual([
      expect.objectContaining({ uid: NOBODY, action: 'publish', target: 'alert.fake-tamper' }),
      expect.objectContaining({ uid: NOBODY, action: 'request', target: 'camera.rpc.cam-01.users-create' }),
      expect.objectContaining({ uid: NOBODY, action: 'subscribe', target: 'recording.>' }),
    ]);
    const stats = await admin.request<{ errors: Record<string, number> }>('$SYS.req.stats');
    expect(stats.errors.PERMISSION_DENIED).toBe(3);
  });

  it('filters a wildcard subscription to the topics the user may read, and keeps $SYS for admins', async () => {
    const s = setup();
    await broker(s);
    const nobody = await asUser(s.script, s.socket, 'plugin');
    await nobody.do({ cmd: 'sub', pattern: '>' });
    await nobody.do({ cmd: 'sub', pattern: '$SYS.>' });
    const root = await rootClient(s.socket, 'publisher');
    root.publish('audit.secret', 1);
    root.publish<string>('camera.event.cam-01.motion', 2);
    root.publish<string>('recording.started.cam-01', 3);
    root.publish<string>('camera.status.cam-01', 4);
    await root.flush();
    const m = await nobody.do({ cmd: 'messages' });
    expect((m.got as Array<{ topic: string }>).map((x) => x.topic)).toEqual(['camera.event.cam-01.motion', 'camera.status.cam-01']);
    expect(m.subErrors).toEqual([expect.stringMatching(/PERMISSION_DENIED/)]);
  });

  it('stamps the real uid and pid of the publisher, which the client cannot forge', async () => {
    const s = setup();
    await broker(s);
    const root = await rootClient(s.socket, 'audit');
    const got = takeN(root.subscribe('camera.>'), 1);
    await root.flush();
    const nobody = await asUser(s.script, s.socket, 'root-pretender');
    await nobody.do({ cmd: 'pub', topic: 'camera.status.cam-09', payload: { state: 'online' } });
    const [msg] = await got;
    expect(msg!.from).toMatchObject({ uid: NOBODY, gid: NOBODY, pid: nobody.child.pid, name: 'root-pretender' });
  });

  it('applies group rules through supplementary groups', async () => {
    if (spawnSync('which', ['setpriv']).status !== 0) {
      console.warn('skipping the supplementary-group case: setpriv is not installed');
      return;
    }
    const s = setup();
    await broker(s);
    const member = await asUser(s.script, s.socket, 'grouped', { groups: [NOBODY, 100] });
    await member.do({ cmd: 'sub', pattern: 'audit.>' });
    const root = await rootClient(s.socket, 'pub');
    root.publish('audit.trail', 1);
    await root.flush();
    const m = await member.do({ cmd: 'messages' });
    expect((m.got as Array<{ topic: string }>).map((x) => x.topic)).toEqual(['audit.trail']);
  });

  it("one uid's quota exhaustion leaves other users' traffic untouched", async () => {
    const s = setup();
    await broker(s);
    const root = await rootClient(s.socket, 'root-sub');
    // Waits through four process starts as another uid, which a loaded machine makes slow.
    const rootGot = takeN(root.subscribe('camera.>'), 1, 60_000);
    await root.flush();
    const three = [await asUser(s.script, s.socket, 'n1'), await asUser(s.script, s.socket, 'n2'), await asUser(s.script, s.socket, 'n3')];
    expect(three).toHaveLength(3);
    await expect(asUser(s.script, s.socket, 'n4')).rejects.toThrow(/QUOTA_EXCEEDED/);
    const other = await rootClient(s.socket, 'root-pub');
    other.publish<string>('camera.status.cam-02', 'fine');
    expect((await rootGot)[0]!.payload).toBe('fine');
  });

  it('SIGHUP reloads the rules and changes decisions without disconnecting anyone', async () => {
    const s = setup();
    writeFileSync(s.acl, RULES);
    const child = spawnCli(['broker', '--socket', s.socket, '--mode', '0666', '--acl', s.acl]);
    cleanups.push(() => void child.kill('SIGKILL'));
    await waitForLine(child.stderr!, (l) => l.includes('listening on'));
    const nobody = await asUser(s.script, s.socket, 'plugin');
    await nobody.do({ cmd: 'sub', pattern: '>' });
    const root = await rootClient(s.socket, 'pub');
    root.publish<string>('alert.night', 1);
    await root.flush();
    const before = await nobody.do({ cmd: 'messages' });
    expect(before.got).toEqual([]);
    writeFileSync(s.acl, `${RULES}\nallow user ${NOBODY} subscribe alert.>\n`);
    const reloaded = waitForLine(child.stderr!, (l) => l.includes('access rules reloaded'));
    child.kill('SIGHUP');
    await reloaded;
    root.publish<string>('alert.night', 2);
    await root.flush();
    const after = await nobody.do({ cmd: 'messages' });
    expect((after.got as Array<{ topic: string }>).map((x) => x.topic)).toEqual(['alert.night']);
    expect(after.cid).toBe(before.cid);
  });

  it('TCP clients are anonymous and get only what the rules grant to anonymous', async () => {
    const s = setup();
    writeFileSync(s.acl, RULES);
    const b = await startBroker({ socket: s.socket, aclFile: s.acl, tcp: '127.0.0.1:0', statsIntervalMs: 0 });
    cleanups.push(() => b.close());
    const anon = await connect({ tcp: b.tcp!, name: 'remote', reconnect: false });
    cleanups.push(() => anon.close());
    await expect(anon.publish('camera.x', 1, { confirm: true })).rejects.toThrow(/PERMISSION_DENIED/);
  });
});

describe('failing closed', () => {
  it('refuses to start with an ACL file when peer credentials are unavailable', async () => {
    const s = setup();
    writeFileSync(s.acl, RULES);
    await expect(startBroker({ socket: s.socket, aclFile: s.acl, peerCred: { available: false, reason: 'addon not built' } })).rejects.toThrow(
      /refusing to start with an ACL file: kernel peer credentials are unavailable \(addon not built\)/,
    );
  });

  it('refuses an ACL file with errors, naming the line', async () => {
    const s = setup();
    writeFileSync(s.acl, 'allow user root publish camera.>\nallow user root frobnicate x\n');
    await expect(startBroker({ socket: s.socket, aclFile: s.acl })).rejects.toThrow(/:2: /);
  });

  it('refuses a socket directory that anyone may write', async () => {
    const s = setup();
    chmodSync(s.dir, 0o777);
    await expect(startBroker({ socket: s.socket })).rejects.toThrow(/writable by every user/);
  });
});

/** Issue 22: the ACL holes found by an attacker with an ordinary uid, each closed at its root. */
describe.runIf(canRun)('hardening: durable reads, management replies, inboxes, retained per uid', { timeout: 120_000 }, () => {
  const HOLES = `
root allow-all
allow user ${NOBODY} publish camera.>
allow user ${NOBODY} subscribe camera.event.> >
allow user ${NOBODY} request camera.rpc.*.info
allow user ${NOBODY} durable own-1 own-2
quota user ${NOBODY} subscriptions=3
`;
  async function start(s: ReturnType<typeof setup>, extra: Record<string, unknown> = {}): Promise<BrokerHandle> {
    writeFileSync(s.acl, HOLES.replace('subscribe camera.event.> >', 'subscribe camera.event.>'));
    const b = await startBroker({ socket: s.socket, mode: 0o666, aclFile: s.acl, statsIntervalMs: 0, dataDir: join(s.dir, 'data'), ...extra });
    cleanups.push(() => b.close());
    return b;
  }

  it('a durable subscription to ">" receives only what its uid may read (no RPC requests, inbox replies, status)', async () => {
    const s = setup();
    await start(s);
    const admin = await rootClient(s.socket, 'admin');
    const nobody = await asUser(s.script, s.socket, 'plugin');
    expect(await nobody.do({ cmd: 'sub', pattern: '>', opts: { durable: 'own-1' } })).toEqual({ ok: true });
    for (const t of ['camera.event.cam-01.motion', 'camera.rpc.cam-01.users-create', '_INBOX.victim.1', 'camera.status.cam-01', 'camera.event.cam-02.tamper']) {
      await admin.publish(t, { secret: t.includes('INBOX') ? 'rtsp://admin:pw@cam' : 'x' }, { confirm: true });
    }
    await admin.flush();
    let got: Array<{ topic: string }> = [];
    for (let i = 0; i < 50 && got.length < 2; i++) {
      got = got.concat((await nobody.do({ cmd: 'messages' })).got as Array<{ topic: string }>);
      if (got.length < 2) await new Promise((r) => setTimeout(r, 50));
    }
    expect(got.map((m) => m.topic)).toEqual(['camera.event.cam-01.motion', 'camera.event.cam-02.tamper']);
  });

  it('management answers go only to the requester\'s own inbox, never to a topic it names', async () => {
    const s = setup();
    await start(s);
    const admin = await rootClient(s.socket, 'admin');
    const watched = takeN(admin.subscribe('camera.event.cam-01.motion'), 1, 2500).catch(() => []);
    const denials = takeN(admin.subscribe('$SYS.acl.denied'), 1);
    await admin.flush();
    const nobody = await asUser(s.script, s.socket, 'plugin');
    const r = await nobody.do({ cmd: 'raw', socket: s.socket, frames: [{ op: 'pub', topic: '$SYS.req.durable.info', payloadHex: 'a1646e616d65656f776e2d31', reply: 'camera.event.cam-01.motion', id: 7 }] });
    expect((r.frames as Array<{ id?: number }>).find((f) => f.id === 7)).toMatchObject({ op: 'err', name: 'PERMISSION_DENIED' });
    expect((await denials)[0]!.payload).toMatchObject({ uid: NOBODY, action: 'reply-to', target: 'camera.event.cam-01.motion' });
    expect(await watched).toEqual([]);
  });

  it('a reply cannot be aimed at an inbox another uid owns; inbox bindings are released with their subscriptions', async () => {
    const s = setup();
    const b = await start(s);
    const admin = await rootClient(s.socket, 'admin');
    admin.serve('camera.rpc.*.info', () => ({ model: 'sim' }));
    const victimInbox = admin.subscribe('_INBOX.victimtoken.>');
    const sub = victimInbox.subscribe(() => undefined);
    await admin.flush();
    const nobody = await asUser(s.script, s.socket, 'plugin');
    const denials = takeN(admin.subscribe('$SYS.acl.denied'), 1);
    await admin.flush();
    await nobody.do({ cmd: 'rawpub', topic: 'camera.rpc.cam-01.info', payload: {}, opts: { reply: '_INBOX.victimtoken.1' } });
    expect((await denials)[0]!.payload).toMatchObject({ action: 'reply-to', target: '_INBOX.victimtoken.1' });
    const bound = b.broker.getStats().inboxes;
    expect(bound).toBeGreaterThanOrEqual(1); // the victim's inbox, bound to root
    sub.unsubscribe();
    await admin.flush();
    expect(b.broker.getStats().inboxes).toBe(bound - 1);
    await admin.close();
    await nobody.do({ cmd: 'exit' });
    for (let i = 0; i < 100 && b.broker.getStats().inboxes > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(b.broker.getStats().inboxes).toBe(0);
  });

  it('refused durable subscribes give their subscription quota back', async () => {
    const s = setup();
    await start(s);
    const nobody = await asUser(s.script, s.socket, 'plugin');
    for (let i = 0; i < 5; i++) await nobody.do({ cmd: 'sub', pattern: 'camera.event.>', opts: { durable: 'not-mine' } });
    const m = await nobody.do({ cmd: 'messages' });
    expect((m.subErrors as string[]).every((e) => /PERMISSION_DENIED/.test(e))).toBe(true);
    await nobody.do({ cmd: 'sub', pattern: 'camera.event.a.>' });
    await nobody.do({ cmd: 'sub', pattern: 'camera.event.b.>' });
    await nobody.do({ cmd: 'sub', pattern: 'camera.event.c.>' });
    expect((await nobody.do({ cmd: 'messages' })).subErrors).toEqual([]);
  });

  it('deleting a durable gives its durable-bytes reservation back', async () => {
    const s = setup();
    writeFileSync(s.acl, HOLES.replace('subscribe camera.event.> >', 'subscribe camera.event.>').replace('subscriptions=3', 'subscriptions=3 durable-bytes=64K'));
    const b = await startBroker({ socket: s.socket, mode: 0o666, aclFile: s.acl, statsIntervalMs: 0, dataDir: join(s.dir, 'data') });
    cleanups.push(() => b.close());
    const first = await asUser(s.script, s.socket, 'plugin');
    await first.do({ cmd: 'sub', pattern: 'camera.event.>', opts: { durable: 'own-1', durableMaxBytes: 65536 } });
    expect((await first.do({ cmd: 'messages' })).subErrors).toEqual([]);
    await first.do({ cmd: 'exit' });
    const second = await asUser(s.script, s.socket, 'plugin');
    await second.do({ cmd: 'sub', pattern: 'camera.event.>', opts: { durable: 'own-2', durableMaxBytes: 65536 } });
    expect((await second.do({ cmd: 'messages' })).subErrors).toEqual([expect.stringMatching(/QUOTA_EXCEEDED/)]);
    expect(await second.do({ cmd: 'req', topic: '$SYS.req.durable.delete', payload: { name: 'own-1' } })).toMatchObject({ ok: true });
    await second.do({ cmd: 'sub', pattern: 'camera.event.>', opts: { durable: 'own-2', durableMaxBytes: 65536 } });
    expect((await second.do({ cmd: 'messages' })).subErrors).toEqual([]);
  });

  it('one uid cannot fill the retained store for everyone: at most half of maxRetained without its own quota', async () => {
    const s = setup();
    await start(s, { limits: { maxRetained: 10 } });
    const nobody = await asUser(s.script, s.socket, 'plugin');
    const results: boolean[] = [];
    for (let i = 0; i < 8; i++) results.push((await nobody.do({ cmd: 'pub', topic: `camera.status.c${i}`, payload: 1, opts: { retain: true } })).ok === true);
    expect(results.filter(Boolean).length).toBe(5);
    const admin = await rootClient(s.socket, 'admin');
    await expect(admin.publish<string>('camera.status.root', 1, { retain: true, confirm: true })).resolves.toBeUndefined();
  });
});
