/**
 * Finding cameras on the network: WS-Discovery (the `onvif` library's Discovery.probe) and SSDP
 * (our own M-SEARCH, `ssdp.ts`). Both multicast to the real network, so both are off unless configured.
 * Each only reports addresses; the publisher decides whether they are new and connects to them.
 *
 * Library quirks handled here (see ONVIF-NOTES.md): Discovery is a process-wide singleton whose
 * 'error' event crashes the process without a listener; its callback's `err` is an array and may
 * be set although cameras were found; with `resolve: false` it hands out the parsed ProbeMatch
 * instead of auto-connecting Cam objects (which would connect before we set credentials).
 * An SSDP round with no IPv4 interface to search from is skipped with one warning, and tried
 * again next interval (an interface may come up later).
 */
import { errField, type Logger } from './log.js';
import { Discovery } from './onvif-lib.js';
import type { DiscoveryOptions, SsdpOptions, WsDiscoveryOptions } from './options.js';
import { SsdpError, ssdpSearch } from './ssdp.js';

export interface FoundCamera {
  via: 'ws-discovery' | 'ssdp';
  host: string;
  port: number;
  path: string;
  secure: boolean;
  /** WS-Discovery endpoint reference, e.g. `urn:uuid:…`. */
  urn?: string;
}

export interface DiscoveryHandle {
  /** Runs one round of every enabled method now (tests, or a user asking to rescan). */
  scan(): Promise<void>;
  stop(): void;
}

const DEFAULT_INTERVAL_MS = 60_000;

function optionsOf<T extends object>(v: boolean | T | undefined): T | undefined {
  if (v === undefined || v === false) return undefined;
  return v === true ? ({} as T) : v;
}

/** The ONVIF device service address in a ProbeMatch's XAddrs (IPv4 http(s) preferred). */
export function pickXAddr(xaddrs: string): URL | undefined {
  const urls = xaddrs
    .split(/\s+/)
    .flatMap((s) => {
      try {
        return [new URL(s)];
      } catch {
        return [];
      }
    })
    .filter((u) => u.protocol === 'http:' || u.protocol === 'https:');
  return urls.find((u) => !u.hostname.startsWith('[')) ?? urls[0];
}

function fromUrl(u: URL, via: FoundCamera['via'], extra: { urn?: string; port?: number; path?: string } = {}): FoundCamera {
  const secure = u.protocol === 'https:';
  return {
    via,
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: extra.port ?? (u.port !== '' ? Number(u.port) : secure ? 443 : 80),
    path: extra.path ?? (u.pathname === '' ? '/onvif/device_service' : u.pathname),
    secure,
    ...(extra.urn !== undefined ? { urn: extra.urn } : {}),
  };
}

export function startDiscovery(opts: DiscoveryOptions, onFound: (f: FoundCamera) => void, log: Logger): DiscoveryHandle {
  const rounds: Array<() => Promise<void>> = [];
  const timers: NodeJS.Timeout[] = [];
  const cleanups: Array<() => void> = [];
  let stopped = false;

  const wsd = optionsOf<WsDiscoveryOptions>(opts.wsDiscovery);
  if (wsd !== undefined) {
    const onError = (err: unknown): void => log.debug({ err: errField(err) }, 'ws-discovery: bad answer');
    Discovery.on('error', onError);
    // The singleton throws on an 'error' without listener: keep ours until the last probe is over.
    let probing = 0;
    const release = (): void => {
      if (stopped && probing === 0) Discovery.removeListener('error', onError);
    };
    cleanups.push(release);
    rounds.push(
      () =>
        new Promise<void>((resolve) => {
          probing++;
          Discovery.probe(
            { timeout: wsd.timeoutMs ?? 3000, resolve: false, ...(wsd.interface !== undefined ? { device: wsd.interface } : {}) },
            (_err, found) => {
              for (const match of found ?? []) {
                if (stopped) break;
                const m = (match as { probeMatches?: { probeMatch?: { XAddrs?: unknown; endpointReference?: { address?: unknown } } } })
                  .probeMatches?.probeMatch;
                const url = typeof m?.XAddrs === 'string' ? pickXAddr(m.XAddrs) : undefined;
                if (url === undefined) continue;
                const urn = m?.endpointReference?.address;
                onFound(fromUrl(url, 'ws-discovery', typeof urn === 'string' ? { urn } : {}));
              }
              probing--;
              release();
              resolve();
            },
          );
        }),
    );
    schedule(wsd.intervalMs);
  }

  const sd = optionsOf<SsdpOptions>(opts.ssdp);
  if (sd !== undefined) {
    const abort = new AbortController();
    let inFlight: Promise<void> | undefined;
    let warned = false;
    cleanups.push(() => abort.abort());
    const search = async (): Promise<void> => {
      try {
        const r = await ssdpSearch({
          st: sd.searchTarget ?? 'upnp:rootdevice',
          ...(sd.interfaces !== undefined ? { interfaces: sd.interfaces } : {}),
          signal: abort.signal,
          onResponse: (res) => {
            if (stopped) return;
            let url: URL;
            try {
              url = new URL(res.location);
            } catch {
              return;
            }
            onFound(
              fromUrl(url, 'ssdp', {
                ...(sd.onvifPort !== undefined ? { port: sd.onvifPort } : {}),
                path: sd.onvifPath ?? '/onvif/device_service',
              }),
            );
          },
        });
        warned = false;
        if (Object.keys(r.ignored).length > 0) log.debug({ ignored: r.ignored }, 'ssdp: datagrams ignored');
      } catch (err) {
        if (!(err instanceof SsdpError && err.code === 'SSDP_NO_INTERFACE')) throw err;
        if (!warned) log.warn({ err: errField(err) }, 'ssdp: no IPv4 interface to search from; retrying each interval');
        warned = true;
      }
    };
    // A round lasts the search window (a few seconds): a round due while one runs joins it.
    rounds.push(() => (inFlight ??= search().finally(() => (inFlight = undefined))));
    schedule(sd.intervalMs);
  }

  function schedule(intervalMs: number | undefined): void {
    const round = rounds[rounds.length - 1]!;
    const run = (): void => {
      if (stopped) return;
      round().catch((err: unknown) => log.warn({ err: errField(err) }, 'discovery round failed'));
    };
    setImmediate(run);
    timers.push(setInterval(run, intervalMs ?? DEFAULT_INTERVAL_MS));
  }

  return {
    async scan() {
      await Promise.all(rounds.map((r) => r()));
    },
    stop() {
      stopped = true;
      for (const t of timers) clearInterval(t);
      for (const c of cleanups) c();
    },
  };
}
