/**
 * The vendor-agnostic event mapping over the fixture catalogue of real vendors' notifications
 * (publishers/onvif/simulator/fixtures/vendors.ts). Each fixture is rendered by the simulator's
 * own NotificationMessage writer and parsed by the real `onvif` library (`cam.parseEventXML`),
 * so what is mapped is what the library hands the publisher. Every payload is also checked
 * against the JSON Schema of the topic it would be published on.
 */
import onvif from 'onvif';
import { describe, expect, it } from 'vitest';
import { EVENT_RULES, kindOfTopic, normalizeClass, toBool, topicPath } from '../publishers/onvif/event-map.js';
import { normalizeNotification, type NormalizeOptions } from '../publishers/onvif/normalize.js';
import { notificationXml } from '../publishers/onvif/simulator/events/notification-xml.js';
import { VENDOR_FIXTURES, type VendorFixture } from '../publishers/onvif/simulator/fixtures/vendors.js';
import { topics, validatorFor } from '../schemas/index.js';

const cam = new onvif.Cam({ hostname: '127.0.0.1', autoconnect: false });

function envelope(messages: string): string {
  return (
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">' +
    `<s:Body><wsnt:Notify>${messages}</wsnt:Notify></s:Body></s:Envelope>`
  );
}

function parse(xml: string): Promise<unknown> {
  return new Promise((resolve, reject) =>
    cam.parseEventXML(envelope(xml), (err: unknown, r: unknown) => (err ? reject(err) : resolve(Array.isArray(r) ? r[0] : r))),
  );
}

function fixtureXml(f: VendorFixture, utcTime = f.utcTime): string {
  return notificationXml({
    topic: f.topic,
    source: Object.entries(f.sourceItems),
    data: Object.entries(f.data),
    property: f.property,
    operation: f.property ? (f.operation ?? 'Changed') : undefined,
    utcTime: new Date(0),
    rawUtcTime: utcTime,
  });
}

/** The library turns `…Z` texts into Dates (an invalid one for 0000-00-00); others stay text. */
function asKept(utcTime: string): string | undefined {
  if (!/Z$/.test(utcTime)) return utcTime;
  const d = new Date(utcTime);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

async function normalizeFixture(f: VendorFixture, opts: NormalizeOptions = {}) {
  const raw = await parse(fixtureXml(f));
  const n = normalizeNotification(raw, 'cam-1', { receivedAt: new Date(), ...opts });
  const check = validatorFor(topics.cameraEvent('cam-1', n.kind))!(n.payload);
  expect(check.ok ? [] : check.errors, `${f.id} schema`).toEqual([]);
  return n;
}

describe('vendor fixture catalogue', () => {
  it('covers every vendor named in issue 17, each fixture citing its public source', () => {
    const vendors = new Set(VENDOR_FIXTURES.map((f) => f.vendor));
    for (const v of ['Hikvision', 'Dahua/Amcrest', 'Axis', 'Hanwha', 'Uniview', 'Reolink', 'Tapo', 'Bosch', 'AJAX'] as const) expect(vendors).toContain(v);
    const ids = new Set<string>();
    for (const f of VENDOR_FIXTURES) {
      expect(f.source, f.id).toMatch(/^https:\/\/github\.com\//);
      expect(ids.has(f.id), `duplicate id ${f.id}`).toBe(false);
      ids.add(f.id);
    }
    expect(VENDOR_FIXTURES.length).toBeGreaterThanOrEqual(40);
  });

  for (const f of VENDOR_FIXTURES) {
    it(`${f.vendor}: ${f.id} → ${f.expect.kind}`, async () => {
      const { kind, payload } = await normalizeFixture(f);
      expect(kind).toBe(f.expect.kind);
      const p = payload as Record<string, unknown>;
      expect({ ended: p['ended'], pulse: p['pulse'] }).toEqual({ ended: f.expect.ended, pulse: f.expect.pulse });
      expect(p['onvifTopic']).toBe(f.topic);
      expect(p['initial']).toBe(f.expect.initial ?? false);
      for (const field of ['active', 'inside', 'classes', 'input', 'metric', 'videoSource', 'timeIssue'] as const) {
        if (f.expect[field] !== undefined) expect(p[field], `${f.id}.${field}`).toEqual(f.expect[field]);
      }
      if (f.expect.pulse) expect(p).not.toHaveProperty('active');
      // The camera's time is kept uncorrected: as sent, or as the library's Date when it made one.
      expect(p['cameraTime']).toBe(asKept(f.utcTime));
    });
  }
});

describe('mapping table', () => {
  it('compares topics without namespace prefixes and in any case', () => {
    expect(topicPath('tns1:Device/tnsaxis:IO/Port')).toBe('Device/IO/Port');
    expect(kindOfTopic('tns1:Device/tnsaxis:IO/Port')).toBe('input');
    expect(kindOfTopic('TNS1:ruleengine/cellmotiondetector/MOTION')).toBe('motion');
    expect(kindOfTopic('tns1:RuleEngine/tpsmarteventdetector/tpsmartevent')).toBe('object');
  });

  it('does not take Tapo detections nested under CellMotionDetector for motion', () => {
    expect(kindOfTopic('tns1:RuleEngine/CellMotionDetector/People')).toBe('object');
    expect(kindOfTopic('tns1:RuleEngine/CellMotionDetector/LineCross')).toBe('line');
    expect(kindOfTopic('tns1:RuleEngine/CellMotionDetector/Intrusion')).toBe('field');
    expect(kindOfTopic('tns1:RuleEngine/CellMotionDetector/Tamper')).toBe('tamper');
    expect(kindOfTopic('tns1:RuleEngine/CellMotionDetector/Motion')).toBe('motion');
  });

  it('maps alarm inputs, doorbells, relays, storage and health; unknown topics stay other', () => {
    expect(kindOfTopic('tns1:Device/tnshik:AlarmIn')).toBe('input');
    expect(kindOfTopic('tns1:Device/tnsaxis:IO/VirtualInput')).toBe('input');
    expect(kindOfTopic('tns1:RuleEngine/MyRuleDetector/Visitor')).toBe('doorbell');
    expect(kindOfTopic('tns1:Device/Trigger/Relay')).toBe('relay');
    expect(kindOfTopic('tns1:Device/HardwareFailure/StorageFailure')).toBe('storage');
    expect(kindOfTopic('tns1:Device/HardwareFailure/FanFailure')).toBe('health');
    expect(kindOfTopic('tns1:Monitoring/ProcessorUsage')).toBe('health');
    expect(kindOfTopic('tns1:RecordingConfig/JobState')).toBe('health');
    expect(kindOfTopic('tns1:Monitoring/OperatingTime/LastReboot')).toBe('health');
    expect(kindOfTopic('tns1:VideoSource/tnsaxis:DayNightVision')).toBe('other');
    expect(kindOfTopic('tns1:PTZController/tnsaxis:Move/Channel_1')).toBe('other');
  });

  it('reads states as booleans from every spelling vendors use', () => {
    for (const t of [true, 1, 'true', 'TRUE', '1', 'active', 'ON']) expect(toBool(t)).toBe(true);
    for (const f of [false, 0, 'false', '0', 'inactive', 'OFF']) expect(toBool(f)).toBe(false);
    for (const x of [2, '', 'maybe', undefined, null]) expect(toBool(x)).toBeUndefined();
  });

  it('normalises class words', () => {
    expect(['Human', 'people', 'Person', 'pedestrian'].map(normalizeClass)).toEqual(['person', 'person', 'person', 'person']);
    expect(['Vehicle', 'Car', 'LicensePlate'].map(normalizeClass)).toEqual(['vehicle', 'vehicle', 'vehicle']);
    expect(['Dog', 'Pet', 'DogCat', 'Face', 'Parcel', 'Bird'].map(normalizeClass)).toEqual(['animal', 'animal', 'animal', 'face', 'package', 'bird']);
  });

  it('has a unique id per rule, and every mapped kind is reached by some fixture', () => {
    expect(new Set(EVENT_RULES.map((r) => r.id)).size).toBe(EVENT_RULES.length);
    const fixtureKinds = new Set(VENDOR_FIXTURES.map((f) => f.expect.kind));
    for (const r of EVENT_RULES) if (r.kind !== 'health') expect(fixtureKinds, r.id).toContain(r.kind);
  });

  it('a stateful kind whose state item is missing is other, not a guess', async () => {
    const raw = await parse(
      notificationXml({ topic: 'tns1:RuleEngine/CellMotionDetector/Motion', source: [['Rule', 'R']], data: [['Sensitivity', 'high']], property: true, operation: 'Changed', utcTime: new Date() }),
    );
    expect(normalizeNotification(raw, 'cam-1').kind).toBe('other');
  });

  it('reads a recording job state (Active/Idle) as a health state', async () => {
    for (const [value, active] of [['Active', true], ['Idle', false]] as const) {
      const raw = await parse(
        notificationXml({ topic: 'tns1:RecordingConfig/JobState', source: [['RecordingJobToken', 'Job_1']], data: [['State', value]], property: true, operation: 'Changed', utcTime: new Date() }),
      );
      expect(normalizeNotification(raw, 'cam-1').payload).toMatchObject({ kind: 'health', metric: 'recording-job', active, ended: !active, pulse: false });
    }
  });

  it('a property Deleted ends the state', async () => {
    const raw = await parse(
      notificationXml({ topic: 'tns1:RuleEngine/FieldDetector/ObjectsInside', source: [['Rule', 'R']], data: [['IsInside', 'true']], property: true, operation: 'Deleted', utcTime: new Date() }),
    );
    expect(normalizeNotification(raw, 'cam-1').payload).toMatchObject({ kind: 'field', inside: false, ended: true, operation: 'deleted' });
  });
});

describe('event time', () => {
  const motion = VENDOR_FIXTURES.find((f) => f.id === 'hikvision-cell-motion')!;
  const at = (iso: string) => ({ ...motion, utcTime: iso });

  it('corrects the camera time by the measured clock offset and keeps the time as sent', async () => {
    const received = new Date('2026-12-06T12:00:05Z');
    // The camera clock is 3 h ahead: it says 15:00:04 for an event at 12:00:04.
    const { payload } = await normalizeFixture(at('2026-12-06T15:00:04Z'), { receivedAt: received, clockOffsetMs: 3 * 3600_000 });
    expect(payload).toMatchObject({ time: '2026-12-06T12:00:04.000Z', cameraTime: '2026-12-06T15:00:04.000Z' });
    expect(payload).not.toHaveProperty('late');
    expect(payload).not.toHaveProperty('timeIssue');
  });

  it('reports invalid and clockless dates instead of dropping them, using the receive time', async () => {
    const received = new Date('2026-12-06T12:00:05Z');
    const zero = await normalizeFixture(at('0000-00-00T00:00:00Z'), { receivedAt: received });
    expect(zero.payload).toMatchObject({ time: received.toISOString(), timeIssue: 'invalid' });
    const epoch = await normalizeFixture(at('1970-01-01T00:00:12'), { receivedAt: received });
    expect(epoch.payload).toMatchObject({ time: received.toISOString(), cameraTime: '1970-01-01T00:00:12', timeIssue: 'out-of-range' });
    // A camera clock with no RTC that restarted at 1970 gives no false "late" either.
    expect(epoch.payload).not.toHaveProperty('late');
  });

  it('marks events older than the grace window as late, but not Initialized states', async () => {
    const received = new Date('2026-12-06T12:10:00Z');
    const old = await normalizeFixture(at('2026-12-06T12:05:00Z'), { receivedAt: received, lateAfterMs: 60_000 });
    expect(old.payload).toMatchObject({ late: true, time: '2026-12-06T12:05:00.000Z' });
    const fresh = await normalizeFixture(at('2026-12-06T12:09:30Z'), { receivedAt: received, lateAfterMs: 60_000 });
    expect(fresh.payload).not.toHaveProperty('late');
    const init = VENDOR_FIXTURES.find((f) => f.id === 'axis-vmd3')!;
    const replayedState = await normalizeFixture({ ...init, utcTime: '2026-12-06T11:00:00Z' }, { receivedAt: received });
    expect(replayedState.payload).not.toHaveProperty('late');
  });

  it('maps VideoSourceConfiguration tokens to the video source of the profiles', async () => {
    const f = VENDOR_FIXTURES.find((x) => x.id === 'hikvision-field-detector')!;
    const { payload } = await normalizeFixture(f, { videoSources: new Map([['VideoSourceToken', 'VideoSource_1']]) });
    expect(payload).toMatchObject({ videoSource: 'VideoSource_1' });
  });
});
