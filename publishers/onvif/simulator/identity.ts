/**
 * Stable identity derived from a camera name, so a test fleet looks the same on every run.
 */
import { createHash } from 'node:crypto';
import type { SimulatedCameraOptions } from './types.js';

export interface CameraIdentity {
  name: string;
  serial: string;
  uuid: string;
  manufacturer: string;
  model: string;
  firmware: string;
  hardwareId: string;
  hostname: string;
  mac: string;
}

export function deriveIdentity(opts: SimulatedCameraOptions): CameraIdentity {
  const name = opts.name ?? 'sim-camera';
  const h = createHash('sha256').update(`udsbus-onvif-simulator:${name}`).digest();
  const hex = h.toString('hex');
  // RFC 4122 layout with version 5 and the RFC variant bits, so strict parsers accept it.
  const variant = ((h[8] ?? 0) & 0x3f) | 0x80;
  const uuid = [
    hex.slice(0, 8),
    hex.slice(8, 12),
    `5${hex.slice(13, 16)}`,
    `${variant.toString(16).padStart(2, '0')}${hex.slice(18, 20)}`,
    hex.slice(20, 32),
  ].join('-');
  // 02: locally administered unicast, never a real vendor's OUI.
  const mac = ['02', ...[0, 1, 2, 3, 4].map((i) => (h[20 + i] ?? 0).toString(16).padStart(2, '0'))].join(':');
  return {
    name,
    serial: opts.serial ?? `SIM${hex.slice(0, 10).toUpperCase()}`,
    uuid: opts.uuid ?? uuid,
    manufacturer: opts.manufacturer ?? 'udsbus',
    model: opts.model ?? 'SimCam-2000',
    firmware: opts.firmware ?? 'V1.0.0 build 240101',
    hardwareId: opts.hardwareId ?? `HW-${hex.slice(10, 14).toUpperCase()}`,
    hostname: opts.hostname ?? (name.toLowerCase().replace(/[^a-z0-9-]+/g, '-').replace(/^-+|-+$/g, '') || 'sim-camera'),
    mac: opts.mac ?? mac,
  };
}
