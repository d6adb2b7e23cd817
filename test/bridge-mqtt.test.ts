/**
 * The MQTT bridge against a real Mosquitto (Debian's), started by the test on a Unix socket in a
 * temp dir, and real udsbus brokers. Skips with a printed reason when mosquitto is absent.
 */
import { Type } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import mqtt, { type MqttClient, type IClientOptions } from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { firstValueFrom, take, toArray } from 'rxjs';
import type { Client, Message } from '../bus/client/client.js';
import { startBridge, type Bridge } from '../subscribers/bridge/index.js';
import type { BridgeConfig } from '../subscribers/bridge/config.js';
import { busToMqtt, mqttToBus } from '../subscribers/bridge/topics.js';
import { loadBridgeConfig } from '../subscribers/bridge/config.js';
import { ConfigError } from '../subscribers/common/config.js';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, ROOT } from './helpers/harness.js';
import { CliProcess } from './helpers/cli.js';
import { spawn } from 'node:child_process';
import { startTestBus, tempDir, type TestBus } from './helpers/harness.js';
import { Mosquitto, mosquittoMissing } from './helpers/mosquitto.js';

const missing = mosquittoMissing();
if (missing !== undefined) console.warn(`bridge-mqtt tests skipped: ${missing}`);
const log = pino({ level: 'silent' });

describe('topic mapping', () => {
  it('maps a.b.c <-> prefix/a/b/c, percent-encoding levels a token cannot hold', () => {
    expect(busToMqtt('udsbus/a', 'camera.event.c1.motion')).toBe('udsbus/a/camera/event/c1/motion');
    expect(mqttToBus('udsbus/a/camera/x.y z', 'udsbus/a', 'site.a')).toBe('site.a.camera.x%2Ey%20z');
    expect(busToMqtt('p', 'camera.x%2Ey%20z')).toBe('p/camera/x.y z');
    expect(mqttToBus('other/x', 'udsbus/a', '')).toBeUndefined();
    expect(mqttToBus('udsbus/a//x', 'udsbus/a', '')).toBeUndefined();
  });
});

describe('config', () => {
  it('accepts examples/bridge.config.json and refuses a bad one with the path', () => {
    expect(loadBridgeConfig(join(ROOT, 'examples/bridge.config.json')).site).toBe('site-a');
    const t = tempDir();
    try {
      const f = join(t.dir, 'bad.json');
      writeFileSync(f, JSON.stringify({ site: 'a.b', prefix: 'p', mqtt: {}, out: [{ pattern: 'a..b' }], password: 'x' }));
      expect(() => loadBridgeConfig(f)).toThrow(ConfigError);
    } finally {
      t.cleanup();
    }
  });
});

describe.skipIf(missing !== undefined)('bridge <-> Mosquitto', () => {
  let tmp: { dir: string; cleanup: () => void };
  let mosq: Mosquitto;
  const buses: TestBus[] = [];
  const bridges: Bridge[] = [];
  const mqs: MqttClient[] = [];

  const mqttClient = async (o: IClientOptions = {}): Promise<MqttClient> => {
    const c = await mqtt.connectAsync({ protocol: 'mqtt', unixSocket: true, path: mosq.socket, protocolVersion: 5, reconnectPeriod: 100, ...o } as IClientOptions);
    mqs.push(c);
    return c;
  };
  const bus = async (): Promise<TestBus> => {
    const b = await startTestBus();
    buses.push(b);
    return b;
  };
  const durableBus = async (): Promise<TestBus> => {
    const d = tempDir('udsbus-bridge-data-');
    const b = await startTestBus({ dataDir: d.dir });
    const close = b.close.bind(b);
    b.close = async () => {
      await close();
      d.cleanup();
    };
    buses.push(b);
    return b;
  };
  const bridge = async (client: Client, c: Omit<BridgeConfig, 'mqtt'>): Promise<Bridge> => {
    const br = await startBridge({ mqtt: { unixSocket: mosq.socket, reconnectMs: 100 }, ...c }, { client, logger: log });
    bridges.push(br);
    if (!br.mqtt.connected) await new Promise((r) => br.mqtt.once('connect', r));
    // Subscriptions are sent on connect; a round trip on the same connection orders after them.
    await br.mqtt.publishAsync('ping/bridge', 'x', { qos: 1 });
    return br;
  };
  /** Collect MQTT messages on `filter` until `n` arrived. */
  const collect = (c: MqttClient, n: number, pred: (topic: string) => boolean = () => true) => {
    const got: Array<{ topic: string; payload: Buffer; retain: boolean; props: Record<string, unknown> | undefined }> = [];
    const done = new Promise<typeof got>((resolve) => {
      const on = (topic: string, payload: Buffer, packet: { retain: boolean; properties?: { userProperties?: Record<string, unknown> } }) => {
        if (!pred(topic)) return;
        got.push({ topic, payload, retain: packet.retain, props: packet.properties?.userProperties });
        if (got.length >= n) {
          c.off('message', on);
          resolve(got);
        }
      };
      c.on('message', on);
    });
    return { got, done };
  };

  beforeAll(async () => {
    tmp = tempDir('udsbus-mosq-');
    mosq = new Mosquitto(tmp.dir);
    await mosq.start();
  });
  afterAll(async () => {
    for (const b of bridges) await b.stop().catch(() => undefined);
    for (const c of mqs) await c.endAsync(true).catch(() => undefined);
    for (const b of buses) await b.close().catch(() => undefined);
    await mosq.stop();
    tmp.cleanup();
  });

  it('forwards out (JSON, QoS 1, origin property) and in (with the bridge header)', async () => {
    const b = await durableBus();
    const c = await b.client();
    await bridge(c, { site: 'rt', prefix: 'rt', out: [{ pattern: 'camera.event.>' }], in: [{ filter: 'ext/rt/#', busPrefix: 'from-mqtt' }] });
    const sub = await mqttClient();
    await sub.subscribeAsync('rt/#', { qos: 1 });
    const out = collect(sub, 1, (t) => t.startsWith('rt/camera'));
    c.publish<string>('camera.event.c1.motion', { v: 1, active: true, n: 1.5, bytes: new Uint8Array([1, 2]) });
    const [m] = await out.done;
    expect(m!.topic).toBe('rt/camera/event/c1/motion');
    expect(JSON.parse(m!.payload.toString())).toEqual({ v: 1, active: true, n: 1.5, bytes: { $bytes: '0102' } });
    expect(m!.props).toEqual({ 'udsbus-site': 'rt' });

    const tap = await b.client();
    const got = firstValueFrom(tap.subscribe('from-mqtt.>', { retained: false }));
    await tap.request('$SYS.req.stats'); // a round trip: the sub is active
    await sub.publishAsync('ext/rt/door/front', JSON.stringify({ open: true }), { qos: 1 });
    const bm = await got;
    expect(bm.topic).toBe('from-mqtt.door.front');
    expect(bm.payload).toEqual({ open: true });
    expect(bm.hdr).toMatchObject({ bridge: 'rt', 'mqtt-topic': 'ext/rt/door/front' });
  });

  it('carries CBOR unchanged both ways with format "cbor"', async () => {
    const b = await durableBus();
    const c = await b.client();
    await bridge(c, { site: 'cb', prefix: 'cb', format: 'cbor', out: [{ pattern: 'cb.>' }], in: [{ filter: 'ext/cb/#', busPrefix: 'cbin' }] });
    const sub = await mqttClient();
    await sub.subscribeAsync('cb/#', { qos: 1 });
    const out = collect(sub, 1, (t) => t === 'cb/cb/x');
    const tap = await b.client();
    const sent = firstValueFrom(tap.subscribe('cb.x', { retained: false }));
    await tap.request('$SYS.req.stats');
    c.publish('cb.x', { bytes: new Uint8Array([9, 8]), n: -1 });
    const [m] = await out.done;
    expect(Buffer.compare(m!.payload, Buffer.from((await sent).bytes))).toBe(0);
    const back = firstValueFrom(tap.subscribe('cbin.y', { retained: false }));
    await tap.request('$SYS.req.stats');
    await sub.publishAsync('ext/cb/y', m!.payload, { qos: 1 });
    const p = (await back).payload as { bytes: Uint8Array; n: number };
    expect([...p.bytes]).toEqual([9, 8]);
    expect(p.n).toBe(-1);
  });

  it('reports loss when the durable bound is hit while Mosquitto is away', async () => {
    const b = await durableBus();
    const c = await b.client();
    const br = await bridge(c, { site: 'ls', prefix: 'ls', out: [{ pattern: 'ls.*', durableMaxBytes: 16384 }] });
    const rx = await mqttClient({ clientId: 'loss-rx', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await rx.subscribeAsync(['ls/bridge/loss', 'ls/ls/#'], { qos: 1 });
    // Every message is either delivered or counted as lost: delivered + reported total >= published.
    // (>=: the queue may also count messages the bridge had already sent but not yet acknowledged.)
    const delivered = new Set<string>(); // QoS 1 is at-least-once: count each message once
    let reported = 0;
    const accounted = new Promise<void>((r) =>
      rx.on('message', (t, p) => {
        if (t === 'ls/bridge/loss') reported = (JSON.parse(p.toString()) as { total: number }).total;
        else delivered.add(t);
        if (t === 'ls/ls/last') r(); // the last one, in order behind every loss report
      }),
    );
    await mosq.stop();
    const pad = 'x'.repeat(1000);
    for (let i = 0; i < 100; i++) c.publish(`ls.${i}`, { i, pad }); // ~100 KB into a 16 KB queue
    await c.request('$SYS.req.stats');
    await mosq.start();
    c.publish('ls.last', { pad }); // a loss notice rides on the next delivery
    await accounted;
    expect(reported).toBeGreaterThan(0);
    expect(br.stats.lost).toBeGreaterThanOrEqual(reported);
    expect(delivered.size + reported).toBeGreaterThanOrEqual(101);
  }, 30_000);

  it('carries retained both ways', async () => {
    const b = await durableBus();
    const c = await b.client();
    c.publish<string>('camera.status.c9', { state: 'online' }, { retain: true });
    await bridge(c, { site: 'ret', prefix: 'ret', out: [{ pattern: 'camera.status.*', durable: false }], in: [{ filter: 'ext/ret/#', busPrefix: 'x' }] });
    // A subscriber arriving later gets it from Mosquitto as retained.
    const late = await mqttClient();
    const r = collect(late, 1);
    await late.subscribeAsync('ret/camera/status/c9', { qos: 1 });
    const [m] = await r.done;
    expect(m!.retain).toBe(true);
    expect(JSON.parse(m!.payload.toString())).toEqual({ state: 'online' });

    // MQTT retained -> bus retained: a bus subscriber starting afterwards gets it with retained: true.
    const pubr = await mqttClient();
    const tap = await b.client();
    const live = firstValueFrom(tap.subscribe('x.thermo', { retained: false }));
    await tap.request('$SYS.req.stats');
    await pubr.publishAsync('ext/ret/thermo', '21.5', { qos: 1, retain: true });
    await live; // it has reached the bus
    const replay: Message = await firstValueFrom(tap.subscribe('x.thermo'));
    expect(replay.retained).toBe(true);
    expect(replay.payload).toBe(21.5);
  });

  it('prevents loops both ways', async () => {
    const b = await durableBus();
    const c = await b.client();
    // The same topics out and in: without loop prevention every message would circle for ever.
    const br = await bridge(c, { site: 'lp', prefix: 'lp', out: [{ pattern: 'loop.>' }], in: [{ filter: 'lp/loop/#', strip: 'lp' }] });
    const watcher = await mqttClient();
    await watcher.subscribeAsync('lp/loop/#', { qos: 1 });
    const onMqtt: string[] = [];
    watcher.on('message', (t) => onMqtt.push(t));
    const tap = await b.client();
    const onBus: string[] = [];
    const busWaiters = new Map<string, () => void>();
    tap.subscribe('loop.>', { retained: false }).subscribe((m) => {
      onBus.push(m.topic);
      busWaiters.get(m.topic)?.();
    });
    await tap.request('$SYS.req.stats');
    const onBusTopic = (t: string) => new Promise<void>((r) => busWaiters.set(t, r));
    const onMqttTopic = (t: string) => new Promise<void>((r) => watcher.on('message', (x) => x === t && r()));

    const outSeen = onMqttTopic('lp/loop/from-bus');
    c.publish('loop.from-bus', 1);
    await outSeen;
    const inSeen = onBusTopic('loop.from-mqtt');
    await watcher.publishAsync('lp/loop/from-mqtt', '2', { qos: 1 });
    await inSeen;
    // Markers behind both directions: an echo of either message would be in front of them.
    const m1 = onMqttTopic('lp/loop/marker');
    c.publish('loop.marker', 3);
    await m1;
    const m2 = onBusTopic('loop.end');
    await watcher.publishAsync('lp/loop/end', '4', { qos: 1 });
    await m2;
    expect(onMqtt).toEqual(['lp/loop/from-bus', 'lp/loop/from-mqtt', 'lp/loop/marker', 'lp/loop/end']);
    expect(onBus).toEqual(['loop.from-bus', 'loop.from-mqtt', 'loop.marker', 'loop.end']);
    expect(br.stats.skippedLoops).toBeGreaterThanOrEqual(2); // the in-forwarded ones, seen by out and skipped
  });

  it('loses no confirmed message while Mosquitto restarts mid-stream', async () => {
    const b = await durableBus();
    const c = await b.client();
    // A persistent MQTT session for the receiver, so Mosquitto keeps its QoS 1 queue over the restart.
    const rx = await mqttClient({ clientId: 'restart-rx', clean: false, properties: { sessionExpiryInterval: 3600 } });
    await rx.subscribeAsync('rs/n/#', { qos: 1 });
    const seen = new Set<number>();
    const waiters: Array<[number, () => void]> = [];
    rx.on('message', (t) => {
      if (!t.startsWith('rs/n/')) return;
      seen.add(Number(t.slice(5)));
      for (const [n, f] of waiters) if (seen.size >= n) f();
    });
    const seenAtLeast = (n: number) => new Promise<void>((r) => (seen.size >= n ? r() : waiters.push([n, r])));
    const br = await bridge(c, { site: 'rs', prefix: 'rs', out: [{ pattern: 'n.*' }] });
    let confirmed = 0;
    const publish = async (from: number, to: number) => {
      for (let i = from; i < to; i++) {
        await c.publish(`n.${i}`, i, { confirm: true });
        confirmed++;
      }
    };
    await publish(0, 100);
    await seenAtLeast(100);
    await mosq.stop(); // Mosquitto away: 200 more confirmed on the bus meanwhile
    await publish(100, 300);
    const back = new Promise((r) => br.mqtt.once('connect', r));
    await mosq.start();
    await publish(300, 400);
    await back;
    await seenAtLeast(400);
    expect(confirmed).toBe(400);
    expect([...seen].sort((x, y) => x - y)).toEqual(Array.from({ length: 400 }, (_, i) => i));
    // Everything was taken by MQTT, so the durable queue is empty.
    const list = (await c.request('$SYS.req.durable.list')) as Array<{ name: string; backlog?: number; messages?: number }> | { queues: Array<{ name: string; backlog?: number }> };
    const queues = Array.isArray(list) ? list : list.queues;
    const q = queues.find((x) => x.name === 'bridge-rs-0');
    expect(q, JSON.stringify(list)).toBeDefined();
  }, 30_000);

  it('runs as "udsbus bridge" (= udsbus run bridge): online, then the last will says offline when killed', async () => {
    const b = await durableBus();
    const cfg = join(b.dir, 'bridge.json');
    writeFileSync(cfg, JSON.stringify({ site: 'proc', prefix: 'proc', mqtt: { unixSocket: mosq.socket, keepaliveSec: 1 }, out: [{ pattern: 'camera.>' }] }));
    const watch = await mqttClient();
    const states: string[] = [];
    const stateIs = (s: string) =>
      new Promise<void>((resolve) => {
        const on = (t: string, p: Buffer) => {
          if (t !== 'proc/bridge/status') return;
          states.push(p.toString());
          if (p.toString() === s) {
            watch.off('message', on);
            resolve();
          }
        };
        watch.on('message', on);
      });
    const online = stateIs('online');
    await watch.subscribeAsync('proc/#', { qos: 1 });
    const proc = new CliProcess(spawn(process.execPath, [CLI, 'bridge', '--config', cfg, '--socket', b.socket], { stdio: ['ignore', 'pipe', 'pipe'] }));
    try {
      await proc.waitErr((l) => l.includes('"ready"'));
      await online;
      const c = await b.client();
      const got = new Promise<string>((r) => watch.on('message', (t) => t.startsWith('proc/camera') && r(t)));
      c.publish<string>('camera.event.c1.motion', { active: true });
      expect(await got).toBe('proc/camera/event/c1/motion');
      const offline = stateIs('offline');
      proc.child.kill('SIGKILL'); // no clean stop: Mosquitto publishes the will
      await offline;
    } finally {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
  });

  it('publishes Home Assistant discovery that fits the documented schema, with availability and state', async () => {
    const b = await bus();
    const c = await b.client();
    await bridge(c, { site: 'ha', prefix: 'ha', homeAssistant: {} });
    const ha = await mqttClient();
    const configs = collect(ha, 3, (t) => t.endsWith('/config'));
    await ha.subscribeAsync('homeassistant/#', { qos: 1, rap: true });
    await ha.subscribeAsync('ha/ha/#', { qos: 1 });
    c.publish<string>('camera.discovered.front-door', { v: 1, cameraId: 'front-door', name: 'Front door', manufacturer: 'ACME', model: 'IPC-1', firmware: '5.7.3' }, { retain: true });
    const got = await configs.done;
    const check = TypeCompiler.Compile(HA_BINARY_SENSOR);
    for (const g of got) {
      const p = JSON.parse(g.payload.toString()) as Record<string, unknown>;
      expect([...check.Errors(p)].map((e) => `${e.path}: ${e.message}`), g.topic).toEqual([]);
      expect(g.retain).toBe(true);
      expect(g.topic).toMatch(/^homeassistant\/binary_sensor\/udsbus_ha_front-door\/(motion|person|tamper)\/config$/);
    }
    const motion = JSON.parse(got.find((g) => g.topic.includes('/motion/'))!.payload.toString()) as Record<string, unknown>;
    expect(motion).toMatchObject({ device_class: 'motion', state_topic: 'ha/ha/front-door/motion', device: { identifiers: ['udsbus_ha_front-door'], manufacturer: 'ACME' } });

    const states = collect(ha, 3, (t) => t === 'ha/ha/front-door/availability' || t === 'ha/ha/front-door/motion' || t.includes('input_'));
    c.publish<string>('camera.status.front-door', { v: 1, cameraId: 'front-door', state: 'online' }, { retain: true });
    c.publish<string>('camera.event.front-door.motion', { v: 1, cameraId: 'front-door', kind: 'motion', active: true });
    c.publish<string>('camera.event.front-door.input', { v: 1, cameraId: 'front-door', kind: 'input', input: 'DI_1', active: true });
    const s = await states.done;
    const byTopic = Object.fromEntries(s.map((x) => [x.topic, x.payload.toString()]));
    expect(byTopic['ha/ha/front-door/availability']).toBe('online');
    expect(byTopic['ha/ha/front-door/motion']).toBe('ON');
    expect(s.some((x) => x.topic.includes('input_DI_1/config'))).toBe(true);
  });

  it('publishes a Frigate-compatible layout', async () => {
    const b = await bus();
    const c = await b.client();
    const f = await mqttClient();
    await f.subscribeAsync('frigate/#', { qos: 1, rap: true });
    const got = collect(f, 5);
    await bridge(c, { site: 'fr', prefix: 'fr', frigate: { clearMs: 50 } });
    c.publish<string>('camera.event.drive.motion', { v: 1, cameraId: 'drive', kind: 'motion', active: true });
    c.publish<string>('camera.event.drive.object', { v: 1, cameraId: 'drive', kind: 'object', classes: ['person'], objectId: 'o1', time: '2024-05-01T12:00:00Z' });
    const all = await got.done; // available, motion, person 1, events, person 0
    const by = (t: string) => all.filter((x) => x.topic === t).map((x) => x.payload.toString());
    expect(by('frigate/available')).toEqual(['online']);
    expect(by('frigate/drive/motion')).toEqual(['ON']);
    expect(by('frigate/drive/person')).toEqual(['1', '0']);
    const ev = JSON.parse(by('frigate/events')[0]!) as { type: string; after: Record<string, unknown> };
    expect(ev).toMatchObject({ type: 'new', after: { id: 'o1', camera: 'drive', label: 'person', start_time: 1714564800 } });
  });

  it('two sites through one Mosquitto: events from A reach B, a request from B reaches A', async () => {
    const a = await durableBus();
    const bb = await durableBus();
    const ca = await a.client();
    const cb = await bb.client();
    ca.serve('camera.rpc.*.ptz', (req) => ({ moved: (req.payload as { to: string }).to, by: 'site-a' }));
    await bridge(ca, { site: 'a', prefix: 'sites/a', out: [{ pattern: 'camera.event.>' }], serve: ['camera.rpc.>'] });
    await bridge(cb, { site: 'b', prefix: 'sites/b', in: [{ filter: 'sites/a/camera/#', strip: 'sites/a', busPrefix: 'site.a' }], remote: [{ busPrefix: 'site.a', mqttPrefix: 'sites/a' }] });
    const tap = await bb.client();
    const ev = firstValueFrom(tap.subscribe('site.a.camera.event.>', { retained: false }).pipe(take(2), toArray()));
    await tap.request('$SYS.req.stats');
    ca.publish<string>('camera.event.c1.motion', { active: true });
    ca.publish<string>('camera.event.c1.tamper', { active: false });
    const events = await ev;
    expect(events.map((e) => e.topic)).toEqual(['site.a.camera.event.c1.motion', 'site.a.camera.event.c1.tamper']);
    expect(events[0]!.hdr).toMatchObject({ bridge: 'b', 'origin-site': 'a' });

    const res = await cb.request('site.a.camera.rpc.c1.ptz', { to: 'home' }, { timeout: 5000 });
    expect(res).toEqual({ moved: 'home', by: 'site-a' });
    await expect(cb.request('site.a.camera.rpc.c1.reboot', {}, { timeout: 5000 })).rejects.toMatchObject({ code: 'no-responders' });
  });
});

/**
 * The MQTT binary_sensor discovery fields Home Assistant documents
 * (https://www.home-assistant.io/integrations/binary_sensor.mqtt/ and .../mqtt/#discovery),
 * closed so that a misspelt key fails.
 */
const DEVICE_CLASSES = ['battery', 'battery_charging', 'carbon_monoxide', 'cold', 'connectivity', 'door', 'garage_door', 'gas', 'heat', 'light', 'lock', 'moisture', 'motion', 'moving', 'occupancy', 'opening', 'plug', 'power', 'presence', 'problem', 'running', 'safety', 'smoke', 'sound', 'tamper', 'update', 'vibration', 'window'];
const HA_BINARY_SENSOR = Type.Object(
  {
    name: Type.Union([Type.String(), Type.Null()]),
    unique_id: Type.String({ pattern: '^[a-zA-Z0-9_-]+$' }),
    object_id: Type.Optional(Type.String()),
    device_class: Type.Union(DEVICE_CLASSES.map((d) => Type.Literal(d))),
    state_topic: Type.String({ minLength: 1 }),
    payload_on: Type.Optional(Type.String()),
    payload_off: Type.Optional(Type.String()),
    value_template: Type.Optional(Type.String()),
    off_delay: Type.Optional(Type.Integer({ minimum: 0 })),
    expire_after: Type.Optional(Type.Integer({ minimum: 0 })),
    force_update: Type.Optional(Type.Boolean()),
    qos: Type.Optional(Type.Union([Type.Literal(0), Type.Literal(1), Type.Literal(2)])),
    availability: Type.Optional(Type.Array(Type.Object({ topic: Type.String(), payload_available: Type.Optional(Type.String()), payload_not_available: Type.Optional(Type.String()), value_template: Type.Optional(Type.String()) }, { additionalProperties: false }))),
    availability_mode: Type.Optional(Type.Union([Type.Literal('all'), Type.Literal('any'), Type.Literal('latest')])),
    availability_topic: Type.Optional(Type.String()),
    payload_available: Type.Optional(Type.String()),
    payload_not_available: Type.Optional(Type.String()),
    entity_category: Type.Optional(Type.Union([Type.Literal('diagnostic'), Type.Literal('config')])),
    icon: Type.Optional(Type.String()),
    device: Type.Object(
      {
        identifiers: Type.Array(Type.String(), { minItems: 1 }),
        name: Type.Optional(Type.String()),
        manufacturer: Type.Optional(Type.String()),
        model: Type.Optional(Type.String()),
        model_id: Type.Optional(Type.String()),
        sw_version: Type.Optional(Type.String()),
        hw_version: Type.Optional(Type.String()),
        serial_number: Type.Optional(Type.String()),
        suggested_area: Type.Optional(Type.String()),
        configuration_url: Type.Optional(Type.String()),
        via_device: Type.Optional(Type.String()),
        connections: Type.Optional(Type.Array(Type.Array(Type.String()))),
      },
      { additionalProperties: false },
    ),
    origin: Type.Optional(Type.Object({ name: Type.String(), sw_version: Type.Optional(Type.String()), support_url: Type.Optional(Type.String()) }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
