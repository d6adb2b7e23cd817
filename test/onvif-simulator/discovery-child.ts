/**
 * Runs inside a network namespace made by the discovery test (`unshare -rn`), never on the host:
 * starts simulated cameras with discovery on, discovers them with the real `onvif` client and the
 * publisher's own SSDP client (`publishers/onvif/ssdp.ts`), prints one JSON line with what it found, and exits on its own (a hang means a leak).
 *
 *   node --import ./register-ts.mjs discovery-child.ts wsd|ssdp
 */
import dgram from 'node:dgram';
import os from 'node:os';
import onvif from 'onvif';
import type { Cam as CamInstance } from 'onvif';
import { startSimulatedCamera, type SimulatedCamera } from '../../publishers/onvif/simulator/index.js';
import { parseSsdp, SSDP_GROUP, SSDP_PORT, ssdpSearch } from '../../publishers/onvif/ssdp.js';

const { Discovery } = onvif;

function timeout(ms: number, what: string): Promise<never> {
  return new Promise((_, reject) => setTimeout(() => reject(new Error(`timed out: ${what}`)), ms).unref());
}

interface Probed {
  urn: string;
  xaddrs: string[];
  hostname: string;
  portType: string;
  serial: string;
}

/** Probes once; each found camera auto-connects (credentials set synchronously) and is asked its serial. */
async function probe(): Promise<{ found: Probed[]; errors: string[] }> {
  const errors: string[] = [];
  const pending: Promise<Probed>[] = [];
  const onError = (e: unknown): void => void errors.push(String(e));
  const onDevice = (cam: CamInstance, _rinfo: unknown, xml: string): void => {
    // The Cam built by Discovery drops the endpoint address; it is only in the raw answer.
    const urn = /<wsa:Address>([^<]+)<\/wsa:Address>/.exec(xml)?.[1] ?? '';
    // Discovered cameras connect on the next tick: credentials must be set now.
    cam.username = 'admin';
    cam.password = 'admin';
    pending.push(
      Promise.race([
        new Promise<Probed>((resolve, reject) => {
          cam.once('connect', () =>
            cam.getDeviceInformation((err, info) =>
              err
                ? reject(err)
                : resolve({
                    urn,
                    xaddrs: (cam.xaddrs ?? []).map((u) => u.href ?? ''),
                    hostname: cam.hostname,
                    portType: typeof cam.port,
                    serial: String(info?.serialNumber),
                  }),
            ),
          );
        }),
        timeout(5000, 'connect to a discovered camera'),
      ]),
    );
  };
  Discovery.on('error', onError);
  Discovery.on('device', onDevice);
  try {
    await new Promise<void>((resolve) => Discovery.probe({ timeout: 600 }, () => resolve()));
    return { found: await Promise.all(pending), errors };
  } finally {
    Discovery.removeListener('error', onError);
    Discovery.removeListener('device', onDevice);
  }
}

async function wsDiscovery(): Promise<unknown> {
  const cams: SimulatedCamera[] = [];
  for (const name of ['ns-cam-a', 'ns-cam-b']) {
    cams.push(await startSimulatedCamera({ name, discovery: { wsDiscovery: true, maxResponseDelayMs: 50 } }));
  }
  const both = await probe();
  await cams[1]?.close(); // its responder leaves with a Bye
  const one = await probe();
  await cams[0]?.close();
  return {
    cameras: cams.map((c) => ({ uuid: c.uuid, serial: c.serial, url: c.url })),
    both,
    one,
  };
}

/** Listens on the SSDP group (port 1900, on v1) for the first NOTIFY ssdp:alive and ssdp:byebye, as a control point does. */
async function notifyListener(): Promise<{ alive: Promise<Record<string, string>>; byebye: Promise<Record<string, string>>; close: () => void }> {
  const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const first = (nts: string): Promise<Record<string, string>> =>
    new Promise((resolve) =>
      sock.on('message', (msg) => {
        try {
          const m = parseSsdp(msg);
          if (m.kind === 'notify' && m.headers['NTS'] === nts) resolve(m.headers);
        } catch {
          // not SSDP
        }
      }),
    );
  const alive = first('ssdp:alive');
  const byebye = first('ssdp:byebye');
  await new Promise<void>((resolve) => sock.bind(SSDP_PORT, resolve));
  sock.addMembership(SSDP_GROUP, '10.99.0.2');
  return { alive, byebye, close: () => sock.close() };
}

async function ssdpDiscovery(): Promise<unknown> {
  // Start listening for NOTIFY before the camera announces itself.
  const listener = await notifyListener();
  const cam = await startSimulatedCamera({ name: 'ssdp-cam', host: '10.99.0.1', discovery: { ssdp: true, interface: 'v0' } });
  const search = new AbortController();
  try {
    const response = new Promise<Record<string, string>>((resolve, reject) => {
      ssdpSearch({
        st: 'urn:schemas-upnp-org:device:Basic:1',
        interfaces: ['v1'],
        mx: 1,
        signal: search.signal,
        onResponse: (r) => {
          if (r.st === 'urn:schemas-upnp-org:device:Basic:1') resolve({ ...r.headers });
        },
      }).catch(reject);
    });
    const found = await Promise.race([response, timeout(3000, 'M-SEARCH response')]);
    const notify = await Promise.race([listener.alive, timeout(3000, 'NOTIFY ssdp:alive')]);
    const description = await (await fetch(String(found['LOCATION']))).text();
    await cam.close(); // its responder leaves with NOTIFY ssdp:byebye
    const bye = await Promise.race([listener.byebye, timeout(3000, 'NOTIFY ssdp:byebye')]);
    return { camera: { uuid: cam.uuid, serial: cam.serial, url: cam.url }, found, notify, description, bye };
  } finally {
    search.abort();
    listener.close();
    await cam.close();
  }
}

/** Multicast must never leave this process's namespace: only the test's own links may exist. */
function insidePrivateNamespace(): boolean {
  return Object.keys(os.networkInterfaces()).every((name) => ['lo', 'v0', 'v1'].includes(name));
}

const mode = process.argv[2];
if (!insidePrivateNamespace()) {
  console.error('refusing to run: this sends multicast and must run in a private network namespace (unshare -rn)');
  process.exit(3);
}
const run = mode === 'wsd' ? wsDiscovery : mode === 'ssdp' ? ssdpDiscovery : undefined;
if (!run) {
  console.error('usage: discovery-child.ts wsd|ssdp');
  process.exitCode = 2;
} else {
  run().then(
    (result) => console.log(JSON.stringify({ ok: true, result })),
    (err: unknown) => {
      console.log(JSON.stringify({ ok: false, error: String(err instanceof Error ? err.stack : err) }));
      process.exitCode = 1;
    },
  );
}
