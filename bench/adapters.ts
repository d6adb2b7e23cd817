/**
 * One small client interface over udsbus and its peers, used by the bench workers. Every adapter
 * carries the same camera event, encoded and decoded with udsbus's portable-CBOR codec
 * (`encodeValue`/`decodeValue`, the calls the udsbus client makes internally), so the systems
 * differ only in what they do between the two ends.
 */
import { createConnection, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import type { NatsConnection } from 'nats';
import type { createClient } from 'redis';
import type { Client } from '../bus/client/client.js';
import { decodeValue, encodeValue } from '../bus/protocol/codec.js';
import { FrameParser } from '../bus/protocol/parser.js';
import type { Endpoint } from './endpoints.js';
import type { CameraEvent } from './payload.js';
import { RAW_PING, RAW_PONG, RAW_PUB, RAW_SUB, RAW_SUBACK, rawControl, rawPub } from './rawproto.js';

export type OnEvent = (ev: CameraEvent, seq: number) => void;
/**
 * Opaque mode: `n` is the message's position in the run, `len` its payload bytes, `seq` the
 * udsbus sequence number (0 elsewhere). udsbus gives n from seq (one publisher, subscribed before
 * it starts, so seq = n + 1, drops included); the others from the payload's first 4 bytes.
 */
export type OnOpaque = (n: number, len: number, seq: number) => void;

export interface BenchClient {
  /** Resolves once the server has registered the subscription. */
  subscribe(topic: string, on: OnEvent): Promise<void>;
  /** Opaque mode: the payload is not decoded, only counted. */
  subscribeOpaque(topic: string, on: OnOpaque): Promise<void>;
  /** Opaque mode: publish these bytes as they are (udsbus: as a CBOR byte string). */
  publishOpaque(topic: string, bytes: Uint8Array): boolean;
  /** Loss notices, where the system has them (udsbus). */
  onLoss(h: (lost: number, lastSeq: number) => void): void;
  /** Publish one event; false means: await wait() before publishing more. */
  publish(topic: string, ev: CameraEvent): boolean;
  wait(): Promise<void>;
  /** Resolves once the server has processed everything published before. */
  flush(): Promise<void>;
  close(): Promise<void>;
}

const HIGH_WATER = 1024 * 1024;
const BATCH = 64 * 1024;

/** Opens a client, retrying refused connects (Mosquitto's Unix listener has a backlog of 10). */
export async function openClient(ep: Endpoint, name: string, tries = 40): Promise<BenchClient> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await openOnce(ep, name);
    } catch (err) {
      if (attempt >= tries) throw err;
      await sleep(10 + Math.random() * 20 * Math.min(attempt + 1, 10));
    }
  }
}

// Client libraries are loaded on first use: a worker pays only for the one it speaks (the
// three peer libraries together add ~400 ms to every process start).
async function openOnce(ep: Endpoint, name: string): Promise<BenchClient> {
  switch (ep.kind) {
    case 'udsbus':
    case 'udsbus-tcp': {
      const { connect } = await import('../bus/client/client.js');
      const where = ep.kind === 'udsbus' ? { socket: ep.socket } : { tcp: { host: ep.host, port: ep.port } };
      return new UdsbusClient(await connect({ ...where, name, reconnect: false, connectTimeoutMs: 30_000 }));
    }
    case 'raw':
      return RawClient.open(ep.socket);
    case 'mqtt':
      return MqttBenchClient.open((await import('mqtt')).connect, ep.socket, name);
    case 'redis':
      return RedisBenchClient.open((await import('redis')).createClient, ep.socket);
    case 'nats': {
      const { connect } = await import('nats');
      return new NatsBenchClient(await connect({ servers: `${ep.host}:${ep.port}`, name, reconnect: false, pingInterval: 600_000 }));
    }
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

class UdsbusClient implements BenchClient {
  constructor(readonly c: Client) {
    c.on('error', () => undefined);
  }
  async subscribe(topic: string, on: OnEvent): Promise<void> {
    this.c.subscribe<CameraEvent>(topic, { retained: false }).subscribe((m) => on(m.payload, m.seq));
    await this.c.flush();
  }
  async subscribeOpaque(topic: string, on: OnOpaque): Promise<void> {
    // Only seq and the payload's length: the application never looks at the value.
    this.c.subscribe(topic, { retained: false }).subscribe((m) => on(m.seq - 1, m.size, m.seq));
    await this.c.flush();
  }
  publishOpaque(topic: string, bytes: Uint8Array): boolean {
    return this.c.publish(topic, bytes);
  }
  onLoss(h: (lost: number, lastSeq: number) => void): void {
    this.c.on('loss', (l) => h(l.lost, l.lastSeq));
  }
  publish(topic: string, ev: CameraEvent): boolean {
    return this.c.publish(topic, ev);
  }
  wait(): Promise<void> {
    return this.c.drain();
  }
  flush(): Promise<void> {
    return this.c.flush();
  }
  close(): Promise<void> {
    return this.c.close();
  }
}

/** Client of the raw relay: same batching as the udsbus client (64 KiB or one microtask). */
class RawClient implements BenchClient {
  private wbuf: Buffer[] = [];
  private wbytes = 0;
  private flushQueued = false;
  private on: OnEvent | undefined;
  private onOpaque: OnOpaque | undefined;
  private readonly acks: Array<() => void> = [];
  private readonly pongs: Array<() => void> = [];
  private readonly topics = new Map<string, Buffer>();

  private constructor(private readonly sock: Socket) {
    const parser = new FrameParser(
      16 * 1024 * 1024,
      (body) => this.onFrame(body),
      (e) => sock.destroy(new Error(e.text)),
    );
    sock.on('data', (chunk: Buffer) => parser.push(chunk));
    sock.on('error', () => undefined);
  }

  static open(path: string): Promise<BenchClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(path);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new RawClient(s));
      });
      s.once('error', reject);
    });
  }

  private onFrame(body: Buffer): void {
    const kind = body[0];
    if (kind === RAW_PUB) {
      const tl = body[1]!;
      // Decode the topic as the other clients do, then the payload.
      const topic = body.toString('latin1', 2, 2 + tl);
      if (this.onOpaque !== undefined) {
        if (topic.length > 0) this.onOpaque(body.readUInt32BE(2 + tl), body.length - 2 - tl, 0);
        return;
      }
      const ev = decodeValue(body.subarray(2 + tl)) as CameraEvent;
      if (topic.length > 0) this.on?.(ev, 0);
    } else if (kind === RAW_SUBACK) {
      this.acks.shift()?.();
    } else if (kind === RAW_PONG) {
      this.pongs.shift()?.();
    }
  }

  subscribe(topic: string, on: OnEvent): Promise<void> {
    this.on = on;
    return new Promise((resolve) => {
      this.acks.push(resolve);
      this.queue(rawControl(RAW_SUB, Buffer.from(topic)));
    });
  }
  subscribeOpaque(topic: string, on: OnOpaque): Promise<void> {
    this.onOpaque = on;
    return new Promise((resolve) => {
      this.acks.push(resolve);
      this.queue(rawControl(RAW_SUB, Buffer.from(topic)));
    });
  }
  onLoss(): void {
    /* the relay never drops */
  }
  publish(topic: string, ev: CameraEvent): boolean {
    return this.publishOpaque(topic, encodeValue(ev));
  }
  publishOpaque(topic: string, bytes: Uint8Array): boolean {
    let t = this.topics.get(topic);
    if (t === undefined) this.topics.set(topic, (t = Buffer.from(topic, 'latin1')));
    this.queue(rawPub(t, bytes));
    return this.sock.writableLength + this.wbytes < HIGH_WATER;
  }
  wait(): Promise<void> {
    if (this.sock.writableLength + this.wbytes < HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => this.sock.once('drain', resolve));
  }
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.pongs.push(resolve);
      this.queue(rawControl(RAW_PING));
    });
  }
  close(): Promise<void> {
    this.sock.destroy();
    return Promise.resolve();
  }

  private queue(b: Buffer): void {
    this.wbuf.push(b);
    this.wbytes += b.length;
    if (this.wbytes >= BATCH) this.flushWrites();
    else if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.flushWrites);
    }
  }

  private readonly flushWrites = (): void => {
    this.flushQueued = false;
    if (this.wbytes === 0) return;
    const chunk = this.wbuf.length === 1 ? this.wbuf[0]! : Buffer.concat(this.wbuf, this.wbytes);
    this.wbuf = [];
    this.wbytes = 0;
    this.sock.write(chunk);
  };
}

/** MQTT 3.1.1, QoS 0, over Mosquitto's Unix listener (`mqtt+unix://`). */
class MqttBenchClient implements BenchClient {
  private constructor(private readonly c: MqttClient) {
    c.on('error', () => undefined);
  }

  static open(mqttConnect: typeof import('mqtt').connect, path: string, name: string): Promise<BenchClient> {
    return new Promise((resolve, reject) => {
      const c = mqttConnect(`mqtt+unix://${path}`, {
        clientId: `${name}-${Math.random().toString(36).slice(2, 10)}`,
        protocolVersion: 4,
        clean: true,
        keepalive: 600,
        reconnectPeriod: 0,
        connectTimeout: 30_000,
      });
      const fail = (err: Error) => {
        c.end(true);
        reject(err);
      };
      c.once('connect', () => {
        c.off('error', fail);
        resolve(new MqttBenchClient(c));
      });
      c.once('error', fail);
      c.once('close', () => fail(new Error('mqtt connection closed before CONNACK')));
    });
  }

  subscribe(topic: string, on: OnEvent): Promise<void> {
    this.c.on('message', (_t, payload: Buffer) => on(decodeValue(payload) as CameraEvent, 0));
    return new Promise((resolve, reject) => this.c.subscribe(mqttTopic(topic), { qos: 0 }, (err) => (err ? reject(err) : resolve())));
  }
  subscribeOpaque(topic: string, on: OnOpaque): Promise<void> {
    this.c.on('message', (_t, payload: Buffer) => on(payload.readUInt32BE(0), payload.length, 0));
    return new Promise((resolve, reject) => this.c.subscribe(mqttTopic(topic), { qos: 0 }, (err) => (err ? reject(err) : resolve())));
  }
  publishOpaque(topic: string, bytes: Uint8Array): boolean {
    this.c.publish(mqttTopic(topic), Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), { qos: 0 });
    return this.c.stream.writableLength < HIGH_WATER;
  }
  onLoss(): void {
    /* MQTT QoS 0 drops silently; losses show as gaps in `n` */
  }
  publish(topic: string, ev: CameraEvent): boolean {
    this.c.publish(mqttTopic(topic), encodeValue(ev), { qos: 0 });
    return this.c.stream.writableLength < HIGH_WATER;
  }
  wait(): Promise<void> {
    const s = this.c.stream;
    if (s.writableLength < HIGH_WATER) return Promise.resolve();
    return new Promise((resolve) => s.once('drain', resolve));
  }
  flush(): Promise<void> {
    // A QoS 1 publish is acknowledged after everything sent before it was processed.
    return new Promise((resolve, reject) => this.c.publish('bench/flush', Buffer.alloc(1), { qos: 1 }, (err) => (err ? reject(err) : resolve())));
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.c.end(true, {}, () => resolve()));
  }
}

function mqttTopic(t: string): string {
  return t.replaceAll('.', '/');
}

const makeRedis = (create: typeof createClient, path: string) => create({ socket: { path, reconnectStrategy: false } });
type RedisClient = ReturnType<typeof makeRedis>;

/** node-redis over Redis's Unix socket; publishes are pipelined with a bounded window. */
class RedisBenchClient implements BenchClient {
  private inflight = 0;
  private waiter: (() => void) | undefined;
  private waitBelow = 0;
  private static readonly WINDOW = 2048;

  private constructor(private readonly c: RedisClient) {}

  static async open(create: typeof createClient, path: string): Promise<BenchClient> {
    const c = makeRedis(create, path);
    c.on('error', () => undefined);
    await c.connect();
    return new RedisBenchClient(c);
  }

  async subscribe(topic: string, on: OnEvent): Promise<void> {
    await this.c.subscribe(topic, (msg: Buffer) => on(decodeValue(msg) as CameraEvent, 0), true);
  }
  async subscribeOpaque(topic: string, on: OnOpaque): Promise<void> {
    await this.c.subscribe(topic, (msg: Buffer) => on(msg.readUInt32BE(0), msg.length, 0), true);
  }
  publishOpaque(topic: string, bytes: Uint8Array): boolean {
    this.inflight++;
    this.c.publish(topic, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length)).then(this.done, this.done);
    return this.inflight < RedisBenchClient.WINDOW;
  }
  onLoss(): void {
    /* Redis pub/sub drops by disconnecting; losses show as gaps in `n` */
  }
  publish(topic: string, ev: CameraEvent): boolean {
    this.inflight++;
    this.c.publish(topic, encodeValue(ev)).then(this.done, this.done);
    return this.inflight < RedisBenchClient.WINDOW;
  }
  private readonly done = (): void => {
    this.inflight--;
    if (this.waiter !== undefined && this.inflight <= this.waitBelow) {
      const w = this.waiter;
      this.waiter = undefined;
      w();
    }
  };
  private until(n: number): Promise<void> {
    if (this.inflight <= n) return Promise.resolve();
    this.waitBelow = n;
    return new Promise((resolve) => (this.waiter = resolve));
  }
  wait(): Promise<void> {
    return this.until(RedisBenchClient.WINDOW / 2);
  }
  flush(): Promise<void> {
    return this.until(0);
  }
  async close(): Promise<void> {
    this.c.destroy();
  }
}

/** nats.js over loopback TCP; publishes flushed every 1,000 with a few flushes outstanding. */
class NatsBenchClient implements BenchClient {
  private count = 0;
  private readonly flushes: Promise<void>[] = [];

  constructor(private readonly nc: NatsConnection) {}

  async subscribe(topic: string, on: OnEvent): Promise<void> {
    this.nc.subscribe(topic, {
      callback: (err, m) => {
        if (err === null) on(decodeValue(m.data) as CameraEvent, 0);
      },
    });
    await this.nc.flush();
  }
  async subscribeOpaque(topic: string, on: OnOpaque): Promise<void> {
    this.nc.subscribe(topic, {
      callback: (err, m) => {
        if (err !== null) return;
        const d = m.data;
        on(((d[0]! << 24) | (d[1]! << 16) | (d[2]! << 8) | d[3]!) >>> 0, d.length, 0);
      },
    });
    await this.nc.flush();
  }
  publishOpaque(topic: string, bytes: Uint8Array): boolean {
    this.nc.publish(topic, bytes);
    if (++this.count % 1000 === 0) this.flushes.push(this.nc.flush());
    return this.flushes.length < 4;
  }
  onLoss(): void {
    /* slow consumers are cut by the server; losses show as gaps in `n` */
  }
  publish(topic: string, ev: CameraEvent): boolean {
    this.nc.publish(topic, encodeValue(ev));
    if (++this.count % 1000 === 0) this.flushes.push(this.nc.flush());
    return this.flushes.length < 4;
  }
  async wait(): Promise<void> {
    await this.flushes.shift();
  }
  async flush(): Promise<void> {
    await Promise.all(this.flushes.splice(0));
    await this.nc.flush();
  }
  async close(): Promise<void> {
    await this.nc.close();
  }
}
