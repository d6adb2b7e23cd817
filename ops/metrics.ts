/**
 * Prometheus text exposition (format 0.0.4) of the broker's counters, served over HTTP on a Unix
 * socket or a loopback port, and printed by `udsbus stats --prom`. Names follow the Prometheus
 * conventions: `udsbus_` prefix, base units (bytes, seconds), `_total` on counters, labels for
 * the reason/policy/code dimensions rather than one metric each.
 */
import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import type { Server } from 'node:http';
import type { BrokerStats } from 'udsbus/core';
import type { BrokerEvents } from 'udsbus';

/** The fields of a durable queue's info (`$SYS.req.durable.list`) that the metrics use. */
export type DurableBacklog = { name: string; backlog: number; bytes: number; dropped: number };

/** What the broker's own stats do not keep: closes by reason, denials by action (fed by events). */
export class EventCounters implements BrokerEvents {
  readonly closes = new Map<string, number>();
  readonly denials = new Map<string, number>();
  closed(c: { closeReason?: string | undefined }): void {
    const r = c.closeReason ?? 'eof';
    this.closes.set(r, (this.closes.get(r) ?? 0) + 1);
  }
  denied(r: { action: string }): void {
    this.denials.set(r.action, (this.denials.get(r.action) ?? 0) + 1);
  }
}

export type MetricsInput = {
  stats: BrokerStats;
  durables?: readonly DurableBacklog[] | undefined;
  counters?: EventCounters | undefined;
  version?: string;
};

type Sample = { labels?: Record<string, string>; value: number };

class Exposition {
  private readonly out: string[] = [];
  metric(name: string, type: 'counter' | 'gauge', help: string, samples: Sample[] | number): void {
    this.out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    const list = typeof samples === 'number' ? [{ value: samples }] : samples;
    for (const s of list) this.out.push(`${name}${labels(s.labels)} ${formatValue(s.value)}`);
  }
  text(): string {
    return `${this.out.join('\n')}\n`;
  }
}

function labels(l: Record<string, string> | undefined): string {
  if (l === undefined) return '';
  const parts = Object.entries(l).map(([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

function formatValue(v: number): string {
  return Number.isFinite(v) ? String(v) : Number.isNaN(v) ? 'NaN' : v > 0 ? '+Inf' : '-Inf';
}

const entries = (m: Record<string, number | undefined> | Map<string, number>, label: string): Sample[] =>
  [...(m instanceof Map ? m.entries() : Object.entries(m))].map(([k, v]) => ({ labels: { [label]: k }, value: v ?? 0 }));

/** The exposition text for one sample of the broker. */
export function renderMetrics(m: MetricsInput): string {
  const s = m.stats;
  const e = new Exposition();
  if (m.version !== undefined) e.metric('udsbus_build_info', 'gauge', 'Always 1; the version label says which udsbus broker answers.', [{ labels: { version: m.version }, value: 1 }]);
  e.metric('udsbus_uptime_seconds', 'gauge', 'Seconds since the broker started.', s.uptimeMs / 1000);
  e.metric('udsbus_connections', 'gauge', 'Open connections (hello done).', s.connections);
  e.metric('udsbus_connections_opened_total', 'counter', 'Connections that completed their hello since start.', s.connectionsTotal);
  if (m.counters !== undefined) e.metric('udsbus_connections_closed_total', 'counter', 'Connections closed since start, by reason code.', entries(m.counters.closes, 'reason'));
  e.metric('udsbus_subscriptions', 'gauge', 'Live subscriptions over all connections.', s.subscriptions);
  e.metric('udsbus_messages_received_total', 'counter', 'Messages published by clients.', s.msgsIn);
  e.metric('udsbus_received_bytes_total', 'counter', 'Bytes of frames received from clients.', s.bytesIn);
  e.metric('udsbus_messages_delivered_total', 'counter', 'Deliveries to subscriptions (one message to three subscribers counts three).', s.msgsOut);
  e.metric('udsbus_messages_dropped_total', 'counter', 'Deliveries dropped because a subscriber queue was full, by overflow policy.', entries(s.drops, 'policy'));
  if (typeof s.paceStalls === 'number') e.metric('udsbus_pace_stalls_total', 'counter', 'Times a subscriber read nothing for paceStall and stopped pacing its publishers (PROTOCOL.md §10).', s.paceStalls);
  e.metric('udsbus_errors_total', 'counter', 'Error frames sent to clients, by error name.', entries(s.errors, 'code'));
  e.metric('udsbus_queued_bytes', 'gauge', 'Bytes waiting in outbound queues for slow readers (queue depth).', s.queuedBytes);
  e.metric('udsbus_retained_messages', 'gauge', 'Topics with a retained message.', s.retained);
  e.metric('udsbus_retained_bytes', 'gauge', 'Bytes held by the retained store.', s.retainedBytes);
  if (m.durables !== undefined) {
    e.metric('udsbus_durable_backlog_messages', 'gauge', 'Messages stored in a durable queue and not yet acknowledged.', m.durables.map((d) => ({ labels: { durable: d.name }, value: d.backlog })));
    e.metric('udsbus_durable_backlog_bytes', 'gauge', 'Bytes on disk for a durable queue.', m.durables.map((d) => ({ labels: { durable: d.name }, value: d.bytes })));
    e.metric('udsbus_durable_dropped_total', 'counter', 'Messages a durable queue dropped (overflow drop-oldest).', m.durables.map((d) => ({ labels: { durable: d.name }, value: d.dropped })));
  }
  if (m.counters !== undefined) e.metric('udsbus_acl_denials_total', 'counter', 'Operations refused by the access rules, by action.', entries(m.counters.denials, 'action'));
  e.metric('process_resident_memory_bytes', 'gauge', 'Resident memory of the broker process.', s.memory.rss);
  e.metric('udsbus_heap_used_bytes', 'gauge', 'V8 heap in use by the broker process.', s.memory.heapUsed);
  return e.text();
}

export type MetricsEndpoint = { readonly where: string; close(): Promise<void> };

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/**
 * Serve `GET /metrics` on a Unix socket path (anything with a `/`; mode 0660, a stale file
 * replaced) or `[host:]port` on loopback (metrics are not for the network: the host must be
 * 127.0.0.1, ::1 or localhost).
 */
export async function serveMetrics(spec: string, sample: () => string): Promise<MetricsEndpoint> {
  // Loaded here, not with the module: a broker without --metrics never maps node:http (idle RSS).
  const { createServer } = await import('node:http');
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics' && path !== '/') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('udsbus serves /metrics\n');
      return;
    }
    let body: string;
    try {
      body = sample();
    } catch (err) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(err as Error).message}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' }).end(req.method === 'HEAD' ? undefined : body);
  });
  const listen = (...args: unknown[]) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      (server.listen as (...a: unknown[]) => void)(...args, () => {
        server.off('error', reject);
        resolve();
      });
    });
  if (spec.includes('/')) {
    try {
      if (lstatSync(spec).isSocket()) unlinkSync(spec);
    } catch {
      /* absent */
    }
    const old = process.umask(0o177);
    try {
      await listen(spec);
    } finally {
      process.umask(old);
    }
    chmodSync(spec, 0o660);
    return {
      where: `unix:${spec}`,
      close: () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    };
  }
  const i = spec.lastIndexOf(':');
  const host = i < 0 ? '127.0.0.1' : spec.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(i < 0 ? spec : spec.slice(i + 1));
  if (!LOOPBACK.has(host)) throw new Error(`metrics: "${host}" is not a loopback address; use 127.0.0.1:PORT, [::1]:PORT or a Unix socket path`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`metrics: expected PATH, PORT or HOST:PORT, got "${spec}"`);
  await listen(port, host);
  const addr = server.address();
  const bound = addr !== null && typeof addr === 'object' ? `${addr.address.includes(':') ? `[${addr.address}]` : addr.address}:${addr.port}` : `${host}:${port}`;
  return {
    where: `http://${bound}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
