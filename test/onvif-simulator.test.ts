/**
 * The simulated ONVIF camera driven by the real `onvif` library over HTTP on 127.0.0.1:
 * device, media, users and PTZ.
 */
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  startSimulatedCamera,
  type SimulatedCamera,
  type SimulatedCameraOptions,
} from '../publishers/onvif/simulator/index.js';
import { call, connectCam, type Cam } from './onvif-simulator/helpers.js';

const sims: SimulatedCamera[] = [];

async function sim(opts: SimulatedCameraOptions = {}): Promise<SimulatedCamera> {
  const s = await startSimulatedCamera(opts);
  sims.push(s);
  return s;
}

afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

describe('device service', () => {
  it('connects and reports the simulator identity', async () => {
    const s = await sim({ name: 'front-door' });
    const cam = await connectCam(s);
    const info = await call<{ serialNumber: string; manufacturer: string; model: string }>((cb) => cam.getDeviceInformation(cb));
    expect(info.serialNumber).toBe(s.serial);
    expect(info.manufacturer).toBe('udsbus');
    // The library picked Media1 and both profiles, bound to the video source.
    expect(cam.media2Support).toBe(false);
    expect(cam.profiles?.map((p) => p.$.token)).toEqual(['Profile_1', 'Profile_2']);
    expect(cam.activeSource?.sourceToken).toBe('VideoSource_1');
    expect(cam.activeSource?.ptz?.token).toBe('PTZConfig_1');
    expect(Object.keys(cam.uri ?? {}).sort()).toEqual(['device', 'deviceIO', 'events', 'media', 'ptz']);
    const host = await call<{ name: string }>((cb) => cam.getHostname(cb));
    expect(host.name).toBe(s.hostname);
    expect(s.stats().calls).toMatchObject({ GetSystemDateAndTime: 1, GetServices: 1, GetProfiles: 1, GetVideoSources: 1 });
  });

  it('derives stable identities from the name', async () => {
    const [a, b, c] = await Promise.all([sim({ name: 'x' }), sim({ name: 'x' }), sim({ name: 'y' })]);
    expect(a?.serial).toBe(b?.serial);
    expect(a?.uuid).toBe(b?.uuid);
    expect(a?.serial).not.toBe(c?.serial);
    expect(a?.uuid).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });

  it('answers GetCapabilities and GetScopes', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    const caps = await call<{ events: { WSPullPointSupport: boolean }; media: { XAddr: string } }>((cb) => cam.getCapabilities(cb));
    expect(caps.events.WSPullPointSupport).toBe(true);
    expect(caps.media.XAddr).toBe(`http://127.0.0.1:${s.port}/onvif/media_service`);
    const scopes = await call<{ scopeItem: string }[]>((cb) => cam.getScopes(cb));
    expect(scopes.map((x) => x.scopeItem)).toContain('onvif://www.onvif.org/Profile/Streaming');
  });

  it('falls back to GetCapabilities when GetServices faults, like old firmware', async () => {
    const s = await sim();
    await s.fault('soapFault', { action: 'GetServices', reason: 'Optional Action Not Implemented' });
    const cam = await connectCam(s);
    expect(cam.uri?.media?.path).toBe('/onvif/media_service');
    expect(s.stats().calls['GetCapabilities']).toBe(1);
  });
});

describe('media service', () => {
  it('gives RTSP and snapshot URIs per profile', async () => {
    const s = await sim({ rtspPort: 8554 });
    const cam = await connectCam(s);
    const main = await call<{ uri: string }>((cb) => cam.getStreamUri({ protocol: 'RTSP' }, cb));
    expect(main.uri).toBe('rtsp://127.0.0.1:8554/stream/Profile_1');
    const sub = await call<{ uri: string }>((cb) => cam.getStreamUri({ protocol: 'RTSP', profileToken: 'Profile_2' }, cb));
    expect(sub.uri).toBe('rtsp://127.0.0.1:8554/stream/Profile_2');
    const snap = await call<{ uri: string }>((cb) => cam.getSnapshotUri({ profileToken: 'Profile_2' }, cb));
    expect(snap.uri).toBe(`http://127.0.0.1:${s.port}/onvif/snapshot/Profile_2.jpg`);

    // The snapshot itself sits behind HTTP auth, as on real cameras.
    expect((await fetch(snap.uri)).status).toBe(401);
    const res = await fetch(snap.uri, { headers: { Authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}` } });
    expect(res.headers.get('content-type')).toBe('image/jpeg');
    const jpeg = Buffer.from(await res.arrayBuffer());
    expect([...jpeg.subarray(0, 2)]).toEqual([0xff, 0xd8]);
    expect([...jpeg.subarray(-2)]).toEqual([0xff, 0xd9]);
  });

  it('faults on an unknown profile token', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    await expect(call((cb) => cam.getStreamUri({ protocol: 'RTSP', profileToken: 'nope' }, cb))).rejects.toThrow(
      'ONVIF SOAP Fault: Profile token does not exist',
    );
  });

  it('uses custom video sources and profiles', async () => {
    const s = await sim({
      ptz: false,
      videoSources: [
        { token: 'cam0', width: 2560, height: 1440, framerate: 30 },
        { token: 'cam1', width: 1280, height: 720, framerate: 25 },
      ],
      profiles: [
        { token: 'a', name: 'wide', videoSource: 'cam0', streamPath: '/Streaming/Channels/101' },
        { token: 'b', name: 'tele', videoSource: 'cam1', encoding: 'JPEG' },
      ],
    });
    const cam = await connectCam(s);
    expect(cam.activeSources?.map((a) => [a.sourceToken, a.profileToken, a.width])).toEqual([
      ['cam0', 'a', 2560],
      ['cam1', 'b', 1280],
    ]);
    expect(cam.activeSource?.ptz).toBeUndefined();
    expect(cam.uri?.ptz).toBeUndefined();
    const uri = await call<{ uri: string }>((cb) => cam.getStreamUri({ protocol: 'RTSP' }, cb));
    expect(uri.uri).toBe('rtsp://127.0.0.1:554/Streaming/Channels/101');
  });

  it('refuses a profile bound to a missing source instead of letting connect() hang', async () => {
    await expect(
      startSimulatedCamera({ profiles: [{ token: 'p', name: 'p', videoSource: 'ghost' }] }),
    ).rejects.toThrow('references video source ghost');
  });
});

describe('users', () => {
  it('round-trips create, set and delete, and rejects a duplicate', async () => {
    const s = await sim({ users: [{ username: 'viewer', password: 'v', userLevel: 'User' }] });
    const cam = await connectCam(s);
    type U = { username: string; userLevel: string };
    const initial = await call<U[]>((cb) => cam.getUsers(cb));
    expect(initial).toEqual([
      { username: 'admin', userLevel: 'Administrator' },
      { username: 'viewer', userLevel: 'User' },
    ]);

    // createUsers takes an array: the typings accept one object, the library then throws.
    const created = await call<U[]>((cb) => cam.createUsers([{ username: 'op', password: 'secret1', userLevel: 'Operator' }], cb));
    expect(created.map((u) => u.username)).toEqual(['admin', 'viewer', 'op']);
    expect(s.users().find((u) => u.username === 'op')).toEqual({ username: 'op', password: 'secret1', userLevel: 'Operator' });

    await expect(
      call((cb) => cam.createUsers([{ username: 'op', password: 'x', userLevel: 'User' }], cb)),
    ).rejects.toThrow('ONVIF SOAP Fault: Username already exists');

    await call((cb) => cam.setUsers([{ username: 'op', password: 'secret2', userLevel: 'User' }], cb));
    expect(s.users().find((u) => u.username === 'op')).toEqual({ username: 'op', password: 'secret2', userLevel: 'User' });

    // The new account can log in with its new password.
    const asOp = await connectCam(s, { username: 'op', password: 'secret2' });
    const info = await call<{ serialNumber: string }>((cb) => asOp.getDeviceInformation(cb));
    expect(info.serialNumber).toBe(s.serial);
    // ...but a User may not manage accounts.
    await expect(call((cb) => asOp.getUsers(cb))).rejects.toThrow('ONVIF SOAP Fault: Sender not Authorized');

    const after = await call<U[]>((cb) => cam.deleteUsers(['op'], cb));
    expect(after.map((u) => u.username)).toEqual(['admin', 'viewer']);
    await expect(call((cb) => cam.deleteUsers(['op'], cb))).rejects.toThrow('ONVIF SOAP Fault: Username not recognized');
    await expect(call((cb) => cam.deleteUsers(['admin'], cb))).rejects.toThrow('ONVIF SOAP Fault: Username is fixed');
  });
});

describe('PTZ', () => {
  it('moves continuously until Stop, and reports status', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    expect(s.ptzState()).toMatchObject({ moving: false, position: { x: 0, y: 0, zoom: 0 } });
    await call((cb) => cam.continuousMove({ x: 0.5, y: -0.25, zoom: 0 }, cb));
    expect(s.ptzState()).toMatchObject({ moving: true, velocity: { x: 0.5, y: -0.25, zoom: 0 }, lastCommand: 'ContinuousMove' });
    type Status = { position: { x: number; y: number }; moveStatus: { panTilt: string } };
    const moving = await call<Status>((cb) => cam.getStatus({}, cb));
    expect(moving.moveStatus.panTilt).toBe('MOVING');
    await call((cb) => cam.stop({}, cb));
    const state = s.ptzState();
    expect(state.moving).toBe(false);
    expect(state.lastCommand).toBe('Stop');
    expect(state.position.x).toBeGreaterThan(0);
    expect(state.position.y).toBeLessThan(0);
    const stopped = await call<Status>((cb) => cam.getStatus({}, cb));
    expect(stopped.moveStatus.panTilt).toBe('IDLE');
    expect(stopped.position.x).toBeCloseTo(state.position.x, 6);
  });

  it('moves absolutely and relatively, clamped to the generic spaces', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    await call((cb) => cam.absoluteMove({ x: 0.5, y: 0.5, zoom: 0.25 }, cb));
    expect(s.ptzState().position).toEqual({ x: 0.5, y: 0.5, zoom: 0.25 });
    await call((cb) => cam.relativeMove({ x: -0.25, y: 0, zoom: 0.5 }, cb));
    expect(s.ptzState().position).toEqual({ x: 0.25, y: 0.5, zoom: 0.75 });
    await expect(call((cb) => cam.absoluteMove({ x: 2, y: 0, zoom: 0 }, cb))).rejects.toThrow(
      'ONVIF SOAP Fault: The requested position is out of bounds',
    );
  });

  it('stops a continuous move after its timeout', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    // Only Date is faked: sockets and timers stay real, the PTZ head's clock is ours to move.
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      await call((cb) => cam.continuousMove({ x: 1, y: 0, zoom: 0, timeout: 200 }, cb));
      expect(s.ptzState().moving).toBe(true);
      vi.setSystemTime(Date.now() + 1000);
      // Full speed is one generic unit per second, for the 200 ms the move lasted.
      expect(s.ptzState()).toMatchObject({ moving: false, position: { x: 0.2, y: 0, zoom: 0 } });
    } finally {
      vi.useRealTimers();
    }
  });
});

describe('authentication', () => {
  it('rejects a wrong password with NotAuthorized', async () => {
    const s = await sim({ password: 'right' });
    await expect(connectCam(s, { password: 'wrong' })).rejects.toThrow('ONVIF SOAP Fault: Sender not Authorized');
    // GetSystemDateAndTime needs no auth; GetServices and GetCapabilities both failed.
    expect(s.stats()).toMatchObject({ authFailures: 2, calls: { GetSystemDateAndTime: 1, GetServices: 1, GetCapabilities: 1 } });
  });

  it('accepts HTTP Digest when WS-Security is off', async () => {
    const s = await sim({ password: 'digest-pw' });
    const cam = await connectCam(s, { useWSSecurity: false });
    const info = await call<{ serialNumber: string }>((cb) => cam.getDeviceInformation(cb));
    expect(info.serialNumber).toBe(s.serial);
    const bad = await connectCam(s, { useWSSecurity: false, password: 'nope' }).catch((e: unknown) => e);
    expect(String(bad)).toContain('Digest authentication failed 401');
  });

  it('non-ASCII password: the library hashes it as ASCII, so only HTTP Digest gets in', async () => {
    const s = await sim({ password: 'pässwörd' });
    // WS-Security digest must hash the password as UTF-8; the library uses Buffer.from(pw, 'ascii').
    await expect(connectCam(s)).rejects.toThrow('ONVIF SOAP Fault: Sender not Authorized');
    const cam = await connectCam(s, { useWSSecurity: false });
    await expect(call((cb) => cam.getDeviceInformation(cb))).resolves.toMatchObject({ serialNumber: s.serial });
  });

  it('rejects a replayed UsernameToken', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    // Re-send a request the library built, nonce and all.
    let body = '';
    cam.on('rawRequest', (b: string) => {
      body = b;
    });
    await call((cb) => cam.getDeviceInformation(cb));
    const replay = await fetch(s.url, { method: 'POST', body, headers: { 'Content-Type': 'application/soap+xml' } });
    expect(replay.status).toBe(400);
    expect(await replay.text()).toContain('ter:NotAuthorized');
  });

  it('makes connect fail while the wrongPassword fault is on, with 400 or 401', async () => {
    const s = await sim();
    await s.fault('wrongPassword');
    await expect(connectCam(s)).rejects.toThrow('ONVIF SOAP Fault: Sender not Authorized');
    await s.fault('wrongPassword', { httpStatus: 401 });
    await expect(connectCam(s)).rejects.toThrow('ONVIF SOAP Fault: Sender not Authorized');
    await s.clearFaults('wrongPassword');
    await connectCam(s);
  });
});

describe('raw SOAP', () => {
  it('answers malformed requests and unknown actions with proper faults', async () => {
    const s = await sim();
    const bad = await fetch(s.url, { method: 'POST', body: '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('ter:WellFormed');
    const soap11 = await fetch(s.url, {
      method: 'POST',
      body: '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><x/></s:Body></s:Envelope>',
    });
    expect(await soap11.text()).toContain('env:VersionMismatch');
    const dt = await fetch(s.url, {
      method: 'POST',
      body:
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>' +
        '<GetSystemDateAndTime xmlns="http://www.onvif.org/ver10/device/wsdl"/></s:Body></s:Envelope>',
    });
    expect(dt.status).toBe(200);
    expect(dt.headers.get('content-type')).toBe('application/soap+xml; charset=utf-8');
    expect(await dt.text()).toContain('<tt:UTCDateTime>');
    expect((await fetch(`http://127.0.0.1:${s.port}/nope`, { method: 'POST', body: '' })).status).toBe(404);
    const dtd = await fetch(s.url, {
      method: 'POST',
      body: '<!DOCTYPE x [<!ENTITY a "aaaa">]><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"><s:Body>&a;</s:Body></s:Envelope>',
    });
    expect(await dtd.text()).toContain('must not contain a DTD');
  });

  it('reports unknown operations as not implemented', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    await expect(call((cb) => cam.getNTP(cb))).rejects.toThrow('ONVIF SOAP Fault: Optional Action Not Implemented');
  });
});
