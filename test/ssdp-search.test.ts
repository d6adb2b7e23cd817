/**
 * ssdpSearch end to end: a real M-SEARCH over a real multicast route to a scripted device, in a
 * child process inside a network namespace it creates itself (`unshare -rn`: only `lo`, multicast
 * routed over it), so nothing is sent from the host's namespace. Skipped, saying why, where
 * namespaces are not permitted.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runInNamespace } from './helpers/netns.js';
import { capturedResponses, junk, shapedResponses } from './ssdp/fixtures.js';

const CHILD_DIR = fileURLToPath(new URL('./ssdp/', import.meta.url));
const SETUP = 'set -e; ip link set lo up; ip route add 224.0.0.0/4 dev lo';

function namespaceUnavailable(): string | undefined {
  const r = spawnSync('unshare', ['-rn', 'sh', '-c', SETUP], { encoding: 'utf8', timeout: 5000 });
  if (r.error) return `unshare is not available (${r.error.message})`;
  if (r.status !== 0) return `cannot set up a private network namespace: ${(r.stderr || `exit ${r.status}`).trim()}`;
  return undefined;
}

const skip = namespaceUnavailable();
if (skip) console.warn(`skipping the SSDP search tests: ${skip}`);

interface Outcome {
  result: { responses: { location: string; st?: string; usn?: string; server?: string; from: { address: string } }[]; ignored: Record<string, number>; truncated: boolean; addresses: string[] };
  streamed: string[];
  elapsedMs: number;
  searches: string[];
}

function run(scenario: string, timeoutMs = 15_000): Promise<Outcome> {
  return runInNamespace<Outcome>({ cwd: CHILD_DIR, setup: SETUP, register: '../onvif-simulator/register-ts.mjs', script: 'search-child.ts', args: [scenario], timeoutMs, label: 'search child' });
}

describe.skipIf(skip !== undefined)('ssdpSearch inside a private network namespace', () => {
  it('sends a well-formed M-SEARCH, returns the usable answers and counts the rest by reason', async () => {
    const r = await run('mixed');
    expect(r.searches).toEqual(['M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 1\r\nST: ssdp:all\r\n\r\n']);
    expect(r.result.addresses).toEqual(['127.0.0.1']);
    const want = [...capturedResponses.map(() => 'http://10.99.0.1:8080/description.xml'), ...shapedResponses.map((s) => s.location)];
    expect(r.result.responses.map((x) => x.location)).toEqual(want);
    expect(r.streamed).toEqual(want);
    expect(r.result.responses[0]).toMatchObject({
      st: 'upnp:rootdevice',
      usn: 'uuid:5f0a1c2e-0000-4000-8000-00000000abcd::upnp:rootdevice',
      server: 'Linux/5.x UPnP/1.0 SIM-1/1.0.0',
      from: { address: '127.0.0.1' },
    });
    const junkCodes: Record<string, number> = {};
    for (const j of junk) junkCodes[j.code] = (junkCodes[j.code] ?? 0) + 1;
    expect(r.result.ignored).toEqual({ ...junkCodes, SSDP_NO_LOCATION: 1, SSDP_BAD_STATUS: 1, SSDP_NOT_RESPONSE: 1 });
    expect(r.result.truncated).toBe(false);
  });

  it('stops at maxResponses, long before the window ends', async () => {
    const r = await run('flood');
    expect(r.result.responses).toHaveLength(10);
    expect(r.result.truncated).toBe(true);
    // mx 5 makes the default window 5.5 s; the cap ended it at once.
    expect(r.elapsedMs).toBeLessThan(2000);
  });

  it('ends at the window: a late answer is not collected', async () => {
    const r = await run('window');
    expect(r.result.responses.map((x) => x.location)).toEqual(['http://127.0.0.1:1001/d.xml']);
    expect(r.elapsedMs).toBeGreaterThanOrEqual(490);
    expect(r.elapsedMs).toBeLessThan(1400);
  });
});
