/**
 * Recording subscriber: session boundaries with an injected clock (pre-roll, post-roll
 * extension, max length and continuation, initial states), then over a real broker: published
 * started/stopped payloads, offline closes, the durable index and crash recovery, and the
 * external recorder (argv without a shell, SIGTERM/SIGKILL, failures reported).
 */
import { appendFileSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client, Message } from '../bus/client/client.js';
import { validatorFor } from '../schemas/validate.js';
import { ManualClock } from '../subscribers/common/clock.js';
import { ConfigError, parseJsonConfig } from '../subscribers/common/config.js';
import { RecordingConfig, checkRecordingConfig } from '../subscribers/recording/config.js';
import { readSessionIndex, startRecording, type RecordingHandle } from '../subscribers/recording/index.js';
import { SessionTracker, type CloseReason, type Session } from '../subscribers/recording/sessions.js';
import { startTestBus, type TestBus } from './helpers/harness.js';
import { captureLogger, Collector, field, line, motion, publishThrough, status } from './subscribers/helpers.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z');
const iso = (ms: number) => new Date(ms).toISOString();

describe('SessionTracker (injected clock)', () => {
  let clock: ManualClock;
  let log: Array<{ ev: string; s: Session; reason?: CloseReason }>;
  let tr: SessionTracker;
  const trig = (topic = 'camera.event.cam-01.motion') => ({ topic, time: iso(clock.now()) });
  beforeEach(() => {
    clock = new ManualClock(T0);
    log = [];
    tr = new SessionTracker(clock, { preRollMs: 5_000, postRollMs: 10_000, maxDurationMs: 60_000 }, {
      open: (s) => log.push({ ev: 'open', s: { ...s } }),
      extend: (s) => log.push({ ev: 'extend', s }),
      close: (s, reason) => log.push({ ev: 'close', s: { ...s }, reason }),
    });
  });
  const closes = () => log.filter((e) => e.ev === 'close');

  it('opens at first trigger minus pre-roll and closes post-roll after the release', () => {
    tr.hold('cam-01', 'm', true, trig());
    expect(log[0]!.s.start).toBe(T0 - 5_000);
    clock.advance(20_000);
    tr.hold('cam-01', 'm', false, trig());
    clock.advance(9_999);
    expect(closes()).toHaveLength(0);
    clock.advance(1);
    expect(closes()).toHaveLength(1);
    expect(closes()[0]!.reason).toBe('idle');
    expect(closes()[0]!.s.end).toBe(T0 + 30_000);
  });

  it('a new start within post-roll extends the session; after post-roll it opens a new one', () => {
    tr.hold('cam-01', 'm', true, trig());
    clock.advance(2_000);
    tr.hold('cam-01', 'm', false, trig());
    clock.advance(9_000); // inside post-roll
    tr.hold('cam-01', 'm', true, trig());
    clock.advance(30_000); // still held: no close
    expect(closes()).toHaveLength(0);
    tr.hold('cam-01', 'm', false, trig());
    clock.advance(10_000);
    expect(closes()).toHaveLength(1);
    expect(closes()[0]!.s).toMatchObject({ start: T0 - 5_000, end: T0 + 51_000, triggerCount: 2 });
    // After the post-roll a trigger opens a second session with its own pre-roll.
    tr.pulse('cam-01', trig('camera.event.cam-01.line'));
    const opens = log.filter((e) => e.ev === 'open');
    expect(opens).toHaveLength(2);
    expect(opens[1]!.s.start).toBe(T0 + 51_000 - 5_000);
    expect(opens[1]!.s.sessionId).not.toBe(opens[0]!.s.sessionId);
  });

  it('pulses restart the post-roll; holds of other sources keep it open', () => {
    tr.pulse('cam-01', trig('camera.event.cam-01.line'));
    clock.advance(8_000);
    tr.pulse('cam-01', trig('camera.event.cam-01.line'));
    clock.advance(8_000);
    expect(closes()).toHaveLength(0);
    tr.hold('cam-01', 'a', true, trig());
    tr.hold('cam-01', 'b', true, trig());
    tr.hold('cam-01', 'a', false, trig());
    clock.advance(15_000);
    expect(closes()).toHaveLength(0);
    tr.hold('cam-01', 'b', false, trig());
    clock.advance(10_000);
    expect(closes()[0]!.s.end).toBe(T0 + 41_000);
  });

  it('max length cuts the session; a still-active hold continues in a new session without pre-roll', () => {
    tr.hold('cam-01', 'm', true, trig());
    clock.advance(55_000); // start is T0-5s, so max is reached at T0+55s
    expect(closes()).toHaveLength(1);
    expect(closes()[0]).toMatchObject({ reason: 'max-duration', s: { start: T0 - 5_000, end: T0 + 55_000 } });
    const second = tr.get('cam-01')!;
    expect(second.start).toBe(T0 + 55_000);
    expect(second.continued).toBe(true);
    tr.hold('cam-01', 'm', false, trig());
    clock.advance(10_000);
    expect(closes()[1]).toMatchObject({ reason: 'idle', s: { start: T0 + 55_000, end: T0 + 65_000 } });
  });

  it('max length during post-roll ends the session without a continuation', () => {
    tr.hold('cam-01', 'm', true, trig());
    clock.advance(50_000);
    tr.hold('cam-01', 'm', false, trig());
    clock.advance(20_000);
    expect(closes()).toHaveLength(1);
    expect(closes()[0]).toMatchObject({ reason: 'max-duration', s: { end: T0 + 55_000 } });
    expect(tr.get('cam-01')).toBeUndefined();
  });

  it('initial states never open a session but confirm or release holds of an open one', () => {
    tr.hold('cam-01', 'm', true, trig(), false);
    expect(log).toHaveLength(0);
    tr.hold('cam-01', 'm', true, trig());
    tr.hold('cam-01', 'm', false, trig(), false); // a resubscription says motion ended
    clock.advance(10_000);
    expect(closes()).toHaveLength(1);
  });

  it('closing a camera is immediate and per camera', () => {
    tr.hold('cam-01', 'm', true, trig());
    tr.hold('cam-02', 'm', true, trig('camera.event.cam-02.motion'));
    clock.advance(3_000);
    tr.close('cam-01', 'camera-offline');
    expect(closes()).toEqual([expect.objectContaining({ reason: 'camera-offline', s: expect.objectContaining({ cameraId: 'cam-01', end: T0 + 3_000 }) })]);
    expect(tr.get('cam-02')).toBeDefined();
  });
});

describe('recording config', () => {
  it('rejects unknown keys, bad placeholders and impossible timing with file:line and JSON path', () => {
    const text = `{
  "indexFile": "/tmp/x.jsonl",
  "preRollMs": 5000,
  "maxDurationMs": 4000,
  "postRolMs": 3,
  "recorder": { "command": ["ffmpeg", "-i", "{rtspUrl}", "{file}"] }
}`;
    let err: ConfigError | undefined;
    try {
      parseJsonConfig(text, 'rec.json', RecordingConfig, checkRecordingConfig);
    } catch (e) {
      err = e as ConfigError;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(err!.message).toContain('rec.json:5:3: /postRolMs: Unexpected property');
    // Schema errors come first; fix them and the semantic checks speak.
    const fixed = text.replace('"postRolMs": 3,\n', '');
    expect(() => parseJsonConfig(fixed, 'rec.json', RecordingConfig, checkRecordingConfig)).toThrow(
      [
        'invalid config rec.json:',
        '  rec.json:4:3: /maxDurationMs: must be longer than preRollMs (5000)',
        '  rec.json:5:19: /recorder/command: uses {file} but /recorder/file is not set',
        '  rec.json:5:47: /recorder/command/2: unknown placeholder {rtspUrl}; use one of {cameraId} {sessionId} {rtspUri} {file} {maxSeconds} {start} {startCompact}',
      ].join('\n'),
    );
  });
});

describe('recording subscriber on a bus', () => {
  let bus: TestBus;
  let recClient: Client;
  let pub: Client;
  let out: Collector;
  let clock: ManualClock;
  let rec: RecordingHandle | undefined;
  let indexFile: string;
  let events: ReturnType<Client['subscribe']>;
  let statuses: ReturnType<Client['subscribe']>;
  let cap: ReturnType<typeof captureLogger>;

  beforeEach(async () => {
    bus = await startTestBus();
    recClient = await bus.client({ name: 'recording' });
    pub = await bus.client({ name: 'camera' });
    const watcher = await bus.client({ name: 'watcher' });
    out = new Collector(watcher.subscribe('recording.>'));
    await watcher.flush();
    clock = new ManualClock(T0);
    indexFile = join(bus.dir, 'state', 'sessions.jsonl');
    cap = captureLogger();
  });
  afterEach(async () => {
    await rec?.stop();
    rec = undefined;
    out.close();
    await bus.close();
  });

  const start = async (extra: Partial<Parameters<typeof startRecording>[0]> = {}) => {
    rec = await startRecording({ client: recClient, indexFile, clock, logger: cap.logger, preRollMs: 5_000, postRollMs: 10_000, maxDurationMs: 120_000, ...extra });
    // Same pattern and options as the subscriber's own subscriptions: shared, delivered after it.
    events = recClient.subscribe('camera.event.*.*', { retained: false });
    statuses = recClient.subscribe('camera.status.*');
  };
  const event = (topic: string, payload: unknown) => publishThrough(pub, events, topic, payload);
  const valid = (m: Message) => {
    const r = validatorFor(m.topic)!(m.payload);
    expect(r.ok ? [] : r.errors).toEqual([]);
  };

  it('publishes started/stopped in the schema shape with pre- and post-roll, and indexes the session', async () => {
    await start();
    await event('camera.event.cam-01.motion', motion('cam-01', true));
    const started = await out.next((m) => m.topic === 'recording.started.cam-01');
    valid(started);
    expect(started.payload).toMatchObject({ cameraId: 'cam-01', start: iso(T0 - 5_000), reason: 'event', triggers: [{ topic: 'camera.event.cam-01.motion' }] });

    clock.advance(4_000);
    await event('camera.event.cam-01.field', field('cam-01', true));
    clock.advance(4_000);
    await event('camera.event.cam-01.motion', motion('cam-01', false));
    await event('camera.event.cam-01.field', field('cam-01', false));
    clock.advance(9_000);
    await event('camera.event.cam-01.line', line('cam-01')); // within post-roll: extends
    clock.advance(10_000);
    const stopped = await out.next((m) => m.topic === 'recording.stopped.cam-01');
    valid(stopped);
    expect(stopped.payload).toMatchObject({
      sessionId: (started.payload as { sessionId: string }).sessionId,
      start: iso(T0 - 5_000),
      end: iso(T0 + 27_000),
      reason: 'idle',
    });
    expect((stopped.payload as { triggers: unknown[] }).triggers.map((t) => (t as { topic: string }).topic)).toEqual([
      'camera.event.cam-01.motion',
      'camera.event.cam-01.field',
      'camera.event.cam-01.line',
    ]);
    expect(stopped.hdr).toEqual({ detail: 'idle' });

    const { sessions } = readSessionIndex(indexFile);
    expect(sessions).toEqual([expect.objectContaining({ cameraId: 'cam-01', start: iso(T0 - 5_000), end: iso(T0 + 27_000), reason: 'idle', triggerCount: 3 })]);
  });

  it('ignores initial states for opening, honours cameras filter, and stops on shutdown', async () => {
    await start({ cameras: ['cam-01'] });
    await event('camera.event.cam-01.motion', motion('cam-01', true, { initial: true }));
    await event('camera.event.cam-02.motion', motion('cam-02', true));
    expect(rec!.openSessions()).toHaveLength(0);
    await event('camera.event.cam-01.motion', motion('cam-01', true));
    await out.next((m) => m.topic === 'recording.started.cam-01');
    await rec!.stop();
    rec = undefined;
    const stopped = await out.next((m) => m.topic === 'recording.stopped.cam-01');
    expect(stopped.payload).toMatchObject({ reason: 'shutdown' });
    expect(out.all.filter((m) => m.topic.endsWith('cam-02'))).toEqual([]);
  });

  it('closes the session when the camera goes offline, errors, or its status is cleared (publisher died)', async () => {
    await start();
    const cases: Array<[string, unknown]> = [
      ['cam-01', status('cam-01', 'offline')],
      ['cam-02', status('cam-02', 'error')],
      ['cam-03', undefined], // empty retained payload: the owned status was cleared
    ];
    for (const [cam, st] of cases) {
      await publishThrough(pub, statuses, `camera.status.${cam}`, status(cam, 'online'), { retain: true });
      await event(`camera.event.${cam}.motion`, motion(cam, true));
      await out.next((m) => m.topic === `recording.started.${cam}`);
      clock.advance(1_000);
      await publishThrough(pub, statuses, `camera.status.${cam}`, st, { retain: true });
      const stopped = await out.next((m) => m.topic === `recording.stopped.${cam}`);
      valid(stopped);
      expect(stopped.payload).toMatchObject({ reason: 'error', end: iso(clock.now()) });
      expect(stopped.hdr).toEqual({ detail: 'camera-offline' });
    }
    expect(readSessionIndex(indexFile).sessions.map((s) => s.reason)).toEqual(['camera-offline', 'camera-offline', 'camera-offline']);
  });

  it('after a crash, sessions left open are closed with reason recovered, and a torn last line is skipped', async () => {
    await start();
    await event('camera.event.cam-01.motion', motion('cam-01', true));
    const started = await out.next((m) => m.topic === 'recording.started.cam-01');
    clock.advance(3_000);
    await event('camera.event.cam-01.line', line('cam-01'));
    // "Crash": abandon the instance without stop(); tear a half-written line onto the index.
    rec = undefined;
    await recClient.close();
    appendFileSync(indexFile, '{"type":"extend","at":"2024-05-01T12:00:0');

    recClient = await bus.client({ name: 'recording-2' });
    const cap2 = captureLogger();
    rec = await startRecording({ client: recClient, indexFile, clock, logger: cap2.logger });
    expect(rec.recovered.map((s) => s.sessionId)).toEqual([(started.payload as { sessionId: string }).sessionId]);
    const stopped = await out.next((m) => m.topic === 'recording.stopped.cam-01');
    valid(stopped);
    expect(stopped.payload).toMatchObject({ reason: 'error', start: iso(T0 - 5_000), end: iso(T0 + 3_000) });
    expect(stopped.hdr).toEqual({ detail: 'recovered' });
    expect(cap2.lines.some((l) => /torn last line/.test(l.msg))).toBe(true);
    const text = readFileSync(indexFile, 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const { sessions, skipped } = readSessionIndex(indexFile);
    expect(skipped).toEqual([]);
    expect(sessions[0]).toMatchObject({ reason: 'recovered', end: iso(T0 + 3_000), triggerCount: 2 });
    // A new session after recovery gets a fresh id even in the same second.
    await rec.stop();
    rec = await startRecording({ client: recClient, indexFile, clock: new ManualClock(T0), logger: cap2.logger });
    events = recClient.subscribe('camera.event.*.*', { retained: false });
    await event('camera.event.cam-01.motion', motion('cam-01', true));
    const again = await out.next((m) => m.topic === 'recording.started.cam-01');
    expect((again.payload as { sessionId: string }).sessionId).not.toBe((started.payload as { sessionId: string }).sessionId);
  });
});

describe('external recorder', () => {
  let bus: TestBus;
  let recClient: Client;
  let pub: Client;
  let out: Collector;
  let alerts: Collector;
  let rec: RecordingHandle | undefined;
  let events: ReturnType<Client['subscribe']>;
  let cap: ReturnType<typeof captureLogger>;
  const clock = new ManualClock(T0);

  // A stand-in for ffmpeg: records its argv, says it is running, and on SIGTERM writes "terminated".
  const fakeRecorder = (ignoreTerm: boolean, exitCode?: number) => `
    const fs = require('node:fs');
    const [file] = process.argv.slice(-1);
    fs.writeFileSync(file, JSON.stringify(process.argv.slice(1)) + '\\n');
    ${exitCode !== undefined ? `process.stderr.write('boom: cannot open stream\\n'); process.exit(${exitCode});` : ''}
    process.on('SIGTERM', () => { fs.appendFileSync(file, 'terminated\\n'); ${ignoreTerm ? '' : 'process.exit(0);'} });
    fs.appendFileSync(file, 'running\\n');
    setInterval(() => {}, 1000);`;

  beforeEach(async () => {
    bus = await startTestBus();
    recClient = await bus.client({ name: 'recording' });
    pub = await bus.client({ name: 'camera' });
    pub.serve('camera.rpc.*.stream-uri', (req) => {
      if (req.topic.includes('cam-09')) throw Object.assign(new Error('camera does not answer'), { code: 'unreachable' });
      return { uri: 'rtsp://192.0.2.10:554/Streaming/Channels/101', profile: 'Profile_1' };
    });
    const watcher = await bus.client({ name: 'watcher' });
    out = new Collector(watcher.subscribe('recording.>'));
    alerts = new Collector(watcher.subscribe('alert.>'));
    await watcher.flush();
    await pub.flush();
    cap = captureLogger();
  });
  afterEach(async () => {
    await rec?.stop();
    rec = undefined;
    out.close();
    alerts.close();
    await bus.close();
  });

  const start = async (command: string[], killTimeoutMs = 2_000) => {
    const script = join(bus.dir, 'fake-recorder.cjs');
    rec = await startRecording({
      client: recClient,
      indexFile: join(bus.dir, 'sessions.jsonl'),
      clock,
      logger: cap.logger,
      preRollMs: 0,
      postRollMs: 1_000,
      maxDurationMs: 60_000,
      recorder: { command: command.map((a) => a.replace('SCRIPT', script)), file: join(bus.dir, 'rec', '{cameraId}', '{sessionId}.txt'), killTimeoutMs },
    });
    events = recClient.subscribe('camera.event.*.*', { retained: false });
    return script;
  };
  const waitFor = async (pred: () => boolean, what: string) => {
    const deadline = Date.now() + 5_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };

  it('runs the command without a shell with the stream URI, and stops it with SIGTERM at session end', async () => {
    const script = await start([process.execPath, 'SCRIPT', '-i', '{rtspUri}', '-t', '{maxSeconds}', '{file}']);
    writeFileSync(script, fakeRecorder(false));
    const cam = 'cam-01';
    await publishThrough(pub, events, `camera.event.${cam}.motion`, motion(cam, true));
    const started = await out.next((m) => m.topic === `recording.started.${cam}`);
    const sessionId = (started.payload as { sessionId: string }).sessionId;
    const file = join(bus.dir, 'rec', cam, `${sessionId}.txt`);
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes('running'), 'the recorder to run');
    expect(JSON.parse(readFileSync(file, 'utf8').split('\n')[0]!)).toEqual([script, '-i', 'rtsp://192.0.2.10:554/Streaming/Channels/101', '-t', '60', file]);

    await publishThrough(pub, events, `camera.event.${cam}.motion`, motion(cam, false));
    clock.advance(1_000);
    await out.next((m) => m.topic === `recording.stopped.${cam}`);
    await waitFor(() => cap.lines.some((l) => l.msg === 'recorder stopped'), 'the recorder to stop');
    expect(readFileSync(file, 'utf8')).toContain('terminated');
    expect(cap.errors()).toEqual([]);
    expect(readSessionIndex(join(bus.dir, 'sessions.jsonl')).sessions[0]!.recorder).toMatchObject({ running: false, file });
  });

  it('kills a recorder that ignores SIGTERM after the timeout', async () => {
    const script = await start([process.execPath, 'SCRIPT', '{file}'], 300);
    writeFileSync(script, fakeRecorder(true));
    await publishThrough(pub, events, 'camera.event.cam-01.line', line('cam-01'));
    const started = await out.next((m) => m.topic === 'recording.started.cam-01');
    const file = join(bus.dir, 'rec', 'cam-01', `${(started.payload as { sessionId: string }).sessionId}.txt`);
    // "running" is written after it installed its SIGTERM handler.
    await waitFor(() => existsSync(file) && readFileSync(file, 'utf8').includes('running'), 'the recorder to run');
    clock.advance(1_000);
    await out.next((m) => m.topic === 'recording.stopped.cam-01');
    await waitFor(() => cap.lines.some((l) => /SIGKILL/.test(l.msg)), 'SIGKILL');
  });

  it.each([
    ['a command that does not exist', ['/nonexistent/ffmpeg', '{file}'], /could not be started: .*ENOENT/],
    ['a command that fails before the session ends', [process.execPath, 'SCRIPT', '{file}'], /exited with code 3 \(stderr: boom: cannot open stream\)/],
  ])('reports %s on the bus and in the log, and closes the session', async (_what, command, reason) => {
    const script = await start(command);
    writeFileSync(script, fakeRecorder(false, 3));
    await publishThrough(pub, events, 'camera.event.cam-01.motion', motion('cam-01', true));
    await out.next((m) => m.topic === 'recording.started.cam-01');
    const alert = await alerts.next((m) => m.topic === 'alert.recorder-failed');
    expect(validatorFor(alert.topic)!(alert.payload).ok).toBe(true);
    expect(alert.payload).toMatchObject({ cameraId: 'cam-01', severity: 'critical', topic: 'recording.started.cam-01' });
    expect((alert.payload as { message: string }).message).toMatch(reason);
    const stopped = await out.next((m) => m.topic === 'recording.stopped.cam-01');
    expect(stopped.payload).toMatchObject({ reason: 'error' });
    expect(stopped.hdr).toEqual({ detail: 'recorder-failed' });
    expect(cap.errors().map((l) => l.msg)).toEqual([expect.stringMatching(reason)]);
    expect(readSessionIndex(join(bus.dir, 'sessions.jsonl')).sessions[0]).toMatchObject({ reason: 'recorder-failed', recorder: { failed: expect.stringMatching(reason) } });
  });

  it('reports a failed stream-uri request', async () => {
    await start(['/bin/true', '{rtspUri}']);
    await publishThrough(pub, events, 'camera.event.cam-09.motion', motion('cam-09', true));
    const alert = await alerts.next((m) => m.topic === 'alert.recorder-failed');
    expect((alert.payload as { message: string }).message).toMatch(/camera\.rpc\.cam-09\.stream-uri failed: unreachable: camera does not answer/);
    const stopped = await out.next((m) => m.topic === 'recording.stopped.cam-09');
    expect(stopped.hdr).toEqual({ detail: 'recorder-failed' });
  });
});
