// @ts-check
/**
 * Runs inside a network namespace made by the discovery test (`unshare -rn`), never on the host:
 * starts simulated cameras that answer WS-Discovery (or SSDP) and an ONVIF publisher with that
 * discovery turned on, connected to the test's broker through its Unix socket (a path, so it
 * crosses network namespaces). Prints one JSON line when ready, stops cleanly on SIGTERM.
 *
 *   node discovery-child.mjs wsd|ssdp <socket>
 *
 * Plain JavaScript on the built publisher (dist/, which `npm test` builds first): loading the
 * TypeScript sources through a transpiling loader takes seconds per child.
 */
import os from 'node:os';
import { startOnvifPublisher } from '../../dist/publishers/onvif/index.js';
import { startSimulatedCamera } from '../../dist/publishers/onvif/simulator/index.js';

const [mode, socket] = process.argv.slice(2);

/** Multicast must never leave this process's namespace: only the test's own links may exist. */
function insidePrivateNamespace() {
  return Object.keys(os.networkInterfaces()).every((name) => ['lo', 'v0', 'v1'].includes(name));
}

const FAST = { connectTimeoutMs: 3000, requestTimeoutMs: 2000, pullTimeoutMs: 1000, backoffInitialMs: 50, backoffMaxMs: 400 };

async function main() {
  if (!insidePrivateNamespace()) {
    console.error('refusing to run: this sends multicast and must run in a private network namespace (unshare -rn)');
    process.exit(3);
  }
  if ((mode !== 'wsd' && mode !== 'ssdp') || socket === undefined) {
    console.error('usage: discovery-child.mjs wsd|ssdp <socket>');
    process.exit(2);
  }
  /** @type {import('../../dist/publishers/onvif/simulator/index.js').SimulatedCamera[]} */
  const sims = [];
  /** @type {import('../../dist/publishers/onvif/index.js').OnvifPublisherHandle | undefined} */
  let pub;
  /** @param {number} code */
  const stop = async (code) => {
    await pub?.stop();
    await Promise.all(sims.map((s) => s.close()));
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  // A hang here must not outlive the test.
  setTimeout(() => void stop(4), 25_000).unref();

  if (mode === 'wsd') {
    for (const name of ['wsd-static', 'wsd-found']) {
      sims.push(await startSimulatedCamera({ name, discovery: { wsDiscovery: true, maxResponseDelayMs: 50 } }));
    }
    const [fixed] = sims;
    pub = await startOnvifPublisher({
      socket,
      name: 'ns-wsd',
      // One camera is also configured: discovery must not announce it a second time.
      cameras: [{ url: fixed.url, username: fixed.username, password: fixed.password }],
      discovery: { wsDiscovery: { intervalMs: 1000, timeoutMs: 500 }, credentials: { username: 'admin', password: 'admin' } },
      timing: FAST,
    });
  } else {
    sims.push(await startSimulatedCamera({ name: 'ssdp-found', host: '10.99.0.1', discovery: { ssdp: true, interface: 'v0' } }));
    pub = await startOnvifPublisher({
      socket,
      name: 'ns-ssdp',
      discovery: {
        ssdp: { interfaces: ['v1'], searchTarget: 'urn:schemas-upnp-org:device:Basic:1', intervalMs: 1000 },
        credentials: { username: 'admin', password: 'admin' },
      },
      timing: FAST,
    });
  }
  console.log(JSON.stringify({ ready: true, cameras: sims.map((s) => ({ serial: s.serial, url: s.url })) }));
}

main().catch((err) => {
  console.log(JSON.stringify({ ready: false, error: String(err instanceof Error ? err.stack : err) }));
  process.exit(1);
});
