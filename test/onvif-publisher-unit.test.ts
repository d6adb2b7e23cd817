/**
 * The publisher's pure parts: notification normalisation (fed by the real library's own parser,
 * `cam.parseEventXML`, with shapes real cameras send), error classification, the configuration
 * file and `--camera` URLs.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onvif from 'onvif';
import { afterAll, describe, expect, it } from 'vitest';
import {
  cameraFromUrl,
  classify,
  ConfigError,
  kindOfTopic,
  loadConfig,
  normalizeNotification,
  parseConfig,
  toTarget,
} from '../publishers/onvif/index.js';
import { FAULT_INFO } from '../publishers/onvif/errors.js';
import { faultSubcodes, soapAction } from '../publishers/onvif/onvif-lib.js';
import { topics, validatorFor } from '../schemas/index.js';

const cam = new onvif.Cam({ hostname: '127.0.0.1', autoconnect: false });

/** A Notify envelope holding the given NotificationMessages, parsed by the library. */
function parse(messages: string): Promise<unknown[]> {
  const xml =
    '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tt="http://www.onvif.org/ver10/schema" xmlns:tns1="http://www.onvif.org/ver10/topics">' +
    `<s:Body><wsnt:Notify>${messages}</wsnt:Notify></s:Body></s:Envelope>`;
  return new Promise((resolve, reject) =>
    cam.parseEventXML(xml, (err: unknown, r: unknown) => (err ? reject(err) : resolve(Array.isArray(r) ? r : [r]))),
  );
}

function msg(topic: string, attrs: string, inner: string): string {
  return (
    `<wsnt:NotificationMessage><wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">${topic}</wsnt:Topic>` +
    `<wsnt:Message><tt:Message ${attrs}>${inner}</tt:Message></wsnt:Message></wsnt:NotificationMessage>`
  );
}

const item = (name: string, value: string) => `<tt:SimpleItem Name="${name}" Value="${value}"/>`;
const RECEIVED = new Date('2024-05-01T12:00:00.500Z');

/** Normalises and checks the payload against the schema of the topic it would be published on. */
function norm(raw: unknown, id = 'cam-1') {
  const n = normalizeNotification(raw, id, RECEIVED);
  const check = validatorFor(topics.cameraEvent(id, n.kind))!(n.payload);
  expect(check.ok ? [] : check.errors).toEqual([]);
  return n;
}

describe('normalizeNotification', () => {
  it('maps the common topics to their kinds, with the schema fields', async () => {
    const [motion, alarm, tamper, scene, input, field, line, obj] = await parse(
      msg('tns1:RuleEngine/CellMotionDetector/Motion', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source>${item('VideoSourceConfigurationToken', 'VSC')}${item('Rule', 'MyMotionDetectorRule')}</tt:Source><tt:Data>${item('IsMotion', 'true')}</tt:Data>`) +
      msg('tns1:VideoSource/MotionAlarm', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Initialized"',
        `<tt:Source>${item('Source', 'VS_1')}</tt:Source><tt:Data>${item('State', 'false')}</tt:Data>`) +
      msg('tns1:RuleEngine/TamperDetector/Tamper', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source>${item('VideoSourceConfigurationToken', 'VSC')}</tt:Source><tt:Data>${item('IsTamper', 'true')}</tt:Data>`) +
      msg('tns1:VideoSource/GlobalSceneChange/ImagingService', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source>${item('Source', 'VS_1')}</tt:Source><tt:Data>${item('State', 'true')}</tt:Data>`) +
      msg('tns1:Device/Trigger/DigitalInput', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source>${item('InputToken', '1')}</tt:Source><tt:Data>${item('LogicalState', 'true')}</tt:Data>`) +
      msg('tns1:RuleEngine/FieldDetector/ObjectsInside', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source>${item('Rule', 'Driveway')}</tt:Source><tt:Data>${item('IsInside', 'true')}</tt:Data>`) +
      msg('tns1:RuleEngine/LineDetector/Crossed', 'UtcTime="2024-05-01T12:00:00Z"',
        `<tt:Source>${item('Rule', 'Gate')}</tt:Source><tt:Data>${item('ObjectId', '17')}</tt:Data>`) +
      msg('tns1:RuleEngine/MyRuleDetector/PeopleDetect', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source>${item('Rule', 'People')}</tt:Source><tt:Key>${item('ObjectId', '3')}</tt:Key><tt:Data>${item('State', 'true')}${item('ClassTypes', 'Human')}</tt:Data>`),
    );
    expect(norm(motion).payload).toMatchObject({ kind: 'motion', active: true, operation: 'changed', initial: false, source: { Rule: 'MyMotionDetectorRule' } });
    expect(norm(alarm).payload).toMatchObject({ kind: 'motion', active: false, operation: 'initialized', initial: true });
    expect(norm(tamper).payload).toMatchObject({ kind: 'tamper', active: true });
    expect(norm(scene).payload).toMatchObject({ kind: 'tamper', active: true });
    // The library turns "1" into 1; the input token is text again.
    expect(norm(input).payload).toMatchObject({ kind: 'input', input: '1', active: true, source: { InputToken: 1 } });
    expect(norm(field).payload).toMatchObject({ kind: 'field', rule: 'Driveway', inside: true });
    const l = norm(line).payload;
    expect(l).toMatchObject({ kind: 'line', rule: 'Gate', objectId: '17', initial: false });
    expect(l).not.toHaveProperty('operation');
    // The class named by the topic (Reolink PeopleDetect), normalised.
    expect(norm(obj).payload).toMatchObject({ kind: 'object', rule: 'People', active: true, ended: false, classes: ['person'], objectId: '3', key: { ObjectId: 3 } });
  });

  it('falls back to kind other when the kind-specific value is missing, and keeps everything raw', async () => {
    const [noState, vendor, deleted] = await parse(
      msg('tns1:RuleEngine/CellMotionDetector/Motion', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"', '<tt:Source/><tt:Data/>') +
      msg('tnsaxis:CameraApplicationPlatform/VMD/Camera1Profile1', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source/><tt:Data>${item('active', '1')}</tt:Data>`) +
      msg('tns1:Device/HardwareFailure/StorageFailure', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Deleted"',
        `<tt:Source>${item('Token', 'SD_1')}</tt:Source><tt:Data/>`),
    );
    expect(norm(noState).payload).toMatchObject({ kind: 'other', onvifTopic: 'tns1:RuleEngine/CellMotionDetector/Motion', source: {}, data: {} });
    // Axis VMD4 is motion (0/1 under a lower-case name); a Deleted property ends its state.
    expect(norm(vendor).payload).toMatchObject({ kind: 'motion', active: true, data: { active: 1 } });
    expect(norm(deleted).payload).toMatchObject({ kind: 'storage', active: false, ended: true, operation: 'deleted', initial: false, source: { Token: 'SD_1' } });
  });

  it('normalises times: UTC without zone, offsets, and bogus clocks (receive time)', async () => {
    const [noZone, offset, zero, epoch] = await parse(
      msg('tns1:Device/Trigger/DigitalInput', 'UtcTime="2024-05-01T12:00:00" PropertyOperation="Changed"', `<tt:Source>${item('InputToken', 'IN1')}</tt:Source><tt:Data>${item('LogicalState', 'false')}</tt:Data>`) +
      msg('tns1:Device/Trigger/DigitalInput', 'UtcTime="2024-05-01T14:00:00+02:00" PropertyOperation="Changed"', `<tt:Source>${item('InputToken', 'IN1')}</tt:Source><tt:Data>${item('LogicalState', 'false')}</tt:Data>`) +
      msg('tns1:Device/Trigger/DigitalInput', 'UtcTime="0000-00-00T00:00:00" PropertyOperation="Changed"', `<tt:Source>${item('InputToken', 'IN1')}</tt:Source><tt:Data>${item('LogicalState', 'false')}</tt:Data>`) +
      msg('tns1:Device/Trigger/DigitalInput', 'PropertyOperation="Changed"', `<tt:Source>${item('InputToken', 'IN1')}</tt:Source><tt:Data>${item('LogicalState', 'false')}</tt:Data>`),
    );
    expect(norm(noZone).payload.time).toBe('2024-05-01T12:00:00.000Z');
    expect(norm(offset).payload.time).toBe('2024-05-01T12:00:00.000Z');
    expect(norm(zero).payload.time).toBe(RECEIVED.toISOString());
    expect(norm(epoch).payload.time).toBe(RECEIVED.toISOString());
  });

  it('keeps ElementItems as JSON (dates as text) and several SimpleItems of one kind', async () => {
    const [frame] = await parse(
      msg('tns1:RuleEngine/ObjectDetector/Object', 'UtcTime="2024-05-01T12:00:00Z" PropertyOperation="Changed"',
        `<tt:Source>${item('Rule', 'R')}${item('VideoSourceConfigurationToken', 'VSC')}</tt:Source>` +
        `<tt:Data>${item('ClassTypes', 'Human Vehicle')}${item('State', 'true')}` +
        '<tt:ElementItem Name="Frame"><tt:Frame UtcTime="2024-05-01T12:00:00Z"><tt:Object ObjectId="7"/></tt:Frame></tt:ElementItem></tt:Data>'),
    );
    const n = norm(frame);
    expect(n.payload).toMatchObject({ kind: 'object', classes: ['person', 'vehicle'], source: { Rule: 'R', VideoSourceConfigurationToken: 'VSC' } });
    expect(JSON.stringify(n.payload.elements)).toContain('2024-05-01T12:00:00.000Z');
  });

  it('never throws on garbage', () => {
    for (const junk of [undefined, null, 42, 'x', [], {}, { topic: 7, message: { message: { $: { UtcTime: {} } } } }]) {
      expect(norm(junk).kind).toBe('other');
    }
    expect(kindOfTopic('tns1:RuleEngine/LineDetector/Crossed')).toBe('line');
    expect(kindOfTopic('tns1:Monitoring/ProcessorUsage')).toBe('health');
    expect(kindOfTopic('tns1:VideoSource/tnsaxis:DayNightVision')).toBe('other');
  });
});

describe('classify', () => {
  const withInfo = (e: Error, subcodes: string[], httpStatus?: number) =>
    Object.defineProperty(e, FAULT_INFO, { value: { subcodes, httpStatus } });

  it('maps library errors to the RPC codes', () => {
    expect(classify(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })).code).toBe('unreachable');
    expect(classify(new Error('Network timeout')).code).toBe('unreachable');
    expect(classify(withInfo(new Error('ONVIF SOAP Fault: Sender not Authorized'), ['ter:NotAuthorized'], 400)).code).toBe('unauthorized');
    expect(classify(new Error('Digest authentication failed 401')).code).toBe('unauthorized');
    const dup = classify(withInfo(new Error('ONVIF SOAP Fault: Username already exists'), ['ter:OperationProhibited', 'ter:UsernameClash']));
    expect(dup).toMatchObject({ code: 'camera-fault', message: 'Username already exists (ter:OperationProhibited, ter:UsernameClash)' });
    expect(classify(withInfo(new Error('ONVIF SOAP Fault: Username not recognized'), ['ter:InvalidArgVal', 'ter:UsernameMissing']), ['UsernameMissing']).code).toBe('not-found');
    expect(classify(withInfo(new Error('ONVIF SOAP Fault: bad'), ['ter:InvalidArgVal'])).code).toBe('invalid-argument');
    expect(classify(new Error('Wrong ONVIF SOAP response')).code).toBe('camera-fault');
  });

  it('reads fault subcodes from the namespace-stripped XML the library passes on', () => {
    const xml =
      '<env:Envelope><env:Body><env:Fault><env:Code><env:Value>env:Sender</env:Value><env:Subcode><env:Value>ter:NotAuthorized</env:Value></env:Subcode></env:Code>' +
      '<env:Reason><env:Text>Sender not Authorized</env:Text></env:Reason></env:Fault></env:Body></env:Envelope>';
    expect(faultSubcodes(xml)).toEqual(['ter:NotAuthorized']);
    expect(faultSubcodes('<a>no fault</a>')).toEqual([]);
  });
});

describe('configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'onvif-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('parses the documented example file', () => {
    const example = JSON.parse(readFileSync(new URL('../examples/onvif.config.json', import.meta.url), 'utf8')) as {
      cameras: { passwordFile?: string }[];
    };
    // Its passwordFile points into /etc; point it at a file of ours.
    writeFileSync(join(dir, 'garage.password'), 'pw2\n');
    for (const c of example.cameras) if (c.passwordFile !== undefined) c.passwordFile = 'garage.password';
    const o = parseConfig(example, dir, { FRONT_DOOR_PASSWORD: 'pw1', DISCOVERY_PASSWORD: 'pw3' });
    expect(o.cameras?.map((c) => c.password)).toEqual(['pw1', 'pw2']);
    expect(o.cameras?.[1]).toMatchObject({ id: 'garage', name: 'Garage' });
    expect(o.discovery).toMatchObject({ wsDiscovery: false, ssdp: false, credentials: { username: 'admin', password: 'pw3' } });
  });

  it('resolves password, passwordFile (relative to the file, trailing newline dropped) and passwordEnv', () => {
    writeFileSync(join(dir, 'pw.txt'), 'from-file\n');
    const o = parseConfig(
      {
        cameras: [
          { host: 'a', password: 'plain' },
          { host: 'b', passwordFile: 'pw.txt' },
          { url: 'http://admin@c:8080/onvif/device_service', passwordEnv: 'CAM_C' },
        ],
        discovery: { wsDiscovery: { intervalMs: 30_000 }, credentials: { username: 'admin', passwordEnv: 'CAM_C' } },
        timing: { pullTimeoutMs: 2000 },
      },
      dir,
      { CAM_C: 'from-env' },
    );
    expect(o.cameras?.map((c) => c.password)).toEqual(['plain', 'from-file', 'from-env']);
    expect(o.discovery).toMatchObject({ wsDiscovery: { intervalMs: 30_000 }, credentials: { username: 'admin', password: 'from-env' } });
    expect(o.timing).toEqual({ pullTimeoutMs: 2000 });
  });

  it('rejects typos, conflicts and missing secrets, naming the key but never the password', () => {
    const bad = (json: unknown) => () => parseConfig(json, dir, {});
    expect(bad({ cameras: [{ host: 'a', pasword: 'secret-1' }] })).toThrow(/cameras\[0\]: unknown key "pasword"/);
    expect(bad({ cameras: [{ host: 'a', password: 'secret-2', passwordEnv: 'X' }] })).toThrow(/only one of password, passwordFile, passwordEnv/);
    expect(bad({ cameras: [{ host: 'a', passwordEnv: 'UNSET' }] })).toThrow(/UNSET/);
    expect(bad({ cameras: [{ port: 80 }] })).toThrow(/needs "host" or "url"/);
    expect(bad({ timing: { pullTimeoutMs: -1 } })).toThrow(/timing.pullTimeoutMs/);
    expect(bad({ timing: { pullTimeout: 5 } })).toThrow(/unknown key "pullTimeout"/);
    expect(bad({ cameras: [{ host: 'a', password: 'secret-3', port: 70000 }] })).toThrow(ConfigError);
    try {
      parseConfig({ cameras: [{ host: 'a', password: 'secret-4', passwordFile: 'f' }] }, dir, {});
    } catch (e) {
      expect(String(e)).not.toContain('secret-4');
    }
  });

  it('warns when a world-readable file holds passwords', () => {
    const f = join(dir, 'open.json');
    writeFileSync(f, JSON.stringify({ cameras: [{ host: 'a', password: 'x' }] }), { mode: 0o644 });
    expect(loadConfig(f).warnings.join()).toMatch(/readable by every user/);
  });

  it('--camera URLs and camera specs', () => {
    expect(cameraFromUrl('http://admin@10.0.0.5:8080/onvif/device_service', { password: 'p' })).toMatchObject({ password: 'p', discoveredBy: 'cli' });
    expect(toTarget({ url: 'http://ad%40min:p%3Ass@10.0.0.5:8080/onvif/device_service' })).toMatchObject({
      host: '10.0.0.5',
      port: 8080,
      path: '/onvif/device_service',
      username: 'ad@min',
      password: 'p:ss',
      secure: false,
    });
    expect(toTarget({ url: 'https://[fe80::1]/x' })).toMatchObject({ host: 'fe80::1', port: 443, secure: true, path: '/x' });
    expect(toTarget({ host: 'cam' })).toMatchObject({ port: 80, path: '/onvif/device_service' });
    expect(() => cameraFromUrl('rtsp://x')).toThrow(/http/);
    expect(() => toTarget({ url: 'http://user:hunter2@' })).toThrow(/not a URL/);
    expect(() => toTarget({ url: 'http://user:hunter2@' })).not.toThrow(/hunter2/);
  });
});

describe('request hook', () => {
  it('computes the same SOAP action as the library, without parsing the body', async () => {
    const c = new onvif.Cam({ hostname: '127.0.0.1', autoconnect: false });
    const seen: { action: string; body: string }[] = [];
    // Below the hook: what the library itself computed.
    (c as unknown as { _requestPart2(o: { action: string; body: string }): void })._requestPart2 = (o) => void seen.push({ action: o.action, body: o.body });
    const sub = { subscriptionReference: { address: new URL('http://127.0.0.1:1/pull') } };
    (c.events as Record<string, unknown>)['subscription'] = sub;
    c.getDeviceInformation(() => undefined);
    c.createUsers([{ username: 'a', password: 'b', userLevel: 'User' }], () => undefined);
    c.pullMessages({}, () => undefined);
    c.renew({}, () => undefined);
    c.getSystemDateAndTime(() => undefined);
    await new Promise((r) => setTimeout(r, 50));
    expect(seen.length).toBe(5);
    for (const s of seen) expect(soapAction(s.body)).toBe(s.action);
  });
});
