/**
 * Camera faults as the publisher lives them: each leads to the right camera.status, the
 * publisher keeps running, other cameras are unaffected, and the camera recovers when the fault
 * is cleared. Timeouts and backoff are short (helpers.FAST); tests wait for messages, not time.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { toTopicToken } from '../schemas/index.js';
import { FAST, idOf, specOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

const statePayload = (m: { payload: unknown }) => m.payload as { state: string; code?: string; reason?: string };

describe('onvif publisher under faults', () => {
  it('camera down → offline (unreachable) → back online; a reboot alone does not flap the status', async () => {
    rig = await startRig(1, { name: 'down' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    const pub = await rig.startPublisher();
    await rig.rec.status(id, { state: 'online' });

    // A reboot drops the subscription; the publisher re-subscribes (Initialized again) without
    // publishing any status change.
    let mark = rig.rec.mark;
    await sim!.reboot();
    await rig.rec.event(id, 'motion', (p) => p['initial'] === true, 10_000, mark);
    expect(rig.rec.of(`camera.status.${id}`, mark)).toEqual([]);

    mark = rig.rec.mark;
    await sim!.fault('down');
    const offline = await rig.rec.status(id, { state: 'offline' }, 10_000, mark);
    expect(statePayload(offline)).toMatchObject({ code: 'unreachable' });
    await sim!.clearFaults('down');
    await rig.rec.status(id, { state: 'online' }, 10_000, mark);
    // Events flow again.
    const after = rig.rec.mark;
    sim!.emit({ kind: 'lineCrossing', objectId: 5 });
    await rig.rec.event(id, 'line', () => true, 10_000, after);
    expect(pub.stats().invalid).toBe(0);
  });

  it('a persistent PullMessages SOAP fault → error (camera-fault) without a tight retry loop, then recovery', async () => {
    rig = await startRig(1, { name: 'busy' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher();
    await rig.rec.status(id, { state: 'online' });
    const mark = rig.rec.mark;
    const pullsBefore = sim!.stats().calls['PullMessages'] ?? 0;
    await sim!.fault('soapFault', { action: 'PullMessages', reason: 'Event service busy' });
    const err = await rig.rec.status(id, { state: 'error' }, 10_000, mark);
    expect(statePayload(err)).toMatchObject({ code: 'camera-fault' });
    expect(statePayload(err).reason).toContain('Event service busy');
    // Let the supervisor retry a few times (its backoff is capped at 400 ms here).
    const t0 = Date.now();
    await new Promise<void>((resolve) => {
      const off = sim!.onCall((c) => {
        if (c.action === 'PullMessages' && (sim!.stats().calls['PullMessages'] ?? 0) >= pullsBefore + 5) {
          off();
          resolve();
        }
      });
    });
    const elapsed = Date.now() - t0;
    const pulls = (sim!.stats().calls['PullMessages'] ?? 0) - pullsBefore;
    // The library alone would spin at hundreds of create/pull/unsubscribe cycles per second.
    expect(pulls / Math.max(elapsed, 1)).toBeLessThan(0.1); // < 100 per second, in fact a few
    await sim!.clearFaults('soapFault');
    await rig.rec.status(id, { state: 'online' }, 10_000, mark);
  });

  it('malformed XML from the event service and at connect → camera-fault, then recovery', async () => {
    rig = await startRig(1, { name: 'garbled' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher();
    await rig.rec.status(id, { state: 'online' });
    let mark = rig.rec.mark;
    await sim!.fault('malformedXml', { action: ['PullMessages', 'GetDeviceInformation'] });
    const err = await rig.rec.status(id, { state: 'error' }, 10_000, mark);
    expect(statePayload(err)).toMatchObject({ code: 'camera-fault' });
    expect(statePayload(err).reason).toMatch(/unparsable/);
    mark = rig.rec.mark;
    await sim!.clearFaults();
    await rig.rec.status(id, { state: 'online' }, 10_000, mark);
  });

  it('credentials rejected → error (unauthorized), for a running camera and for one that never got in', async () => {
    rig = await startRig(2, { name: 'locked' });
    const [a, b] = rig.sims;
    const idA = idOf(a!);
    // b is configured with a wrong password and a fixed id (its serial cannot be read without logging in).
    await rig.startPublisher({}, [specOf(a!), specOf(b!, { password: 'not-the-password', id: 'Gate Camera' })]);
    await rig.rec.status(idA, { state: 'online' });
    const gate = await rig.rec.status(toTopicToken('Gate Camera'), { state: 'error' });
    expect(statePayload(gate)).toMatchObject({ code: 'unauthorized' });
    expect(rig.rec.of('camera.discovered.gate')).toEqual([]); // not identified, so not announced
    expect(JSON.stringify(gate.payload)).not.toContain('not-the-password');

    const mark = rig.rec.mark;
    await a!.fault('wrongPassword');
    const err = await rig.rec.status(idA, { state: 'error' }, 10_000, mark);
    expect(statePayload(err)).toMatchObject({ code: 'unauthorized' });
    await a!.clearFaults();
    await rig.rec.status(idA, { state: 'online' }, 10_000, mark);
  });

  it('an unresponsive camera goes offline and does not hold up the others', async () => {
    rig = await startRig(3, { name: 'mixed' });
    const ids = rig.sims.map(idOf);
    await rig.startPublisher({ timing: { pullTimeoutMs: 500, pullReplyMarginMs: 500, connectTimeoutMs: 1000 } });
    await Promise.all(ids.map((id) => rig!.rec.status(id, { state: 'online' })));
    const mark = rig.rec.mark;
    await rig.sims[0]!.fault('unresponsive');
    // While camera 0 hangs, 1 and 2 deliver.
    rig.sims[1]!.emit({ kind: 'lineCrossing', objectId: 1 });
    rig.sims[2]!.emit({ kind: 'lineCrossing', objectId: 2 });
    await rig.rec.event(ids[1]!, 'line', () => true, 5000, mark);
    await rig.rec.event(ids[2]!, 'line', () => true, 5000, mark);
    await rig.rec.status(ids[0]!, { state: 'offline', code: 'unreachable' }, 15_000, mark);
    // Still delivering after camera 0 was declared offline.
    const later = rig.rec.mark;
    rig.sims[1]!.emit({ kind: 'lineCrossing', objectId: 11 });
    await rig.rec.event(ids[1]!, 'line', () => true, 5000, later);
    expect(rig.rec.of(`camera.status.${ids[1]}`, mark)).toEqual([]);
    await rig.sims[0]!.clearFaults();
    await rig.rec.status(ids[0]!, { state: 'online' }, 15_000, mark);
  });

  it('offline for lostAfterMs → camera.lost and the retained camera.discovered is cleared; announced again on return', async () => {
    rig = await startRig(1, { name: 'wander' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher({ timing: { ...FAST, lostAfterMs: 300 } });
    await rig.rec.status(id, { state: 'online' });
    const mark = rig.rec.mark;
    await sim!.fault('down');
    const lost = await rig.rec.waitFor((m) => m.topic === `camera.lost.${id}`, 'camera.lost', 10_000, mark);
    expect(lost.payload).toMatchObject({ v: 1, cameraId: id, lastSeen: expect.any(String) });
    await rig.rec.waitFor((m) => m.topic === `camera.discovered.${id}` && m.payload === undefined, 'discovered cleared', 5000, mark);
    // A late subscriber does not see it any more.
    const late = await rig.bus.client({ name: 'late' });
    const retained = await new Promise<string[]>((resolve) => {
      const seen: string[] = [];
      const sub = late.subscribe('camera.discovered.*').subscribe((m) => seen.push(m.topic));
      void late.flush().then(() => {
        sub.unsubscribe();
        resolve(seen);
      });
    });
    expect(retained).toEqual([]);
    await sim!.clearFaults();
    await rig.rec.waitFor((m) => m.topic === `camera.discovered.${id}` && m.payload !== undefined, 'rediscovered', 10_000, mark);
    await rig.rec.status(id, { state: 'online' }, 10_000, mark);
  });

  it('another device at the same address (IP reassigned): the old camera goes offline, the new one gets its own id', async () => {
    rig = await startRig(1, { name: 'before' });
    const old = rig.sims[0]!;
    const oldId = idOf(old);
    await rig.startPublisher();
    await rig.rec.status(oldId, { state: 'online' });
    const mark = rig.rec.mark;
    const port = old.port;
    await old.close();
    rig.sims.splice(0, 1);
    const replacement = await rig.addSim({ name: 'after', port });
    const newId = idOf(replacement);
    await rig.rec.waitFor((m) => m.topic === `camera.discovered.${newId}`, 'the new device', 10_000, mark);
    await rig.rec.status(newId, { state: 'online' }, 10_000, mark);
    await rig.rec.status(oldId, { state: 'offline' }, 10_000, mark);
    // Events of the new device carry its id only.
    const later = rig.rec.mark;
    replacement.emit({ kind: 'lineCrossing', objectId: 9 });
    await rig.rec.event(newId, 'line', () => true, 10_000, later);
    expect(rig.rec.of(`camera.event.${oldId}.`, later)).toEqual([]);
  });

  it('a connect that stalls after the camera answered is a camera-fault, not unreachable', async () => {
    rig = await startRig(1, { name: 'stall' });
    const [sim] = rig.sims;
    // The library would wait forever on some cameras' profiles; here GetProfiles just takes too long.
    await sim!.fault('slow', { action: 'GetProfiles', delayMs: 10_000 });
    await rig.startPublisher({ timing: { connectTimeoutMs: 500 } }, [specOf(sim!, { id: 'stalling' })]);
    const err = await rig.rec.status('stalling', { state: 'error' });
    expect(statePayload(err)).toMatchObject({ code: 'camera-fault' });
    expect(statePayload(err).reason).toMatch(/connect did not complete/);
    const mark = rig.rec.mark;
    await sim!.clearFaults();
    await rig.rec.status('stalling', { state: 'online' }, 10_000, mark);
  });
});
