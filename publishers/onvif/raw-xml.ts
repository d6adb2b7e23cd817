/**
 * Reads answers from the raw XML rather than from the library's parsed objects. The library's
 * parser turns every number-looking text into a number ("1.10" → 1.1, a 20-digit serial → a
 * rounded float), which would corrupt serials (and so camera ids), firmware versions, usernames and
 * profile tokens. Here every value stays the text the camera sent.
 */
import { XMLParser } from 'fast-xml-parser';
import type { CameraProfile } from '../../schemas/payloads.js';

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: '@_',
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
  processEntities: true,
  isArray: (name) => name === 'Profiles' || name === 'User',
});

type Node = Record<string, unknown>;

function parse(xml: string): Node | undefined {
  try {
    return parser.parse(xml) as Node;
  } catch {
    return undefined;
  }
}

/** The first element called `name`, depth first. */
function find(node: unknown, name: string, depth = 0): unknown {
  if (node === null || typeof node !== 'object' || depth > 24) return undefined;
  if (Array.isArray(node)) {
    for (const n of node) {
      const hit = find(n, name, depth + 1);
      if (hit !== undefined) return hit;
    }
    return undefined;
  }
  const obj = node as Node;
  if (name in obj) return obj[name];
  for (const v of Object.values(obj)) {
    const hit = find(v, name, depth + 1);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v !== null && typeof v === 'object' && '#text' in v) return text((v as Node)['#text']);
  return undefined;
}

function child(v: unknown, name: string): unknown {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Node)[name] : undefined;
}

function positiveInt(v: unknown): number | undefined {
  const s = text(v);
  if (s === undefined || !/^[0-9]+$/.test(s)) return undefined;
  const n = Number(s);
  return n >= 1 && Number.isSafeInteger(n) ? n : undefined;
}

function positiveNumber(v: unknown): number | undefined {
  const s = text(v);
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

export interface DeviceInfo {
  manufacturer: string;
  model: string;
  firmware: string;
  serial: string;
  hardwareId: string;
}

/** GetDeviceInformationResponse as text; undefined when the XML is not one. */
export function deviceInfoFromXml(xml: string): DeviceInfo | undefined {
  const r = find(parse(xml), 'GetDeviceInformationResponse');
  if (r === undefined) return undefined;
  const get = (n: string): string => text(child(r, n)) ?? '';
  return {
    manufacturer: get('Manufacturer'),
    model: get('Model'),
    firmware: get('FirmwareVersion'),
    serial: get('SerialNumber'),
    hardwareId: get('HardwareId'),
  };
}

/** Media (ver10) or Media2 (ver20) GetProfilesResponse as profile summaries. */
export function profilesFromXml(xml: string): CameraProfile[] | undefined {
  const r = find(parse(xml), 'GetProfilesResponse');
  if (r === undefined) return undefined;
  const list = child(r, 'Profiles');
  if (!Array.isArray(list)) return [];
  const out: CameraProfile[] = [];
  for (const p of list) {
    const token = text(child(p, '@_token'));
    if (token === undefined || token === '') continue;
    const configs = child(p, 'Configurations');
    const enc = child(p, 'VideoEncoderConfiguration') ?? child(configs, 'VideoEncoder');
    const res = child(enc, 'Resolution');
    const profile: CameraProfile = { token, name: text(child(p, 'Name')) ?? '' };
    const encoding = text(child(enc, 'Encoding'));
    if (encoding) profile.encoding = encoding;
    const width = positiveInt(child(res, 'Width'));
    const height = positiveInt(child(res, 'Height'));
    const fps = positiveNumber(child(child(enc, 'RateControl'), 'FrameRateLimit'));
    if (width !== undefined) profile.width = width;
    if (height !== undefined) profile.height = height;
    if (fps !== undefined) profile.fps = fps;
    profile.ptz = (child(p, 'PTZConfiguration') ?? child(configs, 'PTZ')) !== undefined;
    // The channel: an NVR's profiles name one video source each, and events name the same one.
    const vsc = child(p, 'VideoSourceConfiguration') ?? child(configs, 'VideoSource');
    const sourceToken = text(child(vsc, 'SourceToken'));
    const configToken = text(child(vsc, '@_token'));
    if (sourceToken) profile.videoSource = sourceToken;
    if (configToken) profile.videoSourceConfiguration = configToken;
    out.push(profile);
  }
  return out;
}

const LEVELS = ['Administrator', 'Operator', 'User', 'Anonymous', 'Extended'] as const;
export type UserLevel = (typeof LEVELS)[number];

/** GetUsersResponse; levels outside the ONVIF enumeration are reported as `Extended`. */
export function usersFromXml(xml: string): { username: string; level: UserLevel }[] | undefined {
  const r = find(parse(xml), 'GetUsersResponse');
  if (r === undefined) return undefined;
  const list = child(r, 'User');
  if (!Array.isArray(list)) return [];
  return list.flatMap((u) => {
    const username = text(child(u, 'Username'));
    if (username === undefined || username.length < 1 || username.length > 64) return [];
    const raw = text(child(u, 'UserLevel')) ?? '';
    const level = (LEVELS as readonly string[]).includes(raw) ? (raw as UserLevel) : 'Extended';
    return [{ username, level }];
  });
}

/** The `Uri` of a GetStreamUri/GetSnapshotUri answer (Media or Media2). */
export function uriFromXml(xml: string): string | undefined {
  const doc = parse(xml);
  const media = find(doc, 'MediaUri');
  return text(child(media, 'Uri')) ?? text(find(doc, 'Uri'));
}
