/**
 * MQTT bridge benchmark: throughput out (bus -> durable queue -> bridge -> Mosquitto QoS 1 ->
 * MQTT subscriber) and the latency the bridge adds compared with a direct MQTT publish.
 * Needs /usr/sbin/mosquitto; starts its own on a Unix socket in a temp dir.
 *
 *   npm run build && node dist/bench/bridge.js [--messages 20000] [--samples 1000] [--size 200]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { connect, startBroker } from '../bus/index.js';
import { startBridge } from '../subscribers/bridge/index.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '20000' }, samples: { type: 'string', default: '1000' }, size: { type: 'string', default: '200' } } });
const N = Number(values.messages);
const S = Number(values.samples);
const payload = { v: 1, cameraId: 'front-door', kind: 'motion', active: true, pad: 'x'.repeat(Math.max(0, Number(values.size) - 60)) };

const dir = mkdtempSync(join(tmpdir(), 'udsbus-bench-bridge-'));
const sock = join(dir, 'mqtt.sock');
writeFileSync(join(dir, 'm.conf'), `listener 0 ${sock}\nallow_anonymous true\n${process.getuid?.() === 0 ? 'user root\n' : ''}log_dest stderr\nlog_type information\n`);
const mosq = spawn('/usr/sbin/mosquitto', ['-c', join(dir, 'm.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
await new Promise<void>((resolve, reject) => {
  let log = '';
  mosq.stderr.on('data', (c: Buffer) => ((log += c.toString()), /running/.test(log) && resolve()));
  mosq.once('exit', () => reject(new Error(log)));
});
const broker = await startBroker({ socket: join(dir, 'bus.sock'), dataDir: join(dir, 'data') });
const bus = await connect({ socket: join(dir, 'bus.sock'), name: 'bench' });
const bridge = await startBridge(
  { site: 'bench', prefix: 'b', mqtt: { unixSocket: sock }, out: [{ pattern: 'tput.>' }, { pattern: 'lat.>' }] },
  { client: bus, logger: pino({ level: 'warn' }) },
);
if (!bridge.mqtt.connected) await new Promise((r) => bridge.mqtt.once('connect', r));
const sub = await mqtt.connectAsync({ protocol: 'mqtt', unixSocket: true, path: sock, protocolVersion: 5 } as mqtt.IClientOptions);
await sub.subscribeAsync(['b/#', 'direct/#'], { qos: 1 });

const pct = (xs: number[], p: number) => xs.sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const ms = (ns: bigint) => Number(ns) / 1e6;

// Latency: one message at a time, bus publish -> MQTT subscriber; then direct MQTT publish -> subscriber.
async function latency(send: (i: number) => void, topicOf: (i: number) => string): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < S; i++) {
    const t0 = process.hrtime.bigint();
    const got = new Promise<void>((r) => {
      const on = (t: string) => t === topicOf(i) && (sub.off('message', on), r());
      sub.on('message', on);
    });
    send(i);
    await got;
    out.push(ms(process.hrtime.bigint() - t0));
  }
  return out;
}
const viaBridge = await latency((i) => bus.publish(`lat.${i}`, payload), (i) => `b/lat/${i}`);
const pubc = await mqtt.connectAsync({ protocol: 'mqtt', unixSocket: true, path: sock, protocolVersion: 5 } as mqtt.IClientOptions);
const direct = await latency((i) => pubc.publish(`direct/${i}`, JSON.stringify(payload), { qos: 1 }), (i) => `direct/${i}`);

// Throughput: N published on the bus as fast as the client takes them; time until all reached MQTT.
let got = 0;
const all = new Promise<void>((r) => sub.on('message', (t) => t.startsWith('b/tput/') && ++got === N && r()));
const t0 = process.hrtime.bigint();
for (let i = 0; i < N; i++) {
  if (!bus.publish(`tput.${i % 100}`, payload)) await new Promise((r) => setImmediate(r));
}
await all;
const secs = ms(process.hrtime.bigint() - t0) / 1000;

const r = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(3)} ms, p99 ${pct(xs, 99).toFixed(3)} ms`;
console.log(`bridge out, QoS 1, durable queue, ${N} x ~${values.size} B JSON: ${Math.round(N / secs)} msg/s (${secs.toFixed(2)} s)`);
console.log(`latency bus -> bridge -> Mosquitto -> subscriber (${S} sequential): ${r(viaBridge)}`);
console.log(`latency direct MQTT publish -> subscriber (QoS 1):          ${r(direct)}`);
console.log(`added by the bridge (p50): ${(pct(viaBridge, 50) - pct(direct, 50)).toFixed(3)} ms`);

await pubc.endAsync();
await sub.endAsync();
await bridge.stop();
await bus.close();
await broker.close();
mosq.kill('SIGTERM');
rmSync(dir, { recursive: true, force: true });
