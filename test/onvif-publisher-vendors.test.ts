/**
 * Real vendors' notifications end to end: the simulator serves every fixture of the catalogue
 * (publishers/onvif/simulator/fixtures/vendors.ts) over real SOAP/HTTP on 127.0.0.1, the real
 * `onvif` library in the publisher pulls them, and what reaches the bus is checked against the
 * fixture's expectation and the topic's schema (the recorder validates every message).
 * Also: the camera clock offset applied to event times, late replays, and NVR channels.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Message } from '../bus/client/client.js';
import { fixtureEvent, VENDOR_FIXTURES, type VendorFixture } from '../publishers/onvif/simulator/fixtures/vendors.js';
import { idOf, startRig, type Rig } from './onvif-publisher/helpers.js';

let rig: Rig | undefined;

afterEach(async () => {
  await rig?.close();
  rig = undefined;
});

/** The library turns `…Z` texts into Dates (an invalid one for 0000-00-00); others stay text. */
function asKept(utcTime: string): string | undefined {
  if (!/Z$/.test(utcTime)) return utcTime;
  const d = new Date(utcTime);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

function isFixture(m: Message, id: string, f: VendorFixture): boolean {
  const p = m.payload as Record<string, unknown> | undefined;
  return (
    m.topic.startsWith(`camera.event.${id}.`) &&
    p !== undefined &&
    p['onvifTopic'] === f.topic &&
    p['cameraTime'] === asKept(f.utcTime) &&
    Object.keys(f.sourceItems).every((k) => String(p['source'] && (p['source'] as Record<string, unknown>)[k]) === String(f.sourceItems[k]))
  );
}

describe('onvif publisher with real vendors\' notifications', () => {
  it('maps every fixture of the catalogue, served by the simulator through pull-point', async () => {
    rig = await startRig(1, { name: 'vendors' });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher();
    await rig.rec.status(id, { state: 'online' });
    const from = rig.rec.mark;
    for (const f of VENDOR_FIXTURES) sim!.emit(fixtureEvent(f));

    for (const f of VENDOR_FIXTURES) {
      const m = await rig.rec.waitFor((x) => isFixture(x, id, f), `fixture ${f.id}`, 10_000, from);
      const p = m.payload as Record<string, unknown>;
      expect(m.topic, f.id).toBe(`camera.event.${id}.${f.expect.kind}`);
      expect({ id: f.id, ended: p['ended'], pulse: p['pulse'], initial: p['initial'] }).toEqual({
        id: f.id,
        ended: f.expect.ended,
        pulse: f.expect.pulse,
        initial: f.expect.initial ?? false,
      });
      for (const field of ['active', 'inside', 'classes', 'input', 'metric', 'videoSource', 'timeIssue'] as const) {
        if (f.expect[field] !== undefined) expect(p[field], `${f.id}.${field}`).toEqual(f.expect[field]);
      }
      // The fixtures' times are months or years old: a live event would be late, unless it is a
      // state snapshot (Initialized) or carries no usable time (then its time is the receive time).
      const expectLate = !(f.expect.initial ?? false) && f.expect.timeIssue === undefined;
      expect(p['late'] === true, `${f.id}.late`).toBe(expectLate);
    }
    expect(rig.rec.invalid).toEqual([]);
  });

  it('corrects event times by the camera clock offset measured at connect; cameraTime stays as sent', async () => {
    const threeHours = 3 * 3600_000;
    rig = await startRig(1, { name: 'fast-clock', clockOffsetMs: threeHours });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher();
    await rig.rec.status(id, { state: 'online' });
    const from = rig.rec.mark;
    sim!.emit({ kind: 'motion', state: true });
    const m = await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false, 10_000, from);
    const p = m.payload as Record<string, string>;
    const received = Date.parse(p['receivedAt']!);
    expect(Math.abs(Date.parse(p['time']!) - received)).toBeLessThan(5_000);
    expect(Date.parse(p['cameraTime']!) - received).toBeGreaterThan(threeHours - 5_000);
    expect(p).not.toHaveProperty('late');
    expect(p).not.toHaveProperty('timeIssue');
  });

  it('one publisher serves a 16-channel NVR: events and profiles name their channel', async () => {
    const videoSources = Array.from({ length: 16 }, (_, i) => ({ token: `Channel_${i + 1}`, width: 1920, height: 1080, framerate: 25 }));
    rig = await startRig(1, {
      name: 'nvr',
      ptz: false,
      videoSources,
      profiles: videoSources.map((v, i) => ({ token: `Profile_${i + 1}01`, name: `ch${i + 1}-main`, videoSource: v.token })),
    });
    const [sim] = rig.sims;
    const id = idOf(sim!);
    await rig.startPublisher();
    const discovered = await rig.rec.waitFor((m) => m.topic === `camera.discovered.${id}`, 'camera.discovered');
    expect((discovered.payload as { profiles: unknown[] }).profiles).toEqual(
      videoSources.map((v, i) => expect.objectContaining({ token: `Profile_${i + 1}01`, videoSource: v.token, videoSourceConfiguration: `VSC_${i + 1}` })),
    );
    await rig.rec.status(id, { state: 'online' });
    const from = rig.rec.mark;
    for (const v of videoSources) sim!.emit({ kind: 'motion', state: true, videoSource: v.token });
    // Events name the source configuration (VSC_n); the publisher maps it to the channel.
    for (const [i, v] of videoSources.entries()) {
      const m = await rig.rec.event(id, 'motion', (p) => p['active'] === true && p['initial'] === false && p['videoSource'] === v.token, 10_000, from);
      expect(m.payload).toMatchObject({ source: { VideoSourceConfigurationToken: `VSC_${i + 1}` } });
    }
    expect(rig.rec.of(`camera.event.${id}.motion`, from).filter((m) => (m.payload as { active?: boolean }).active === true)).toHaveLength(16);
  });
});
