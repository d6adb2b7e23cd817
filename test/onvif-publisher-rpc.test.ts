/**
 * camera.rpc.<id>.<action> through the bus: requests validated, answered with the reply schema's
 * result (checked here with the reply validator), errors with the documented codes, and effects
 * visible on the simulated camera.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RemoteError } from '../bus/index.js';
import type { Client } from '../bus/client/client.js';
import { topics, validatorFor, type CameraRpcAction } from '../schemas/index.js';
import { idOf, specOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig;
let client: Client;
let id: string;

beforeAll(async () => {
  rig = await startRig(2, (i) => ({ name: `rpc-${i}`, ptz: i === 0, password: `pw-${i}-Secret` }));
  id = idOf(rig.sims[0]!);
  await rig.startPublisher();
  await Promise.all(rig.sims.map((s) => rig.rec.status(idOf(s), { state: 'online' })));
  client = rig.client;
});

afterAll(async () => {
  await rig?.close();
});

/** Sends the request and checks the reply payload against the reply schema. */
async function rpc(action: CameraRpcAction, req: unknown, cameraId = id): Promise<{ ok: boolean; result?: unknown; error?: { code: string; message: string } }> {
  const topic = topics.cameraRpc(cameraId, action);
  const msg = await client.requestMessage<string>(topic, req, { timeout: 5000 }); // req is off-schema on purpose in some tests
  const check = validatorFor(topic, { reply: true })!(msg.payload);
  expect(check.ok ? [] : check.errors).toEqual([]);
  return msg.payload as { ok: boolean; result?: unknown; error?: { code: string; message: string } };
}

describe('camera actions over request/reply', () => {
  it('info', async () => {
    const r = await rpc('info', {});
    expect(r).toEqual({
      ok: true,
      result: { manufacturer: expect.any(String), model: expect.any(String), firmware: expect.any(String), serial: rig.sims[0]!.serial, hardwareId: expect.any(String) },
    });
    // The client's request() unwraps the envelope.
    await expect(client.request(topics.cameraRpc(id, 'info'))).resolves.toMatchObject({ serial: rig.sims[0]!.serial });
  });

  it('stream-uri and snapshot-uri, default and named profiles; an unknown profile is not-found', async () => {
    const first = await rpc('stream-uri', {});
    expect(first.result).toMatchObject({ uri: expect.stringMatching(/^rtsp:\/\/127\.0\.0\.1:554\//), profile: expect.any(String) });
    const profile = (first.result as { profile: string }).profile;
    const named = await rpc('stream-uri', { profile, stream: 'RTP-Unicast', transport: 'TCP' });
    expect(named.result).toMatchObject({ profile });
    const snap = await rpc('snapshot-uri', { profile });
    expect((snap.result as { uri: string }).uri).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/onvif\/snapshot\//);
    const missing = await rpc('stream-uri', { profile: 'nope' });
    expect(missing).toMatchObject({ ok: false, error: { code: 'not-found' } });
  });

  it('users: list, create (the camera has the user), duplicate (camera-fault with its text), delete, delete again (not-found)', async () => {
    const sim = rig.sims[0]!;
    const list = await rpc('users-list', {});
    expect(list.result).toEqual({ users: [{ username: sim.username, level: 'Administrator' }] });

    const created = await rpc('users-create', { username: 'viewer', password: 'correct horse', level: 'User' });
    expect(created).toEqual({ ok: true, result: { username: 'viewer' } });
    expect(sim.users()).toContainEqual({ username: 'viewer', password: 'correct horse', userLevel: 'User' });
    expect((await rpc('users-list', {})).result).toEqual({
      users: expect.arrayContaining([{ username: 'viewer', level: 'User' }]),
    });

    const dup = await rpc('users-create', { username: 'viewer', password: 'other', level: 'Operator' });
    expect(dup).toMatchObject({ ok: false, error: { code: 'camera-fault', message: expect.stringContaining('Username already exists') } });
    // The thrown form, as most callers see it.
    const thrown = await client.request(topics.cameraRpc(id, 'users-create'), { username: 'viewer', password: 'x', level: 'User' }).catch((e: unknown) => e);
    expect(thrown).toBeInstanceOf(RemoteError);
    expect((thrown as RemoteError).code).toBe('camera-fault');

    // XML-special characters are data, not markup.
    const odd = 'a<b>&"c\'';
    expect(await rpc('users-create', { username: 'odd', password: odd, level: 'Operator' })).toMatchObject({ ok: true });
    expect(sim.users()).toContainEqual({ username: 'odd', password: odd, userLevel: 'Operator' });

    expect(await rpc('users-delete', { username: 'viewer' })).toEqual({ ok: true, result: { username: 'viewer' } });
    expect(sim.users().map((u) => u.username)).not.toContain('viewer');
    const again = await rpc('users-delete', { username: 'viewer' });
    expect(again).toMatchObject({ ok: false, error: { code: 'not-found' } });
  });

  it('ptz-move (continuous, relative, absolute) and ptz-stop move the camera head', async () => {
    const sim = rig.sims[0]!;
    expect(await rpc('ptz-move', { mode: 'absolute', position: { pan: -0.25, tilt: 0.1, zoom: 0.5 } })).toEqual({ ok: true, result: {} });
    expect(sim.ptzState().position).toEqual({ x: -0.25, y: 0.1, zoom: 0.5 });
    await rpc('ptz-move', { mode: 'relative', translation: { pan: 0.25 } });
    expect(sim.ptzState().position.x).toBeCloseTo(0, 5);
    await rpc('ptz-move', { mode: 'continuous', velocity: { pan: 0.5, tilt: 0 }, timeoutMs: 10_000 });
    expect(sim.ptzState()).toMatchObject({ moving: true, lastCommand: 'ContinuousMove' });
    expect(await rpc('ptz-stop', {})).toEqual({ ok: true, result: {} });
    expect(sim.ptzState()).toMatchObject({ moving: false, lastCommand: 'Stop' });
    // Out of range for the camera is caught by the request schema first.
    expect(await rpc('ptz-move', { mode: 'absolute', position: { pan: 2 } })).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    // A camera without PTZ.
    const noPtz = await rpc('ptz-stop', {}, idOf(rig.sims[1]!));
    expect(noPtz).toMatchObject({ ok: false, error: { code: 'camera-fault', message: expect.stringContaining('PTZ') } });
  });

  it('invalid requests → invalid-argument; unknown camera → not-found', async () => {
    expect(await rpc('users-create', { username: 'x', level: 'User' })).toMatchObject({
      ok: false,
      error: { code: 'invalid-argument', message: expect.stringContaining('password') },
    });
    expect(await rpc('info', { extra: 1 })).toMatchObject({ ok: false, error: { code: 'invalid-argument' } });
    expect(await rpc('info', {}, 'no-such-camera')).toMatchObject({ ok: false, error: { code: 'not-found' } });
  });

  it('a camera that is down → unreachable; with rejected credentials → unauthorized', async () => {
    const sim = rig.sims[1]!;
    const other = idOf(sim);
    let mark = rig.rec.mark;
    await sim.fault('down');
    await rig.rec.status(other, { state: 'offline' }, 10_000, mark);
    expect(await rpc('info', {}, other)).toMatchObject({ ok: false, error: { code: 'unreachable' } });
    await sim.clearFaults();
    await rig.rec.status(other, { state: 'online' }, 10_000, mark);

    mark = rig.rec.mark;
    await sim.fault('wrongPassword');
    // Asked while the camera may still look online: the camera's own answer, or the reason the
    // publisher dropped the connection, is classified the same way.
    const direct = await rpc('users-list', {}, other);
    expect(direct).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    await rig.rec.status(other, { state: 'error', code: 'unauthorized' }, 10_000, mark);
    expect(await rpc('info', {}, other)).toMatchObject({ ok: false, error: { code: 'unauthorized' } });
    await sim.clearFaults();
    await rig.rec.status(other, { state: 'online' }, 10_000, mark);
    // Nothing the publisher sent carried a password.
    expect(JSON.stringify(rig.rec.messages.map((m) => m.payload))).not.toMatch(/pw-[01]-Secret/);
  });

  it('several publishers serving the same cameras share the requests (queue group)', async () => {
    const mark = rig.rec.mark;
    const second = await rig.startPublisher({ name: 'second' }, [specOf(rig.sims[0]!)]);
    // Its own online status for the camera says it has identified it and can answer.
    await rig.rec.status(id, { state: 'online' }, 10_000, mark);
    const before = second.stats().rpcRequests;
    const replies = await Promise.all(Array.from({ length: 40 }, () => rpc('info', {})));
    expect(replies.every((r) => r.ok)).toBe(true);
    // Each request reached exactly one publisher; the second got a share.
    expect(second.stats().rpcRequests - before).toBeGreaterThan(0);
    expect(second.stats().rpcRequests - before).toBeLessThan(40);
    await second.stop();
  });
});
