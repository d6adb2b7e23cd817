/**
 * The MQTT bridge: chosen bus patterns out to an MQTT broker, chosen MQTT topics in to the bus,
 * request/reply over MQTT 5 response topics, Home Assistant discovery (ha.ts).
 *
 * Out is lossless across MQTT outages: each pattern is read from a durable queue (PROTOCOL.md
 * §17) and a message is acknowledged on the bus only after the MQTT broker's PUBACK (QoS 1), so
 * whatever the MQTT broker did not take stays on the bus's disk, bounded by the queue's quota
 * (drop-oldest, and the loss is logged and published on `<prefix>/bridge/loss`).
 *
 * Loops are cut at both edges: what the bridge publishes to MQTT carries the user property
 * `udsbus-site`; it subscribes with No Local and drops MQTT messages carrying its own site.
 * What it publishes onto the bus carries the header `bridge`; out never forwards those.
 */
import { readFileSync } from 'node:fs';
import { decode as cborDecode } from 'cbor-x';
import type { IClientOptions, IClientPublishOptions, MqttClient } from 'mqtt';
import type { Subscription } from 'rxjs';
import type { Client, Message } from 'udsbus';
import { NoRespondersError, RemoteError, TimeoutError } from 'udsbus';
import { patternMatches } from 'udsbus';
import { toJsonSafe } from '../common/json-safe.js';
import type { Logger } from '../common/logger.js';
import type { BridgeConfig } from './config.js';
import { startFrigate } from './frigate.js';
import { startHomeAssistant } from './ha.js';
import { busToMqtt, filterStem, mqttMatches, mqttToBus } from './topics.js';

export const ORIGIN_PROPERTY = 'udsbus-site';
export const BRIDGE_HEADER = 'bridge';

export type BridgeStats = { out: number; in: number; skippedLoops: number; lost: number; requestsIn: number; requestsOut: number };

export type Bridge = { stop(): Promise<void>; stats: BridgeStats; mqtt: MqttClient };

/** Build MQTT.js options from the config; secrets are read from their files here. */
export function mqttOptions(c: BridgeConfig): IClientOptions {
  const m = c.mqtt;
  const clientId = m.clientId ?? `udsbus-bridge-${c.site}`;
  const o: IClientOptions = {
    protocolVersion: 5,
    clientId,
    clean: true,
    keepalive: m.keepaliveSec ?? 30,
    reconnectPeriod: m.reconnectMs ?? 1000,
    will: { topic: `${c.prefix}/bridge/status`, payload: Buffer.from('offline'), qos: 1, retain: true },
  };
  if (m.unixSocket !== undefined) Object.assign(o, { protocol: 'mqtt', unixSocket: true, path: m.unixSocket });
  if (m.username !== undefined) o.username = m.username;
  if (m.passwordFile !== undefined) o.password = readFileSync(m.passwordFile, 'utf8').replace(/\r?\n$/, '');
  if (m.caFile !== undefined) o.ca = readFileSync(m.caFile);
  if (m.certFile !== undefined) o.cert = readFileSync(m.certFile);
  if (m.keyFile !== undefined) o.key = readFileSync(m.keyFile);
  return o;
}

export function encodePayload(format: 'json' | 'cbor', m: Pick<Message, 'payload' | 'bytes'>): Buffer {
  if (m.bytes.length === 0) return Buffer.alloc(0);
  if (format === 'cbor') return Buffer.from(m.bytes.buffer, m.bytes.byteOffset, m.bytes.byteLength);
  return Buffer.from(JSON.stringify(toJsonSafe(m.payload)));
}

/** MQTT payload -> bus value: JSON when it parses, else UTF-8 text, else the bytes. Empty -> undefined. */
export function decodePayload(format: 'json' | 'cbor', b: Buffer): unknown {
  if (b.length === 0) return undefined;
  if (format === 'cbor') {
    try {
      return cborDecode(b);
    } catch {
      return new Uint8Array(b);
    }
  }
  const text = b.toString('utf8');
  try {
    return JSON.parse(text);
  } catch {
    return Buffer.from(text, 'utf8').equals(b) ? text : new Uint8Array(b);
  }
}

/**
 * Acknowledge durable messages in order: a mid is acked once it and every earlier one in flight
 * has been taken by MQTT (PUBACKs may complete out of order; the bus ack is cumulative).
 */
class InOrderAck {
  private inflight: Array<{ mid: number; done: boolean }> = [];
  constructor(private readonly ack: (mid: number) => void) {}
  add(mid: number): { done(): void } {
    const e = { mid, done: false };
    this.inflight.push(e);
    return {
      done: () => {
        e.done = true;
        let last: number | undefined;
        while (this.inflight.length > 0 && this.inflight[0]!.done) last = this.inflight.shift()!.mid;
        if (last !== undefined) this.ack(last);
      },
    };
  }
  reset(): void {
    this.inflight = [];
  }
}

export async function startBridge(c: BridgeConfig, ctx: { client: Client; logger: Logger; mqttLib?: typeof import('mqtt') }): Promise<Bridge> {
  const { client: bus, logger: log } = ctx;
  const lib = ctx.mqttLib ?? (await import('mqtt'));
  const format = c.format ?? 'json';
  const qos = c.qos ?? 1;
  const site = c.site;
  const stats: BridgeStats = { out: 0, in: 0, skippedLoops: 0, lost: 0, requestsIn: 0, requestsOut: 0 };
  const opts = mqttOptions(c);
  const statusTopic = `${c.prefix}/bridge/status`;
  const mq = lib.connect(c.mqtt.url ?? '', opts);
  const subs: Subscription[] = [];
  const props = { userProperties: { [ORIGIN_PROPERTY]: site } };
  const reqPrefix = `${c.prefix}/req`;
  const resTopic = `${c.prefix}/res/${opts.clientId ?? site}`;

  const mqttFilters: string[] = [...(c.in ?? []).map((i) => i.filter)];
  if ((c.serve ?? []).length > 0) mqttFilters.push(`${reqPrefix}/#`);
  if ((c.remote ?? []).length > 0) mqttFilters.push(resTopic);

  /** Out publishes MQTT.js refused during a disconnect, in order; sent again on the next connect. */
  let retry: Array<() => void> = [];
  mq.on('connect', () => {
    log.info({ url: c.mqtt.url ?? c.mqtt.unixSocket }, 'connected to the MQTT broker');
    mq.publish(statusTopic, 'online', { qos: 1, retain: true });
    const again = retry;
    retry = [];
    for (const f of again) f();
    // No Local: our own publishes are not sent back; Retain As Published: keep the flag on live messages.
    if (mqttFilters.length > 0) mq.subscribe(mqttFilters, { qos, nl: true, rap: true });
  });
  mq.on('close', () => log.debug('MQTT connection closed'));
  mq.on('offline', () => log.warn('MQTT broker unreachable; bus side keeps messages in its durable queues'));
  mq.on('error', (err) => log.error({ err: { message: err.message } }, 'MQTT error'));

  // ---- out: bus -> MQTT
  (c.out ?? []).forEach((o, i) => {
    const durable = o.durable === false ? undefined : (o.durable ?? `bridge-${site}-${i}`);
    let sid = 0;
    const acks = new InOrderAck((mid) => bus.ack({ sid, mid }));
    let lastMid = 0;
    // After a bus reconnect the queue redelivers everything un-acked; send it all again (at-least-once).
    bus.on('reconnect', () => {
      acks.reset();
      lastMid = 0;
    });
    const sub = bus
      .subscribe(o.pattern, durable === undefined ? {} : { durable, retained: false, durableOverflow: 'drop-oldest', ...(o.durableMaxBytes === undefined ? {} : { durableMaxBytes: o.durableMaxBytes }) })
      .subscribe({
        next: (m) => {
          if (m.lost > 0) {
            stats.lost += m.lost;
            log.warn({ pattern: o.pattern, lost: m.lost }, 'messages lost before reaching MQTT (durable queue bound)');
            mq.publish(`${c.prefix}/bridge/loss`, JSON.stringify({ pattern: o.pattern, lost: m.lost, total: stats.lost }), { qos: 1, properties: props });
          }
          if (m.sid !== sid) {
            sid = m.sid;
            acks.reset();
          }
          if (m.mid !== undefined && m.mid <= lastMid) return; // duplicate redelivery
          if (m.mid !== undefined) lastMid = m.mid;
          const done = m.mid === undefined ? undefined : acks.add(m.mid);
          if (m.hdr?.[BRIDGE_HEADER] !== undefined || m.topic.startsWith('_INBOX.')) {
            stats.skippedLoops++;
            done?.done();
            return;
          }
          const po: IClientPublishOptions = { qos, retain: o.retain === true || m.retained, properties: props };
          const send = (topic: string, payload: Buffer) =>
            mq.publish(topic, payload, po, (err) => {
              if (err !== undefined && err !== null) {
                // Refused while the connection dropped: kept (still un-acked on the bus) and sent again on reconnect.
                log.debug({ err: { message: err.message }, topic: m.topic }, 'MQTT publish failed; retrying on reconnect');
                retry.push(() => send(topic, payload));
                return;
              }
              stats.out++;
              done?.done();
            });
          send(busToMqtt(c.prefix, m.topic), encodePayload(format, m));
        },
        error: (err: Error) => log.error({ err: { message: err.message }, pattern: o.pattern }, 'bus subscription failed'),
      });
    subs.push(sub);
  });

  // ---- in: MQTT -> bus (events, requests to serve, responses to our remote requests)
  const pendingRemote = new Map<string, { reply: string; timer: NodeJS.Timeout }>();
  let corr = 0;
  mq.on('message', (topic, payload, packet) => {
    const origin = packet.properties?.userProperties?.[ORIGIN_PROPERTY];
    if (origin === site) {
      stats.skippedLoops++;
      return;
    }
    const pp = packet.properties;
    if (topic === resTopic && pp?.correlationData !== undefined) {
      const key = Buffer.from(pp.correlationData).toString('hex');
      const p = pendingRemote.get(key);
      if (p === undefined) return;
      pendingRemote.delete(key);
      clearTimeout(p.timer);
      publishBus(p.reply, decodePayload(format, payload), {});
      return;
    }
    if (topic.startsWith(`${reqPrefix}/`) && pp?.responseTopic !== undefined && (c.serve ?? []).length > 0) {
      void serveRemote(topic, payload, pp.responseTopic, pp.correlationData);
      return;
    }
    for (const e of c.in ?? []) {
      if (!mqttMatches(e.filter, topic)) continue;
      const busTopic = mqttToBus(topic, e.strip ?? filterStem(e.filter), e.busPrefix ?? '');
      if (busTopic === undefined) {
        log.warn({ topic }, 'MQTT topic has no bus equivalent; dropped');
        return;
      }
      const hdr: Record<string, string> = { [BRIDGE_HEADER]: site, 'mqtt-topic': topic };
      if (typeof origin === 'string') hdr['origin-site'] = origin;
      if (publishBus(busTopic, decodePayload(format, payload), { retain: packet.retain, hdr })) stats.in++;
      return;
    }
  });

  function publishBus(topic: string, payload: unknown, o: { retain?: boolean; hdr?: Record<string, string> }): boolean {
    try {
      bus.publish(topic, payload, { ...o, hdr: { [BRIDGE_HEADER]: site, ...o.hdr } });
      return true;
    } catch (err) {
      log.warn({ err: { message: (err as Error).message }, topic }, 'cannot publish onto the bus; dropped');
      return false;
    }
  }

  async function serveRemote(topic: string, payload: Buffer, responseTopic: string, correlationData: Buffer | undefined): Promise<void> {
    const busTopic = mqttToBus(topic, reqPrefix, '');
    let reply: unknown;
    if (busTopic === undefined || !(c.serve ?? []).some((p) => patternMatches(p, busTopic))) {
      reply = { ok: false, error: { code: 'forbidden', message: `the bridge does not serve "${busTopic ?? topic}"` } };
    } else {
      stats.requestsIn++;
      try {
        const m = await bus.requestMessage(busTopic, decodePayload(format, payload), { timeout: c.requestTimeoutMs ?? 5000, hdr: { [BRIDGE_HEADER]: site } });
        reply = m.payload;
      } catch (err) {
        const code = err instanceof NoRespondersError ? 'no-responders' : err instanceof TimeoutError ? 'timeout' : err instanceof RemoteError ? err.code : 'internal';
        reply = { ok: false, error: { code, message: (err as Error).message } };
      }
    }
    const ok = (reply as { ok?: unknown } | undefined)?.ok !== false;
    mq.publish(responseTopic, encodePayload(format, { payload: reply, bytes: new Uint8Array(1) }), {
      qos,
      properties: { ...(correlationData === undefined ? {} : { correlationData }), userProperties: { [ORIGIN_PROPERTY]: site, ...(ok ? {} : { status: 'error' }) } },
    });
  }

  // ---- remote: bus requests -> MQTT 5 requests with a response topic
  for (const r of c.remote ?? []) {
    const sub = bus.subscribe(`${r.busPrefix}.>`, { queue: 'serve', retained: false }).subscribe((m) => {
      if (m.reply === undefined) return; // events forwarded in land here too
      stats.requestsOut++;
      const key = (++corr).toString(16).padStart(8, '0');
      const timeout = c.requestTimeoutMs ?? 5000;
      const reply = m.reply;
      const timer = setTimeout(() => {
        pendingRemote.delete(key);
        publishBus(reply, { ok: false, error: { code: 'timeout', message: `no reply over MQTT within ${timeout} ms` } }, { hdr: { status: 'error' } });
      }, timeout);
      pendingRemote.set(key, { reply, timer });
      const rest = m.topic.slice(r.busPrefix.length + 1);
      mq.publish(busToMqtt(`${r.mqttPrefix}/req`, rest), encodePayload(format, m), {
        qos,
        properties: { responseTopic: resTopic, correlationData: Buffer.from(key, 'hex'), userProperties: { [ORIGIN_PROPERTY]: site } },
      });
    });
    subs.push(sub);
  }

  const frigate = c.frigate === undefined ? undefined : startFrigate({ bus, mq, prefix: c.frigate.prefix ?? 'frigate', clearMs: c.frigate.clearMs ?? 30_000 });
  if (frigate !== undefined) {
    if (mq.connected) frigate.online();
    mq.on('connect', () => frigate.online());
  }
  const ha = c.homeAssistant === undefined ? undefined : startHomeAssistant({ bus, mq, site, prefix: c.prefix, discoveryPrefix: c.homeAssistant.discoveryPrefix ?? 'homeassistant', statusTopic, log });

  return {
    stats,
    mqtt: mq,
    async stop() {
      ha?.stop();
      frigate?.stop();
      if (mq.connected) await frigate?.offline();
      for (const s of subs) s.unsubscribe();
      for (const p of pendingRemote.values()) clearTimeout(p.timer);
      if (mq.connected) await new Promise<void>((resolve) => mq.publish(statusTopic, 'offline', { qos: 1, retain: true }, () => resolve()));
      await mq.endAsync();
    },
  };
}
