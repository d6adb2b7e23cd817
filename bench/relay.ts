/**
 * A minimal relay over a Unix socket: length-prefixed frames in, the same bytes out to every
 * subscriber, one write per subscriber per read (coalesced), no decoding, no matching, no
 * per-message objects. It is what Node can do at best on this machine, the ceiling the broker is
 * measured against. A subscriber that falls behind pauses the publishers (no queue, no drops).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { RAW_PING, RAW_PONG, RAW_PUB, RAW_SUB, RAW_SUBACK, rawControl } from './rawproto.js';

const HIGH_WATER = 4 * 1024 * 1024;

export function startRelay(path: string): Promise<Server> {
  const subs = new Set<Socket>();
  const paused = new Set<Socket>();
  const resumeIfClear = () => {
    for (const s of subs) if (s.writableLength > HIGH_WATER) return;
    for (const p of paused) p.resume();
    paused.clear();
  };
  const forward = (from: Socket, slice: Buffer) => {
    let full = false;
    for (const s of subs) {
      s.write(slice);
      if (s.writableLength > HIGH_WATER) full = true;
    }
    if (full && !paused.has(from)) {
      paused.add(from);
      from.pause();
    }
  };
  const server = createServer((sock) => {
    let rest: Buffer | undefined;
    sock.on('error', () => undefined);
    sock.on('close', () => {
      subs.delete(sock);
      paused.delete(sock);
      resumeIfClear();
    });
    sock.on('drain', resumeIfClear);
    sock.on('data', (chunk: Buffer) => {
      const buf = rest === undefined ? chunk : Buffer.concat([rest, chunk]);
      rest = undefined;
      let pos = 0;
      let run = -1;
      while (buf.length - pos >= 4) {
        const len = buf.readUInt32BE(pos);
        if (buf.length - pos - 4 < len) break;
        const kind = buf[pos + 4];
        if (kind === RAW_PUB) {
          if (run < 0) run = pos;
        } else {
          if (run >= 0) forward(sock, buf.subarray(run, pos));
          run = -1;
          if (kind === RAW_SUB) {
            subs.add(sock);
            sock.write(rawControl(RAW_SUBACK));
          } else if (kind === RAW_PING) {
            sock.write(rawControl(RAW_PONG));
          }
        }
        pos += 4 + len;
      }
      if (run >= 0) forward(sock, buf.subarray(run, pos));
      if (pos < buf.length) rest = buf.subarray(pos);
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}
