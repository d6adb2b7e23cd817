/**
 * A simulated camera's video: a real RTSP H.264 stream on 127.0.0.1, a test pattern with a
 * burnt-in clock.
 *
 * Why this shape: Debian's ffmpeg can make the video (lavfi `testsrc2` + libx264) but cannot
 * *serve* RTSP to players — its RTSP muxer only pushes (ANNOUNCE/RECORD) to a server, and
 * `-rtsp_flags listen` only receives. Debian has no mediamtx; GStreamer's RTSP server needs
 * PyGObject and a dozen plugin packages; the npm RTSP servers are little used and UDP-first. So
 * this file is a small RTSP relay (about 200 lines, no dependency): ffmpeg pushes RTP over TCP
 * (interleaved) to it, and players DESCRIBE/SETUP/PLAY over TCP and get the same RTP packets.
 * Only TCP transport is offered (461 for UDP), so nothing leaves the loopback interface and no
 * UDP ports are opened. A late joiner gets packets from the next key frame on (the encoder
 * repeats SPS/PPS before every IDR and makes one per second), so its first segment decodes.
 *
 * The clock is burnt in twice: human-readable (`drawtext`, UTC date and time plus frame number)
 * and machine-readable — a strip of 24 black/white boxes at the top left holding the frame's
 * wall-clock time in tenths of a second modulo 2^24 (19 days), read back by `decodeBurntClock`.
 * Labels are spawn time + frame pts, so with `-re` they lag the real time by ffmpeg's start-up
 * delay (tens of ms), never lead it.
 *
 * `cut(ms)` simulates a network drop: the encoder is killed, every RTSP connection is destroyed
 * and new ones get 404 until the stream comes back. `freeze(ms)` simulates a silent network:
 * connections stay open but no packet reaches a player.
 *
 * @example
 * const s = await startSimulatedStream({ paths: ['/stream/Profile_1'] });
 * // ffprobe -rtsp_transport tcp s.url('/stream/Profile_1')
 * await s.cut(2_000);
 * await s.close();
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface StreamOptions {
  /** Default 320x240 at 10 fps, 300 kbit/s: small, so many cameras fit on one machine. */
  width?: number;
  height?: number;
  fps?: number;
  bitrateKbps?: number;
  /** ffmpeg binary; default `ffmpeg` on PATH. */
  ffmpeg?: string;
  /** How long start() waits for the encoder's first RECORD; default 15000 ms. */
  startTimeoutMs?: number;
}

/** The ffmpeg binary if it runs, else undefined (tests skip and the demo says so). */
export function findFfmpeg(bin = 'ffmpeg'): string | undefined {
  const r = spawnSync(bin, ['-hide_banner', '-version'], { stdio: 'ignore', timeout: 10_000 });
  return r.status === 0 ? bin : undefined;
}

/** Clock strip geometry (pixels) — shared with decodeBurntClock. */
export const CLOCK_BITS = 24;
export const CLOCK_BOX = 12;
const TENTHS_MOD = 2 ** CLOCK_BITS;

/**
 * Reads the machine-readable clock from a gray (one byte per pixel) frame of width `width`.
 * `nearMs` disambiguates the 19-day wrap; returns ms since the epoch (tenth-second resolution).
 */
export function decodeBurntClock(gray: Uint8Array, width: number, nearMs: number): number {
  let v = 0;
  // Each bit is the mean of its box's inner half, not one pixel: a single pixel near a box's
  // centre was once misread after encoding (one bit flipped: the clock 14.5 hours off).
  const lo = CLOCK_BOX >> 2;
  const hi = CLOCK_BOX - lo;
  for (let i = 0; i < CLOCK_BITS; i++) {
    let sum = 0;
    for (let y = lo; y < hi; y++) for (let x = lo; x < hi; x++) sum += gray[y * width + i * CLOCK_BOX + x] ?? 0;
    if (sum / ((hi - lo) * (hi - lo)) > 128) v += 2 ** i;
  }
  const nearTenths = Math.floor(nearMs / 100);
  let diff = (nearTenths - v) % TENTHS_MOD;
  if (diff < 0) diff += TENTHS_MOD;
  if (diff > TENTHS_MOD / 2) diff -= TENTHS_MOD;
  return (nearTenths - diff) * 100;
}

/** The `-vf` chain: the clock strip and the drawtext clock, both from `startMs` + frame pts. */
export function clockFilter(startMs: number): string {
  const off = (Math.floor(startMs / 100) % TENTHS_MOD) / 10; // seconds; tenths fit in 24 bits
  const boxes = [`drawbox=x=0:y=0:w=${CLOCK_BITS * CLOCK_BOX}:h=${CLOCK_BOX}:color=black:t=fill`];
  for (let i = 0; i < CLOCK_BITS; i++) {
    boxes.push(
      `drawbox=x=${i * CLOCK_BOX}:y=0:w=${CLOCK_BOX}:h=${CLOCK_BOX}:color=white:t=fill:` +
        `enable='mod(floor((t+${off.toFixed(1)})*10/pow(2\\,${i})+0.001)\\,2)'`,
    );
  }
  const text = `drawtext=text='%{pts\\:gmtime\\:${(startMs / 1000).toFixed(3)}} UTC  #%{n}':fontsize=14:fontcolor=white:box=1:boxcolor=black@0.6:x=4:y=${CLOCK_BOX + 4}`;
  return [...boxes, text].join(',');
}

type Request = { method: string; url: string; cseq: string; headers: Map<string, string>; body: string };

/** One RTSP connection: a publisher (ANNOUNCE/RECORD) or a player (DESCRIBE/PLAY). */
class Conn {
  buf: Buffer = Buffer.alloc(0);
  role: 'none' | 'publisher' | 'player' = 'none';
  playing = false;
  waitingKey = true;
  /** Player: publisher channel → own channel. Publisher: channel → track control. */
  readonly channels = new Map<number, number>();
  readonly tracks = new Map<string, number>();
  path = '';
  session = '';
  constructor(readonly sock: Socket) {}
}

export class SimulatedStream {
  private readonly server: Server;
  private readonly conns = new Set<Conn>();
  private sdp: string | undefined;
  private publisher: Conn | undefined;
  private encoder: ChildProcess | undefined;
  private restartTimer: NodeJS.Timeout | undefined;
  private closed = false;
  private down = false;
  private sessionSeq = 0;
  private frozenUntil = 0;
  private boundPort = 0;
  private readyWaiters: Array<() => void> = [];
  private readonly opts: Required<StreamOptions>;
  /** Where the encoder pushes; players may ask for any of `paths`. */
  private readonly pushPath = '/_source';
  stderrTail = '';

  constructor(
    readonly paths: readonly string[],
    opts: StreamOptions = {},
  ) {
    this.opts = {
      width: opts.width ?? 320,
      height: opts.height ?? 240,
      fps: opts.fps ?? 10,
      bitrateKbps: opts.bitrateKbps ?? 300,
      ffmpeg: opts.ffmpeg ?? 'ffmpeg',
      startTimeoutMs: opts.startTimeoutMs ?? 15_000,
    };
    this.server = createServer((s) => this.onConnection(s));
  }

  get port(): number {
    return this.boundPort;
  }
  get width(): number {
    return this.opts.width;
  }
  get height(): number {
    return this.opts.height;
  }
  /** Whether the encoder is publishing now. */
  get live(): boolean {
    return this.publisher !== undefined;
  }

  url(path = this.paths[0] ?? '/'): string {
    return `rtsp://127.0.0.1:${this.boundPort}${path}`;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(0, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.boundPort = (this.server.address() as AddressInfo).port;
        resolve();
      });
    });
    this.spawnEncoder();
    try {
      await this.waitLive(this.opts.startTimeoutMs);
    } catch (err) {
      await this.close();
      throw err;
    }
  }

  /** Resolves when the encoder publishes (again); rejects after `timeoutMs`. */
  waitLive(timeoutMs: number): Promise<void> {
    if (this.publisher !== undefined) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== done);
        reject(new Error(`RTSP test stream not live after ${timeoutMs} ms; ffmpeg said: ${this.stderrTail.trim().slice(-400) || '(nothing)'}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.readyWaiters.push(done);
    });
  }

  /** A silent network for `ms`: connections stay open, no packets reach players. */
  freeze(ms: number): void {
    this.frozenUntil = Date.now() + ms;
  }

  /** A network drop of `ms`: encoder killed, all RTSP connections cut, 404 until it is back. */
  async cut(ms: number): Promise<void> {
    if (this.closed) return;
    this.down = true;
    this.killEncoder();
    for (const c of this.conns) c.sock.destroy();
    await new Promise((r) => setTimeout(r, ms));
    if (this.closed) return;
    this.down = false;
    this.spawnEncoder();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    this.killEncoder();
    for (const c of this.conns) c.sock.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }

  // ---- encoder

  private spawnEncoder(): void {
    if (this.closed || this.down || this.encoder !== undefined) return;
    const o = this.opts;
    const startMs = Date.now();
    const args = [
      '-hide_banner', '-loglevel', 'error', '-nostdin',
      '-re', '-f', 'lavfi', '-i', `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`,
      '-vf', clockFilter(startMs),
      '-an', '-c:v', 'libx264', '-preset', 'ultrafast', '-tune', 'zerolatency', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p',
      '-g', String(o.fps), '-keyint_min', String(o.fps), '-sc_threshold', '0', '-b:v', `${o.bitrateKbps}k`,
      '-x264-params', 'repeat-headers=1',
      '-f', 'rtsp', '-rtsp_transport', 'tcp', `rtsp://127.0.0.1:${this.boundPort}${this.pushPath}`,
    ];
    // Own process group, so a Ctrl-C reaches the simulator's owner, which closes the stream in order.
    const p = spawn(o.ffmpeg, args, { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    this.encoder = p;
    p.stderr?.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-2000);
    });
    p.on('error', (err) => {
      this.stderrTail += `\n${err.message}`;
    });
    p.on('exit', () => {
      if (this.encoder === p) this.encoder = undefined;
      if (this.closed || this.down) return;
      // An encoder that dies on its own is restarted; the stream looks like a short drop.
      this.restartTimer = setTimeout(() => this.spawnEncoder(), 1_000);
    });
  }

  private killEncoder(): void {
    const p = this.encoder;
    this.encoder = undefined;
    if (p !== undefined && p.exitCode === null) p.kill('SIGKILL');
  }

  // ---- RTSP

  private onConnection(sock: Socket): void {
    const c = new Conn(sock);
    this.conns.add(c);
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.onData(c, d));
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.conns.delete(c);
      if (this.publisher === c) {
        this.publisher = undefined;
        this.sdp = undefined;
        // Players of a dead source are cut, as a camera's RTSP server would on an encoder restart.
        for (const o of this.conns) if (o.role === 'player') o.sock.destroy();
      }
    });
    if (this.down) sock.destroy();
  }

  private onData(c: Conn, d: Buffer): void {
    c.buf = c.buf.length === 0 ? d : Buffer.concat([c.buf, d]);
    for (;;) {
      if (c.buf.length === 0) return;
      if (c.buf[0] === 0x24) {
        if (c.buf.length < 4) return;
        const len = c.buf.readUInt16BE(2);
        if (c.buf.length < 4 + len) return;
        const frame = c.buf.subarray(0, 4 + len);
        c.buf = c.buf.subarray(4 + len);
        if (c === this.publisher) this.relay(c, frame);
        continue; // players' RTCP receiver reports are read and dropped
      }
      const end = c.buf.indexOf('\r\n\r\n');
      if (end < 0) {
        if (c.buf.length > 16_384) c.sock.destroy(); // no RTSP head is that long
        return;
      }
      const head = c.buf.subarray(0, end).toString('latin1').split('\r\n');
      const headers = new Map<string, string>();
      for (const l of head.slice(1)) {
        const i = l.indexOf(':');
        if (i > 0) headers.set(l.slice(0, i).trim().toLowerCase(), l.slice(i + 1).trim());
      }
      const bodyLen = Number(headers.get('content-length') ?? 0);
      if (!Number.isSafeInteger(bodyLen) || bodyLen < 0 || bodyLen > 65_536) return void c.sock.destroy();
      if (c.buf.length < end + 4 + bodyLen) return;
      const body = c.buf.subarray(end + 4, end + 4 + bodyLen).toString('utf8');
      c.buf = c.buf.subarray(end + 4 + bodyLen);
      const [method = '', url = ''] = (head[0] ?? '').split(' ');
      this.onRequest(c, { method, url, cseq: headers.get('cseq') ?? '0', headers, body });
    }
  }

  private reply(c: Conn, req: Request, status: string, extra: Record<string, string> = {}, body = ''): void {
    const lines = [`RTSP/1.0 ${status}`, `CSeq: ${req.cseq}`, 'Server: udsbus-simulator'];
    for (const [k, v] of Object.entries(extra)) lines.push(`${k}: ${v}`);
    if (body !== '') lines.push(`Content-Length: ${Buffer.byteLength(body)}`);
    c.sock.write(`${lines.join('\r\n')}\r\n\r\n${body}`);
  }

  private pathOf(url: string): string {
    try {
      return new URL(url).pathname;
    } catch {
      return url;
    }
  }

  /** The path a player asked for, if it is one of ours (a SETUP URL adds the track control). */
  private mount(url: string): string | undefined {
    const p = this.pathOf(url);
    return [...this.paths, this.pushPath].find((m) => p === m || p.startsWith(`${m}/`));
  }

  private onRequest(c: Conn, req: Request): void {
    if (c.session === '') c.session = String(100000 + ++this.sessionSeq);
    const session = () => ({ Session: `${c.session};timeout=60` });
    switch (req.method) {
      case 'OPTIONS':
        return this.reply(c, req, '200 OK', { Public: 'OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, TEARDOWN, GET_PARAMETER' });
      case 'ANNOUNCE': {
        if (this.mount(req.url) !== this.pushPath || this.publisher !== undefined) return this.reply(c, req, '403 Forbidden');
        c.role = 'publisher';
        c.path = this.pushPath;
        this.sdp = req.body;
        return this.reply(c, req, '200 OK');
      }
      case 'DESCRIBE': {
        const m = this.mount(req.url);
        if (m === undefined || m === this.pushPath) return this.reply(c, req, '404 Not Found');
        if (this.sdp === undefined || this.publisher === undefined) return this.reply(c, req, '404 Not Found');
        c.role = 'player';
        c.path = m;
        return this.reply(c, req, '200 OK', { 'Content-Type': 'application/sdp', 'Content-Base': `${this.url(m)}/` }, this.sdp);
      }
      case 'SETUP': {
        const t = req.headers.get('transport') ?? '';
        const il = /interleaved=(\d+)(?:-(\d+))?/.exec(t);
        if (!t.includes('RTP/AVP/TCP') || il === null) return this.reply(c, req, '461 Unsupported Transport');
        const ch = Number(il[1]);
        const track = this.pathOf(req.url).split('/').pop() ?? '';
        if (c.role === 'publisher') c.tracks.set(track, ch);
        else if (c.role === 'player') {
          const src = this.publisher?.tracks.get(track);
          if (src === undefined) return this.reply(c, req, '404 Not Found');
          c.channels.set(src, ch);
          c.channels.set(src + 1, ch + 1);
        } else return this.reply(c, req, '455 Method Not Valid in This State');
        return this.reply(c, req, '200 OK', { Transport: `RTP/AVP/TCP;unicast;interleaved=${ch}-${ch + 1}`, ...session() });
      }
      case 'RECORD':
        if (c.role !== 'publisher') return this.reply(c, req, '455 Method Not Valid in This State');
        this.publisher = c;
        this.reply(c, req, '200 OK', session());
        for (const w of this.readyWaiters.splice(0)) w();
        return;
      case 'PLAY':
        if (c.role !== 'player' || c.channels.size === 0) return this.reply(c, req, '455 Method Not Valid in This State');
        c.playing = true;
        return this.reply(c, req, '200 OK', { Range: 'npt=0.000-', ...session() });
      case 'GET_PARAMETER':
      case 'SET_PARAMETER':
        return this.reply(c, req, '200 OK');
      case 'TEARDOWN':
        this.reply(c, req, '200 OK');
        c.sock.end();
        return;
      default:
        return this.reply(c, req, '501 Not Implemented');
    }
  }

  /** Forward one interleaved frame from the publisher to every playing player. */
  private relay(_from: Conn, frame: Buffer): void {
    if (this.frozenUntil > Date.now()) return;
    const ch = frame[1]!;
    const rtp = ch % 2 === 0;
    for (const p of this.conns) {
      if (!p.playing) continue;
      const out = p.channels.get(ch);
      if (out === undefined) continue;
      if (p.waitingKey) {
        if (!rtp || !startsKeyFrame(frame.subarray(4))) continue;
        p.waitingKey = false;
      }
      // A player 4 MB behind is too slow to be a recorder; cut it (it reconnects, with a gap).
      if (p.sock.writableLength > 4 * 1024 * 1024) {
        p.sock.destroy();
        continue;
      }
      const copy = Buffer.from(frame);
      copy[1] = out;
      p.sock.write(copy);
    }
  }
}

/** Does this RTP packet (H.264, RFC 6184) start an access unit with SPS or an IDR slice? */
export function startsKeyFrame(rtp: Buffer): boolean {
  if (rtp.length < 13) return false;
  const cc = rtp[0]! & 0x0f;
  let off = 12 + cc * 4;
  if (rtp[0]! & 0x10) {
    if (rtp.length < off + 4) return false;
    off += 4 + rtp.readUInt16BE(off + 2) * 4;
  }
  if (rtp.length <= off) return false;
  const type = rtp[off]! & 0x1f;
  if (type === 7 || type === 5) return true;
  if (type === 24) return rtp.length > off + 3 && [5, 7].includes(rtp[off + 3]! & 0x1f); // STAP-A
  if (type === 28) return rtp.length > off + 1 && (rtp[off + 1]! & 0x80) !== 0 && [5, 7].includes(rtp[off + 1]! & 0x1f); // FU-A start
  return false;
}

/** Starts a stream serving `paths`; resolves once the encoder publishes. */
export async function startSimulatedStream(opts: StreamOptions & { paths: readonly string[] }): Promise<SimulatedStream> {
  const s = new SimulatedStream(opts.paths, opts);
  await s.start();
  return s;
}
