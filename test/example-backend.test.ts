/**
 * The examples end to end: a broker, a simulated ONVIF camera, the Python worker
 * (examples/python-worker) serving its RPCs over plain SOAP, and the Go HTTP backend
 * (examples/go-backend) turning HTTP requests into bus requests. Then the snippets of
 * docs/clients.md, which must be the example files verbatim and must work.
 *
 * Needs Go and /usr/bin/python3 with cbor2 (Debian packages); skipped with a printed reason
 * without them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startSimulatedCamera, type SimulatedCamera } from '../publishers/onvif/simulator/index.js';
import { validatorFor } from '../schemas/index.js';
import { ROOT, startTestBus, takeN, tempDir, type TestBus } from './helpers/harness.js';
import { goBuild, goSkipReason, pythonSkipReason, SYSTEM_PYTHON } from './conformance/runner.js';

const skip = pythonSkipReason() ?? goSkipReason();
if (skip) console.warn(`example-backend: skipping the examples: ${skip}`);

const CAMERA = 'cam-e2e';
const children: ChildProcess[] = [];
const outputs = new Map<ChildProcess, string>();

function launch(cmd: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = spawn(cmd, args, { cwd: ROOT, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  outputs.set(child, '');
  const keep = (d: Buffer) => outputs.set(child, (outputs.get(child)! + d.toString()).slice(-8000));
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return child;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise<void>((resolve) => child.once('close', () => resolve()));
  child.kill('SIGTERM');
  const t = setTimeout(() => child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** Waits for a line of the child's output (printed before or after the call). */
async function lineOf(child: ChildProcess, pred: (l: string) => boolean, what: string, ms = 60_000): Promise<string> {
  const deadline = Date.now() + ms;
  for (;;) {
    const hit = outputs.get(child)!.split('\n').find(pred);
    if (hit !== undefined) return hit;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${what}: exited (${child.exitCode ?? child.signalCode})\n${outputs.get(child)}`);
    if (Date.now() > deadline) throw new Error(`${what}: no matching line within ${ms} ms\n${outputs.get(child)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(skip !== undefined)('examples: Go HTTP backend -> bus -> Python ONVIF worker -> simulated camera', () => {
  let bus: TestBus;
  let cam: SimulatedCamera;
  let base = '';
  const tmp = tempDir('udsbus-examples-');

  beforeAll(async () => {
    const backendBin = join(tmp.dir, 'go-backend');
    const build = goBuild(join(ROOT, 'examples/go-backend'), '.', backendBin);
    bus = await startTestBus();
    cam = await startSimulatedCamera({ name: 'e2e', username: 'admin', password: 'cam-secret' });
    const worker = launch(SYSTEM_PYTHON, [join(ROOT, 'examples/python-worker/worker.py'), '--camera-id', CAMERA, '--url', cam.url], {
      UDSBUS_SOCKET: bus.socket,
      ONVIF_USERNAME: 'admin',
      ONVIF_PASSWORD: 'cam-secret',
    });
    await lineOf(worker, (l) => l.startsWith(`serving camera.rpc.${CAMERA}.*`), 'python worker');
    await build;
    const backend = launch(backendBin, ['-listen', '127.0.0.1:0', '-rpc-timeout', '5s'], { UDSBUS_SOCKET: bus.socket });
    const line = await lineOf(backend, (l) => l.startsWith('listening on http://'), 'go backend');
    base = line.slice('listening on '.length).trim();
  }, 180_000);

  afterAll(async () => {
    await Promise.all(children.splice(0).map(stop));
    await cam?.close();
    await bus?.close();
    tmp.cleanup();
  });

  const post = (path: string, body: unknown, type = 'application/json') =>
    fetch(base + path, { method: 'POST', headers: { 'Content-Type': type }, body: typeof body === 'string' ? body : JSON.stringify(body) });

  it('POST /cameras/{id}/users creates the user on the camera', async () => {
    const res = await post(`/cameras/${CAMERA}/users`, { username: 'viewer', password: 'correct horse', level: 'User' });
    expect(res.status, await res.clone().text()).toBe(201);
    expect(await res.json()).toEqual({ cameraId: CAMERA, username: 'viewer' });
    expect(cam.users()).toContainEqual({ username: 'viewer', password: 'correct horse', userLevel: 'User' });
    // The worker authenticated with a WS-Security digest as admin, not anonymously.
    expect(cam.stats().authFailures).toBe(0);
  });

  it('GET /cameras/{id}/stream-uri returns the RTSP URI of the first profile, or of the one asked for', async () => {
    const res = await fetch(`${base}/cameras/${CAMERA}/stream-uri`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { uri: string; profile: string };
    expect(body).toEqual({ cameraId: CAMERA, uri: `rtsp://127.0.0.1:554/stream/Profile_1`, profile: 'Profile_1' });
    const sub = (await (await fetch(`${base}/cameras/${CAMERA}/stream-uri?profile=Profile_2&transport=TCP`)).json()) as { uri: string };
    expect(sub.uri).toBe('rtsp://127.0.0.1:554/stream/Profile_2');
    // The worker's reply follows the schema (no credentials in the URI, closed objects).
    const check = validatorFor(`camera.rpc.${CAMERA}.stream-uri`, { reply: true })!;
    expect(check({ ok: true, result: { uri: body.uri, profile: body.profile } })).toMatchObject({ ok: true });
  });

  it('passes camera-side failures through with the RPC error code', async () => {
    const before = cam.users().length;
    const dup = await post(`/cameras/${CAMERA}/users`, { username: 'admin', password: 'x', level: 'User' });
    expect(dup.status).toBe(400);
    expect(await dup.json()).toEqual({ error: { code: 'invalid-argument', message: 'Username already exists' } });
    const noProfile = await fetch(`${base}/cameras/${CAMERA}/stream-uri?profile=nope`);
    expect(noProfile.status).toBe(404);
    expect(((await noProfile.json()) as { error: { code: string } }).error.code).toBe('not-found');
    await cam.fault('wrongPassword', { times: 1 });
    const denied = await post(`/cameras/${CAMERA}/users`, { username: 'eve', password: 'x', level: 'User' });
    expect(denied.status).toBe(502);
    expect(((await denied.json()) as { error: { code: string } }).error.code).toBe('unauthorized');
    expect(cam.users().length).toBe(before);
  });

  it('rejects bad input before it reaches the bus, and says so', async () => {
    const creates = cam.stats().calls['CreateUsers'] ?? 0;
    const cases: Array<[string, unknown, string?]> = [
      [`/cameras/${CAMERA}/users`, { username: 'a', password: 'b', level: 'Root' }],
      [`/cameras/${CAMERA}/users`, { username: 'a', level: 'User' }],
      [`/cameras/${CAMERA}/users`, { username: '', password: 'b', level: 'User' }],
      [`/cameras/${CAMERA}/users`, { username: 'a', password: 'b', level: 'User', admin: true }],
      [`/cameras/${CAMERA}/users`, '{"username": "a"'],
      [`/cameras/${CAMERA}/users`, '{"username":"a","password":"b","level":"User"} {}'],
      [`/cameras/bad.id/users`, { username: 'a', password: 'b', level: 'User' }],
    ];
    for (const [path, body] of cases) {
      const res = await post(path, body);
      expect(res.status, `${path} ${JSON.stringify(body)}`).toBe(400);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe('invalid-argument');
    }
    expect((await post(`/cameras/${CAMERA}/users`, 'username=a', 'application/x-www-form-urlencoded')).status).toBe(415);
    expect((await fetch(`${base}/cameras/${CAMERA}/stream-uri?transport=carrier-pigeon`)).status).toBe(400);
    expect((await fetch(`${base}/cameras/${CAMERA}/stream-uri?colour=red`)).status).toBe(400);
    expect(cam.stats().calls['CreateUsers'] ?? 0).toBe(creates);
  });

  it('routes by hand: 404 for unknown paths, 405 with Allow for wrong methods, 503 when no worker serves the camera', async () => {
    expect((await fetch(`${base}/cameras`)).status).toBe(404);
    expect((await fetch(`${base}/cameras/${CAMERA}/users/extra`)).status).toBe(404);
    const wrong = await fetch(`${base}/cameras/${CAMERA}/users`);
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await post(`/cameras/${CAMERA}/stream-uri`, {})).headers.get('allow')).toBe('GET');
    const t0 = Date.now();
    const none = await fetch(`${base}/cameras/other-cam/stream-uri`);
    expect(none.status).toBe(503);
    expect(((await none.json()) as { error: { code: string } }).error.code).toBe('no-worker');
    expect(Date.now() - t0).toBeLessThan(2000); // NO_RESPONDERS at once, not the 5 s timeout
  });
});

// ------------------------------------------------------------------------------ docs/clients.md

/** The fenced blocks of docs/clients.md that follow a `<!-- file: path -->` marker. */
function docBlocks(): Map<string, string> {
  const text = readFileSync(join(ROOT, 'docs/clients.md'), 'utf8');
  const blocks = new Map<string, string>();
  for (const m of text.matchAll(/<!-- file: (\S+) -->\n```[a-z]*\n([\s\S]*?)```/g)) blocks.set(m[1]!, m[2]!);
  return blocks;
}

describe.skipIf(skip !== undefined)('docs/clients.md: the snippets work as written', () => {
  let bus: TestBus;
  const tmp = tempDir('udsbus-docs-');
  beforeAll(async () => {
    bus = await startTestBus();
  });
  afterAll(async () => {
    await Promise.all(children.splice(0).map(stop));
    await bus?.close();
    tmp.cleanup();
  });

  it('shows the example files verbatim', () => {
    const blocks = docBlocks();
    expect([...blocks.keys()].sort()).toEqual(['examples/go-publisher/go.mod', 'examples/go-publisher/main.go', 'examples/python-subscriber/subscriber.py']);
    for (const [path, body] of blocks) expect(body, path).toBe(readFileSync(join(ROOT, path), 'utf8'));
    expect(blocks.get('examples/python-subscriber/subscriber.py')!.trimEnd().split('\n').length).toBeLessThanOrEqual(10);
  });

  it('the Python subscriber prints the event the Go publisher sends', { timeout: 120_000 }, async () => {
    const bin = join(tmp.dir, 'go-publisher');
    const build = goBuild(join(ROOT, 'examples/go-publisher'), '.', bin);
    const watcher = await bus.client({ name: 'watcher' });
    const seen = takeN(watcher.subscribe('camera.event.>'), 1, 20_000);
    await watcher.flush();
    const sub = launch(SYSTEM_PYTHON, [join(ROOT, 'examples/python-subscriber/subscriber.py')], {
      UDSBUS_SOCKET: bus.socket,
      PYTHONPATH: join(ROOT, 'clients/python'),
    });
    // Publish only once the broker has the subscriber's subscription.
    const deadline = Date.now() + 20_000;
    const subscribed = async () => {
      const clients = await watcher.request<Array<{ name: string; subscriptions: Array<{ pattern: string }> }>>('$SYS.req.clients');
      return clients.some((c) => c.name === 'event-printer' && c.subscriptions.some((s) => s.pattern === 'camera.event.>'));
    };
    while (!(await subscribed())) {
      if (Date.now() > deadline) throw new Error(`subscriber never subscribed\n${outputs.get(sub)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    await build;
    const pub = launch(bin, ['front-door'], { UDSBUS_SOCKET: bus.socket });
    const code = await new Promise((resolve) => pub.once('close', resolve));
    expect(code, outputs.get(pub)).toBe(0);
    const [event] = await seen;
    expect(event!.topic).toBe('camera.event.front-door.motion');
    expect(validatorFor(event!.topic)!(event!.payload)).toMatchObject({ ok: true });
    const printed = await lineOf(sub, (l) => l.startsWith('camera.event.front-door.motion '), 'python subscriber');
    expect(printed).toContain("'active': True");
  });
});
