/**
 * The ONVIF publisher end to end: the real `onvif` library in the publisher talks HTTP to
 * simulated cameras, and everything is observed on a real broker. Every message the recorder
 * sees is validated against its schema.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { idOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

describe('onvif publisher', () => {
  it('announces a camera (retained), marks it online, and publishes its events in schema shape', async () => {
    rig = await startRig(1, { name: 'porch', events: [{ every: 100, kind: 'motion' }] });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    const pub = await rig.startPublisher();

    const discovered = await rig.rec.waitFor((m) => m.topic === `camera.discovered.${id}`, 'camera.discovered');
    expect(discovered.payload).toMatchObject({
      v: 1,
      cameraId: id,
      serial: sim!.serial,
      manufacturer: expect.any(String),
      address: { host: '127.0.0.1', port: sim!.port },
      xaddr: sim!.url,
      discoveredBy: 'static',
      profiles: [
        { token: expect.any(String), encoding: 'H264', width: expect.any(Number), height: expect.any(Number), ptz: true },
        expect.objectContaining({ token: expect.any(String) }),
      ],
    });
    // Credentials never travel: not in the address, not in the xaddr.
    expect(JSON.stringify(discovered.payload)).not.toContain(sim!.password);
    await rig.rec.status(id, { state: 'online' });

    // Property states arrive first as Initialized (initial), then live changes.
    const initial = await rig.rec.event(id, 'motion', (p) => p['initial'] === true);
    expect(initial.payload).toMatchObject({ operation: 'initialized', active: expect.any(Boolean), onvifTopic: 'tns1:RuleEngine/CellMotionDetector/Motion' });
    const live = await rig.rec.event(id, 'motion', (p) => p['initial'] === false && p['active'] === true);
    expect(live.payload).toMatchObject({
      v: 1,
      cameraId: id,
      kind: 'motion',
      operation: 'changed',
      source: { Rule: 'MyMotionDetectorRule' },
      data: { IsMotion: true },
    });

    // The other built-in kinds, raised on demand.
    let from = rig.rec.mark;
    sim!.emit({ kind: 'digitalInput', state: true });
    const input = await rig.rec.event(id, 'input', (p) => p['active'] === true, 10_000, from);
    expect(input.payload).toMatchObject({ input: 'DigitalInput_1', initial: false, data: { LogicalState: true } });
    sim!.emit({ kind: 'tamper', state: true });
    await rig.rec.event(id, 'tamper', (p) => p['active'] === true, 10_000, from);
    sim!.emit({ kind: 'field', state: true, rule: 'Driveway' });
    expect((await rig.rec.event(id, 'field', (p) => p['inside'] === true, 10_000, from)).payload).toMatchObject({ rule: 'Driveway' });
    sim!.emit({ kind: 'lineCrossing', objectId: 17, rule: 'Gate' });
    expect((await rig.rec.event(id, 'line', () => true, 10_000, from)).payload).toMatchObject({ rule: 'Gate', objectId: '17' });
    expect((await rig.rec.event(id, 'line', () => true, 10_000, from)).payload).not.toHaveProperty('operation'); // a pulse
    sim!.emit({ kind: 'object', state: true, classTypes: ['Human', 'Vehicle'], objectId: 3 });
    expect((await rig.rec.event(id, 'object', (p) => p['initial'] === false, 10_000, from)).payload).toMatchObject({
      classes: ['person', 'vehicle'],
      objectId: '3',
      active: true,
      ended: false,
    });
    from = rig.rec.mark;
    sim!.emit({ kind: 'custom', topic: 'tns1:Monitoring/ProcessorUsage', source: { Token: 'CPU' }, data: { Value: 42.5 } });
    expect((await rig.rec.event(id, 'health', () => true, 10_000, from)).payload).toMatchObject({
      onvifTopic: 'tns1:Monitoring/ProcessorUsage',
      metric: 'processor-usage',
      value: 42.5,
      pulse: true,
      data: { Value: 42.5 },
      initial: false,
    });
    sim!.emit({ kind: 'custom', topic: 'tns1:Device/tnsvendor:Unknown/Thing', source: { Token: 'X' }, data: { Value: 1 } });
    expect((await rig.rec.event(id, 'other', () => true, 10_000, from)).payload).toMatchObject({ onvifTopic: 'tns1:Device/tnsvendor:Unknown/Thing', pulse: false, ended: false });
    // A camera clock without a zone is UTC (and that old an event is a late replay); an impossible
    // one falls back to the receive time and says so.
    sim!.emit({ kind: 'custom', topic: 'tns1:Device/Trigger/Relay', source: { RelayToken: 'R1' }, data: { LogicalState: 'active' }, property: true, rawUtcTime: '2024-05-01T12:00:00' });
    expect((await rig.rec.event(id, 'relay', (p) => p['onvifTopic'] === 'tns1:Device/Trigger/Relay', 10_000, from)).payload).toMatchObject({
      time: '2024-05-01T12:00:00.000Z',
      cameraTime: '2024-05-01T12:00:00',
      late: true,
      relay: 'R1',
      active: true,
    });
    sim!.emit({ kind: 'custom', topic: 'tns1:Device/HardwareFailure/StorageFailure', data: { Failed: true }, property: true, rawUtcTime: '0000-00-00T00:00:00' });
    const bogus = await rig.rec.event(id, 'storage', (p) => String(p['onvifTopic']).endsWith('StorageFailure'), 10_000, from);
    expect((bogus.payload as { time: string }).time).toBe((bogus.payload as { receivedAt: string }).receivedAt);
    expect(bogus.payload).toMatchObject({ cameraTime: '0000-00-00T00:00:00', timeIssue: 'invalid', active: true });
    expect(bogus.payload).not.toHaveProperty('late');

    expect(rig.rec.invalid).toEqual([]);
    expect(pub.stats().invalid).toBe(0);
  });

  it('keeps the camera id across publisher restarts, and stops without waiting for a long poll', async () => {
    // The camera holds pulls for up to a minute; the publisher asks for less, and stop() cuts them.
    rig = await startRig(1, { name: 'hall', pullTimeoutCapMs: 60_000 });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    const first = await rig.startPublisher({ timing: { pullTimeoutMs: 30_000 } });
    await rig.rec.status(id, { state: 'online' });
    // Wait until a pull is parked at the camera.
    await rig.rec.event(id, 'input', (p) => p['initial'] === true);
    await new Promise<void>((resolve) => {
      const check = (): void => void (sim!.stats().pendingPulls > 0 ? resolve() : setImmediate(check));
      check();
    });
    const t0 = Date.now();
    await first.stop();
    expect(Date.now() - t0).toBeLessThan(5000); // not the 30 s pull
    expect(sim!.stats().activeSubscriptions).toBe(0); // Unsubscribe reached the camera
    await rig.rec.status(id, { state: 'offline', reason: 'shutdown' });

    const mark = rig.rec.mark;
    await rig.startPublisher();
    const again = await rig.rec.waitFor((m) => m.topic.startsWith('camera.discovered.'), 'rediscovery', 10_000, mark);
    expect(again.topic).toBe(`camera.discovered.${id}`);
    await rig.rec.status(id, { state: 'online' }, 10_000, mark);
  });

  it('serves 20 cameras from one publisher', async () => {
    rig = await startRig(20, { name: 'yard', events: [{ every: 500, kind: 'motion' }] });
    const pub = await rig.startPublisher();
    const ids = rig.sims.map(idOf);
    expect(new Set(ids).size).toBe(20);
    await Promise.all(ids.map((id) => rig!.rec.status(id, { state: 'online' }, 20_000)));
    const mark = rig.rec.mark;
    rig.sims.forEach((s, i) => s.emit({ kind: 'lineCrossing', objectId: i }));
    const lines = await Promise.all(ids.map((id) => rig!.rec.event(id, 'line', () => true, 20_000, mark)));
    expect(lines.map((m) => (m.payload as { objectId: string }).objectId)).toEqual(ids.map((_, i) => String(i)));
    await Promise.all(ids.map((id) => rig!.rec.event(id, 'motion', (p) => p['initial'] === false, 20_000)));
    expect(pub.cameras().filter((c) => c.state === 'online')).toHaveLength(20);
    expect(rig.rec.invalid).toEqual([]);
    expect(pub.stats()).toMatchObject({ cameras: 20, online: 20, invalid: 0, unsent: 0 });
    expect(rig.sims.every((s) => s.stats().activeSubscriptions === 1)).toBe(true);
  });

  it('gives each publisher a presence topic: online while running, offline after a clean stop', async () => {
    rig = await startRig(0);
    const pub = await rig.startPublisher({ name: 'north' }, []);
    await rig.rec.waitFor((m) => m.topic === 'publisher.onvif.north' && (m.payload as { state: string }).state === 'online', 'presence online');
    await pub.stop();
    await rig.rec.waitFor(
      (m) => m.topic === 'publisher.onvif.north' && (m.payload as { state: string; reason: string }).reason === 'shutdown',
      'presence offline',
    );
  });
});
