/**
 * Home Assistant MQTT discovery for cameras: each `camera.discovered.<id>` becomes an HA device
 * with binary_sensors (motion, person, tamper, and one per digital input as it is first seen),
 * their state on `<prefix>/ha/<id>/<sensor>` (retained ON/OFF), and availability from
 * `camera.status.<id>` together with the bridge's own status (availability_mode "all").
 * Discovery configs are retained, so HA finds the cameras whenever it starts. No YAML.
 */
import type { MqttClient } from 'mqtt';
import type { Subscription } from 'rxjs';
import type { Client } from 'udsbus';
import type { Logger } from '../common/logger.js';
import { levelToToken } from './topics.js';

type Camera = { cameraId: string; name?: string; manufacturer?: string; model?: string; firmware?: string; serial?: string };
type Sensor = { key: string; name: string; deviceClass: string; offDelay?: number };

const BASE_SENSORS: Sensor[] = [
  { key: 'motion', name: 'Motion', deviceClass: 'motion' },
  { key: 'person', name: 'Person', deviceClass: 'occupancy', offDelay: 30 },
  { key: 'tamper', name: 'Tamper', deviceClass: 'tamper' },
];

/** HA object ids allow [a-zA-Z0-9_-]. */
const haId = (s: string) => s.replace(/[^a-zA-Z0-9_-]/g, '_');

export function discoveryConfig(o: { site: string; prefix: string; statusTopic: string; camera: Camera; sensor: Sensor; discoveryPrefix?: string }): { topic: string; payload: Record<string, unknown> } {
  const cam = o.camera;
  const node = haId(`udsbus_${o.site}_${cam.cameraId}`);
  const stateBase = `${o.prefix}/ha/${levelToToken(cam.cameraId)}`;
  const device: Record<string, unknown> = { identifiers: [node], name: cam.name ?? cam.cameraId };
  if (cam.manufacturer !== undefined) device['manufacturer'] = cam.manufacturer;
  if (cam.model !== undefined) device['model'] = cam.model;
  if (cam.firmware !== undefined) device['sw_version'] = cam.firmware;
  if (cam.serial !== undefined) device['serial_number'] = cam.serial;
  const payload: Record<string, unknown> = {
    name: o.sensor.name,
    unique_id: `${node}_${haId(o.sensor.key)}`,
    device_class: o.sensor.deviceClass,
    state_topic: `${stateBase}/${o.sensor.key}`,
    payload_on: 'ON',
    payload_off: 'OFF',
    availability: [{ topic: o.statusTopic }, { topic: `${stateBase}/availability` }],
    availability_mode: 'all',
    payload_available: 'online',
    payload_not_available: 'offline',
    qos: 1,
    device,
    origin: { name: 'udsbus', support_url: 'https://github.com/udsbus/udsbus' },
  };
  if (o.sensor.offDelay !== undefined) payload['off_delay'] = o.sensor.offDelay;
  return { topic: `${o.discoveryPrefix ?? 'homeassistant'}/binary_sensor/${node}/${haId(o.sensor.key)}/config`, payload };
}

export function startHomeAssistant(o: { bus: Client; mq: MqttClient; site: string; prefix: string; discoveryPrefix: string; statusTopic: string; log: Logger }): { stop(): void } {
  const cameras = new Map<string, { camera: Camera; sensors: Set<string> }>();
  const subs: Subscription[] = [];
  const pub = (topic: string, payload: string, retain = true) => o.mq.publish(topic, payload, { qos: 1, retain });
  const stateBase = (id: string) => `${o.prefix}/ha/${levelToToken(id)}`;

  const announce = (id: string, sensor: Sensor) => {
    const entry = cameras.get(id);
    if (entry === undefined || entry.sensors.has(sensor.key)) return;
    entry.sensors.add(sensor.key);
    const d = discoveryConfig({ site: o.site, prefix: o.prefix, statusTopic: o.statusTopic, camera: entry.camera, sensor, discoveryPrefix: o.discoveryPrefix });
    pub(d.topic, JSON.stringify(d.payload));
  };

  subs.push(
    o.bus.subscribe('camera.discovered.*', {}).subscribe((m) => {
      const id = m.topic.slice('camera.discovered.'.length);
      const cam = m.payload as Camera | undefined;
      if (cam === undefined || typeof cam !== 'object') return; // cleared: the camera is gone; HA keeps it unavailable
      const prev = cameras.get(id);
      cameras.set(id, { camera: { ...cam, cameraId: id }, sensors: new Set() });
      for (const s of BASE_SENSORS) announce(id, s);
      for (const key of prev?.sensors ?? []) if (key.startsWith('input_')) announce(id, inputSensor(key.slice(6)));
    }),
    o.bus.subscribe('camera.status.*', {}).subscribe((m) => {
      const id = m.topic.slice('camera.status.'.length);
      const state = (m.payload as { state?: unknown } | undefined)?.state;
      pub(`${stateBase(id)}/availability`, state === 'online' ? 'online' : 'offline');
    }),
    o.bus.subscribe('camera.event.*.*', { retained: false }).subscribe((m) => {
      const [, , id, kind] = m.topic.split('.');
      if (id === undefined || kind === undefined) return;
      const p = (m.payload ?? {}) as { active?: unknown; classes?: unknown; input?: unknown };
      if (kind === 'motion' || kind === 'tamper') {
        if (typeof p.active === 'boolean') pub(`${stateBase(id)}/${kind}`, p.active ? 'ON' : 'OFF');
      } else if (kind === 'input' && typeof p.input === 'string' && typeof p.active === 'boolean') {
        const s = inputSensor(p.input);
        announce(id, s);
        pub(`${stateBase(id)}/${s.key}`, p.active ? 'ON' : 'OFF');
      } else if (kind === 'object' && Array.isArray(p.classes) && p.classes.includes('person')) {
        pub(`${stateBase(id)}/person`, 'ON', false); // off_delay turns it off in HA
      }
    }),
  );
  o.log.info({ discoveryPrefix: o.discoveryPrefix }, 'Home Assistant discovery on');
  return { stop: () => subs.forEach((s) => s.unsubscribe()) };
}

function inputSensor(token: string): Sensor {
  return { key: `input_${haId(token)}`, name: `Input ${token}`, deviceClass: 'power' };
}
