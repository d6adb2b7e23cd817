/**
 * Injected faults of the simulated camera, as the real `onvif` library experiences them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  startSimulatedCamera,
  type SimulatedCamera,
  type SimulatedCameraOptions,
} from '../publishers/onvif/simulator/index.js';
import { call, callCount, connectCam, EventCollector, withTimeout, type Cam } from './onvif-simulator/helpers.js';

const sims: SimulatedCamera[] = [];
const collectors: EventCollector[] = [];

async function sim(opts: SimulatedCameraOptions = {}): Promise<SimulatedCamera> {
  const s = await startSimulatedCamera(opts);
  sims.push(s);
  return s;
}

afterEach(async () => {
  for (const c of collectors.splice(0)) c.stop();
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

const deviceInfo = (cam: Cam) => call<{ serialNumber: string }>((cb) => cam.getDeviceInformation(cb));

describe('faults', () => {
  it('soapFault: the library surfaces the reason; scoped by action and count', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    await s.fault('soapFault', { action: 'GetDeviceInformation', reason: 'Device busy', times: 1 });
    // Other actions are untouched.
    await call((cb) => cam.getHostname(cb));
    await expect(deviceInfo(cam)).rejects.toThrow('ONVIF SOAP Fault: Device busy');
    // `times: 1` has run out.
    await expect(deviceInfo(cam)).resolves.toMatchObject({ serialNumber: s.serial });
    expect(s.stats().faultHits.soapFault).toBe(1);

    await s.fault('soapFault', { reason: 'Everything is broken', code: 'Sender', subcode: 'ter:InvalidArgVal' });
    await expect(connectCam(s)).rejects.toThrow('ONVIF SOAP Fault: Everything is broken');
    await s.clearFaults();
    await connectCam(s);
  });

  it('soapFault detail is glued to the reason by the library', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    await s.fault('soapFault', { reason: 'Busy', detail: ' (try later)' });
    await expect(deviceInfo(cam)).rejects.toThrow('ONVIF SOAP Fault: Busy (try later)');
  });

  it('unresponsive: calls time out with the library timeout, and recover once cleared', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    cam.timeout = 300; // after connect, so a loaded machine cannot fail the connect itself
    await s.fault('unresponsive');
    const t0 = Date.now();
    await expect(deviceInfo(cam)).rejects.toThrow('Network timeout');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    await expect(connectCam(s, { timeout: 300 })).rejects.toThrow('Network timeout');
    // The TCP connection was accepted: the request reached the camera and was held.
    expect(s.stats().faultHits.unresponsive).toBe(2);
    await s.clearFaults('unresponsive');
    await expect(deviceInfo(cam)).resolves.toMatchObject({ serialNumber: s.serial });
  });

  it('unresponsive for one action: connect only warns, and media state is gone', async () => {
    const s = await sim();
    await s.fault('unresponsive', { action: 'GetVideoSources' });
    // connect() waits for GetVideoSources until the library timeout, then succeeds with a warning.
    const warnings: unknown[] = [];
    const cam = await connectCam(s, { timeout: 400 }, 5000, (c) => c.on('warning', (w: unknown) => warnings.push(w)));
    expect(warnings).toEqual(['Network timeout']);
    expect(cam.profiles).toEqual([]);
    expect(cam.activeSource).toBeUndefined();
    // Without a profile token the library now throws synchronously instead of calling back.
    expect(() => cam.getStreamUri({ protocol: 'RTSP' }, () => undefined)).toThrow(TypeError);
  });

  it('slow: answers late, and a short library timeout gives up first', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    cam.timeout = 150;
    await s.fault('slow', { delayMs: 60, action: 'GetDeviceInformation' });
    const t0 = Date.now();
    await deviceInfo(cam);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(55);
    await s.fault('slow', { delayMs: 400 });
    await expect(deviceInfo(cam)).rejects.toThrow('Network timeout');
  });

  it('malformedXml: the library fails to parse the answer', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    await s.fault('malformedXml', { action: 'GetDeviceInformation' });
    // The library hides xml2js's parse error behind this generic message.
    await expect(deviceInfo(cam)).rejects.toThrow('Wrong ONVIF SOAP response');
    await s.clearFaults();
    await expect(deviceInfo(cam)).resolves.toMatchObject({ serialNumber: s.serial });
  });

  it('down: connections are refused, then the camera returns on the same port', async () => {
    const s = await sim();
    const port = s.port;
    const cam = await connectCam(s);
    await s.fault('down');
    await expect(deviceInfo(cam)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await s.clearFaults('down');
    expect(s.port).toBe(port);
    await expect(deviceInfo(cam)).resolves.toMatchObject({ serialNumber: s.serial });
  });

  it('down during a pull: the library backs off, retries, and events flow again', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    const events = new EventCollector(cam);
    collectors.push(events);
    const errors: unknown[] = [];
    cam.on('eventsError', (e: unknown) => errors.push(e));
    await events.waitFor((e) => e.topic === 'tns1:Device/Trigger/DigitalInput');
    await callCount(s, 'PullMessages', 2);

    const refused = new Promise<void>((resolve) =>
      cam.on('eventsError', (e: { code?: string }) => {
        if (e.code === 'ECONNREFUSED') resolve();
      }),
    );
    await s.fault('down');
    await withTimeout(refused, 3000, 'a refused reconnect');
    const from = events.events.length;
    await s.clearFaults('down');
    // The subscription outlived the outage (the camera kept running), so pulling resumes.
    s.emit({ kind: 'motion', state: true });
    await events.waitFor((e) => e.data['IsMotion'] === true, 5000, from);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(s.stats().calls['CreatePullPointSubscription']).toBe(1);
  });

  it('reboot with downtime: unreachable, then back with fresh state', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    s.emit({ kind: 'motion', state: true });
    const rebooting = s.reboot({ downMs: 100 });
    await expect(deviceInfo(cam)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await rebooting;
    await expect(deviceInfo(cam)).resolves.toMatchObject({ serialNumber: s.serial });
    const events = new EventCollector(cam);
    collectors.push(events);
    const motion = await events.waitFor((e) => e.topic === 'tns1:RuleEngine/CellMotionDetector/Motion');
    expect(motion).toMatchObject({ operation: 'Initialized', data: { IsMotion: false } });
  });
});

describe('lifecycle', () => {
  it('close() during a reboot downtime settles the reboot', async () => {
    const s = await sim();
    const rebooting = s.reboot({ downMs: 60_000 });
    await s.close();
    await withTimeout(rebooting, 1000, 'reboot to settle');
  });

  it('close() while down, and twice, is fine', async () => {
    const s = await sim();
    await s.fault('down');
    await s.close();
    await s.close();
  });
});
