/**
 * The dashboard's HTTP side without a browser, against a real broker: who may look (token on
 * TCP, file mode on a UDS, no non-loopback listener without a token), which files may be served
 * (clips only from inside the recordings directory, with Range; camera snapshots only from inside
 * the snapshots directory, and only JPEGs), read-only unless actions are on
 * (then validated and sent as camera.rpc requests), the SSE stream, the tap's pattern check, and
 * the `udsbus dashboard` command.
 */
import { mkdirSync, readFileSync, unlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Client } from '../bus/client/client.js';
import { ConfigError } from '../subscribers/common/config.js';
import { createLogger } from '../subscribers/common/logger.js';
import { loadDashboardConfig } from '../subscribers/dashboard/config.js';
import { startDashboard, type DashboardHandle } from '../subscribers/dashboard/index.js';
import { SNAPSHOT_ERRORS } from '../subscribers/dashboard/server.js';
import { parseSnapshotFileName, SnapshotSpool, type StoredSnapshot } from '../publishers/onvif/snapshots.js';
import { SNAPSHOT_JPEG } from '../publishers/onvif/simulator/snapshot.js';
import { greyJpeg } from './helpers/jpeg.js';
import { ROOT, spawnCli, startTestBus, waitForLine, runCli, type TestBus } from './helpers/harness.js';

const silent = createLogger('test-dashboard', 'silent');
type Res = { status: number; headers: IncomingHttpHeaders; body: string };

function get(target: { port: number } | { socketPath: string }, path: string, opts: { headers?: Record<string, string>; method?: string; body?: string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ ...('port' in target ? { host: '127.0.0.1', port: target.port } : { socketPath: target.socketPath }), path, method: opts.method ?? 'GET', headers: opts.headers ?? {} }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

/** Reads an SSE stream until `until` holds for the text so far. */
function sse(port: number, path: string, headers: Record<string, string>, until: (text: string) => boolean): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, headers }, (res) => {
      let text = '';
      const t = setTimeout(() => {
        req.destroy();
        reject(new Error(`stream did not deliver in time: ${text.slice(0, 300)}`));
      }, 5_000);
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (until(text)) {
          clearTimeout(t);
          req.destroy();
          resolve(text);
        }
      });
    });
    req.on('error', () => undefined);
    req.end();
  });
}

describe('dashboard over HTTP', () => {
  let bus: TestBus;
  let pub: Client;
  let dash: DashboardHandle;
  let port: number;
  let token: string;
  let auth: Record<string, string>;
  let rec: string;
  let snaps: string;

  beforeAll(async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    rec = join(bus.dir, 'rec');
    mkdirSync(rec);
    snaps = join(bus.dir, 'snapshots');
    const clip = join(rec, 'a.mp4');
    writeFileSync(clip, Buffer.from('0123456789abcdefghij'));
    writeFileSync(join(bus.dir, 'outside.mp4'), 'secret');
    const index = join(rec, 'sessions.jsonl');
    const open = (id: string) => ({ type: 'open', at: '2026-01-01T00:00:00Z', sessionId: id, cameraId: 'cam-01', start: '2026-01-01T00:00:00Z', triggers: [] });
    writeFileSync(
      index,
      [
        open('good'),
        // The shape issue 19 adds: a clip record with path, duration, size, sha256.
        { type: 'clip', at: '2026-01-01T00:00:10Z', sessionId: 'good', path: 'a.mp4', durationMs: 10_000, bytes: 20, sha256: 'ab'.repeat(32) },
        open('abs-escape'),
        { type: 'recorder', at: '2026-01-01T00:00:00Z', sessionId: 'abs-escape', event: 'started', file: '/etc/passwd' },
        open('rel-escape'),
        { type: 'recorder', at: '2026-01-01T00:00:00Z', sessionId: 'rel-escape', event: 'started', file: '../outside.mp4' },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n') + '\n',
    );
    pub = await bus.client({ name: 'publisher' });
    pub.publish('camera.discovered.cam-01', { v: 1, cameraId: 'cam-01', name: 'Front', address: { host: '192.0.2.1', port: 80 }, xaddr: 'http://192.0.2.1/onvif', discoveredBy: 'static', profiles: [], time: new Date().toISOString() }, { retain: true });
    await pub.flush();
    dash = await startDashboard({ client: await bus.client({ name: 'dashboard' }), recordingsDir: rec, indexFile: index, snapshotsDir: snaps, logger: silent, pollMs: 200 });
    port = (dash.address as { port: number }).port;
    token = new URL(dash.url).searchParams.get('token')!;
    auth = { authorization: `Bearer ${token}` };
  });

  afterAll(async () => {
    await dash?.stop();
    await bus?.close();
  });

  it('listens on loopback with a random token, and refuses every path without it', async () => {
    expect(dash.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{20,}$/);
    for (const path of ['/', '/app.js', '/api/state', '/api/stream', '/api/tap?pattern=x', '/clips/good']) {
      expect((await get({ port }, path)).status, path).toBe(401);
      expect((await get({ port }, path, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status, path).toBe(401);
    }
    const page = await get({ port }, '/', { headers: auth });
    expect(page.status).toBe(200);
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).toContain('<title>udsbus dashboard</title>');
  });

  it('swaps ?token= for an HttpOnly SameSite=Strict cookie named for its port', async () => {
    const r = await get({ port }, `/?token=${token}`);
    expect(r.status).toBe(303);
    expect(r.headers.location).toBe('/');
    const cookie = r.headers['set-cookie']![0]!;
    expect(cookie).toMatch(new RegExp(`^udsbus_dash_${port}=`));
    expect(cookie).toContain('HttpOnly');
    expect(cookie).toContain('SameSite=Strict');
    expect((await get({ port }, '/api/state', { headers: { cookie: cookie.split(';')[0]! } })).status).toBe(200);
    expect((await get({ port }, '/?token=nope')).status).toBe(401);
  });

  it('serves clips only from inside the recordings directory, with Range', async () => {
    const state = JSON.parse((await get({ port }, '/api/state', { headers: auth })).body) as { sessions: Array<{ sessionId: string; clip?: { file: string; durationMs?: number } }> };
    expect(state.sessions.find((s) => s.sessionId === 'good')?.clip).toMatchObject({ file: 'a.mp4', durationMs: 10_000 });
    const whole = await get({ port }, '/clips/good', { headers: auth });
    expect(whole.status).toBe(200);
    expect(whole.headers['content-type']).toBe('video/mp4');
    expect(whole.body).toBe('0123456789abcdefghij');
    const part = await get({ port }, '/clips/good', { headers: { ...auth, range: 'bytes=5-9' } });
    expect(part.status).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 5-9/20');
    expect(part.body).toBe('56789');
    expect((await get({ port }, '/clips/good', { headers: { ...auth, range: 'bytes=-4' } })).body).toBe('ghij');
    expect((await get({ port }, '/clips/good', { headers: { ...auth, range: 'bytes=50-' } })).status).toBe(416);
    for (const id of ['abs-escape', 'rel-escape', 'nope', '..%2F..%2Fetc%2Fpasswd']) {
      const r = await get({ port }, `/clips/${id}`, { headers: auth });
      expect(r.status, id).toBe(404);
      expect(r.body).not.toContain('root:');
      expect(r.body).not.toContain('secret');
    }
  });

  it('a clip announced on the bus is served once it is inside the directory', async () => {
    writeFileSync(join(rec, 'b.mp4'), 'clip-b');
    pub.publish<string>('recording.clip.cam-01', { v: 1, sessionId: 'bus-clip', cameraId: 'cam-01', path: join(rec, 'b.mp4'), durationMs: 1000 });
    pub.publish<string>('recording.clip.cam-01', { v: 1, sessionId: 'bus-escape', cameraId: 'cam-01', path: '/etc/hostname' });
    await pub.flush();
    await expect.poll(async () => (await get({ port }, '/clips/bus-clip', { headers: auth })).body).toBe('clip-b');
    expect((await get({ port }, '/clips/bus-escape', { headers: auth })).status).toBe(404);
  });

  it('serves the latest snapshot of a camera, as a JPEG, only from inside the snapshots directory', async () => {
    // The files and references the ONVIF publisher makes (its spool), in an event's shape.
    const spool = new SnapshotSpool({ dir: snaps });
    const event = (cameraId: string, snapshot: StoredSnapshot) => ({ v: 1, cameraId, kind: 'motion', active: true, time: new Date().toISOString(), snapshot });
    const snap = (id: string, headers: Record<string, string> = {}) => get({ port }, `/snapshots/${id}`, { headers: { ...auth, ...headers } });
    expect(greyJpeg(1).equals(SNAPSHOT_JPEG)).toBe(true); // the test's JPEGs are built like the simulator's

    expect((await get({ port }, '/snapshots/cam-01')).status).toBe(401);
    const none = await snap('cam-01');
    expect(none.status).toBe(404);
    expect(none.headers['x-udsbus-error']).toBe('snapshot-none');
    expect(none.body).toMatch(/^snapshot-none: no event of camera "cam-01" carried a snapshot yet/);

    const first = spool.store('cam-01', SNAPSHOT_JPEG, new Date());
    pub.publish('camera.event.cam-01.motion' as string, event('cam-01', first));
    await expect.poll(async () => (await snap('cam-01')).status).toBe(200);
    const r = await snap('cam-01');
    expect(r.headers['content-type']).toBe('image/jpeg');
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(Buffer.from(r.body, 'latin1').equals(SNAPSHOT_JPEG)).toBe(true);
    const etag = r.headers.etag!;
    expect((await snap('cam-01', { 'if-none-match': etag })).status).toBe(304);
    // The camera row says that there is a snapshot and which; the page asks for it by camera id.
    const state = (await get({ port }, '/api/state', { headers: auth })).body;
    const cam = (JSON.parse(state) as { cameras: Array<{ cameraId: string; snapshot?: unknown }> }).cameras.find((c) => c.cameraId === 'cam-01');
    expect(cam?.snapshot).toMatchObject({ sha256: first.sha256, size: SNAPSHOT_JPEG.length });
    expect(JSON.stringify(cam)).not.toContain(snaps);

    // A newer snapshot replaces it.
    const second = spool.store('cam-01', greyJpeg(3), new Date());
    pub.publish('camera.event.cam-01.motion' as string, event('cam-01', second));
    await expect.poll(async () => (await snap('cam-01')).body.length).toBe(greyJpeg(3).length);
    expect((await snap('cam-01', { 'if-none-match': etag })).status).toBe(200);

    // Anyone on the bus can name a path: only JPEGs inside the directory are served.
    writeFileSync(join(bus.dir, 'outside.jpg'), Buffer.concat([SNAPSHOT_JPEG, Buffer.from('secret')]));
    symlinkSync(join(bus.dir, 'outside.jpg'), join(snaps, 'link.jpg'));
    writeFileSync(join(snaps, 'text.jpg'), 'not a picture');
    mkdirSync(join(snaps, 'dir.jpg'));
    const sha256 = 'ab'.repeat(32);
    const cases: Array<[string, string, string]> = [
      ['x-abs', '/etc/hostname', 'snapshot-outside'],
      ['x-rel', '../outside.jpg', 'snapshot-outside'],
      ['x-link', join(snaps, 'link.jpg'), 'snapshot-outside'],
      ['x-text', join(snaps, 'text.jpg'), 'snapshot-not-jpeg'],
      ['x-gone', join(snaps, 'gone.jpg'), 'snapshot-missing'],
      ['x-dir', join(snaps, 'dir.jpg'), 'snapshot-not-a-file'],
    ];
    for (const [id, path] of cases) pub.publish(`camera.event.${id}.motion` as string, event(id, { path, size: 1, sha256 }));
    await pub.flush();
    for (const [id, , code] of cases) {
      await expect.poll(async () => (await snap(id)).headers['x-udsbus-error'], { message: id }).toBe(code);
      const bad = await snap(id);
      expect(bad.status, id).toBe(404);
      expect(bad.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(bad.body).toMatch(new RegExp(`^${code}: `));
      expect(bad.body).not.toContain('secret');
    }
    // The page asks by camera id; a path in its place names no camera.
    expect((await snap('..%2F..%2Fetc%2Fpasswd')).headers['x-udsbus-error']).toBe('snapshot-none');
  });

  it('streams a snapshot, then deltas, over SSE', async () => {
    const got = sse(port, '/api/stream', auth, (t) => t.includes('camera.event.cam-01.tamper'));
    await new Promise((r) => setTimeout(r, 200));
    pub.publish<string>('camera.event.cam-01.tamper', { v: 1, cameraId: 'cam-01', kind: 'tamper', active: true, time: new Date().toISOString() });
    const text = await got;
    expect(text).toMatch(/^retry: 1000\nevent: snapshot\ndata: /);
    expect(text).toContain('"cameraId":"cam-01"');
    expect(text).toMatch(/event: delta\ndata: \[.*"t":"event"/);
  });

  it('cuts off a page that stops reading, instead of buffering for it without end', async () => {
    await expect.poll(() => dash.counts().pages).toBe(0); // earlier tests' streams have closed
    const before = dash.counts();
    const req = httpRequest({ host: '127.0.0.1', port, path: '/api/stream', headers: auth });
    req.on('error', () => undefined);
    req.end();
    const res = await new Promise<IncomingMessage>((resolve) => req.on('response', resolve));
    res.pause(); // a frozen tab
    await expect.poll(() => dash.counts().pages).toBe(before.pages + 1);
    const rule = 'r'.repeat(4000);
    for (let round = 0; round < 40 && dash.counts().cutOff === before.cutOff; round++) {
      for (let i = 0; i < 250; i++) pub.publish<string>('camera.event.cam-01.object', { v: 1, cameraId: 'cam-01', kind: 'object', rule, time: new Date().toISOString() });
      await pub.flush();
      await new Promise((r) => setTimeout(r, 50));
    }
    await expect.poll(() => dash.counts(), { timeout: 5_000 }).toMatchObject({ pages: before.pages, cutOff: before.cutOff + 1 });
    res.destroy();
  }, 30_000);

  it('is read-only: camera actions are refused', async () => {
    const r = await get({ port }, '/api/cameras/cam-01/ptz-move', { method: 'POST', headers: { ...auth, 'x-udsbus-dashboard': '1' }, body: '{}' });
    expect(r.status).toBe(403);
    expect(r.body).toContain('read-only');
  });

  it('refuses a tap with an invalid pattern, and taps a valid one', async () => {
    const bad = await get({ port }, `/api/tap?pattern=${encodeURIComponent('a.>.b')}`, { headers: auth });
    expect(bad.status).toBe(400);
    const tapped = sse(port, `/api/tap?pattern=${encodeURIComponent('tapme.*')}`, auth, (t) => t.includes('tapme.one'));
    await new Promise((r) => setTimeout(r, 200));
    pub.publish('tapme.one', { n: 1 });
    expect(await tapped).toContain('"payload":"{\\"n\\":1}"');
  });
});

describe('dashboard access and actions', () => {
  let bus: TestBus;
  beforeAll(async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
  });
  afterAll(async () => bus?.close());

  it('will not listen off loopback without a configured token', async () => {
    const client = await bus.client({ name: 'd1' });
    await expect(startDashboard({ client, listen: { host: '0.0.0.0', port: 0 }, logger: silent })).rejects.toThrow(/not loopback/);
    const file = join(bus.dir, 'dash.json');
    writeFileSync(file, JSON.stringify({ listen: { host: '0.0.0.0', port: 8650 } }, null, 2));
    expect(() => loadDashboardConfig(file)).toThrow(ConfigError);
    expect(() => loadDashboardConfig(file)).toThrow(/dash\.json:\d+:\d+: \/listen\/host: "0\.0\.0\.0" is not loopback/);
  });

  it("after a restart, shows each camera's newest snapshot already in the publisher's spool", async () => {
    const dir = join(bus.dir, 'spool');
    const spool = new SnapshotSpool({ dir });
    const older = spool.store('cam_a', greyJpeg(2), new Date('2026-01-01T10:00:00.000Z'));
    const newer = spool.store('cam_a', greyJpeg(4), new Date('2026-01-01T10:00:05.123Z'));
    spool.store('cam-b', greyJpeg(1), new Date('2026-01-01T09:00:00.000Z'));
    const gone = spool.store('cam-c', greyJpeg(1), new Date('2026-01-01T09:00:00.000Z'));
    unlinkSync(gone.path);
    writeFileSync(join(dir, 'notes.txt'), 'not a snapshot');
    expect(parseSnapshotFileName(newer.path.slice(dir.length + 1))).toEqual({ cameraId: 'cam_a', time: '2026-01-01T10:00:05.123Z' });
    expect(parseSnapshotFileName('cam_a_2026-01-01T10-00-05-123Z.jpg')).toBeUndefined();
    expect(older.sha256).not.toBe(newer.sha256);

    const pub = await bus.client({ name: 'pub-spool' });
    pub.publish('camera.discovered.cam_a', { v: 1, cameraId: 'cam_a', name: 'A', address: { host: '192.0.2.9', port: 80 }, xaddr: 'http://192.0.2.9/onvif', discoveredBy: 'static', profiles: [], time: new Date().toISOString() }, { retain: true });
    await pub.flush();
    const dash = await startDashboard({ client: await bus.client({ name: 'd-spool' }), snapshotsDir: dir, logger: silent });
    try {
      const port = (dash.address as { port: number }).port;
      const headers = { authorization: `Bearer ${new URL(dash.url).searchParams.get('token')!}` };
      await expect.poll(() => dash.model.cameras.get('cam_a')?.name).toBe('A');
      expect(dash.model.cameras.get('cam_a')?.snapshot).toEqual({ time: '2026-01-01T10:00:05.123Z', size: newer.size, sha256: newer.sha256 });
      const r = await get({ port }, '/snapshots/cam_a', { headers });
      expect(r.status).toBe(200);
      expect(Buffer.from(r.body, 'latin1').equals(greyJpeg(4))).toBe(true);
      // A camera with a spool file but no row yet gets it when its row appears.
      expect((await get({ port }, '/snapshots/cam-b', { headers })).status).toBe(200);
      pub.publish('camera.status.cam-b', { v: 1, cameraId: 'cam-b', state: 'online', since: new Date().toISOString(), time: new Date().toISOString() }, { retain: true });
      await expect.poll(() => dash.model.cameras.get('cam-b')?.snapshot?.sha256).toBe(createHash('sha256').update(greyJpeg(1)).digest('hex'));
      expect((await get({ port }, '/snapshots/cam-c', { headers })).headers['x-udsbus-error']).toBe('snapshot-none');
    } finally {
      await dash.stop();
      await pub.close();
    }
  });

  it('every snapshot error code is documented in docs/dashboard.md', () => {
    const doc = readFileSync(join(ROOT, 'docs/dashboard.md'), 'utf8');
    for (const code of Object.keys(SNAPSHOT_ERRORS)) expect(doc, code).toContain(`| \`${code}\` |`);
  });

  it('examples/dashboard.config.json is valid', () => {
    const c = loadDashboardConfig(join(ROOT, 'examples/dashboard.config.json'));
    expect(c.listen).toEqual({ host: '127.0.0.1', port: 8650 });
    expect(c.actions).toBe(false);
  });

  it('on a Unix socket: no token, access by the file mode (0660)', async () => {
    const path = join(bus.dir, 'dash.sock');
    const dash = await startDashboard({ client: await bus.client({ name: 'd2' }), listen: { path }, logger: silent });
    try {
      expect(dash.url).toBe(`unix:${path}`);
      expect(statSync(path).mode & 0o777).toBe(0o660);
      const r = await get({ socketPath: path }, '/api/state');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body)).toHaveProperty('cameras');
      // No snapshots directory configured: no snapshot is served, whatever the bus says.
      const off = await get({ socketPath: path }, '/snapshots/cam-01');
      expect(off.status).toBe(403);
      expect(off.headers['x-udsbus-error']).toBe('snapshots-off');
    } finally {
      await dash.stop();
    }
  });

  it('with actions on: validated requests become camera.rpc requests; cross-site posts are refused', async () => {
    const camera = await bus.client({ name: 'fake-onvif' });
    const seen: unknown[] = [];
    camera.subscribe('camera.rpc.cam-01.*', { queue: 'serve' }).subscribe((m) => {
      seen.push({ topic: m.topic, payload: m.payload });
      const result = m.topic.endsWith('snapshot-uri') ? { uri: 'http://192.0.2.1/snap.jpg', profile: 'main' } : {};
      camera.publish(m.reply!, { ok: true, result });
    });
    await camera.flush();
    const dash = await startDashboard({ client: await bus.client({ name: 'd3' }), actions: true, logger: silent });
    try {
      const port = (dash.address as { port: number }).port;
      const headers = { authorization: `Bearer ${new URL(dash.url).searchParams.get('token')!}`, 'content-type': 'application/json' };
      const move = { mode: 'continuous', velocity: { pan: 0.5 }, timeoutMs: 500 };
      expect((await get({ port }, '/api/cameras/cam-01/ptz-move', { method: 'POST', headers, body: JSON.stringify(move) })).status).toBe(403);
      const ok = await get({ port }, '/api/cameras/cam-01/ptz-move', { method: 'POST', headers: { ...headers, 'x-udsbus-dashboard': '1' }, body: JSON.stringify(move) });
      expect(ok.status).toBe(200);
      expect(seen).toEqual([{ topic: 'camera.rpc.cam-01.ptz-move', payload: move }]);
      const snap = await get({ port }, '/api/cameras/cam-01/snapshot', { method: 'POST', headers: { ...headers, 'x-udsbus-dashboard': '1' }, body: '{}' });
      expect(JSON.parse(snap.body)).toEqual({ ok: true, result: { uri: 'http://192.0.2.1/snap.jpg', profile: 'main' } });
      const bad = await get({ port }, '/api/cameras/cam-01/ptz-move', { method: 'POST', headers: { ...headers, 'x-udsbus-dashboard': '1' }, body: JSON.stringify({ mode: 'spin' }) });
      expect(bad.status).toBe(502);
      expect(bad.body).toContain('invalid request');
      const unknown = await get({ port }, '/api/cameras/cam-01/users-delete', { method: 'POST', headers: { ...headers, 'x-udsbus-dashboard': '1' }, body: '{"username":"admin"}' });
      expect(unknown.body).toContain('unknown action');
      expect(seen).toHaveLength(2);
    } finally {
      await dash.stop();
    }
  });
});

describe('udsbus dashboard (the command)', () => {
  it('prints its URL and serves the page; refuses a non-loopback address without a token file', async () => {
    const bus = await startTestBus({ statsIntervalMs: 0 });
    try {
      const help = await runCli(['dashboard', '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toMatch(/Examples:\n {2}udsbus dashboard/);
      expect(help.stdout).toMatch(/Exit codes:\n {2}0 {2}/);
      expect((await runCli(['run', 'dashboard', '--help'])).stdout).toContain('--recordings <dir>');
      expect(help.stdout).toContain('--snapshots <dir>');
      const refused = await runCli(['dashboard', '--socket', bus.socket, '--listen', '0.0.0.0:0']);
      expect(refused.code).toBe(7);
      expect(refused.stderr).toContain('is not loopback');
      const child = spawnCli(['dashboard', '--socket', bus.socket, '--log-level', 'warn']);
      try {
        const line = await waitForLine(child.stdout!, (l) => l.startsWith('dashboard: http://127.0.0.1:'));
        const url = new URL(line.slice('dashboard: '.length));
        const r = await get({ port: Number(url.port) }, '/', { headers: { authorization: `Bearer ${url.searchParams.get('token')!}` } });
        expect(r.status).toBe(200);
      } finally {
        child.kill('SIGTERM');
      }
    } finally {
      await bus.close();
    }
  });
});
