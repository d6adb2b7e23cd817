/**
 * The three subscribers over a real broker with durable subscriptions: simulated ONVIF cameras →
 * the ONVIF publisher → broker → recording, alerting and audit. The audit subscriber runs as a
 * child process (`udsbus run audit`), is killed with SIGKILL mid-stream and restarted: after
 * catching up, its log holds every message published on the bus exactly once, in each camera's
 * order, and verifies.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { connect, startBroker, type BrokerHandle, type Client, type Message } from '../bus/index.js';
import { startAlerting } from '../subscribers/alerting/index.js';
import { queryAuditLog, startAudit, verifyAuditLog, type AuditRecord } from '../subscribers/audit/index.js';
import { toJsonSafe } from '../subscribers/common/json-safe.js';
import { readSessionIndex, startRecording } from '../subscribers/recording/index.js';
import { runCli, spawnCli, tempDir, waitForLine } from './helpers/harness.js';
import { startOnvifPublisher } from '../publishers/onvif/index.js';
import { startSimulatedCameras } from '../publishers/onvif/simulator/index.js';
import { captureLogger, line, motion } from './subscribers/helpers.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function dirs() {
  const t = tempDir('udsbus-e2e-');
  cleanups.push(t.cleanup);
  return { socket: join(t.dir, 'bus.sock'), data: join(t.dir, 'data'), dir: t.dir };
}

async function broker(socket: string, dataDir?: string): Promise<BrokerHandle> {
  const b = await startBroker({ socket, ...(dataDir === undefined ? {} : { dataDir }), statsIntervalMs: 0 });
  cleanups.push(() => b.close());
  return b;
}

async function client(socket: string, name: string): Promise<Client> {
  const c = await connect({ socket, name, reconnectInitialMs: 20, reconnectMaxMs: 200 });
  cleanups.push(() => c.close());
  return c;
}

const waitFor = async (pred: () => boolean, what: string, ms = 20_000) => {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const logged = (dir: string) => [...queryAuditLog(dir)].map((h) => h.record);
const key = (topic: string, payload: unknown) => `${topic} ${JSON.stringify(payload === undefined ? null : toJsonSafe(payload))}`;
const keyOf = (r: AuditRecord) => `${String(r['topic'])} ${JSON.stringify(r['empty'] === true ? null : r['payload'])}`;

describe('audit over a durable subscription (in process)', () => {
  it('records what was published while it was stopped, exactly once', async () => {
    const { socket, data, dir } = dirs();
    await broker(socket, data);
    const pub = await client(socket, 'camera');
    const logDir = join(dir, 'audit');
    const cap = captureLogger();
    let audit = await startAudit({ client: await client(socket, 'audit-1'), dir: logDir, logger: cap.logger });
    for (let i = 0; i < 100; i++) pub.publish<string>(`camera.event.cam-0${i % 2}.line`, line(`cam-0${i % 2}`));
    await waitFor(() => audit.stats().written === 100, 'the first 100');
    await audit.stop();
    for (let i = 0; i < 50; i++) pub.publish<string>('camera.event.cam-01.motion', motion('cam-01', i % 2 === 0));
    await pub.flush();
    audit = await startAudit({ client: await client(socket, 'audit-2'), dir: logDir, logger: cap.logger });
    await waitFor(() => audit.stats().written === 50, 'the 50 published while stopped');
    await audit.stop();
    const records = logged(logDir);
    expect(records.map((r) => r['mid'])).toEqual(Array.from({ length: 150 }, (_, i) => i + 1));
    expect(records[0]!['from']).toMatchObject({ name: 'camera' });
    expect(verifyAuditLog(logDir).ok).toBe(true);
    expect(cap.errors()).toEqual([]);
  });

  it('fails at start-up, saying why, when the broker keeps no durable queues', async () => {
    const { socket, dir } = dirs();
    await broker(socket);
    const cap = captureLogger();
    await expect(startAudit({ client: await client(socket, 'audit'), dir: join(dir, 'audit'), logger: cap.logger })).rejects.toThrow(/DURABLE_UNAVAILABLE.*--data/);
  });
});

describe('simulated cameras → ONVIF publisher → broker → recording, alerting, audit (killed with SIGKILL and restarted)', () => {
  it('every message ends up in the audit log exactly once, in order per camera, and the log verifies', async () => {
    const { socket, data, dir } = dirs();
    await broker(socket, data);
    const logDir = join(dir, 'audit');
    const auditConfig = join(dir, 'audit.config.json');
    writeFileSync(auditConfig, JSON.stringify({ dir: logDir, subscriptions: [{ pattern: '>', durable: 'audit' }], fsync: { intervalMs: 20 }, rotate: { maxBytes: 64 * 1024 } }));

    let child: ChildProcess | undefined;
    const startChild = async () => {
      const c = spawnCli(['run', 'audit', '--config', auditConfig, '--socket', socket]);
      child = c;
      let stderr = '';
      c.stderr!.on('data', (d) => (stderr += d));
      cleanups.push(() => {
        if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      });
      await waitForLine(c.stderr!, (l) => l.includes('"msg":"ready"'), 20_000).catch((e: Error) => {
        throw new Error(`${e.message}\nstderr: ${stderr}`);
      });
      return c;
    };
    await startChild();

    // Everything published on the bus, seen by a plain subscriber, to compare with the log.
    const observer = await client(socket, 'observer');
    const seen: Message[] = [];
    observer.subscribe('>', { retained: false }).subscribe((m) => seen.push(m));
    let lossNotices = 0;
    observer.on('loss', () => lossNotices++);
    await observer.flush();

    // The subscribers under test.
    const hits: unknown[] = [];
    const hook: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        hits.push(JSON.parse(body));
        res.end('ok');
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => hook.close(() => r())));
    const recCap = captureLogger();
    const recording = await startRecording({
      client: await client(socket, 'recording'),
      indexFile: join(dir, 'sessions.jsonl'),
      preRollMs: 100,
      postRollMs: 300,
      maxDurationMs: 5_000,
      logger: recCap.logger,
    });
    cleanups.push(() => recording.stop());
    const alerting = await startAlerting({
      client: await client(socket, 'alerting'),
      logger: captureLogger().logger,
      config: {
        sinks: { ops: { type: 'webhook', url: `http://127.0.0.1:${(hook.address() as AddressInfo).port}/alerts` } },
        rules: [
          { id: 'motion', topic: 'camera.event.*.motion', when: [{ path: 'active', equals: true }], dedupe: ['active'], cooldownMs: 200, sinks: ['bus', 'ops'] },
          { id: 'camera-offline', topic: 'camera.status.*', when: [{ path: 'state', in: ['offline', 'error'] }], severity: 'critical', dedupe: ['state'] },
        ],
      },
    });
    cleanups.push(() => alerting.stop());

    // The camera side: three simulated cameras with busy schedules, served by the ONVIF publisher.
    const sims = await startSimulatedCameras(3, (i) => ({
      name: `e2e-cam-${i}`,
      events: [
        { every: 60 + 10 * i, kind: 'motion' },
        { every: 90, kind: 'lineCrossing' },
        { every: 150, kind: 'field' },
      ],
    }));
    cleanups.push(() => Promise.all(sims.map((s) => s.close())).then(() => undefined));
    const onvif = await startOnvifPublisher({ cameras: sims.map((s, i) => ({ url: s.url, username: s.username, password: s.password, name: `Camera ${i}` })), socket, name: 'e2e' });
    let onvifStopped = false;
    cleanups.push(() => (onvifStopped ? undefined : onvif.stop()));
    const events = () => seen.filter((m) => m.topic.startsWith('camera.event.')).length;

    await waitFor(() => events() >= 150, 'camera events before the kill');
    child!.kill('SIGKILL'); // mid-stream, while it is writing
    await new Promise<void>((r) => child!.once('exit', () => r()));
    await waitFor(() => events() >= 300, 'camera events while the audit subscriber is dead');
    await startChild();
    await waitFor(() => events() >= 450, 'camera events after the restart');
    await onvif.stop(); // publishes offline statuses on the way out
    onvifStopped = true;

    // Recording and alerting did their jobs.
    await waitFor(() => readSessionIndex(join(dir, 'sessions.jsonl')).sessions.filter((s) => s.reason === 'camera-offline').length === 3, 'sessions closed by offline');
    await waitFor(() => hits.length > 0, 'a webhook alert');
    await waitFor(() => seen.filter((m) => m.topic === 'alert.camera-offline').length === 3, 'the offline alerts');
    await recording.stop();
    await alerting.stop();
    await observer.flush();

    // The audit log catches up with everything the observer saw.
    const expected = seen.map((m) => key(m.topic, m.payload));
    expect(lossNotices).toBe(0);
    await waitFor(() => logged(logDir).length >= expected.length, `the audit log to catch up (${expected.length} messages)`, 30_000);
    child!.kill('SIGTERM');
    const code = await new Promise<number | null>((r) => child!.once('exit', (c) => r(c)));
    expect(code).toBe(0);

    const records = logged(logDir);
    expect(records.map((r) => r['mid'])).toEqual(Array.from({ length: records.length }, (_, i) => i + 1)); // exactly once, no gaps
    expect(records.map(keyOf).sort()).toEqual([...expected].sort());
    const cameraOf = (k: string) => (k.startsWith('camera.event.') ? k.split(' ')[0]!.split('.')[2] : undefined);
    const cameraIds = new Set(expected.map(cameraOf).filter((c) => c !== undefined));
    expect(cameraIds.size).toBe(3);
    for (const id of cameraIds) {
      // A camera's events come from one worker connection: they keep their order.
      const ofCamera = (keys: string[]) => keys.filter((k) => cameraOf(k) === id);
      expect(ofCamera(records.map(keyOf))).toEqual(ofCamera(expected));
    }
    expect(records.filter((r) => String(r['topic']).startsWith('recording.')).length).toBeGreaterThan(0);
    expect(records.filter((r) => String(r['topic']).startsWith('alert.')).length).toBeGreaterThan(0);
    expect([...queryAuditLog(logDir, { kinds: ['start'] })]).toHaveLength(2);
    expect(verifyAuditLog(logDir).ok).toBe(true);
    expect(await runCli(['audit', 'verify', logDir])).toMatchObject({ code: 0, stdout: expect.stringMatching(/^OK: /) });
    expect(recCap.errors()).toEqual([]);
  }, 120_000);
});
