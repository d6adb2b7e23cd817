/**
 * Pull-point events of the simulated camera, through the real `onvif` library and raw SOAP.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  startSimulatedCamera,
  type SimulatedCamera,
  type SimulatedCameraOptions,
} from '../publishers/onvif/simulator/index.js';
import {
  callCount,
  connectCam,
  EventCollector,
  nextCall,
  occurrences,
  rawSoap,
  withTimeout,
  type Cam,
  type NormalisedEvent,
} from './onvif-simulator/helpers.js';

const sims: SimulatedCamera[] = [];
const collectors: EventCollector[] = [];

async function sim(opts: SimulatedCameraOptions = {}): Promise<SimulatedCamera> {
  const s = await startSimulatedCamera(opts);
  sims.push(s);
  return s;
}

/** Starts the library's pull loop; only after connect, or the library kills its own loop. */
function collect(cam: Cam): EventCollector {
  const c = new EventCollector(cam);
  collectors.push(c);
  return c;
}

afterEach(async () => {
  // Listeners first, so the library's loop ends instead of retrying against a closed camera.
  for (const c of collectors.splice(0)) c.stop();
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

const MOTION = 'tns1:RuleEngine/CellMotionDetector/Motion';
const isMotion = (op: string, value: boolean) => (e: NormalisedEvent) =>
  e.topic === MOTION && e.operation === op && e.data['IsMotion'] === value;

describe('pull-point events through the onvif library', () => {
  it('delivers every property as Initialized, then motion start and stop', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    const events = collect(cam);

    const init = await events.waitFor(isMotion('Initialized', false));
    expect(init).toEqual({
      topic: MOTION,
      operation: 'Initialized',
      utcTime: expect.any(Date),
      source: { VideoSourceConfigurationToken: 'VSC_1', VideoAnalyticsConfigurationToken: 'VAC_1', Rule: 'MyMotionDetectorRule' },
      data: { IsMotion: false },
    });
    await events.waitFor((e) => e.topic === 'tns1:Device/Trigger/DigitalInput');
    expect(events.events.map((e) => [e.topic, e.operation])).toEqual([
      [MOTION, 'Initialized'],
      ['tns1:RuleEngine/TamperDetector/Tamper', 'Initialized'],
      ['tns1:RuleEngine/FieldDetector/ObjectsInside', 'Initialized'],
      ['tns1:RuleEngine/ObjectDetector/Object', 'Initialized'],
      ['tns1:Device/Trigger/DigitalInput', 'Initialized'],
    ]);
    // The raw XML the library hands over as the second argument: UtcTime ends in Z.
    expect(events.xml[0]).toMatch(/UtcTime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"/);

    const before = Date.now();
    s.emit({ kind: 'motion', state: true });
    const start = await events.waitFor(isMotion('Changed', true));
    expect((start.utcTime as Date).getTime()).toBeGreaterThanOrEqual(before - 1);
    s.emit({ kind: 'motion', state: false });
    await events.waitFor(isMotion('Changed', false));
    expect(s.stats().activeSubscriptions).toBe(1);
  });

  it('carries every event kind with its topic and items', async () => {
    const s = await sim({ digitalInputs: ['DI_1', 'DI_2'] });
    const cam = await connectCam(s);
    const events = collect(cam);
    await events.waitFor((e) => e.source['InputToken'] === 'DI_2');
    const from = events.events.length;

    s.emit({ kind: 'tamper', state: true });
    s.emit({ kind: 'digitalInput', input: 'DI_2', state: true });
    s.emit({ kind: 'field', state: true, rule: 'Yard' });
    s.emit({ kind: 'lineCrossing', objectId: 7 });
    s.emit({ kind: 'object', state: true, classTypes: ['Human', 'Vehicle'], objectId: 3, likelihood: 0.75 });
    s.emit({ kind: 'custom', topic: 'tnsacme:Doorbell/Pressed', source: { Button: 'front' }, data: { Count: 2, Label: 'ring' } });
    await events.waitFor((e) => e.topic === 'tnsacme:Doorbell/Pressed', 5000, from);

    expect(events.events.slice(from)).toEqual([
      {
        topic: 'tns1:RuleEngine/TamperDetector/Tamper',
        operation: 'Changed',
        utcTime: expect.any(Date),
        source: { VideoSourceConfigurationToken: 'VSC_1', VideoAnalyticsConfigurationToken: 'VAC_1', Rule: 'MyTamperDetectorRule' },
        data: { IsTamper: true },
      },
      {
        topic: 'tns1:Device/Trigger/DigitalInput',
        operation: 'Changed',
        utcTime: expect.any(Date),
        source: { InputToken: 'DI_2' },
        data: { LogicalState: true },
      },
      {
        topic: 'tns1:RuleEngine/FieldDetector/ObjectsInside',
        operation: 'Changed',
        utcTime: expect.any(Date),
        source: { VideoSourceConfigurationToken: 'VSC_1', VideoAnalyticsConfigurationToken: 'VAC_1', Rule: 'Yard' },
        data: { IsInside: true },
      },
      {
        // A pulse, not a property: no PropertyOperation.
        topic: 'tns1:RuleEngine/LineDetector/Crossed',
        operation: undefined,
        utcTime: expect.any(Date),
        source: { VideoSourceConfigurationToken: 'VSC_1', VideoAnalyticsConfigurationToken: 'VAC_1', Rule: 'MyLineDetectorRule' },
        data: { ObjectId: 7 },
      },
      {
        topic: 'tns1:RuleEngine/ObjectDetector/Object',
        operation: 'Changed',
        utcTime: expect.any(Date),
        source: { VideoSourceConfigurationToken: 'VSC_1', VideoAnalyticsConfigurationToken: 'VAC_1', Rule: 'MyObjectDetectorRule' },
        data: { ObjectId: 3, ClassTypes: 'Human Vehicle', Likelihood: 0.75, State: true },
      },
      {
        topic: 'tnsacme:Doorbell/Pressed',
        operation: undefined,
        utcTime: expect.any(Date),
        source: { Button: 'front' },
        data: { Count: 2, Label: 'ring' },
      },
    ]);
  });

  it('replays the current states to a new subscriber and skips unchanged values', async () => {
    const s = await sim();
    s.emit({ kind: 'motion', state: true });
    s.emit({ kind: 'custom', topic: 'tns1:Device/HardwareFailure/StorageFailure', source: { Token: 'SD_1' }, data: { Failed: true }, property: true });
    s.emit({ kind: 'motion', state: true }); // no change, no message
    const cam = await connectCam(s);
    const events = collect(cam);
    const storage = await events.waitFor((e) => e.topic === 'tns1:Device/HardwareFailure/StorageFailure');
    expect(storage).toMatchObject({ operation: 'Initialized', data: { Failed: true } });
    expect(events.events.find((e) => e.topic === MOTION)).toMatchObject({ operation: 'Initialized', data: { IsMotion: true } });
    s.emit({ kind: 'motion', state: true });
    s.emit({ kind: 'motion', state: false });
    await events.waitFor(isMotion('Changed', false));
    expect(events.events.filter((e) => e.topic === MOTION).map((e) => e.data['IsMotion'])).toEqual([true, false]);
  });

  it('runs scripted schedules', async () => {
    const s = await sim({
      // No count: on a loaded machine the first ticks can fire before the subscription exists.
      events: [
        { every: 40, kind: 'motion' },
        { every: 40, event: (n) => ({ kind: 'lineCrossing', objectId: 100 + n }) },
      ],
    });
    const cam = await connectCam(s);
    const events = collect(cam);
    await events.waitFor(isMotion('Changed', true));
    await events.waitFor(isMotion('Changed', false));
    await events.waitFor((e) => e.topic === 'tns1:RuleEngine/LineDetector/Crossed' && Number(e.data['ObjectId']) >= 100);
  });

  it('stops a counted schedule after its count', async () => {
    const ticks: number[] = [];
    await sim({ events: [{ every: 20, count: 3, event: (n) => (ticks.push(n), { kind: 'lineCrossing', objectId: n }) }] });
    await new Promise((r) => setTimeout(r, 300));
    expect(ticks).toEqual([0, 1, 2]);
  });

  it('drops subscriptions on reboot; the library re-subscribes and gets Initialized again', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    const events = collect(cam);
    const errors: unknown[] = [];
    cam.on('eventsError', (e: unknown) => errors.push(e));
    await events.waitFor(isMotion('Initialized', false));
    s.emit({ kind: 'motion', state: true });
    await events.waitFor(isMotion('Changed', true));
    await callCount(s, 'PullMessages', 3); // the next pull is waiting

    const resubscribed = callCount(s, 'CreatePullPointSubscription', 2);
    const from = events.events.length;
    await s.reboot();
    await resubscribed;
    // Reboot reset the states: motion comes back as Initialized false.
    await events.waitFor(isMotion('Initialized', false), 5000, from);
    // The dropped pull and the pull on the forgotten subscription both surfaced as errors.
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(errors.map(String).join('\n')).toContain('ONVIF SOAP Fault: The subscription does not exist');
    expect(s.stats()).toMatchObject({ reboots: 1, activeSubscriptions: 1 });
    s.emit({ kind: 'motion', state: true });
    await events.waitFor(isMotion('Changed', true), 5000, from);
  });

  it('reboots on SystemReboot after answering', async () => {
    const s = await sim();
    const cam = await connectCam(s);
    const events = collect(cam);
    await events.waitFor((e) => e.topic === 'tns1:Device/Trigger/DigitalInput');
    const resubscribed = callCount(s, 'CreatePullPointSubscription', 2);
    const msg = await withTimeout(
      new Promise<string>((resolve, reject) => cam.systemReboot((err, m) => (err ? reject(err) : resolve(m as string)))),
      5000,
      'systemReboot',
    );
    expect(msg).toBe('Rebooting now');
    await resubscribed;
    expect(s.stats().reboots).toBe(1);
  });

  it('unsubscribes when the last listener goes, once the pull in flight returns', async () => {
    const s = await sim({ pullTimeoutCapMs: 200 });
    const cam = await connectCam(s);
    const events = collect(cam);
    await events.waitFor((e) => e.topic === 'tns1:Device/Trigger/DigitalInput');
    const unsubscribed = nextCall(s, 'Unsubscribe');
    events.stop();
    await unsubscribed;
    expect(s.stats().activeSubscriptions).toBe(0);
  });

  it('close() returns at once with a long poll in flight', async () => {
    const s = await sim(); // pulls may wait the full minute the library asks for
    const cam = await connectCam(s);
    const events = collect(cam);
    await events.waitFor((e) => e.topic === 'tns1:Device/Trigger/DigitalInput');
    await callCount(s, 'PullMessages', 2);
    expect(s.stats().pendingPulls).toBe(1);
    const errored = new Promise<unknown>((resolve) => cam.once('eventsError', resolve));
    events.stop();
    const t0 = Date.now();
    await s.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    // The library saw its pull cut off (and, with no listener left, stops retrying).
    expect(String(await withTimeout(errored, 2000, 'eventsError'))).toMatch(/socket hang up|ECONNRESET/);
  });
});

describe('pull points over raw SOAP', () => {
  const EV = 'xmlns="http://www.onvif.org/ver10/events/wsdl"';
  const WSN = 'xmlns="http://docs.oasis-open.org/wsn/b-2"';

  async function subscribe(s: SimulatedCamera, filter?: string): Promise<string> {
    const f = filter
      ? `<Filter><TopicExpression xmlns="http://docs.oasis-open.org/wsn/b-2" Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${filter}</TopicExpression></Filter>`
      : '';
    const r = await rawSoap(
      `http://127.0.0.1:${s.port}/onvif/events_service`,
      `<CreatePullPointSubscription ${EV}>${f}<InitialTerminationTime>PT10S</InitialTerminationTime></CreatePullPointSubscription>`,
      s,
    );
    expect(r.status).toBe(200);
    const address = /<wsa:Address>([^<]+)<\/wsa:Address>/.exec(r.text)?.[1];
    expect(address).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${s.port}/onvif/subscription/[0-9a-f]+$`));
    return address ?? '';
  }

  const pull = (s: SimulatedCamera, address: string, timeout = 'PT0S', limit = 100) =>
    rawSoap(address, `<PullMessages ${EV}><Timeout>${timeout}</Timeout><MessageLimit>${limit}</MessageLimit></PullMessages>`, s);

  it('filters by topic, resynchronises, and forgets an unsubscribed pull point', async () => {
    const s = await sim();
    const address = await subscribe(s, 'tns1:RuleEngine/CellMotionDetector//.|tns1:Device/Trigger/DigitalInput');
    const first = await pull(s, address);
    expect(occurrences(first.text, '<wsnt:NotificationMessage>')).toBe(2);
    expect(first.text).toContain('PropertyOperation="Initialized"');

    s.emit({ kind: 'tamper', state: true });
    s.emit({ kind: 'motion', state: true });
    const second = await pull(s, address);
    expect(occurrences(second.text, '<wsnt:NotificationMessage>')).toBe(1);
    expect(second.text).toContain('>tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>');
    expect(second.text).toContain('<tt:SimpleItem Name="IsMotion" Value="true"/>');

    const sync = await rawSoap(address, `<SetSynchronizationPoint ${EV}/>`, s);
    expect(sync.status).toBe(200);
    const third = await pull(s, address);
    expect(occurrences(third.text, 'PropertyOperation="Initialized"')).toBe(2);

    const renew = await rawSoap(address, `<Renew ${WSN}><TerminationTime>PT1M</TerminationTime></Renew>`, s);
    expect(renew.text).toMatch(/<wsnt:TerminationTime>[^<]+Z<\/wsnt:TerminationTime>/);
    expect((await rawSoap(address, `<Unsubscribe ${WSN}/>`, s)).status).toBe(200);
    const gone = await pull(s, address);
    expect(gone.status).toBe(400);
    expect(gone.text).toContain('The subscription does not exist');
  });

  it('long-polls up to the requested timeout, capped by the camera', async () => {
    const s = await sim({ pullTimeoutCapMs: 150 });
    const address = await subscribe(s, 'tns1:RuleEngine/LineDetector//.');
    let t0 = Date.now();
    const empty = await pull(s, address, 'PT0.05S');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(45);
    expect(empty.text).toContain('<tev:PullMessagesResponse>');
    expect(empty.text).not.toContain('NotificationMessage');
    t0 = Date.now();
    await pull(s, address, 'PT1M');
    const waited = Date.now() - t0;
    expect(waited).toBeGreaterThanOrEqual(140);
    expect(waited).toBeLessThan(1000);

    // An event ends a waiting pull at once.
    const waiting = pull(s, address, 'PT1M');
    await callCount(s, 'PullMessages', 3);
    s.emit({ kind: 'lineCrossing', objectId: 1 });
    expect(occurrences((await waiting).text, '<wsnt:NotificationMessage>')).toBe(1);
  });

  it('describes its topics in GetEventProperties', async () => {
    const s = await sim();
    s.emit({ kind: 'custom', topic: 'tnsacme:Doorbell/Pressed', data: { Count: 1 } });
    const r = await rawSoap(`http://127.0.0.1:${s.port}/onvif/events_service`, `<GetEventProperties ${EV}/>`, s);
    expect(r.status).toBe(200);
    expect(r.text).toContain('<tns1:RuleEngine><CellMotionDetector><Motion wstop:topic="true"><tt:MessageDescription IsProperty="true">');
    expect(r.text).toContain('<tt:SimpleItemDescription Name="IsMotion" Type="xs:boolean"/>');
    expect(r.text).toContain('<tnsacme:Doorbell xmlns:tnsacme="urn:udsbus:simulator:tnsacme"><Pressed wstop:topic="true">');
  });

  it('rejects a pull on the events service address', async () => {
    const s = await sim();
    const r = await pull(s, `http://127.0.0.1:${s.port}/onvif/events_service`);
    expect(r.status).toBe(400);
    expect(r.text).toContain('must be sent to a subscription address');
  });
});
