/**
 * Many simulated cameras in one process, all driven by the real `onvif` library at once.
 */
import { afterEach, expect, it } from 'vitest';
import { startSimulatedCameras, type SimulatedCamera } from '../publishers/onvif/simulator/index.js';
import { call, connectCam, EventCollector } from './onvif-simulator/helpers.js';

let fleet: SimulatedCamera[] = [];
const collectors: EventCollector[] = [];

afterEach(async () => {
  for (const c of collectors.splice(0)) c.stop();
  await Promise.all(fleet.map((s) => s.close()));
  fleet = [];
});

it('runs 20 cameras connected at once, each with its own identity and events', async () => {
  fleet = await startSimulatedCameras(20, { name: 'yard' });
  expect(new Set(fleet.map((s) => s.port)).size).toBe(20);
  expect(new Set(fleet.map((s) => s.serial)).size).toBe(20);
  expect(fleet[0]?.name).toBe('yard-1');

  const cams = await Promise.all(fleet.map((s) => connectCam(s, {}, 10_000)));
  const infos = await Promise.all(cams.map((cam) => call<{ serialNumber: string }>((cb) => cam.getDeviceInformation(cb))));
  expect(infos.map((i) => i.serialNumber)).toEqual(fleet.map((s) => s.serial));

  const events = cams.map((cam) => {
    const c = new EventCollector(cam);
    collectors.push(c);
    return c;
  });
  await Promise.all(events.map((c) => c.waitFor((e) => e.topic === 'tns1:Device/Trigger/DigitalInput', 10_000)));
  // Each camera raises its own event; each client sees only its camera's.
  fleet.forEach((s, i) => s.emit({ kind: 'lineCrossing', objectId: i }));
  const got = await Promise.all(events.map((c) => c.waitFor((e) => e.topic === 'tns1:RuleEngine/LineDetector/Crossed', 10_000)));
  expect(got.map((e) => e.data['ObjectId'])).toEqual(fleet.map((_, i) => i));
  expect(fleet.every((s) => s.stats().activeSubscriptions === 1)).toBe(true);
});

it('gives per-camera options and closes the started ones when one fails', async () => {
  fleet = await startSimulatedCameras(3, (i) => ({ name: `cam-${i}`, ptz: i !== 1 }));
  expect(fleet.map((s) => s.name)).toEqual(['cam-0', 'cam-1', 'cam-2']);
  expect(() => fleet[1]?.ptzState()).toThrow('no PTZ');
  await expect(
    startSimulatedCameras(2, (i) => (i === 0 ? {} : { profiles: [{ token: 'p', name: 'p', videoSource: 'missing' }] })),
  ).rejects.toThrow('references video source missing');
});
