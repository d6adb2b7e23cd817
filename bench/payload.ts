/**
 * The message every system carries: a camera event map of about 200 bytes of CBOR, encoded and
 * decoded with the same portable-CBOR codec the udsbus client uses, so every system pays the
 * same per-message application cost.
 */
import { performance } from 'node:perf_hooks';

export type CameraEvent = {
  camera: string;
  kind: string;
  /** Position in the run, 0-based: gaps reveal losses on every system, with or without seq. */
  n: number;
  /** Publish time, ms since the epoch with sub-ms precision, comparable across local processes. */
  ts: number;
  active: boolean;
  zone: string;
  score: number;
  box: number[];
  objects: Array<{ label: string; conf: number; track: number }>;
  frame: number;
  stream: string;
  source: string;
};

/** The topic, in udsbus/NATS/Redis spelling; adapters translate for MQTT. */
export const EVENT_TOPIC = 'camera.event.cam-07.motion';
export const RPC_TOPIC = 'bench.rpc.echo';

/** Wall-clock now in ms with sub-ms precision; the same clock in every process on one machine. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function cameraEvent(n: number): CameraEvent {
  return {
    camera: 'cam-07',
    kind: 'motion',
    n,
    ts: now(),
    active: true,
    zone: 'driveway',
    score: 0.87,
    box: [0.412, 0.233, 0.118, 0.304],
    objects: [{ label: 'person', conf: 0.91, track: 4711 }],
    frame: 1_234_567 + n,
    stream: 'main',
    source: 'onvif',
  };
}
