/**
 * Recorder and alerting honour `ended` and `late` on the payloads the publisher really produces:
 * catalogue fixtures (real vendors' notifications) parsed by the real `onvif` library and
 * normalised, then fed to the recorder's trigger classification and to an alerting rule.
 */
import onvif from 'onvif';
import { describe, expect, it } from 'vitest';
import { normalizeNotification } from '../publishers/onvif/normalize.js';
import { notificationXml } from '../publishers/onvif/simulator/events/notification-xml.js';
import { VENDOR_FIXTURES } from '../publishers/onvif/simulator/fixtures/vendors.js';
import type { CameraEvent } from '../schemas/payloads.js';
import { RuleEngine, type Emitted } from '../subscribers/alerting/engine.js';
import { ManualClock } from '../subscribers/common/clock.js';
import { classify } from '../subscribers/recording/triggers.js';

const cam = new onvif.Cam({ hostname: '127.0.0.1', autoconnect: false });
const ENABLED = { motion: true, field: true, object: true, line: true, input: true, tamper: true };

/** A fixture as the publisher would publish it, received `ageMs` after its (rewritten) time. */
async function published(id: string, ageMs = 0): Promise<{ topic: string; ev: CameraEvent }> {
  const f = VENDOR_FIXTURES.find((x) => x.id === id)!;
  const received = new Date('2026-12-06T12:00:00Z');
  const xml = notificationXml({
    topic: f.topic,
    source: Object.entries(f.sourceItems),
    data: Object.entries(f.data),
    property: f.property,
    operation: f.property ? (f.operation ?? 'Changed') : undefined,
    utcTime: new Date(received.getTime() - ageMs),
  });
  const envelope =
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">' +
    `<s:Body><wsnt:Notify>${xml}</wsnt:Notify></s:Body></s:Envelope>`;
  const raw = await new Promise<unknown>((resolve, reject) =>
    cam.parseEventXML(envelope, (err: unknown, r: unknown) => (err ? reject(err) : resolve(Array.isArray(r) ? r[0] : r))),
  );
  const { kind, payload } = normalizeNotification(raw, 'cam-1', { receivedAt: received });
  return { topic: `camera.event.cam-1.${kind}`, ev: payload };
}

describe('recorder triggers', () => {
  it('a detection opens or extends a session; its end (Tapo IsPeople=false, IsLineCross=false, AJAX empty ClassTypes) does not', async () => {
    for (const [start, end] of [
      ['tapo-people', 'tapo-people-ended'],
      ['tapo-line-cross', 'tapo-line-cross-ended'],
      ['ajax-object-human', 'ajax-object-ended'],
    ] as const) {
      const s = await published(start);
      expect(classify(s.topic, s.ev, ENABLED, s.ev.receivedAt).type, start).toBe('pulse');
      const e = await published(end);
      expect(e.ev.ended, end).toBe(true);
      expect(classify(e.topic, e.ev, ENABLED, e.ev.receivedAt).type, end).toBe('none');
    }
  });

  it('motion holds and releases as before; a late replay triggers nothing', async () => {
    const live = await published('hikvision-cell-motion');
    expect(classify(live.topic, live.ev, ENABLED, live.ev.receivedAt)).toMatchObject({ type: 'hold', active: true });
    const late = await published('hikvision-cell-motion', 10 * 60_000);
    expect(late.ev.late).toBe(true);
    expect(classify(late.topic, late.ev, ENABLED, late.ev.receivedAt).type).toBe('none');
  });
});

describe('alerting', () => {
  function engine(when?: { path: string; equals: unknown }[]) {
    const sent: Emitted[] = [];
    const e = new RuleEngine(
      { id: 'person', topic: 'camera.event.*.object', ...(when !== undefined ? { when } : {}) },
      { clock: new ManualClock(), emit: (x) => void sent.push(x) },
    );
    return { e, sent };
  }

  it('raises no live alarm for ended states or late replays', async () => {
    const { e, sent } = engine([{ path: 'classes', equals: ['person'] }]);
    const start = await published('tapo-people');
    const end = await published('tapo-people-ended');
    const late = await published('tapo-people', 5 * 60_000);
    expect(e.handle(start.topic, start.ev)).toBe('sent');
    expect(e.handle(end.topic, end.ev)).toBe('ended');
    expect(e.handle(late.topic, late.ev)).toBe('late');
    expect(sent).toHaveLength(1);
  });

  it('a rule that names ended or late in its conditions gets those events', async () => {
    const { e } = engine([{ path: 'ended', equals: true }]);
    const end = await published('tapo-people-ended');
    expect(e.handle(end.topic, end.ev)).toBe('sent');
    const { e: history } = engine([{ path: 'late', equals: true }]);
    const late = await published('tapo-people', 5 * 60_000);
    expect(history.handle(late.topic, late.ev)).toBe('sent');
  });
});
