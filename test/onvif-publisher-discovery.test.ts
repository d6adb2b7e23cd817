/**
 * Discovery by the publisher (WS-Discovery, SSDP). Both multicast, so each case runs the
 * publisher and its cameras in a child process inside a network namespace it creates itself
 * (`unshare -rn`); the broker and the observer stay in this process (the Unix socket is a path,
 * reachable from the namespace). Where namespaces are not permitted the cases are skipped, saying why.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { toTopicToken, topics } from '../schemas/index.js';
import { startRig, type Rig } from './onvif-publisher/helpers.js';

const CHILD_DIR = fileURLToPath(new URL('./onvif-publisher/', import.meta.url));

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

function namespaceUnavailable(setup: string): string | undefined {
  const r = spawnSync('unshare', ['-rn', 'sh', '-c', setup], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return `unshare is not available (${r.error.message})`;
  if (r.status !== 0) return `cannot set up a private network namespace: ${(r.stderr || `exit ${r.status}`).trim()}`;
  return undefined;
}

const wsdSkip = namespaceUnavailable(WSD_SETUP);
const ssdpSkip = namespaceUnavailable(SSDP_SETUP);
if (wsdSkip) console.warn(`skipping the publisher's WS-Discovery test: ${wsdSkip}`);
if (ssdpSkip) console.warn(`skipping the publisher's SSDP test: ${ssdpSkip}`);

let rig: Rig | undefined;
let child: ChildProcess | undefined;

afterEach(async () => {
  const c = child;
  child = undefined;
  if (c && c.exitCode === null && c.signalCode === null) {
    await new Promise<void>((resolve) => {
      c.once('exit', () => resolve());
      c.kill('SIGKILL');
    });
  }
  await rig?.close();
  rig = undefined;
});

interface Ready {
  ready: boolean;
  error?: string;
  cameras: { serial: string; url: string }[];
}

/** Starts the child in a fresh namespace; resolves with its ready line. */
function startChild(setup: string, mode: 'wsd' | 'ssdp', socket: string): Promise<{ ready: Ready; exited: Promise<number | null> }> {
  const { NODE_OPTIONS: _ignored, ...env } = process.env;
  const c = spawn(
    'unshare',
    ['-rn', 'sh', '-c', `${setup}; exec "$0" discovery-child.mjs ${mode} "$1"`, process.execPath, socket],
    { cwd: CHILD_DIR, env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  child = c;
  let stdout = '';
  let stderr = '';
  c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => c.once('exit', (code) => resolve(code)));
  const ready = new Promise<Ready>((resolve, reject) => {
    c.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (line === undefined) return;
      const r = JSON.parse(line) as Ready;
      if (r.ready) resolve(r);
      else reject(new Error(`child failed: ${r.error}\n${stderr}`));
    });
    void exited.then((code) => reject(new Error(`child exited (${code}) before it was ready\n${stdout}\n${stderr}`)));
  });
  return ready.then((r) => ({ ready: r, exited }));
}

describe('publisher discovery inside a private network namespace', () => {
  it.skipIf(wsdSkip !== undefined)('WS-Discovery finds a new camera; a configured one is not announced twice', async () => {
    rig = await startRig(0);
    const { ready, exited } = await startChild(WSD_SETUP, 'wsd', rig.bus.socket);
    const [fixed, found] = ready.cameras.map((c) => toTopicToken(c.serial));
    const foundMsg = await rig.rec.waitFor((m) => m.topic === `camera.discovered.${found}`, 'discovered camera', 15_000);
    expect(foundMsg.payload).toMatchObject({ discoveredBy: 'ws-discovery', serial: ready.cameras[1]!.serial, xaddr: ready.cameras[1]!.url });
    await rig.rec.status(found!, { state: 'online' }, 15_000);
    // The discovered camera is served like any other (credentials from the discovery config).
    await expect(rig.client.request(topics.cameraRpc(found!, 'info'), {})).resolves.toMatchObject({ serial: ready.cameras[1]!.serial });
    // Let a few more probe rounds pass (the child probes every second), then check the configured one.
    await rig.rec.waitFor((m) => m.topic === `camera.event.${found}.input`, 'events from the discovered camera', 15_000);
    const fixedAnnouncements = rig.rec.of(`camera.discovered.${fixed}`);
    expect(fixedAnnouncements.map((m) => (m.payload as { discoveredBy: string }).discoveredBy)).toEqual(['static']);
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it.skipIf(ssdpSkip !== undefined)('SSDP finds a camera and the publisher serves it', async () => {
    rig = await startRig(0);
    const { ready, exited } = await startChild(SSDP_SETUP, 'ssdp', rig.bus.socket);
    const id = toTopicToken(ready.cameras[0]!.serial);
    const msg = await rig.rec.waitFor((m) => m.topic === `camera.discovered.${id}`, 'discovered camera', 15_000);
    expect(msg.payload).toMatchObject({ discoveredBy: 'ssdp', address: { host: '10.99.0.1' }, xaddr: ready.cameras[0]!.url });
    await rig.rec.status(id, { state: 'online' }, 15_000);
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
