/**
 * Alerting subscriber: rule decisions with an injected clock (conditions, dedupe, windows across
 * midnight, cooldown, storm summary), then over a real broker with real sinks: a local HTTP
 * webhook (cooldown, retries with backoff, no retry on 4xx, timeouts), a command sink that must
 * never become shell code, the bus sink, and config errors reported with file:line and JSON path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { existsSync, readFileSync, writeFileSync, readdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Client } from '../bus/client/client.js';
import type { Alert } from '../schemas/payloads.js';
import { validatorFor } from '../schemas/validate.js';
import { ManualClock, systemClock, type Clock } from '../subscribers/common/clock.js';
import { ConfigError } from '../subscribers/common/config.js';
import { loadAlertingConfig, type AlertingConfig, type Rule } from '../subscribers/alerting/config.js';
import { RuleEngine, type Emitted } from '../subscribers/alerting/engine.js';
import { startAlerting, type AlertingHandle } from '../subscribers/alerting/index.js';
import { startTestBus, tempDir, type TestBus } from './helpers/harness.js';
import { captureLogger, Collector, motion, publishThrough } from './subscribers/helpers.js';

const T0 = Date.parse('2024-05-01T12:00:00.000Z'); // a Wednesday

describe('rule engine (injected clock)', () => {
  let clock: ManualClock;
  let out: Emitted[];
  const engine = (rule: Partial<Rule>, extra: { timezone?: string; storm?: { windowMs: number; maxAlerts: number } } = {}) =>
    new RuleEngine({ id: 'r', topic: 'camera.event.*.motion', ...rule }, { clock, emit: (e) => out.push(e), ...extra });
  beforeEach(() => {
    clock = new ManualClock(T0);
    out = [];
  });

  it('conditions: equals, in (also on arrays), exists, gt, lt — all must hold', () => {
    const e = engine({
      when: [
        { path: 'active', equals: true },
        { path: 'classes', in: ['human', 'car'] },
        { path: 'data.Score', gt: 0.5, lt: 1 },
        { path: 'data.Muted', exists: false },
      ],
    });
    const p = (extra: object) => ({ cameraId: 'cam-01', active: true, classes: ['dog', 'human'], data: { Score: 0.7 }, ...extra });
    expect(e.handle('camera.event.cam-01.motion', p({}))).toBe('sent');
    expect(e.handle('camera.event.cam-01.motion', p({ active: false }))).toBe('no-match');
    expect(e.handle('camera.event.cam-01.motion', p({ classes: ['dog'] }))).toBe('no-match');
    expect(e.handle('camera.event.cam-01.motion', p({ data: { Score: 0.2 } }))).toBe('no-match');
    expect(e.handle('camera.event.cam-01.motion', p({ data: { Score: 1 } }))).toBe('no-match');
    expect(e.handle('camera.event.cam-01.motion', p({ data: { Score: 0.9, Muted: true } }))).toBe('no-match');
  });

  it('dedupe: the same state twice alerts once, a change in between alerts again', () => {
    const e = engine({ when: [{ path: 'active', equals: true }], dedupe: ['active'] });
    const seq = [true, true, false, true, true].map((a) => e.handle('camera.event.cam-01.motion', { cameraId: 'cam-01', active: a }));
    expect(seq).toEqual(['sent', 'deduped', 'no-match', 'sent', 'deduped']);
    expect(e.handle('camera.event.cam-02.motion', { cameraId: 'cam-02', active: true })).toBe('sent'); // per camera
  });

  it('time windows: local time, ranges across midnight, days name the start day', () => {
    const e = engine({ windows: [{ from: '22:00', to: '06:00', days: ['fri'] }] }, { timezone: 'UTC' });
    const at = (isoTime: string) => {
      clock = new ManualClock(Date.parse(isoTime));
      (e as unknown as { ctx: { clock: ManualClock } }).ctx.clock = clock;
      return e.handle('camera.event.cam-01.motion', { cameraId: 'cam-01' });
    };
    expect(at('2024-05-03T21:59:00Z')).toBe('outside-window'); // Friday before the window
    expect(at('2024-05-03T22:00:00Z')).toBe('sent'); // Friday 22:00
    expect(at('2024-05-04T05:59:00Z')).toBe('sent'); // Saturday morning: Friday's window
    expect(at('2024-05-04T06:00:00Z')).toBe('outside-window'); // `to` is exclusive
    expect(at('2024-05-04T23:00:00Z')).toBe('outside-window'); // Saturday evening: no window
    expect(at('2024-05-03T03:00:00Z')).toBe('outside-window'); // Friday morning belongs to Thursday
    const berlin = engine({ windows: [{ from: '22:00', to: '06:00' }] }, { timezone: 'Europe/Berlin' });
    clock = new ManualClock(Date.parse('2024-05-01T20:30:00Z')); // 22:30 in Berlin (CEST)
    (berlin as unknown as { ctx: { clock: ManualClock } }).ctx.clock = clock;
    expect(berlin.handle('camera.event.cam-01.motion', { cameraId: 'cam-01' })).toBe('sent');
  });

  it('cooldown per camera: suppressed matches are counted in the next alert', () => {
    const e = engine({ cooldownMs: 60_000 });
    const h = (cam: string) => e.handle(`camera.event.${cam}.motion`, { cameraId: cam });
    expect(h('cam-01')).toBe('sent');
    clock.advance(10_000);
    expect([h('cam-01'), h('cam-01'), h('cam-02')]).toEqual(['cooldown', 'cooldown', 'sent']);
    clock.advance(50_000);
    expect(h('cam-01')).toBe('sent');
    expect(out.map((o) => [o.alert.cameraId, o.alert.suppressed])).toEqual([['cam-01', 0], ['cam-02', 0], ['cam-01', 2]]);
  });

  it('storm: at most maxAlerts per window and camera, then one summary at the end of the window', () => {
    const e = engine({ message: 'Motion at {cameraId}' }, { storm: { windowMs: 60_000, maxAlerts: 3 } });
    for (let i = 0; i < 40; i++) {
      e.handle('camera.event.cam-03.motion', { cameraId: 'cam-03' });
      clock.advance(1_000);
    }
    expect(out.filter((o) => !o.summary)).toHaveLength(3);
    expect(out.filter((o) => o.summary)).toHaveLength(0);
    clock.advance(20_000); // window ends at T0+60s
    const summary = out.find((o) => o.summary)!;
    expect(summary.alert).toMatchObject({ ruleId: 'r', cameraId: 'cam-03', count: 37, suppressed: 37, message: '37 more r alerts for cam-03 suppressed in the last minute' });
    expect(summary.alert.time).toBe(new Date(T0 + 60_000).toISOString());
    expect(validatorFor('alert.r')!(summary.alert).ok).toBe(true);
    // A fresh window after the summary.
    expect(e.handle('camera.event.cam-03.motion', { cameraId: 'cam-03' })).toBe('sent');
  });
});

// ---------------------------------------------------------------- over a bus, with real sinks

type Received = { body: Alert; headers: IncomingMessage['headers'] };

async function httpServer(handler: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; received: Received[]; server: Server; close: () => Promise<void> }> {
  const received: Received[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      received.push({ body: JSON.parse(body) as Alert, headers: req.headers });
      handler(++n, req, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    received,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const waitFor = async (pred: () => boolean, what: string, ms = 5_000) => {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('alerting subscriber on a bus', () => {
  let bus: TestBus;
  let alertClient: Client;
  let pub: Client;
  let alerting: AlertingHandle | undefined;
  let cap: ReturnType<typeof captureLogger>;
  let deliveries: Array<{ sink: string; ok: boolean; attempts: number; error?: string; summary: boolean }>;

  beforeEach(async () => {
    bus = await startTestBus();
    alertClient = await bus.client({ name: 'alerting' });
    pub = await bus.client({ name: 'camera' });
    cap = captureLogger();
    deliveries = [];
  });
  afterEach(async () => {
    await alerting?.stop();
    alerting = undefined;
    await bus.close();
  });

  const start = async (config: AlertingConfig, clock: Clock = new ManualClock(T0)) => {
    alerting = await startAlerting({ client: alertClient, config, clock, logger: cap.logger, onDelivery: (r) => deliveries.push(r) });
    // Same pattern and options as the rules' subscriptions: delivered to the rule first.
    return { clock: clock as ManualClock, via: alertClient.subscribe('camera.event.*.motion', { retained: false }) };
  };

  it('delivers to a local webhook and the bus, honouring the cooldown per camera', async () => {
    const hook = await httpServer((_n, _req, res) => res.end('ok'));
    try {
      const watcher = await bus.client({ name: 'watcher' });
      const alerts = new Collector<Alert>(watcher.subscribe('alert.>'));
      await watcher.flush();
      const { clock, via } = await start({
        sinks: { ops: { type: 'webhook', url: hook.url, headers: { authorization: 'Bearer t0ken' } } },
        rules: [{ id: 'motion-alert', topic: 'camera.event.*.motion', when: [{ path: 'active', equals: true }], cooldownMs: 60_000, severity: 'critical', message: 'Motion at {cameraId}', sinks: ['bus', 'ops'] }],
      });
      const ev = (cam: string, active = true) => publishThrough(pub, via, `camera.event.${cam}.motion`, motion(cam, active));
      await ev('cam-01');
      await ev('cam-01'); // within cooldown
      await ev('cam-02');
      clock.advance(30_000);
      await ev('cam-01'); // still within cooldown
      clock.advance(30_000);
      await ev('cam-01'); // cooldown over: alert with suppressed = 2
      await waitFor(() => hook.received.length === 3 && deliveries.length === 6, 'deliveries');
      expect(hook.received.map((r) => [r.body.cameraId, r.body.suppressed])).toEqual([['cam-01', 0], ['cam-02', 0], ['cam-01', 2]]);
      expect(hook.received[0]!.headers['content-type']).toBe('application/json');
      expect(hook.received[0]!.headers['authorization']).toBe('Bearer t0ken');
      expect(hook.received[0]!.body).toMatchObject({ v: 1, ruleId: 'motion-alert', severity: 'critical', message: 'Motion at cam-01', topic: 'camera.event.cam-01.motion', count: 1 });
      expect(hook.received[0]!.body.event).toMatchObject({ cameraId: 'cam-01', active: true });
      for (let i = 0; i < 3; i++) {
        const m = await alerts.next();
        expect(validatorFor(m.topic)!(m.payload).ok).toBe(true);
      }
      expect(alerting!.stats().rules['motion-alert']).toMatchObject({ sent: 3, cooldown: 2 });
      expect(cap.errors()).toEqual([]);
    } finally {
      await hook.close();
    }
  });

  it('retries 5xx and timeouts with exponential backoff, does not retry 4xx, and logs the final failure', async () => {
    // 1st alert: 503, 503, 200. 2nd alert: 400 (given up at once). 3rd: hangs past the timeout, then 200.
    const hook = await httpServer((n, _req, res) => {
      if (n <= 2) res.writeHead(503).end('busy');
      else if (n === 3) res.end('ok');
      else if (n === 4) res.writeHead(400).end('bad');
      else if (n === 5) setTimeout(() => res.end('late'), 400);
      else res.end('ok');
    });
    try {
      const { via } = await start(
        {
          sinks: { ops: { type: 'webhook', url: hook.url, retries: 3, backoffMs: 20, timeoutMs: 150 } },
          rules: [{ id: 'any-motion', topic: 'camera.event.*.motion', sinks: ['ops'] }],
        },
        systemClock, // real backoff timers, kept short
      );
      const started = Date.now();
      await publishThrough(pub, via, 'camera.event.cam-01.motion', motion('cam-01', true));
      await waitFor(() => deliveries.length === 1, 'first delivery');
      expect(deliveries[0]).toMatchObject({ ok: true, attempts: 3 });
      expect(Date.now() - started).toBeGreaterThanOrEqual(20 * 0.8 + 40 * 0.8);
      await publishThrough(pub, via, 'camera.event.cam-02.motion', motion('cam-02', true));
      await waitFor(() => deliveries.length === 2, 'second delivery');
      expect(deliveries[1]).toMatchObject({ ok: false, attempts: 1, error: 'HTTP 400 Bad Request' });
      expect(cap.errors().map((l) => l.msg)).toEqual(['alert delivery to ops failed: HTTP 400 Bad Request']);
      await publishThrough(pub, via, 'camera.event.cam-03.motion', motion('cam-03', true));
      await waitFor(() => deliveries.length === 3, 'third delivery');
      expect(deliveries[2]).toMatchObject({ ok: true, attempts: 2 });
      expect(cap.lines.filter((l) => l.msg === 'webhook delivery failed; retrying').map((l) => l['error'])).toEqual([
        'HTTP 503 Service Unavailable',
        'HTTP 503 Service Unavailable',
        'no response within 150 ms',
      ]);
      expect(hook.received).toHaveLength(6);
    } finally {
      await hook.close();
    }
  });

  it('runs the command sink without a shell: hostile text stays literal arguments and JSON on stdin', async () => {
    const { dir, cleanup } = tempDir('udsbus-cmd-');
    try {
      const script = join(dir, 'notify.cjs');
      const outFile = join(dir, 'out.json');
      writeFileSync(
        script,
        `let stdin = ''; process.stdin.on('data', (d) => (stdin += d)); process.stdin.on('end', () => {
           require('node:fs').writeFileSync(${JSON.stringify(outFile)}, JSON.stringify({ argv: process.argv.slice(2), stdin: JSON.parse(stdin) }));
         });`,
      );
      const hostile = `$(touch ${join(dir, 'PWNED1')}); touch ${join(dir, 'PWNED2')} && \`touch ${join(dir, 'PWNED3')}\` | "x" 'y' > ${join(dir, 'PWNED4')}`;
      const watcher = alertClient.subscribe('camera.discovered.*', { retained: false });
      await start({
        sinks: { notify: { type: 'command', command: [process.execPath, script, '--camera', '{payload.name}', '{message}'] } },
        rules: [{ id: 'new-camera', topic: 'camera.discovered.*', message: 'New camera {payload.name} ({cameraId})', sinks: ['notify'] }],
      });
      const discovered = {
        v: 1,
        cameraId: 'cam-07',
        name: hostile,
        address: { host: '192.0.2.7', port: 80 },
        xaddr: 'http://192.0.2.7/onvif/device_service',
        discoveredBy: 'static',
        profiles: [],
        time: new Date(T0).toISOString(),
      };
      expect(validatorFor('camera.discovered.cam-07')!(discovered).ok).toBe(true);
      await publishThrough(pub, watcher, 'camera.discovered.cam-07', discovered);
      await waitFor(() => deliveries.length === 1, 'the command');
      expect(deliveries[0]).toMatchObject({ ok: true });
      const got = JSON.parse(readFileSync(outFile, 'utf8')) as { argv: string[]; stdin: Alert };
      expect(got.argv).toEqual(['--camera', hostile, `New camera ${hostile} (cam-07)`]);
      expect(got.stdin).toMatchObject({ ruleId: 'new-camera', cameraId: 'cam-07', event: { name: hostile } });
      expect(readdirSync(dir).filter((f) => f.startsWith('PWNED'))).toEqual([]);
      expect(existsSync(join(process.cwd(), 'PWNED4'))).toBe(false);
    } finally {
      cleanup();
    }
  });

  it('reports a failing command with its exit code and stderr', async () => {
    await start({
      sinks: { bad: { type: 'command', command: [process.execPath, '-e', 'console.error("no route to pager"); process.exit(7)'], stdin: 'none' } },
      rules: [{ id: 'm', topic: 'camera.event.*.motion', sinks: ['bad'] }],
    }).then(({ via }) => publishThrough(pub, via, 'camera.event.cam-01.motion', motion('cam-01', true)));
    await waitFor(() => deliveries.length === 1, 'the command');
    expect(deliveries[0]!.error).toMatch(/exited with code 7 \(stderr: no route to pager\)/);
    expect(cap.errors()[0]!.msg).toMatch(/alert delivery to bad failed: .*exited with code 7/);
  });

  it('rate-limits a storm on the bus and publishes the summary when the window ends', async () => {
    const watcher = await bus.client({ name: 'watcher' });
    const alerts = new Collector<Alert>(watcher.subscribe('alert.motion'));
    await watcher.flush();
    const { clock, via } = await start({
      storm: { windowMs: 60_000, maxAlerts: 10 },
      rules: [{ id: 'motion', topic: 'camera.event.*.motion', message: 'motion at {cameraId}' }],
    });
    for (let i = 0; i < 47; i++) {
      await publishThrough(pub, via, 'camera.event.cam-03.motion', motion('cam-03', i % 2 === 0));
      clock.advance(1_000);
    }
    clock.advance(13_000);
    const summary = await alerts.next((m) => m.hdr?.['summary'] === 'true');
    expect(summary.payload).toMatchObject({ message: '37 more motion alerts for cam-03 suppressed in the last minute', count: 37, suppressed: 37, cameraId: 'cam-03' });
    expect(validatorFor(summary.topic)!(summary.payload).ok).toBe(true);
    expect(alerts.all.filter((m) => m.hdr?.['summary'] !== 'true')).toHaveLength(10);
  });
});

describe('alerting config', () => {
  it('rejects invalid rules at start-up with file:line, JSON path and reason', () => {
    const { dir, cleanup } = tempDir('udsbus-alertcfg-');
    try {
      const file = join(dir, 'alerting.json');
      writeFileSync(
        file,
        `{
  "timezone": "Mars/Olympus",
  "sinks": {
    "ops": { "type": "webhook", "url": "ftp://example" },
    "pager": { "type": "command", "command": ["notify", "{camera}"] }
  },
  "rules": [
    { "id": "ok-rule", "topic": "camera.event.*.motion" },
    { "id": "bad rule", "topic": "camera.>.motion", "sinks": ["nowhere"],
      "windows": [{ "from": "22:00", "to": "22:00" }], "when": [{ "path": "active" }] },
    { "id": "ok-rule", "topic": "camera.event.*.field", "cooldownMs": -1, "severity": "urgent" }
  ]
}`,
      );
      let err: ConfigError | undefined;
      try {
        loadAlertingConfig(file);
      } catch (e) {
        err = e as ConfigError;
      }
      expect(err).toBeInstanceOf(ConfigError);
      // Schema errors first (the semantic checks need a well-formed file).
      expect(err!.problems.map((p) => `${p.line}:${p.column} ${p.path}: ${p.message}`)).toEqual([
        '4:33 /sinks/ops/url: Expected string to match \'^[Hh][Tt][Tt][Pp][Ss]?://[^\\s]+$\'',
        '11:57 /rules/2/cooldownMs: Expected integer to be greater or equal to 0',
        '11:75 /rules/2/severity: Expected one of "info", "warning", "critical"',
      ]);
      const fixed = readFileSync(file, 'utf8').replace('ftp://example', 'https://example/hook').replace('"cooldownMs": -1, "severity": "urgent"', '"cooldownMs": 1');
      writeFileSync(file, fixed);
      expect(() => loadAlertingConfig(file)).toThrow(ConfigError);
      try {
        loadAlertingConfig(file);
      } catch (e) {
        expect((e as ConfigError).problems.map((p) => `${p.line} ${p.path}: ${p.message}`)).toEqual([
          '2 /timezone: unknown time zone "Mars/Olympus" (use an IANA name such as "Europe/Berlin")',
          '5 /sinks/pager/command/1: unknown placeholder {camera}; use {ruleId} {cameraId} {topic} {severity} {message} {time} {count} {suppressed} {json} or {payload.<path>}',
          '9 /rules/1/id: Expected a topic token: 1-64 characters of A-Za-z0-9_~%@:=-',
          '9 /rules/1/topic: invalid topic pattern "camera.>.motion": dot-separated tokens, "*" for one token, a final ">" for the rest',
          '9 /rules/1/sinks/0: no sink named "nowhere"; define it under "sinks" (known: bus, ops, pager)',
          '10 /rules/1/windows/0: from and to are equal; leave "windows" out for all day',
          '10 /rules/1/when/0: needs an operator: equals, in, exists, gt or lt',
          '11 /rules/2/id: duplicate rule id "ok-rule" (also /rules/0/id)',
        ]);
        expect((e as Error).message).toContain(`${file}:9:7: /rules/1/id: Expected a topic token`);
      }
    } finally {
      cleanup();
    }
  });
});
