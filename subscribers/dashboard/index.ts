/**
 * Dashboard subscriber: a live web view of the bus for operators — cameras, the event timeline
 * with the alerts events caused, recording clips, topics with rates, clients with queue depth and
 * drops, durables, ACL denials, a live tap and audit status — served on loopback TCP (with a
 * token) or on a Unix socket for a reverse proxy. Read-only unless `actions` is set.
 *
 * Fed by ordinary subscriptions of the client it is given (so the broker's ACL for that client
 * bounds what the page can show) and by polling `$SYS.req.clients` / `$SYS.req.stats` /
 * `$SYS.req.durable.list`.
 *
 * @example
 * const bus = await connect({ name: 'dashboard' });
 * const dash = await startDashboard({ client: bus, listen: { host: '127.0.0.1', port: 8650 } });
 * console.log(dash.url); // http://127.0.0.1:8650/?token=…
 * // … later
 * await dash.stop();
 */
import { randomBytes } from 'node:crypto';
import { chmodSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Subscription } from 'rxjs';
import { prepareSocketPath } from 'udsbus/server';
import type { Client, LossEvent, Message, SubscribeOptions } from 'udsbus';
import { topics as topicNames, isValidToken, CAMERA_RPC_ACTIONS } from '../../schemas/topics.js';
import { validatorFor } from '../../schemas/validate.js';
import { readManifest } from '../audit/files.js';
import { verifyAuditLog } from '../audit/verify.js';
import { createLogger, errFields, type Logger } from '../common/logger.js';
import { IndexTail } from './clips.js';
import { isLoopback, type DashboardListen } from './config.js';
import { DashboardModel, preview, type SessionRow } from './model.js';
import { DashboardServer, type TapLine } from './server.js';
import { latestSnapshots } from './snapshots.js';

export { loadDashboardConfig, DashboardConfig, isLoopback } from './config.js';
export { DashboardModel } from './model.js';

export type DashboardOptions = {
  /** A connected client; the dashboard does not close it. */
  client: Client;
  /** Default: 127.0.0.1, a free port. */
  listen?: DashboardListen | undefined;
  /** TCP access token; a random one is made when absent. Ignored on a UDS unless given. */
  token?: string | undefined;
  /** Clips are served only from inside this directory. */
  recordingsDir?: string | undefined;
  /** The recording subscriber's session index. */
  indexFile?: string | undefined;
  /** The audit subscriber's log directory. */
  auditDir?: string | undefined;
  /**
   * The ONVIF publisher's snapshot spool (its `snapshots.dir`): each camera card shows the latest
   * snapshot its events referenced, served only from inside this directory.
   */
  snapshotsDir?: string | undefined;
  /** Camera actions (PTZ, snapshot URI) from the page. Default false. */
  actions?: boolean | undefined;
  pollMs?: number | undefined;
  eventsKept?: number | undefined;
  logger?: Logger | undefined;
};

export interface DashboardHandle {
  /** What to open: `http://host:port/?token=…`, or `unix:/path` for a UDS. */
  readonly url: string;
  readonly address: { host: string; port: number } | { path: string };
  readonly model: DashboardModel;
  /** Open page streams and taps, and how many pages were cut off for not reading. */
  counts(): { pages: number; taps: number; cutOff: number };
  /** Close the page streams and the listener, unsubscribe. The client stays open. */
  stop(): Promise<void>;
}

/** Actions the page may ask for, mapped to the ONVIF publisher's requests. */
const ACTIONS: Record<string, (typeof CAMERA_RPC_ACTIONS)[number]> = { 'ptz-move': 'ptz-move', 'ptz-stop': 'ptz-stop', snapshot: 'snapshot-uri' };

const TAP_LINES_PER_SECOND = 200;
const AUDIT_EVERY_MS = 30_000;
const INDEX_EVERY_MS = 10_000;

export async function startDashboard(opts: DashboardOptions): Promise<DashboardHandle> {
  const { client } = opts;
  const log = opts.logger ?? createLogger('udsbus-dashboard');
  const listen: DashboardListen = opts.listen ?? { host: '127.0.0.1', port: 0 };
  const tcp = 'port' in listen;
  const host = tcp ? (listen.host ?? '127.0.0.1') : undefined;
  if (host !== undefined && !isLoopback(host) && opts.token === undefined) {
    throw new Error(`refusing to serve the dashboard on ${host} (not loopback) without a configured token`);
  }
  const token = opts.token ?? (tcp ? randomBytes(18).toString('base64url') : undefined);

  let server: DashboardServer | undefined;
  const model = new DashboardModel({ eventsKept: opts.eventsKept, onDelta: (d) => server?.broadcast(d) });
  const subs: Subscription[] = [];
  const timers: NodeJS.Timeout[] = [];

  const on = (pattern: string, so: SubscribeOptions, f: (m: Message) => void) => {
    subs.push(
      client.subscribe(pattern, so).subscribe({
        next: (m) => {
          try {
            f(m);
          } catch (err) {
            log.error({ ...errFields(err), topic: m.topic }, 'dashboard: cannot fold a message');
          }
        },
        error: (err: unknown) => log.warn({ ...errFields(err), pattern }, 'dashboard: subscription failed'),
      }),
    );
  };

  // ---- recordings: the index file, re-read when the bus says a session changed
  let indexTimer: NodeJS.Timeout | undefined;
  const tail = opts.indexFile === undefined ? undefined : new IndexTail(opts.indexFile);
  const readIndex = () => {
    indexTimer = undefined;
    if (tail === undefined) return;
    let rows: SessionRow[];
    try {
      rows = tail.read();
    } catch (err) {
      log.warn({ ...errFields(err), file: opts.indexFile }, 'dashboard: cannot read the session index');
      return;
    }
    for (const r of rows) {
      const old = model.sessions.get(r.sessionId);
      const merged: SessionRow = { ...old, ...r };
      if (r.clip === undefined && old?.clip !== undefined) merged.clip = old.clip;
      model.putSession(merged);
    }
  };
  const indexSoon = () => {
    if (opts.indexFile !== undefined) indexTimer ??= setTimeout(readIndex, 250);
  };
  readIndex();

  // Each camera's newest snapshot already in the spool, before the retained cameras arrive.
  if (opts.snapshotsDir !== undefined) {
    try {
      for (const [cameraId, s] of latestSnapshots(opts.snapshotsDir)) model.seedSnapshot(cameraId, s.row, s.path);
    } catch (err) {
      log.warn({ ...errFields(err), dir: opts.snapshotsDir }, 'dashboard: cannot read the snapshots directory; cards show snapshots from new events only');
    }
  }
  on('camera.discovered.*', { policy: 'latest-per-topic' }, (m) => model.cameraMessage(m));
  on('camera.status.*', { policy: 'latest-per-topic' }, (m) => model.cameraMessage(m));
  on('camera.lost.*', { retained: false }, (m) => model.cameraMessage(m));
  on('camera.event.>', { retained: false }, (m) => model.cameraEvent(m));
  on('alert.>', { retained: false }, (m) => model.alert(m));
  on('recording.>', { retained: false }, (m) => {
    model.recording(m);
    indexSoon();
  });
  // Rates and last values of every topic. latest-per-topic: under overload the table keeps the
  // newest value of each topic and undercounts the rate, rather than falling behind.
  on('>', { policy: 'latest-per-topic' }, (m) => model.countTopic(m));
  on('$SYS.>', { retained: false }, (m) => {
    model.sysMessage(m);
    if (m.topic.startsWith('$SYS.client.')) void poll();
  });
  const onLoss = (e: LossEvent) => model.selfLoss(e.pattern, e.lost);
  client.on('loss', onLoss);
  await client.flush();

  // ---- polling the broker
  const pollMs = opts.pollMs ?? 1000;
  let polling = false;
  let polls = 0;
  const ask = async (topic: string): Promise<{ value?: unknown; error?: string }> => {
    try {
      return { value: await client.request(topic, undefined, { timeout: Math.max(2000, pollMs * 2) }) };
    } catch (err) {
      return { error: (err as Error).message };
    }
  };
  const poll = async () => {
    if (polling) return;
    polling = true;
    try {
      const [clients, stats] = await Promise.all([ask('$SYS.req.clients'), ask('$SYS.req.stats')]);
      model.setClients(clients.value ?? [], clients.error);
      model.setStats(stats.value ?? null, stats.error);
      if (polls++ % 5 === 0) {
        const d = await ask('$SYS.req.durable.list');
        model.setDurables(d.value ?? null, d.error);
      }
    } finally {
      polling = false;
    }
  };
  timers.push(setInterval(() => void poll(), pollMs));
  timers.push(setInterval(() => model.emitTopics(), 1000));
  if (opts.indexFile !== undefined) timers.push(setInterval(indexSoon, INDEX_EVERY_MS));
  await poll();

  // ---- audit: verify status and the last checkpoint
  if (opts.auditDir !== undefined) {
    const dir = opts.auditDir;
    const check = () => {
      try {
        const v = verifyAuditLog(dir);
        let checkpoint: unknown = null;
        try {
          checkpoint = readManifest(dir)?.checkpoint ?? null;
        } catch {
          /* reported by verify's notes */
        }
        model.setAudit({ dir, ok: v.ok, records: v.records, lastSeq: v.lastSeq, lastHash: v.lastHash, problem: v.problem, notes: v.notes, checkpoint, checkedAt: new Date().toISOString() });
      } catch (err) {
        model.setAudit({ dir, ok: false, problem: { reason: (err as Error).message }, checkedAt: new Date().toISOString() });
      }
    };
    check();
    timers.push(setInterval(check, AUDIT_EVERY_MS));
  }

  // ---- the live tap: one subscription per open tap, rate-limited toward the page
  const tap = (pattern: string, send: (line: TapLine | { skipped: number }) => void): (() => void) => {
    let sec = 0;
    let sent = 0;
    let skipped = 0;
    const sub = client.subscribe(pattern, { retained: false, policy: 'drop-oldest', maxMsgs: 1000 }).subscribe({
      next: (m) => {
        const now = Math.floor(Date.now() / 1000);
        if (now !== sec) {
          if (skipped > 0) send({ skipped });
          sec = now;
          sent = 0;
          skipped = 0;
        }
        if (++sent > TAP_LINES_PER_SECOND) {
          skipped++;
          return;
        }
        send({
          topic: m.topic,
          time: new Date().toISOString(),
          retained: m.retained,
          payload: preview(m.payload, 2000),
          ...(m.from === undefined ? {} : { from: m.from.name }),
          ...(m.lost > 0 ? { lost: m.lost } : {}),
        });
      },
      error: () => undefined,
    });
    return () => sub.unsubscribe();
  };

  // ---- camera actions, only when asked for
  const action =
    opts.actions === true
      ? async (cameraId: string, name: string, body: unknown): Promise<unknown> => {
          const rpc = ACTIONS[name];
          if (rpc === undefined) throw new Error(`unknown action "${name}" (${Object.keys(ACTIONS).join(', ')})`);
          if (!isValidToken(cameraId)) throw new Error('invalid camera id');
          const topic = topicNames.cameraRpc(cameraId, rpc);
          const check = validatorFor(topic)?.(body);
          if (check !== undefined && !check.ok) throw new Error(`invalid request: ${check.errors.join('; ')}`);
          log.info({ cameraId, action: name }, 'dashboard: camera action');
          // The action is known only at run time and the body was checked against its schema above.
          return client.request<unknown, string>(topic, body, { timeout: 10_000 });
        }
      : undefined;

  // ---- the listener
  const info = { actions: opts.actions === true, clips: opts.recordingsDir !== undefined, audit: opts.auditDir !== undefined, snapshots: opts.snapshotsDir !== undefined };
  server = new DashboardServer({ model, token, recordingsDir: opts.recordingsDir, snapshotsDir: opts.snapshotsDir, action, tap, info });
  const http = server.http;
  let address: DashboardHandle['address'];
  let url: string;
  try {
    if ('port' in listen) {
      await new Promise<void>((resolve, reject) => {
        http.once('error', reject);
        http.listen(listen.port, host, () => {
          http.off('error', reject);
          resolve();
        });
      });
      const a = http.address() as AddressInfo;
      address = { host: a.address, port: a.port };
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      url = `http://${h}:${a.port}/?token=${token!}`;
    } else {
      await prepareSocketPath(listen.path);
      const old = process.umask(0o177); // bind owner-only, then widen: never wider than asked
      try {
        await new Promise<void>((resolve, reject) => {
          http.once('error', reject);
          http.listen(listen.path, () => {
            http.off('error', reject);
            resolve();
          });
        });
      } finally {
        process.umask(old);
      }
      chmodSync(listen.path, Number.parseInt(listen.mode ?? '0660', 8));
      address = { path: listen.path };
      url = `unix:${listen.path}`;
    }
  } catch (err) {
    client.off('loss', onLoss);
    for (const s of subs) s.unsubscribe();
    for (const t of timers) clearInterval(t);
    clearTimeout(indexTimer);
    await server.close().catch(() => undefined);
    throw err;
  }
  log.info({ url: url.replace(/token=.*/, 'token=…'), actions: opts.actions === true }, 'dashboard listening');

  let stopped: Promise<void> | undefined;
  return {
    url,
    address,
    model,
    counts: () => server.counts(),
    stop: () =>
      (stopped ??= (async () => {
        for (const t of timers) clearInterval(t);
        clearTimeout(indexTimer);
        client.off('loss', onLoss);
        for (const s of subs) s.unsubscribe();
        await server.close();
      })()),
  };
}
