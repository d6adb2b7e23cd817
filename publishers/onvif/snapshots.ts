/**
 * Snapshots with events, by reference: on a configured event kind the worker fetches the camera's
 * snapshot (GetSnapshotUri once per session, then HTTP GET with Digest or Basic auth), stores it
 * in a bounded spool directory and puts `{path, size, sha256}` in the event — never the image in
 * the bus frame. The spool keeps at most maxFiles files and maxBytes bytes, deleting the oldest.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import type { CameraEventKind } from '../../schemas/topics.js';

export interface SnapshotOptions {
  /** Spool directory (created if missing). */
  dir: string;
  /** Event kinds that get a snapshot; default motion, object, field, line, doorbell. */
  kinds?: readonly CameraEventKind[];
  /** Default 1000 files. */
  maxFiles?: number;
  /** Default 256 MiB. */
  maxBytes?: number;
  /** Largest image accepted; default 8 MiB. */
  maxImageBytes?: number;
  /** Whole fetch (URI request excluded); default 3000 ms. */
  timeoutMs?: number;
}

export const DEFAULT_SNAPSHOT_KINDS: readonly CameraEventKind[] = ['motion', 'object', 'field', 'line', 'doorbell'];

export interface StoredSnapshot {
  path: string;
  size: number;
  sha256: string;
}

/** `<cameraId>_<ISO time with - for : and .>_<6 hex>.jpg`: what `SnapshotSpool.store` names a file. */
const FILE_NAME = /^(.+)_(\d{4}-\d\d-\d\dT\d\d)-(\d\d)-(\d\d)-(\d{3}Z)_[0-9a-f]{6}\.jpg$/;

/**
 * The camera and time a spool file's name says, or undefined for a name the spool did not make.
 * For readers of the spool (the dashboard finds each camera's latest snapshot after a restart).
 */
export function parseSnapshotFileName(name: string): { cameraId: string; time: string } | undefined {
  const m = FILE_NAME.exec(name);
  if (m === null) return undefined;
  return { cameraId: m[1]!, time: `${m[2]!}:${m[3]!}:${m[4]!}.${m[5]!}` };
}

export class SnapshotSpool {
  private readonly files: { path: string; size: number }[] = [];
  private bytes = 0;
  readonly kinds: ReadonlySet<CameraEventKind>;
  readonly maxImageBytes: number;
  readonly timeoutMs: number;
  private readonly maxFiles: number;
  private readonly maxBytes: number;

  constructor(readonly o: SnapshotOptions) {
    this.kinds = new Set(o.kinds ?? DEFAULT_SNAPSHOT_KINDS);
    this.maxFiles = o.maxFiles ?? 1000;
    this.maxBytes = o.maxBytes ?? 256 * 1024 * 1024;
    this.maxImageBytes = o.maxImageBytes ?? 8 * 1024 * 1024;
    this.timeoutMs = o.timeoutMs ?? 3000;
    mkdirSync(o.dir, { recursive: true, mode: 0o700 });
    // Files from an earlier run count against the bounds, oldest first.
    const old = readdirSync(o.dir)
      .filter((f) => f.endsWith('.jpg'))
      .map((f) => {
        const path = join(o.dir, f);
        const st = statSync(path);
        return { path, size: st.size, mtime: st.mtimeMs };
      })
      .sort((a, b) => a.mtime - b.mtime);
    for (const f of old) this.track(f.path, f.size);
    this.evict();
  }

  /** Writes the image and returns its reference; evicts the oldest files beyond the bounds. */
  store(cameraId: string, image: Buffer, at: Date): StoredSnapshot {
    const sha256 = createHash('sha256').update(image).digest('hex');
    const stamp = at.toISOString().replace(/[:.]/g, '-');
    const path = join(this.o.dir, `${cameraId}_${stamp}_${randomBytes(3).toString('hex')}.jpg`);
    writeFileSync(path, image, { mode: 0o600 });
    this.track(path, image.length);
    this.evict();
    return { path, size: image.length, sha256 };
  }

  get count(): number {
    return this.files.length;
  }

  private track(path: string, size: number): void {
    this.files.push({ path, size });
    this.bytes += size;
  }

  private evict(): void {
    while (this.files.length > 0 && (this.files.length > this.maxFiles || this.bytes > this.maxBytes)) {
      const f = this.files.shift()!;
      this.bytes -= f.size;
      try {
        unlinkSync(f.path);
      } catch {
        // Already gone (a consumer moved it): nothing to free.
      }
    }
  }
}

/**
 * GET `uri` with the camera's credentials: first without, then answering a Digest (MD5, qop=auth)
 * or Basic challenge. Rejects on HTTP errors, bodies over `maxBytes`, or `timeoutMs`.
 */
export async function fetchSnapshot(
  uri: string,
  creds: { username?: string | undefined; password?: string | undefined },
  o: { maxBytes: number; timeoutMs: number; tlsInsecure?: boolean },
): Promise<Buffer> {
  const deadline = Date.now() + o.timeoutMs;
  const first = await get(uri, undefined, o, deadline);
  if (first.status !== 401 || creds.username === undefined) return ok(first);
  const challenge = first.challenge ?? '';
  const authorization = /^digest/i.test(challenge)
    ? digestAuthorization(challenge, 'GET', new URL(uri), creds.username, creds.password ?? '')
    : `Basic ${Buffer.from(`${creds.username}:${creds.password ?? ''}`).toString('base64')}`;
  return ok(await get(uri, authorization, o, deadline));
}

function ok(r: { status: number; body: Buffer }): Buffer {
  if (r.status !== 200) throw new Error(`snapshot: HTTP ${r.status}`);
  return r.body;
}

function get(
  uri: string,
  authorization: string | undefined,
  o: { maxBytes: number; tlsInsecure?: boolean },
  deadline: number,
): Promise<{ status: number; body: Buffer; challenge?: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(uri);
    const mod = u.protocol === 'https:' ? https : http;
    const req = mod.get(
      u,
      {
        headers: authorization !== undefined ? { Authorization: authorization } : {},
        timeout: Math.max(1, deadline - Date.now()),
        ...(u.protocol === 'https:' ? { rejectUnauthorized: !o.tlsInsecure } : {}),
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > o.maxBytes) {
            req.destroy(new Error(`snapshot larger than ${o.maxBytes} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          const challenge = res.headers['www-authenticate'];
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), ...(challenge !== undefined ? { challenge: String(challenge) } : {}) });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('snapshot timed out')));
    req.on('error', reject);
  });
}

function digestAuthorization(challenge: string, method: string, url: URL, username: string, password: string): string {
  const params: Record<string, string> = {};
  for (const m of challenge.replace(/^digest\s+/i, '').matchAll(/(\w+)=(?:"([^"]*)"|([^,\s]*))/g)) params[m[1]!.toLowerCase()] = m[2] ?? m[3] ?? '';
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  const uri = url.pathname + url.search;
  const realm = params['realm'] ?? '';
  const nonce = params['nonce'] ?? '';
  const qop = (params['qop'] ?? '').split(',').map((q) => q.trim()).includes('auth') ? 'auth' : undefined;
  const nc = '00000001';
  const cnonce = randomBytes(8).toString('hex');
  const ha1 = md5(`${username}:${realm}:${password}`);
  const ha2 = md5(`${method}:${uri}`);
  const response = qop ? md5(`${ha1}:${nonce}:${nc}:${cnonce}:${qop}:${ha2}`) : md5(`${ha1}:${nonce}:${ha2}`);
  const q = (s: string): string => s.replace(/["\\]/g, '\\$&');
  return (
    `Digest username="${q(username)}", realm="${q(realm)}", nonce="${q(nonce)}", uri="${q(uri)}", response="${response}"` +
    (qop ? `, qop=${qop}, nc=${nc}, cnonce="${cnonce}"` : '') +
    (params['opaque'] !== undefined ? `, opaque="${q(params['opaque'])}"` : '') +
    (params['algorithm'] !== undefined ? `, algorithm=${params['algorithm']}` : '')
  );
}
