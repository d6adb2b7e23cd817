/**
 * Making the camera findable: a WS-Discovery target service (UDP 3702, 239.255.255.250) and an
 * SSDP advertiser. Both multicast, so they only ever start when the caller asks for them; run
 * them in a network namespace of their own in tests, never on a real LAN by accident.
 */
import { randomUUID } from 'node:crypto';
import dgram from 'node:dgram';
import os from 'node:os';
import { formatSsdp, parseSsdp, SSDP_GROUP, SSDP_PORT, unquote } from '../ssdp.js';
import type { CameraIdentity } from './identity.js';
import type { DiscoveryOptions, SimLogger } from './types.js';
import { child, childText, esc, parseXml, type XmlElement } from './xml.js';

const WSD_GROUP = '239.255.255.250';
const WSD_PORT = 3702;
const NS_WSA = 'http://schemas.xmlsoap.org/ws/2004/08/addressing';
const NS_WSD = 'http://schemas.xmlsoap.org/ws/2005/04/discovery';
const ANONYMOUS = 'http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous';
const TYPES = 'dn:NetworkVideoTransmitter tds:Device';
/** Type local names we answer a Probe for; an empty Types matches everything. */
const MATCHING_TYPES = new Set(['NetworkVideoTransmitter', 'Device']);

export interface DiscoveryTarget {
  readonly identity: CameraIdentity;
  /** Device service URL announced as XAddrs. */
  readonly xaddr: string;
  /** Base URL of the web server, for the UPnP description. */
  readonly baseUrl: string;
  readonly scopes: readonly string[];
}

export interface DiscoveryHandle {
  close(): Promise<void>;
}

/** IPv4 address of a named interface, for multicast membership. */
export function interfaceAddress(name: string | undefined): string | undefined {
  if (name === undefined) return undefined;
  const addr = os.networkInterfaces()[name]?.find((a) => a.family === 'IPv4');
  if (!addr) throw new Error(`interface ${name} has no IPv4 address`);
  return addr.address;
}

export async function startDiscovery(
  opts: DiscoveryOptions,
  target: DiscoveryTarget,
  logger: SimLogger | undefined,
): Promise<DiscoveryHandle> {
  const parts: DiscoveryHandle[] = [];
  try {
    if (opts.wsDiscovery) parts.push(await startWsDiscovery(opts, target, logger));
    if (opts.ssdp) parts.push(await startSsdp(opts, target, logger));
  } catch (err) {
    await Promise.all(parts.map((p) => p.close()));
    throw err;
  }
  return { close: async () => void (await Promise.all(parts.map((p) => p.close()))) };
}

// ---- WS-Discovery ---------------------------------------------------------------------------

function wsdEnvelope(action: string, headerExtra: string, body: string, messageNumber: number, instanceId: number): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope" xmlns:wsa="${NS_WSA}"` +
    ` xmlns:d="${NS_WSD}" xmlns:dn="http://www.onvif.org/ver10/network/wsdl" xmlns:tds="http://www.onvif.org/ver10/device/wsdl">` +
    '<SOAP-ENV:Header>' +
    `<wsa:MessageID>urn:uuid:${randomUUID()}</wsa:MessageID>${headerExtra}` +
    `<wsa:Action>${NS_WSD}/${action}</wsa:Action>` +
    `<d:AppSequence InstanceId="${instanceId}" MessageNumber="${messageNumber}"/>` +
    `</SOAP-ENV:Header><SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`
  );
}

function endpointXml(t: DiscoveryTarget, withAddrs: boolean): string {
  return (
    `<wsa:EndpointReference><wsa:Address>urn:uuid:${t.identity.uuid}</wsa:Address></wsa:EndpointReference>` +
    `<d:Types>${TYPES}</d:Types><d:Scopes>${t.scopes.map(esc).join(' ')}</d:Scopes>` +
    (withAddrs ? `<d:XAddrs>${esc(t.xaddr)}</d:XAddrs>` : '') +
    '<d:MetadataVersion>1</d:MetadataVersion>'
  );
}

/** RFC 3986 scope matching as WS-Discovery defines it: segment-wise prefix. */
function scopeMatches(wanted: string, ours: readonly string[]): boolean {
  const w = wanted.replace(/\/+$/, '');
  return ours.some((o) => o === w || o.startsWith(`${w}/`));
}

function probeMatches(probe: XmlElement, t: DiscoveryTarget): boolean {
  const types = (childText(probe, 'Types') ?? '').split(/\s+/).filter(Boolean);
  if (types.some((q) => !MATCHING_TYPES.has(q.slice(q.indexOf(':') + 1)))) return false;
  const scopes = (childText(probe, 'Scopes') ?? '').split(/\s+/).filter(Boolean);
  return scopes.every((s) => scopeMatches(s, t.scopes));
}

async function startWsDiscovery(opts: DiscoveryOptions, t: DiscoveryTarget, logger: SimLogger | undefined): Promise<DiscoveryHandle> {
  const iface = interfaceAddress(opts.interface);
  const maxDelay = opts.maxResponseDelayMs ?? 100;
  const instanceId = Math.floor(Date.now() / 1000);
  let messageNumber = 0;
  const timers = new Set<NodeJS.Timeout>();
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  sock.on('error', (err) => logger?.warn({ err }, 'ws-discovery socket error'));

  const send = (xml: string, port: number, address: string): Promise<void> =>
    new Promise((resolve) => sock.send(xml, port, address, () => resolve()));

  sock.on('message', (msg, rinfo) => {
    let root: XmlElement;
    try {
      root = parseXml(msg.toString('utf8'));
    } catch {
      return; // Not for us; WS-Discovery ignores what it cannot parse.
    }
    const header = child(root, 'Header');
    const body = child(root, 'Body');
    const relatesTo = childText(header, 'MessageID') ?? '';
    const probe = child(body, 'Probe', NS_WSD);
    const resolve = child(body, 'Resolve', NS_WSD);
    let reply: string | undefined;
    if (probe && probeMatches(probe, t)) {
      reply = wsdEnvelope(
        'ProbeMatches',
        `<wsa:RelatesTo>${esc(relatesTo)}</wsa:RelatesTo><wsa:To>${ANONYMOUS}</wsa:To>`,
        `<d:ProbeMatches><d:ProbeMatch>${endpointXml(t, true)}</d:ProbeMatch></d:ProbeMatches>`,
        ++messageNumber,
        instanceId,
      );
    } else if (resolve && childText(child(resolve, 'EndpointReference'), 'Address') === `urn:uuid:${t.identity.uuid}`) {
      reply = wsdEnvelope(
        'ResolveMatches',
        `<wsa:RelatesTo>${esc(relatesTo)}</wsa:RelatesTo><wsa:To>${ANONYMOUS}</wsa:To>`,
        `<d:ResolveMatches><d:ResolveMatch>${endpointXml(t, true)}</d:ResolveMatch></d:ResolveMatches>`,
        ++messageNumber,
        instanceId,
      );
    }
    if (reply === undefined) return;
    const xml = reply;
    // A random delay spreads the answers of many devices, as WS-Discovery asks (APP_MAX_DELAY).
    const timer = setTimeout(() => {
      timers.delete(timer);
      void send(xml, rinfo.port, rinfo.address);
    }, Math.floor(Math.random() * maxDelay));
    timers.add(timer);
    logger?.debug({ from: `${rinfo.address}:${rinfo.port}` }, probe ? 'ws-discovery probe answered' : 'ws-discovery resolve answered');
  });

  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(WSD_PORT, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.addMembership(WSD_GROUP, iface);
  if (iface) sock.setMulticastInterface(iface);
  sock.setMulticastTTL(1);
  await send(wsdEnvelope('Hello', `<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>`, `<d:Hello>${endpointXml(t, true)}</d:Hello>`, ++messageNumber, instanceId), WSD_PORT, WSD_GROUP);

  return {
    async close() {
      for (const timer of timers) clearTimeout(timer);
      await send(wsdEnvelope('Bye', `<wsa:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</wsa:To>`, `<d:Bye>${endpointXml(t, false)}</d:Bye>`, ++messageNumber, instanceId), WSD_PORT, WSD_GROUP);
      await new Promise<void>((resolve) => sock.close(() => resolve()));
    },
  };
}

// ---- SSDP -----------------------------------------------------------------------------------

export const UPNP_DEVICE_TYPE = 'urn:schemas-upnp-org:device:Basic:1';

/** The UPnP device description served at `/description.xml`. */
export function upnpDescriptionXml(identity: CameraIdentity, baseUrl: string): string {
  return (
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<root xmlns="urn:schemas-upnp-org:device-1-0"><specVersion><major>1</major><minor>0</minor></specVersion>' +
    `<URLBase>${esc(baseUrl)}</URLBase><device><deviceType>${UPNP_DEVICE_TYPE}</deviceType>` +
    `<friendlyName>${esc(identity.name)}</friendlyName><manufacturer>${esc(identity.manufacturer)}</manufacturer>` +
    `<modelName>${esc(identity.model)}</modelName><modelNumber>${esc(identity.model)}</modelNumber>` +
    `<serialNumber>${esc(identity.serial)}</serialNumber><UDN>uuid:${identity.uuid}</UDN>` +
    `<presentationURL>${esc(baseUrl)}/</presentationURL></device></root>`
  );
}

/** NOTIFY ssdp:alive is repeated this often (well inside CACHE-CONTROL's max-age). */
const SSDP_ALIVE_INTERVAL_MS = 10_000;
const SSDP_MAX_AGE = 1800;

/**
 * The SSDP side of a UPnP root device: answers M-SEARCH for `upnp:rootdevice`, the device type,
 * its own `uuid:` (or `ssdp:all`) with one unicast 200 OK per matching target, announces itself
 * with NOTIFY ssdp:alive at start and every 10 s, and says ssdp:byebye on close.
 */
async function startSsdp(opts: DiscoveryOptions, t: DiscoveryTarget, logger: SimLogger | undefined): Promise<DiscoveryHandle> {
  const iface = interfaceAddress(opts.interface);
  const maxDelay = opts.maxResponseDelayMs ?? 100;
  const udn = `uuid:${t.identity.uuid}`;
  const location = `${t.baseUrl}/description.xml`;
  const server = `Linux/5.x UPnP/1.0 ${t.identity.model}/${t.identity.firmware}`;
  /** Notification/search target → USN. */
  const targets = new Map([
    ['upnp:rootdevice', `${udn}::upnp:rootdevice`],
    [UPNP_DEVICE_TYPE, `${udn}::${UPNP_DEVICE_TYPE}`],
    [udn, udn],
  ]);
  const timers = new Set<NodeJS.Timeout>();
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  sock.on('error', (err) => logger?.warn({ err }, 'ssdp socket error'));

  const send = (buf: Buffer, port: number, address: string): Promise<void> =>
    new Promise((resolve) => sock.send(buf, port, address, () => resolve()));
  const notify = (nts: 'ssdp:alive' | 'ssdp:byebye'): Promise<void> =>
    Promise.all(
      [...targets].map(([nt, usn]) =>
        send(
          formatSsdp('NOTIFY * HTTP/1.1', [
            ['HOST', `${SSDP_GROUP}:${SSDP_PORT}`],
            ['NT', nt],
            ['NTS', nts],
            ['USN', usn],
            ...(nts === 'ssdp:alive'
              ? ([
                  ['LOCATION', location],
                  ['CACHE-CONTROL', `max-age=${SSDP_MAX_AGE}`],
                  ['SERVER', server],
                ] as const)
              : []),
          ]),
          SSDP_PORT,
          SSDP_GROUP,
        ),
      ),
    ).then(() => undefined);

  sock.on('message', (msg, rinfo) => {
    let m;
    try {
      m = parseSsdp(msg);
    } catch {
      return; // Not SSDP: ignored, as a device does.
    }
    // Our own NOTIFYs and other devices' answers arrive here too; only a well-formed search counts.
    const h = m.headers;
    if (m.kind !== 'm-search' || unquote(h['MAN'] ?? '') !== 'ssdp:discover' || h['ST'] === undefined || h['MX'] === undefined) return;
    const st = unquote(h['ST']);
    const matching = st === 'ssdp:all' ? [...targets] : targets.has(st) ? [[st, targets.get(st)!] as const] : [];
    if (matching.length === 0) return;
    // A random delay within MX spreads the answers of many devices, as UPnP asks.
    const mx = Math.max(0, Number(h['MX']) || 0) * 1000;
    const timer = setTimeout(
      () => {
        timers.delete(timer);
        for (const [target, usn] of matching) {
          const reply = formatSsdp('HTTP/1.1 200 OK', [
            ['CACHE-CONTROL', `max-age=${SSDP_MAX_AGE}`],
            ['DATE', new Date().toUTCString()],
            ['EXT', ''],
            ['LOCATION', location],
            ['SERVER', server],
            ['ST', target],
            ['USN', usn],
          ]);
          void send(reply, rinfo.port, rinfo.address);
        }
      },
      Math.floor(Math.random() * Math.min(mx, maxDelay)),
    );
    timers.add(timer);
    logger?.debug({ from: `${rinfo.address}:${rinfo.port}`, st }, 'ssdp search answered');
  });

  await new Promise<void>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(SSDP_PORT, () => {
      sock.off('error', reject);
      resolve();
    });
  });
  sock.addMembership(SSDP_GROUP, iface);
  if (iface) sock.setMulticastInterface(iface);
  sock.setMulticastTTL(1);
  // Announce at once, as devices do on boot; the repeat must not hold the event loop open.
  await notify('ssdp:alive');
  const alive = setInterval(() => void notify('ssdp:alive'), SSDP_ALIVE_INTERVAL_MS);
  alive.unref();

  return {
    async close() {
      clearInterval(alive);
      for (const timer of timers) clearTimeout(timer);
      await notify('ssdp:byebye');
      await new Promise<void>((resolve) => sock.close(() => resolve()));
    },
  };
}
