/**
 * Push notifications (WS-BaseNotification) end to end: the publisher runs a Notify endpoint on
 * 127.0.0.1, subscribes through the real `onvif` library, the simulator POSTs Notify to it, and
 * the publisher renews and, on stop, unsubscribes (cameras have few subscription slots).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../publishers/onvif/index.js';
import { idOf, specOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const NOTIFY = { host: '127.0.0.1' };

describe('onvif publisher with push notifications', () => {
  it('subscribes, receives Notify, renews, and unsubscribes on stop — no pull point', async () => {
    rig = await startRig(1, { name: 'pusher' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    const pub = await rig.startPublisher({ notify: NOTIFY, timing: { renewIntervalMs: 200 } }, [specOf(sim!, { events: 'push' })]);
    await rig.rec.status(id, { state: 'online' });
    // Current states first (Initialized), then live events.
    await rig.rec.event(id, 'motion', (p) => p['initial'] === true);
    const from = rig.rec.mark;
    sim!.emit({ kind: 'motion', state: true });
    sim!.emit({ kind: 'lineCrossing', objectId: 5 });
    await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false, 10_000, from);
    expect((await rig.rec.event(id, 'line', () => true, 10_000, from)).payload).toMatchObject({ objectId: '5', pulse: true });
    // Renewed while running; nothing was pulled.
    await new Promise((r) => setTimeout(r, 500));
    const calls = sim!.stats().calls;
    expect(calls['Subscribe']).toBe(1);
    expect(calls['Renew'] ?? 0).toBeGreaterThanOrEqual(1);
    expect(calls['CreatePullPointSubscription'] ?? 0).toBe(0);
    expect(calls['PullMessages'] ?? 0).toBe(0);
    expect(sim!.stats().activeSubscriptions).toBe(1);
    await pub.stop();
    expect(sim!.stats().calls['Unsubscribe']).toBe(1);
    expect(sim!.stats().activeSubscriptions).toBe(0);
    expect(rig.rec.invalid).toEqual([]);
  });

  it('auto: a camera that refuses Subscribe is served through a pull point instead', async () => {
    rig = await startRig(1, { name: 'no-push' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await sim!.fault('soapFault', { action: 'Subscribe', code: 'Receiver', subcode: 'ter:ActionNotSupported', reason: 'Not supported' });
    await rig.startPublisher({ notify: NOTIFY });
    await rig.rec.status(id, { state: 'online' });
    const from = rig.rec.mark;
    sim!.emit({ kind: 'motion', state: true });
    await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false, 10_000, from);
    expect(sim!.stats().calls['Subscribe']).toBe(1);
    expect(sim!.stats().calls['CreatePullPointSubscription']).toBeGreaterThanOrEqual(1);
  });

  it('a camera that forgets the push subscription (reboot) is subscribed again', async () => {
    rig = await startRig(1, { name: 'reboots' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher({ notify: NOTIFY, timing: { renewIntervalMs: 100 } }, [specOf(sim!, { events: 'push' })]);
    await rig.rec.status(id, { state: 'online' });
    await rig.rec.event(id, 'input', (p) => p['initial'] === true);
    await sim!.reboot();
    const from = rig.rec.mark;
    // The failed Renew ends the session; the new one subscribes and gets the states again.
    await rig.rec.event(id, 'input', (p) => p['initial'] === true, 10_000, from);
    expect(sim!.stats().calls['Subscribe']).toBe(2);
    sim!.emit({ kind: 'motion', state: true });
    await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false, 10_000, from);
  });

  it('configuration: notify endpoint and per-camera delivery', () => {
    const o = parseConfig({ notify: { host: '10.0.0.2', port: 8089, url: 'http://nvr.lan:8089' }, cameras: [{ host: 'a', events: 'push' }, { host: 'b', events: 'pull' }] }, '/', {});
    expect(o.notify).toEqual({ host: '10.0.0.2', port: 8089, url: 'http://nvr.lan:8089' });
    expect(o.cameras?.map((c) => c.events)).toEqual(['push', 'pull']);
    expect(() => parseConfig({ cameras: [{ host: 'a', events: 'webhook' }] }, '/', {})).toThrow(/events must be one of auto, pull, push/);
  });
});
