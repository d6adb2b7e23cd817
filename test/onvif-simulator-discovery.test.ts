/**
 * WS-Discovery and SSDP of the simulated camera. Both multicast, so each case runs in a child
 * process inside a network namespace it creates itself (`unshare -rn`); nothing is ever sent from
 * the host's namespace. Where namespaces are not permitted the cases are skipped, saying why.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runInNamespace } from './helpers/netns.js';

const CHILD_DIR = fileURLToPath(new URL('./onvif-simulator/', import.meta.url));

/** WS-Discovery alone: loopback up and multicast routed over it. */
const WSD_SETUP = 'set -e; ip link set lo up; ip route add 224.0.0.0/4 dev lo';
/**
 * SSDP gets a veth pair with both ends in the namespace: the camera on v0, the searcher on v1 (the
 * search leaves by the interface it is given). A packet crossing the pair carries the other
 * end's address, which is local here, and Linux drops such packets unless `accept_local` is on.
 */
const SSDP_SETUP = [
  'set -e',
  'ip link set lo up',
  'ip link add v0 type veth peer name v1',
  'ip addr add 10.99.0.1/24 dev v0',
  'ip addr add 10.99.0.2/24 dev v1',
  'ip link set v0 up',
  'ip link set v1 up',
  'ip route add 224.0.0.0/4 dev v0',
  'echo 1 > /proc/sys/net/ipv4/conf/v0/accept_local',
  'echo 1 > /proc/sys/net/ipv4/conf/v1/accept_local',
].join('; ');

/** Why a namespace with this setup cannot be made here, or undefined when it can. */
function namespaceUnavailable(setup: string): string | undefined {
  const r = spawnSync('unshare', ['-rn', 'sh', '-c', setup], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return `unshare is not available (${r.error.message})`;
  if (r.status !== 0) return `cannot set up a private network namespace: ${(r.stderr || `exit ${r.status}`).trim()}`;
  return undefined;
}

const wsdSkip = namespaceUnavailable(WSD_SETUP);
const ssdpSkip = namespaceUnavailable(SSDP_SETUP);
if (wsdSkip) console.warn(`skipping the WS-Discovery test: ${wsdSkip}`);
if (ssdpSkip) console.warn(`skipping the SSDP test: ${ssdpSkip}`);

/** Runs discovery-child.ts in a fresh namespace and returns the JSON it prints. */
function runDiscovery(setup: string, mode: 'wsd' | 'ssdp', timeoutMs = 20_000): Promise<Record<string, unknown>> {
  return runInNamespace<Record<string, unknown>>({ cwd: CHILD_DIR, setup, register: './register-ts.mjs', script: 'discovery-child.ts', args: [mode], timeoutMs, label: 'discovery child' });
}

interface Found {
  urn: string;
  xaddrs: string[];
  hostname: string;
  portType: string;
  serial: string;
}

describe('discovery inside a private network namespace', () => {
  it.skipIf(wsdSkip !== undefined)('WS-Discovery: onvif Discovery.probe finds each camera, and connects to it', async () => {
    const r = (await runDiscovery(WSD_SETUP, 'wsd')) as {
      cameras: { uuid: string; serial: string; url: string }[];
      both: { found: Found[]; errors: string[] };
      one: { found: Found[]; errors: string[] };
    };
    const [a, b] = r.cameras;
    expect(r.both.errors).toEqual([]);
    const bySerial = (x: Found, y: Found): number => x.serial.localeCompare(y.serial);
    expect([...r.both.found].sort(bySerial)).toEqual(
      [a, b]
        .map((c) => ({
          urn: `urn:uuid:${c?.uuid}`,
          xaddrs: [c?.url],
          hostname: '127.0.0.1',
          portType: 'string', // discovered cameras carry the port as a string
          serial: c?.serial,
        }))
        .sort((x, y) => String(x.serial).localeCompare(String(y.serial))),
    );
    // After camera b closed (and said Bye), only a answers.
    expect(r.one.found.map((f) => f.serial)).toEqual([a?.serial]);
  });

  it.skipIf(ssdpSkip !== undefined)('SSDP: M-SEARCH finds the camera, NOTIFY announces it, LOCATION describes it, byebye on close', async () => {
    const r = (await runDiscovery(SSDP_SETUP, 'ssdp')) as {
      camera: { uuid: string; serial: string; url: string };
      found: Record<string, string>;
      notify: Record<string, string>;
      description: string;
      bye: Record<string, string>;
    };
    const base = r.camera.url.replace('/onvif/device_service', '');
    expect(r.found).toMatchObject({
      ST: 'urn:schemas-upnp-org:device:Basic:1',
      USN: `uuid:${r.camera.uuid}::urn:schemas-upnp-org:device:Basic:1`,
      LOCATION: `${base}/description.xml`,
    });
    expect(r.notify).toMatchObject({ NTS: 'ssdp:alive', LOCATION: `${base}/description.xml` });
    expect(r.description).toContain(`<serialNumber>${r.camera.serial}</serialNumber>`);
    expect(r.description).toContain(`<UDN>uuid:${r.camera.uuid}</UDN>`);
    // Closing the camera says goodbye; a byebye carries no LOCATION.
    expect(r.bye).toMatchObject({ NTS: 'ssdp:byebye', USN: expect.stringContaining(`uuid:${r.camera.uuid}`) });
    expect(r.bye['LOCATION']).toBeUndefined();
  });
});
