/**
 * SSDP (UPnP discovery) on plain `node:dgram`: the wire format, a parser, and an M-SEARCH client.
 * It replaces node-ssdp, whose tree (async, lodash, bluebird, debug, extend, `ip@1.1.9` with an
 * open advisory) was carried for one multicast search. The simulator's responder
 * (`simulator/discovery.ts`) speaks through the same parser and formatter.
 *
 * Why each bound exists: every datagram on the search socket comes from the network, unasked for
 * as much as asked for. A datagram is refused above {@link MAX_DATAGRAM} bytes or
 * {@link MAX_HEADERS} header lines before anything is kept; a search holds at most `maxResponses`
 * answers and ends after `windowMs` however many devices keep talking. What cannot be parsed is
 * counted by its error code, never thrown at the caller.
 *
 * @example
 * const { responses } = await ssdpSearch({ st: 'upnp:rootdevice', interfaces: ['eth0'] });
 * for (const r of responses) console.log(r.location, r.usn, r.server);
 */
import dgram from 'node:dgram';
import os from 'node:os';

export const SSDP_GROUP = '239.255.255.250';
export const SSDP_PORT = 1900;
/** SSDP messages are a few hundred bytes; a real one past 8 KB has not been seen. */
export const MAX_DATAGRAM = 8192;
export const MAX_HEADERS = 64;

/**
 * Stable codes. Parse errors: `SSDP_TOO_LARGE`, `SSDP_EMPTY`, `SSDP_BAD_START_LINE`,
 * `SSDP_BAD_HEADER`, `SSDP_TOO_MANY_HEADERS`. Search errors: `SSDP_BAD_OPTION` (an option out of
 * range), `SSDP_NO_INTERFACE` (no IPv4 address to search from).
 */
export const SSDP_PARSE_ERROR_CODES = ['SSDP_TOO_LARGE', 'SSDP_EMPTY', 'SSDP_BAD_START_LINE', 'SSDP_BAD_HEADER', 'SSDP_TOO_MANY_HEADERS'] as const;
export const SSDP_ERROR_CODES = [...SSDP_PARSE_ERROR_CODES, 'SSDP_BAD_OPTION', 'SSDP_NO_INTERFACE'] as const;
export type SsdpParseErrorCode = (typeof SSDP_PARSE_ERROR_CODES)[number];
export type SsdpErrorCode = (typeof SSDP_ERROR_CODES)[number];

export class SsdpError extends Error {
  override readonly name = 'SsdpError';
  constructor(
    readonly code: SsdpErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** One parsed datagram. Header names are upper-cased; the first of a repeated header wins. */
export type SsdpMessage =
  | { kind: 'response'; status: number; headers: Record<string, string> }
  | { kind: 'm-search' | 'notify'; headers: Record<string, string> };

const STATUS_LINE = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/;
const REQUEST_LINE = /^(M-SEARCH|NOTIFY) \* HTTP\/1\.[01]$/i;
/** RFC 9110 token characters: what a header name may hold. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;

/**
 * Parses one SSDP datagram: `HTTP/1.x NNN …` responses, `M-SEARCH * HTTP/1.1` and
 * `NOTIFY * HTTP/1.1` requests. Lines end in CRLF as the spec says, or in a bare LF as some
 * devices send; the message may stop without the closing blank line. Header names match
 * case-insensitively (`Location:` is `LOCATION`), values are trimmed. Throws {@link SsdpError}.
 *
 * @example
 * parseSsdp(Buffer.from('HTTP/1.1 200 OK\r\nLocation: http://10.0.0.5/d.xml\r\n\r\n'))
 * // → { kind: 'response', status: 200, headers: { LOCATION: 'http://10.0.0.5/d.xml' } }
 */
export function parseSsdp(datagram: Uint8Array): SsdpMessage {
  if (datagram.length > MAX_DATAGRAM) throw new SsdpError('SSDP_TOO_LARGE', `datagram of ${datagram.length} bytes (limit ${MAX_DATAGRAM})`);
  // latin1 maps every byte to one character, so no input fails to decode and none is altered.
  const text = Buffer.from(datagram.buffer, datagram.byteOffset, datagram.length).toString('latin1');
  const lines = headOf(text).split(/\r?\n/);
  if (lines[lines.length - 1] === '') lines.pop();
  const start = lines.shift();
  if (start === undefined || start === '') throw new SsdpError('SSDP_EMPTY', 'empty datagram');
  const status = STATUS_LINE.exec(start);
  const request = status ? null : REQUEST_LINE.exec(start);
  if (!status && !request) throw new SsdpError('SSDP_BAD_START_LINE', `not an SSDP start line: ${JSON.stringify(start.slice(0, 80))}`);
  if (lines.length > MAX_HEADERS) throw new SsdpError('SSDP_TOO_MANY_HEADERS', `${lines.length} header lines (limit ${MAX_HEADERS})`);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = colon > 0 ? line.slice(0, colon) : '';
    const value = line.slice(colon + 1).trim();
    if (!TOKEN.test(name) || CONTROL.test(value)) throw new SsdpError('SSDP_BAD_HEADER', `bad header line ${JSON.stringify(line.slice(0, 80))}`);
    const key = name.toUpperCase();
    if (!Object.hasOwn(headers, key)) headers[key] = value;
  }
  if (status) return { kind: 'response', status: Number(status[1]), headers };
  return { kind: request![1]!.toUpperCase() === 'NOTIFY' ? 'notify' : 'm-search', headers };
}

/** The head: up to the first blank line (SSDP has no body; anything after it is ignored). */
function headOf(text: string): string {
  const crlf = text.indexOf('\r\n\r\n');
  const lf = text.indexOf('\n\n');
  const end = crlf < 0 ? lf : lf < 0 ? crlf : Math.min(crlf, lf);
  return end < 0 ? text : text.slice(0, end);
}

/** A start line and headers in order, as one datagram: CRLF line ends and the closing blank line. */
export function formatSsdp(startLine: string, headers: ReadonlyArray<readonly [string, string | number]>): Buffer {
  return Buffer.from(`${[startLine, ...headers.map(([k, v]) => `${k}: ${v}`)].join('\r\n')}\r\n\r\n`, 'latin1');
}

/** Strips the optional quotes of an ST (`"ssdp:all"` → `ssdp:all`), as responders should accept both. */
export function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1) : v;
}

export interface SsdpResponse {
  /** The device description URL. Answers without one are not returned (counted as `SSDP_NO_LOCATION`). */
  location: string;
  st?: string;
  usn?: string;
  server?: string;
  /** Every header, names upper-cased. */
  headers: Record<string, string>;
  from: { address: string; port: number };
}

export interface SsdpSearchOptions {
  /** Search target; default `upnp:rootdevice`. `ssdp:all` asks for everything. */
  st?: string;
  /** Seconds a device may wait before answering (MX), 1–5; default 2. */
  mx?: number;
  /** How long to collect answers, ms; default `mx` seconds + 500 ms. */
  windowMs?: number;
  /** Stop once this many answers are held; default 256. */
  maxResponses?: number;
  /**
   * Interface names to search on (one socket each). Default: every non-internal IPv4 interface;
   * a name given here is used even if internal (e.g. `lo` in a test namespace).
   */
  interfaces?: readonly string[];
  /** Multicast TTL; default 2 (UPnP 1.1). */
  ttl?: number;
  /** Called for each answer as it arrives, before the search ends. */
  onResponse?: (r: SsdpResponse) => void;
  /** Ends the search early; the promise then resolves with what was collected so far. */
  signal?: AbortSignal;
}

/**
 * Why a datagram was not returned: a parse error code, a request instead of a response
 * (`SSDP_NOT_RESPONSE`), a status other than 200 (`SSDP_BAD_STATUS`), no LOCATION (`SSDP_NO_LOCATION`).
 */
export const SSDP_IGNORE_REASONS = [...SSDP_PARSE_ERROR_CODES, 'SSDP_NOT_RESPONSE', 'SSDP_BAD_STATUS', 'SSDP_NO_LOCATION'] as const;
export type SsdpIgnoreReason = (typeof SSDP_IGNORE_REASONS)[number];

export interface SsdpSearchResult {
  responses: SsdpResponse[];
  /** Datagrams received but not returned, by reason. */
  ignored: Partial<Record<SsdpIgnoreReason, number>>;
  /** True when `maxResponses` ended the search before the window did. */
  truncated: boolean;
  /** The local IPv4 addresses searched from. */
  addresses: string[];
}

/** The IPv4 addresses to search from (see {@link SsdpSearchOptions.interfaces}). */
export function searchAddresses(interfaces?: readonly string[]): string[] {
  const all = os.networkInterfaces();
  const names = interfaces ?? Object.keys(all);
  return names.flatMap((name) =>
    (all[name] ?? []).filter((a) => a.family === 'IPv4' && (interfaces !== undefined || !a.internal)).map((a) => a.address),
  );
}

function check(ok: boolean, what: string): void {
  if (!ok) throw new SsdpError('SSDP_BAD_OPTION', what);
}

/**
 * Sends one `M-SEARCH * HTTP/1.1` to 239.255.255.250:1900 from each chosen interface and collects
 * the unicast answers for the window. Rejects only when it cannot start (`SSDP_BAD_OPTION`,
 * `SSDP_NO_INTERFACE`, a socket that cannot bind); anything a device sends is counted, not thrown.
 *
 * @example
 * const r = await ssdpSearch({ st: 'urn:schemas-upnp-org:device:Basic:1', mx: 1, onResponse: (x) => log(x.location) });
 */
export async function ssdpSearch(opts: SsdpSearchOptions = {}): Promise<SsdpSearchResult> {
  const st = opts.st ?? 'upnp:rootdevice';
  const mx = opts.mx ?? 2;
  const windowMs = opts.windowMs ?? mx * 1000 + 500;
  const maxResponses = opts.maxResponses ?? 256;
  const ttl = opts.ttl ?? 2;
  check(st !== '' && !CONTROL.test(st) && !st.includes('\r'), `st must be a non-empty single line, got ${JSON.stringify(st)}`);
  check(Number.isInteger(mx) && mx >= 1 && mx <= 5, `mx must be an integer 1..5, got ${mx}`);
  check(Number.isFinite(windowMs) && windowMs > 0, `windowMs must be a positive number, got ${windowMs}`);
  check(Number.isInteger(maxResponses) && maxResponses > 0, `maxResponses must be a positive integer, got ${maxResponses}`);
  check(Number.isInteger(ttl) && ttl >= 1 && ttl <= 255, `ttl must be an integer 1..255, got ${ttl}`);
  const addresses = searchAddresses(opts.interfaces);
  if (addresses.length === 0) {
    throw new SsdpError(
      'SSDP_NO_INTERFACE',
      opts.interfaces === undefined
        ? 'no non-internal IPv4 interface to search from; name one in interfaces'
        : `none of the interfaces ${opts.interfaces.join(', ')} has an IPv4 address`,
    );
  }

  const result: SsdpSearchResult = { responses: [], ignored: {}, truncated: false, addresses };
  const ignore = (why: SsdpIgnoreReason): void => void (result.ignored[why] = (result.ignored[why] ?? 0) + 1);
  const request = formatSsdp('M-SEARCH * HTTP/1.1', [
    ['HOST', `${SSDP_GROUP}:${SSDP_PORT}`],
    ['MAN', '"ssdp:discover"'],
    ['MX', mx],
    ['ST', st],
  ]);
  const sockets: dgram.Socket[] = [];
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));

  const onMessage = (msg: Buffer, rinfo: dgram.RemoteInfo): void => {
    if (result.responses.length >= maxResponses) return;
    let m: SsdpMessage;
    try {
      m = parseSsdp(msg);
    } catch (err) {
      // parseSsdp throws only SsdpError with a parse code.
      ignore((err as SsdpError).code as SsdpParseErrorCode);
      return;
    }
    if (m.kind !== 'response') return ignore('SSDP_NOT_RESPONSE');
    if (m.status !== 200) return ignore('SSDP_BAD_STATUS');
    const h = m.headers;
    if (!h['LOCATION']) return ignore('SSDP_NO_LOCATION');
    const r: SsdpResponse = {
      location: h['LOCATION'],
      ...(h['ST'] !== undefined ? { st: h['ST'] } : {}),
      ...(h['USN'] !== undefined ? { usn: h['USN'] } : {}),
      ...(h['SERVER'] !== undefined ? { server: h['SERVER'] } : {}),
      headers: h,
      from: { address: rinfo.address, port: rinfo.port },
    };
    result.responses.push(r);
    opts.onResponse?.(r);
    if (result.responses.length >= maxResponses) {
      result.truncated = true;
      finish();
    }
  };

  try {
    for (const address of addresses) {
      const sock = dgram.createSocket('udp4');
      sockets.push(sock);
      // A socket error after start (e.g. ICMP unreachable) only ends that socket's part.
      sock.on('error', () => undefined);
      sock.on('message', onMessage);
      // Bound to the interface's address: answers come back unicast to it, and nothing else does.
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind(0, address, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.setMulticastInterface(address);
      sock.setMulticastTTL(ttl);
    }
    if (opts.signal?.aborted) return result;
    await Promise.all(
      sockets.map(
        (sock) =>
          // A send that fails (no route) leaves that interface silent, as a device that never answers would.
          new Promise<void>((resolve) => sock.send(request, SSDP_PORT, SSDP_GROUP, () => resolve())),
      ),
    );
    const timer = setTimeout(finish, windowMs);
    const onAbort = (): void => finish();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    await done;
    clearTimeout(timer);
    opts.signal?.removeEventListener('abort', onAbort);
    return result;
  } finally {
    for (const sock of sockets) {
      sock.off('message', onMessage);
      sock.close();
    }
  }
}
