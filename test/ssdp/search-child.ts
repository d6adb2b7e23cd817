/**
 * Runs inside a network namespace made by ssdp-search.test.ts (`unshare -rn`, only `lo`, multicast
 * routed over it), never on the host. A scripted device on 239.255.255.250:1900 answers each
 * M-SEARCH with the datagrams of one scenario; `ssdpSearch` collects them. Prints one JSON line.
 *
 *   node --import ../onvif-simulator/register-ts.mjs search-child.ts mixed|flood|window
 */
import dgram from 'node:dgram';
import os from 'node:os';
import { parseSsdp, SSDP_GROUP, SSDP_PORT, ssdpSearch, type SsdpSearchOptions } from '../../publishers/onvif/ssdp.js';
import { capturedNotify, capturedResponses, junk, missingLocation, notFound, shapedResponses } from './fixtures.js';

type Reply = { bytes: Buffer; delayMs?: number };

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const valid = (i: number): Buffer => b(`HTTP/1.1 200 OK\r\nST: upnp:rootdevice\r\nUSN: uuid:flood-${i}::upnp:rootdevice\r\nLOCATION: http://127.0.0.1:${1000 + i}/d.xml\r\n\r\n`);

const scenarios: Record<string, { replies: Reply[]; opts: SsdpSearchOptions }> = {
  mixed: {
    replies: [
      ...capturedResponses.map((s) => ({ bytes: b(s) })),
      ...shapedResponses.map((s) => ({ bytes: b(s.text) })),
      { bytes: b(missingLocation) },
      { bytes: b(notFound) },
      { bytes: b(capturedNotify) },
      ...junk.map((j) => ({ bytes: j.bytes })),
    ],
    opts: { st: 'ssdp:all', mx: 1, windowMs: 600 },
  },
  flood: { replies: Array.from({ length: 50 }, (_, i) => ({ bytes: valid(i) })), opts: { mx: 5, maxResponses: 10 } },
  window: { replies: [{ bytes: valid(1) }, { bytes: valid(2), delayMs: 1500 }], opts: { mx: 1, windowMs: 500 } },
};

async function main(name: string): Promise<unknown> {
  const scenario = scenarios[name];
  if (!scenario) throw new Error(`unknown scenario ${name}`);
  const device = dgram.createSocket({ type: 'udp4', reuseAddr: true });
  const searches: string[] = [];
  const timers: NodeJS.Timeout[] = [];
  device.on('message', (msg, rinfo) => {
    if (parseSsdp(msg).kind !== 'm-search') return;
    searches.push(msg.toString('latin1'));
    for (const r of scenario.replies) {
      const send = (): void => device.send(r.bytes, rinfo.port, rinfo.address);
      if (r.delayMs === undefined) send();
      else timers.push(setTimeout(send, r.delayMs));
    }
  });
  await new Promise<void>((resolve) => device.bind(SSDP_PORT, resolve));
  device.addMembership(SSDP_GROUP, '127.0.0.1');
  const streamed: string[] = [];
  const t0 = performance.now();
  const result = await ssdpSearch({ ...scenario.opts, interfaces: ['lo'], onResponse: (r) => streamed.push(r.location) });
  const elapsedMs = Math.round(performance.now() - t0);
  for (const t of timers) clearTimeout(t);
  device.close();
  return { result, streamed, elapsedMs, searches };
}

/** Multicast must never leave this process's namespace: only loopback may exist. */
if (!Object.keys(os.networkInterfaces()).every((n) => n === 'lo')) {
  console.error('refusing to run: this sends multicast and must run in a private network namespace (unshare -rn)');
  process.exit(3);
}
main(process.argv[2] ?? '').then(
  (result) => console.log(JSON.stringify({ ok: true, result })),
  (err: unknown) => {
    console.log(JSON.stringify({ ok: false, error: String(err instanceof Error ? err.stack : err) }));
    process.exitCode = 1;
  },
);
