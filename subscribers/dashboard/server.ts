/**
 * The dashboard's HTTP side (node:http, no framework): static files, the state as JSON, live
 * updates over Server-Sent Events, a live tap, clips with Range support, and — only when the
 * operator turned them on — camera actions.
 *
 * Access. On a UDS, the socket file's mode decides (a reverse proxy in front does the rest). On
 * TCP every request needs the token: as `Authorization: Bearer`, or as a cookie the page gets by
 * opening `/?token=…` once (HttpOnly, SameSite=Strict, named per port because cookies are not
 * port-scoped). Loopback is not trusted on its own: every local user can reach it, while the bus
 * itself is guarded by its socket's file mode. POSTs also need a custom header, which a
 * cross-site form cannot send without a preflight we never answer.
 *
 * Slow pages. Each SSE response has an outbound budget: a page that stops reading is cut off
 * (it reconnects and gets a fresh snapshot) instead of growing our memory.
 */
import { closeSync, createReadStream, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { clipType, resolveClip, resolveInside } from './clips.js';
import type { DashboardModel, Delta } from './model.js';

const STATIC_DIR = new URL('./static/', import.meta.url).pathname;
const STATIC: Record<string, string> = {
  '/': 'index.html',
  '/app.js': 'app.js',
  '/app.css': 'app.css',
};
const MIME: Record<string, string> = { html: 'text/html; charset=utf-8', js: 'text/javascript; charset=utf-8', css: 'text/css; charset=utf-8' };

/** Bytes a page may leave unread before its stream is closed. */
const SSE_BUDGET = 4 * 1024 * 1024;
const FLUSH_MS = 40;
const HEARTBEAT_MS = 15_000;
const MAX_TAPS = 8;
const MAX_CONNECTIONS = 256;
/** The publisher's own limit for a snapshot (publishers/onvif/snapshots.ts maxImageBytes default). */
const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024;

/**
 * Why `/snapshots/<cameraId>` gave no image, in the `x-udsbus-error` header (the body says it in
 * words). Documented in docs/dashboard.md.
 */
export const SNAPSHOT_ERRORS = {
  'snapshots-off': 'no snapshots directory is configured',
  'snapshot-none': 'no event of this camera carried a snapshot yet',
  'snapshot-missing': 'the file is gone (the publisher\'s spool deleted it) or never existed',
  'snapshot-outside': 'the path the event named is outside the snapshots directory',
  'snapshot-not-a-file': 'the path is not a regular file',
  'snapshot-too-large': 'the file is larger than 8 MiB',
  'snapshot-not-jpeg': 'the file is not a JPEG',
} as const;
export type SnapshotErrorCode = keyof typeof SNAPSHOT_ERRORS;

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; media-src 'self'; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export type TapLine = { topic: string; time: string; retained: boolean; from?: string; payload: string; lost?: number };

export type ServerDeps = {
  model: DashboardModel;
  /** Required for TCP; undefined on a UDS. */
  token: string | undefined;
  recordingsDir: string | undefined;
  /** The ONVIF publisher's snapshot spool: snapshots are served only from inside it. */
  snapshotsDir?: string | undefined;
  /** Camera actions; undefined when the dashboard is read-only. */
  action: ((cameraId: string, action: string, body: unknown) => Promise<unknown>) | undefined;
  /** Start a tap; returns its teardown. Throws with a message for the page on a bad pattern. */
  tap: (pattern: string, send: (line: TapLine | { skipped: number }) => void) => () => void;
  /** Page-visible settings. */
  info: Record<string, unknown>;
};

class SseClient {
  constructor(
    readonly res: ServerResponse,
    private readonly onCutOff: () => void = () => undefined,
  ) {}
  write(chunk: string): void {
    if (this.res.destroyed) return;
    if (this.res.writableLength > SSE_BUDGET) {
      this.res.destroy(); // the page stopped reading; it reconnects and starts from a snapshot
      this.onCutOff();
      return;
    }
    this.res.write(chunk);
  }
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
}

export class DashboardServer {
  readonly http: Server;
  private readonly streams = new Set<SseClient>();
  private readonly taps = new Set<() => void>();
  private queue: Delta[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private readonly heartbeat: NodeJS.Timeout;
  private readonly files = new Map<string, Buffer>();
  private cutOff = 0;

  constructor(private readonly deps: ServerDeps) {
    for (const f of new Set(Object.values(STATIC))) this.files.set(f, readFileSync(join(STATIC_DIR, f)));
    this.http = createServer((req, res) => {
      this.route(req, res).catch((err: unknown) => {
        if (!res.headersSent) this.text(res, 500, `internal error: ${(err as Error).message}`);
        else res.destroy();
      });
    });
    // Pages hold one stream each (plus taps); this bounds what a flood of sockets can cost.
    this.http.maxConnections = MAX_CONNECTIONS;
    this.heartbeat = setInterval(() => {
      for (const s of this.streams) s.write(': keepalive\n\n');
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Open page streams and taps, and pages cut off for not reading. */
  counts(): { pages: number; taps: number; cutOff: number } {
    return { pages: this.streams.size, taps: this.taps.size, cutOff: this.cutOff };
  }

  /** Queue a change for every open page; sent in one chunk per FLUSH_MS. */
  broadcast(d: Delta): void {
    if (this.streams.size === 0) return;
    this.queue.push(d);
    this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_MS);
  }

  private flush(): void {
    this.flushTimer = undefined;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return;
    const chunk = sse('delta', batch);
    for (const s of this.streams) s.write(chunk);
  }

  close(): Promise<void> {
    clearInterval(this.heartbeat);
    clearTimeout(this.flushTimer);
    for (const t of this.taps) t();
    for (const s of this.streams) s.res.end();
    return new Promise((resolve) => {
      this.http.close(() => resolve());
      this.http.closeAllConnections();
    });
  }

  /** Cookies are shared by all ports of a host, so each dashboard names its own. */
  private get cookieName(): string {
    const a = this.http.address();
    return a !== null && typeof a === 'object' ? `udsbus_dash_${a.port}` : 'udsbus_dash';
  }

  private authorized(req: IncomingMessage, url: URL): 'ok' | 'set-cookie' | 'no' {
    const token = this.deps.token;
    if (token === undefined) return 'ok';
    const same = (given: string | undefined) => {
      if (given === undefined) return false;
      const a = Buffer.from(given);
      const b = Buffer.from(token);
      return a.length === b.length && timingSafeEqual(a, b);
    };
    const q = url.searchParams.get('token');
    if (q !== null && req.method === 'GET' && url.pathname === '/' && same(q)) return 'set-cookie';
    const auth = req.headers.authorization;
    if (auth?.startsWith('Bearer ') === true && same(auth.slice(7))) return 'ok';
    for (const part of (req.headers.cookie ?? '').split(';')) {
      const i = part.indexOf('=');
      if (i > 0 && part.slice(0, i).trim() === this.cookieName && same(safeDecode(part.slice(i + 1).trim()))) return 'ok';
    }
    return 'no';
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://dashboard');
    const auth = this.authorized(req, url);
    if (auth === 'set-cookie') {
      // Swap the token in the URL for a cookie, so it leaves the address bar and history.
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/', 'set-cookie': `${this.cookieName}=${encodeURIComponent(this.deps.token!)}; HttpOnly; SameSite=Strict; Path=/` });
      res.end();
      return;
    }
    if (auth === 'no') return this.text(res, 401, 'udsbus dashboard: open the URL that "udsbus dashboard" printed (it carries ?token=…), or send Authorization: Bearer <token>.');

    const path = url.pathname;
    if (req.method === 'POST') {
      const m = /^\/api\/cameras\/([^/]+)\/([a-z-]+)$/.exec(path);
      if (m === null) return this.text(res, 404, 'not found');
      if (this.deps.action === undefined) return this.text(res, 403, 'camera actions are off: this dashboard is read-only (start it with "actions": true)');
      if (req.headers['x-udsbus-dashboard'] !== '1') return this.text(res, 403, 'missing X-Udsbus-Dashboard header');
      const body = await readBody(req, 16 * 1024);
      let parsed: unknown;
      try {
        parsed = body.length === 0 ? {} : JSON.parse(body);
      } catch {
        return this.text(res, 400, 'the body must be JSON');
      }
      try {
        const cameraId = safeDecode(m[1]!);
        if (cameraId === undefined) return this.text(res, 400, 'bad camera id');
        const result = await this.deps.action(cameraId, m[2]!, parsed);
        return this.json(res, 200, { ok: true, result });
      } catch (err) {
        return this.json(res, 502, { ok: false, error: (err as Error).message });
      }
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.text(res, 405, 'method not allowed');

    const file = STATIC[path];
    if (file !== undefined) {
      const body = this.files.get(file)!;
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': MIME[file.slice(file.lastIndexOf('.') + 1)]!, 'content-length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    if (path === '/api/state') return this.json(res, 200, { info: this.deps.info, ...this.deps.model.snapshot() });
    if (path === '/api/stream') return this.stream(req, res);
    if (path === '/api/tap') return this.tap(req, res, url.searchParams.get('pattern') ?? '');
    const snap = /^\/snapshots\/([^/]+)$/.exec(path);
    if (snap !== null) return this.snapshot(req, res, safeDecode(snap[1]!) ?? '');
    const clip = /^\/clips\/([^/]+)$/.exec(path);
    if (clip !== null) return this.clip(req, res, safeDecode(clip[1]!) ?? '');
    return this.text(res, 404, 'not found');
  }

  private sseHead(res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.flushHeaders();
  }

  private stream(req: IncomingMessage, res: ServerResponse): void {
    this.sseHead(res);
    const s = new SseClient(res, () => this.cutOff++);
    // Deltas queued before this page joined are already in its snapshot; the page ignores
    // duplicates by id/key, so a delta flushed just after the snapshot does no harm.
    s.write(`retry: 1000\n${sse('snapshot', { info: this.deps.info, ...this.deps.model.snapshot() })}`);
    this.streams.add(s);
    req.on('close', () => this.streams.delete(s));
  }

  private tap(req: IncomingMessage, res: ServerResponse, pattern: string): void {
    if (this.taps.size >= MAX_TAPS) return this.text(res, 429, `at most ${MAX_TAPS} taps at a time; close one`);
    let stop: () => void;
    const s = new SseClient(res, () => this.cutOff++);
    try {
      stop = this.deps.tap(pattern, (line) => s.write(sse('tap', line)));
    } catch (err) {
      return this.text(res, 400, (err as Error).message);
    }
    this.sseHead(res);
    s.write(`retry: 100000\n${sse('tap-started', { pattern })}`);
    this.taps.add(stop);
    req.on('close', () => {
      this.taps.delete(stop);
      stop();
    });
  }

  private clip(req: IncomingMessage, res: ServerResponse, sessionId: string): void {
    const session = this.deps.model.sessions.get(sessionId);
    if (session?.clip === undefined) return this.text(res, 404, `no clip for session ${sessionId}`);
    const r = resolveClip(this.deps.recordingsDir, session.clip.file);
    if (!r.ok) return this.text(res, r.status, r.reason);
    const type = clipType(r.path);
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = r.size - 1;
    let status = 200;
    if (range !== null && (range[1] !== '' || range[2] !== '')) {
      if (range[1] === '') {
        start = Math.max(0, r.size - Number(range[2]));
      } else {
        start = Number(range[1]);
        if (range[2] !== '') end = Math.min(end, Number(range[2]));
      }
      if (start > end || start >= r.size) {
        res.writeHead(416, { ...SECURITY_HEADERS, 'content-range': `bytes */${r.size}` });
        res.end();
        return;
      }
      status = 206;
    }
    res.writeHead(status, {
      ...SECURITY_HEADERS,
      'cache-control': 'private, max-age=60',
      'content-type': type,
      'accept-ranges': 'bytes',
      'content-length': end - start + 1,
      ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${r.size}` } : {}),
    });
    if (req.method === 'HEAD' || r.size === 0) {
      res.end();
      return;
    }
    const rs = createReadStream(r.path, { start, end });
    rs.on('error', () => res.destroy());
    res.on('close', () => rs.destroy());
    rs.pipe(res);
  }

  /**
   * The latest snapshot of a camera, by camera id: the file its last event named, if that file is
   * a JPEG inside the snapshots directory. The page never names a path, and the dashboard never
   * asks the camera itself (no camera credentials near the browser, nothing but reads).
   */
  private snapshot(req: IncomingMessage, res: ServerResponse, cameraId: string): void {
    const fail = (status: number, code: SnapshotErrorCode, detail?: string) => this.text(res, status, `${code}: ${detail ?? SNAPSHOT_ERRORS[code]}`, { 'x-udsbus-error': code });
    const dir = this.deps.snapshotsDir;
    if (dir === undefined) return fail(403, 'snapshots-off', 'no snapshots directory is configured (snapshotsDir, --snapshots), so no snapshot is served');
    const file = this.deps.model.snapshotFile(cameraId);
    if (file === undefined) return fail(404, 'snapshot-none', `no event of camera "${cameraId}" carried a snapshot yet`);
    const r = resolveInside(dir, file, 'snapshot', 'snapshots');
    if (!r.ok) return fail(404, `snapshot-${r.code === 'off' ? 'missing' : r.code}`, r.reason);
    if (r.size > MAX_SNAPSHOT_BYTES) return fail(404, 'snapshot-too-large');
    // Read whole (small, bounded above) so the bytes checked are the bytes sent.
    let body: Buffer;
    let etag: string;
    try {
      const fd = openSync(r.path, 'r');
      try {
        const st = statSync(r.path);
        etag = `"${st.ino.toString(36)}-${st.size.toString(36)}-${Math.trunc(st.mtimeMs).toString(36)}"`;
        body = Buffer.alloc(Math.min(st.size, MAX_SNAPSHOT_BYTES + 1));
        let n = 0;
        while (n < body.length) {
          const k = readSync(fd, body, n, body.length - n, n);
          if (k === 0) break;
          n += k;
        }
        body = body.subarray(0, n);
      } finally {
        closeSync(fd);
      }
    } catch {
      return fail(404, 'snapshot-missing');
    }
    if (body.length > MAX_SNAPSHOT_BYTES) return fail(404, 'snapshot-too-large');
    if (body.length < 3 || body[0] !== 0xff || body[1] !== 0xd8 || body[2] !== 0xff) return fail(404, 'snapshot-not-jpeg');
    if (req.headers['if-none-match'] === etag) {
      res.writeHead(304, { ...SECURITY_HEADERS, 'cache-control': 'private, no-cache', etag });
      res.end();
      return;
    }
    res.writeHead(200, { ...SECURITY_HEADERS, 'cache-control': 'private, no-cache', etag, 'content-type': 'image/jpeg', 'content-length': body.length });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private json(res: ServerResponse, status: number, body: unknown): void {
    const b = Buffer.from(JSON.stringify(body));
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json', 'content-length': b.length });
    res.end(b);
  }

  private text(res: ServerResponse, status: number, body: string, headers: Record<string, string> = {}): void {
    const b = Buffer.from(`${body}\n`);
    res.writeHead(status, { ...SECURITY_HEADERS, ...headers, 'content-type': 'text/plain; charset=utf-8', 'content-length': b.length });
    res.end(b);
  }
}

function safeDecode(s: string): string | undefined {
  try {
    return decodeURIComponent(s);
  } catch {
    return undefined;
  }
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n > max) {
        reject(new Error('request body too large'));
        req.destroy();
        return;
      }
      parts.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}
