/** The bench report as a text table, a JSON file and a hand-written SVG chart. */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchReport, Outcome } from './index.js';
import { matrixKey, type FanoutResult } from './scenarios.js';

const fmtInt = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '–' : Math.round(x).toLocaleString('en-US'));
const fmt1 = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(1));
const fmtX = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '–' : `${x.toFixed(2)}×`);
const kb = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(x / 1024).toFixed(1)} KiB`);
const mb = (x: number | undefined): string => (x === undefined || !Number.isFinite(x) ? '–' : `${(x / 1048576).toFixed(1)} MiB`);

function ok<T>(o: Outcome<T> | undefined): T | undefined {
  return o === undefined || (o !== null && typeof o === 'object' && 'error' in o) ? undefined : (o as T);
}
function err(o: unknown): string | undefined {
  return o !== null && typeof o === 'object' && 'error' in o ? String((o as { error: unknown }).error) : undefined;
}

/** `align`: one letter per column, l or r (default: first column l, the rest r). */
function table(headers: string[], rows: string[][], align = '', indent = '  '): string {
  const w = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const left = (i: number) => (align[i] ?? (i === 0 ? 'l' : 'r')) === 'l';
  const line = (cells: string[]) =>
    indent +
    cells
      .map((c, i) => (left(i) ? c.padEnd(w[i]!) : c.padStart(w[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

function errorRow(system: string, e: string, cols: number): string[] {
  return [system, `FAILED: ${e.slice(0, 90)}`, ...Array.from({ length: cols - 2 }, () => '')];
}

const fmt2 = (x: number | undefined | null): string => (x === undefined || x === null || !Number.isFinite(x) ? '–' : x.toFixed(2));

function fanoutTable(res: Record<string, Outcome<FanoutResult>>): string {
  const raw = ok(res.raw)?.perSub.median;
  const nats = ok(res.nats)?.perSub.median;
  const rows = Object.entries(res).map(([s, o]) => {
    const r = ok(o);
    if (r === undefined) return errorRow(s, err(o) ?? '?', 11);
    return [
      s,
      fmtInt(r.perSub.median),
      `${fmtInt(r.perSub.min)}–${fmtInt(r.perSub.max)}`,
      fmtInt(r.perSubWhole.median),
      fmtInt(r.aggregate),
      `${fmtInt(r.lost)}${r.lossNotices > 0 ? ` (${r.lossNotices} notices)` : ''}${r.accounted ? '' : ' UNACCOUNTED'}`,
      fmt2(r.cpuUsPerDelivery?.server),
      fmt2(r.cpuUsPerDelivery?.sub),
      fmt2(r.cpuUsPerDelivery?.pub),
      raw === undefined ? '–' : fmtX(r.perSub.median / raw),
      nats === undefined ? '–' : fmtX(r.perSub.median / nats),
    ];
  });
  return table(['system', 'msg/s/sub', 'min–max', 'whole run', 'all subs msg/s', 'lost', 'server µs/dlv', 'sub µs/dlv', 'pub µs/msg', 'vs raw', 'vs nats'], rows);
}

/** One line of udsbus-over-peer ratios: throughput, and CPU per delivery (lower is better). */
function ratioLine(res: Record<string, Outcome<FanoutResult>>): string {
  const u = ok(res.udsbus);
  if (u === undefined) return '  udsbus did not run';
  const parts: string[] = [];
  for (const peer of ['raw', 'nats']) {
    const p = ok(res[peer]);
    if (p === undefined) continue;
    parts.push(
      `udsbus/${peer}: ${fmtX(u.perSub.median / p.perSub.median)} msg/s per subscriber, ` +
        `${fmtX(u.cpuUsPerDelivery.server / p.cpuUsPerDelivery.server)} server CPU and ${fmtX(u.cpuUsPerDelivery.sub / p.cpuUsPerDelivery.sub)} subscriber CPU per delivery`,
    );
  }
  return parts.length === 0 ? '  (no raw or nats result to compare with)' : parts.map((p) => `  ${p}`).join('\n');
}

function matrixTable(res: Record<string, Outcome<FanoutResult>>, bytesList: number[], subsList: number[]): string {
  const systems = [...new Set(Object.keys(res).map((k) => k.split('|')[0]!))];
  const peers = systems.filter((s) => s !== 'udsbus');
  const rows: string[][] = [];
  for (const bytes of bytesList) {
    for (const subs of subsList) {
      const at = (s: string) => ok(res[matrixKey(s, bytes, subs)]);
      const u = at('udsbus');
      const row = [`${bytes >= 1024 ? `${bytes / 1024} KiB` : `${bytes} B`}`, `1→${subs}`];
      for (const s of systems) row.push(fmtInt(at(s)?.perSub.median));
      for (const p of peers) row.push(u === undefined || at(p) === undefined ? '–' : fmtX(u.perSub.median / at(p)!.perSub.median));
      for (const s of systems) row.push(`${fmt2(at(s)?.cpuUsPerDelivery.server)} / ${fmt2(at(s)?.cpuUsPerDelivery.sub)}`);
      row.push(u === undefined ? (err(res[matrixKey('udsbus', bytes, subs)]) === undefined ? '–' : 'FAILED') : fmtInt(u.lost));
      rows.push(row);
    }
  }
  return table(
    ['payload', 'fan-out', ...systems.map((s) => `${s} msg/s/sub`), ...peers.map((p) => `udsbus/${p}`), ...systems.map((s) => `${s} µs/dlv srv / sub`), 'udsbus lost'],
    rows,
    'll',
  );
}

export function formatReport(r: BenchReport): string {
  const out: string[] = [];
  const m = r.meta;
  const sc = r.scenarios;
  const sz = m.sizes;
  out.push(
    `udsbus bench — ${m.date} — ${m.host}: ${m.cpus} × ${m.cpuModel}, node ${m.node}, udsbus ${m.commit}, ${m.quick ? 'QUICK (smoke) sizes' : 'full sizes'}, ${m.runs} run${m.runs > 1 ? 's (medians)' : ''}${m.external ? ', running broker' : ''}`,
    `load average ${m.loadavgStart.join(' ')} at start, ${m.loadavgEnd.join(' ')} at end; took ${(m.elapsedMs / 1000).toFixed(0)} s. Shared machine: absolute numbers are noisy, ratios within a run are what count.`,
    ...m.notes.map((n) => `  - ${n}`),
    '',
  );
  if (sc.opaque !== undefined) {
    out.push(
      `Fan-out 1 → ${sz.fanoutSubs}, OPAQUE ${fmtInt(sz.opaqueBytes)}-byte payloads (${fmtInt(sz.opaqueMsgs)} messages counted by position, no CBOR in the application; one process per subscriber); delivered msg/s per subscriber, steady state; CPU µs per delivery`,
      fanoutTable(sc.opaque),
      ratioLine(sc.opaque),
      '',
    );
  }
  if (sc.fanout !== undefined) {
    out.push(
      `Fan-out 1 → ${sz.fanoutSubs}, STRUCTURED (${fmtInt(sz.fanoutMsgs)} CBOR camera events of ~200 B encoded and decoded by every client, one process per subscriber); delivered msg/s per subscriber, steady state`,
      fanoutTable(sc.fanout),
      ratioLine(sc.fanout),
      '',
    );
  }
  if (sc.fanout100 !== undefined) {
    out.push(`Fan-out 1 → ${sz.fan100Subs} (${fmtInt(sz.fan100Msgs)} events, subscribers spread over ${sz.fan100Procs} processes)`, fanoutTable(sc.fanout100), '');
  }
  if (sc.latency !== undefined) {
    const raw = ok(sc.latency.raw)?.latencyUs;
    const nats = ok(sc.latency.nats)?.latencyUs;
    const rows = Object.entries(sc.latency).map(([s, o]) => {
      const x = ok(o);
      if (x === undefined) return errorRow(s, err(o) ?? '?', 9);
      const l = x.latencyUs;
      return [s, fmtInt(l.p50), fmtInt(l.p99), fmtInt(l.p999), fmtInt(l.max), fmtInt(x.lost), raw === undefined ? '–' : fmtX(l.p50 / raw.p50), nats === undefined ? '–' : fmtX(l.p99 / nats.p99), fmtInt(l.n)];
    });
    out.push(
      `Latency, one-way publish → subscriber callback in µs (${fmtInt(sz.latRate)} msg/s for ${sz.latMs / 1000} s to ${sz.latSubs} subscribers, publisher paced by a 1 ms timer)`,
      table(['system', 'p50', 'p99', 'p99.9', 'max', 'lost', 'p50 vs raw', 'p99 vs nats', 'samples'], rows),
      '',
    );
  }
  if (sc.reqrep !== undefined) {
    const o = sc.reqrep.udsbus;
    const x = ok(o);
    out.push(`Request/reply on udsbus (serve() echo worker in its own process, ${sz.rpcMs / 1000} s per level); round-trip µs`);
    if (x === undefined) out.push(`  FAILED: ${err(o) ?? '?'}`);
    else out.push(table(['in flight', 'req/s', 'p50', 'p99', 'p99.9', 'max', 'errors'], x.map((q) => [String(q.inflight), fmtInt(q.perSec), fmtInt(q.rttUs.p50), fmtInt(q.rttUs.p99), fmtInt(q.rttUs.p999), fmtInt(q.rttUs.max), fmtInt(q.errors)])));
    out.push('');
  }
  if (sc.scale !== undefined) {
    const rows = Object.entries(sc.scale).map(([s, o]) => {
      const x = ok(o);
      if (x === undefined) return errorRow(s, err(o) ?? '?', 8);
      return [s, fmt1(x.connectMs / 1000), mb(x.rssBefore), mb(x.rssAfter), kb(x.bytesPerConn), `${fmtInt(x.delivered)}/${fmtInt(x.connections)}`, fmt1(x.deliveryMs.p50), fmt1(x.deliveryMs.max)];
    });
    out.push(
      `Connection scale: ${fmtInt(sz.scaleConns)} idle subscribers in ${sz.scaleProcs} processes (fresh server, RSS from the server process), then one publish`,
      table(['system', 'connect s', 'RSS before', 'RSS after', 'per conn', 'delivered', 'to all p50 ms', 'to all max ms'], rows),
      '',
    );
  }
  if (sc.slow !== undefined) {
    const o = sc.slow.udsbus;
    const x = ok(o);
    out.push(`Slow consumer on udsbus: 1 → ${sz.fanoutSubs} plus one subscriber whose process is SIGSTOPped for the run (${fmtInt(sz.slowMsgs)} opaque ${fmtInt(sz.opaqueBytes)}-byte messages)`);
    if (x === undefined) out.push(`  FAILED: ${err(o) ?? '?'}`);
    else {
      out.push(
        table(
          ['', 'msg/s/sub', 'lost (healthy)'],
          [
            ['without the paused one', fmtInt(x.baseline.perSub.median), fmtInt(x.baseline.lost)],
            ['with the paused one', fmtInt(x.withPaused.perSub.median), fmtInt(x.withPaused.lost)],
          ],
        ),
        `  ratio ${fmtX(x.ratio)}; paused subscriber after SIGCONT: received ${fmtInt(x.paused.received)}, lost ${fmtInt(x.paused.lost)}, announced by ${fmtInt(x.paused.lossNotices)} loss notice(s) totalling ${fmtInt(x.paused.lossAnnounced)}${x.paused.accounted ? ' (books balance)' : ' (BOOKS DO NOT BALANCE)'}; broker drops ${fmtInt(x.brokerDrops)}`,
      );
    }
    out.push('');
  }
  if (sc.tcp !== undefined) {
    const c = sc.tcp.comparison;
    out.push('UDS vs TCP, the same broker (fan-out 1 → 3 and latency as above)');
    if (c === undefined) {
      for (const [s, o] of Object.entries(sc.tcp)) if (s !== 'comparison' && err(o) !== undefined) out.push(`  ${s} FAILED: ${err(o)}`);
    } else {
      out.push(
        table(
          ['', 'UDS', 'TCP', 'TCP / UDS'],
          [
            ['fan-out msg/s/sub', fmtInt(c.fanout.uds), fmtInt(c.fanout.tcp), fmtX(c.fanout.ratio)],
            ['latency p50 µs', fmtInt(c.latencyP50.uds), fmtInt(c.latencyP50.tcp), fmtX(c.latencyP50.ratio)],
            ['latency p99 µs', fmtInt(c.latencyP99.uds), fmtInt(c.latencyP99.tcp), fmtX(c.latencyP99.ratio)],
          ],
        ),
      );
    }
    out.push('');
  }
  if (sc.matrix !== undefined) {
    out.push(
      `Opaque fan-out matrix (payload size × subscribers; messages scaled per cell, at most 4 subscriber processes); msg/s per subscriber, udsbus over each peer, CPU µs per delivery server / subscriber`,
      matrixTable(sc.matrix, sz.matrixBytes, sz.matrixSubs),
      '',
    );
  }
  out.push('Targets (ratios from the same run; not CI gates)');
  out.push(
    table(
      ['', 'target', 'goal', 'value'],
      r.targets.map((t) => [t.met === null ? '[ n/a ]' : t.met ? '[ met ]' : '[MISSED]', t.description, t.goal, t.value === null ? 'not measured' : t.id === 'memory-per-connection' ? `${fmtInt(t.value)} B` : fmtX(t.value)]),
      'llrr',
    ),
    '',
  );
  out.push('Peers');
  for (const [p, s] of Object.entries(r.peers)) out.push(`  ${p}: ${s.status}${s.version ? ` (${s.version})` : ''}${s.reason ? ` — ${s.reason}` : ''}${s.status === 'ran' ? ` — ${s.config}` : ''}`);
  if (r.skipped.length > 0) out.push('', 'Skipped', ...r.skipped.map((s) => `  ${s}`));
  if (r.errors.length > 0) out.push('', 'Errors', ...r.errors.map((s) => `  ${s}`));
  for (const p of r.profile ?? []) {
    out.push('', `Profile ${p.file}: ${fmtInt(p.totalMs - p.idleMs)} ms busy of ${fmtInt(p.totalMs)} ms; top self time`);
    out.push(table(['function', 'where', 'self ms', '%'], p.top.slice(0, 15).map((x) => [x.fn.slice(0, 40), x.where.slice(0, 60), fmtInt(x.selfMs), fmt1(x.pct)]), 'llrr'));
  }
  if (r.files !== undefined) out.push('', `Wrote ${r.files.json} and ${r.files.svg}`);
  return out.join('\n');
}

// ---- SVG ------------------------------------------------------------------------------------

type Bar = { label: string; value: number; text: string; color: string };

const COLORS: Record<string, string> = {
  udsbus: '#1f6feb',
  'udsbus-tcp': '#6ea8fe',
  raw: '#8b949e',
  nats: '#2da44e',
  mosquitto: '#bf8700',
  redis: '#cf222e',
};

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panel(x: number, y: number, w: number, title: string, bars: Bar[]): { svg: string; h: number } {
  const barH = 18;
  const gap = 6;
  const labelW = 120;
  const valueW = 110;
  const h = 30 + bars.length * (barH + gap) + 6;
  const max = Math.max(1e-9, ...bars.map((b) => (Number.isFinite(b.value) ? b.value : 0)));
  const parts = [`<g transform="translate(${x},${y})">`, `<text x="0" y="16" class="t">${esc(title)}</text>`];
  bars.forEach((b, i) => {
    const by = 28 + i * (barH + gap);
    const bw = Number.isFinite(b.value) ? Math.max(1, ((w - labelW - valueW) * b.value) / max) : 0;
    parts.push(
      `<text x="${labelW - 6}" y="${by + 13}" class="l">${esc(b.label)}</text>`,
      `<rect x="${labelW}" y="${by}" width="${bw.toFixed(1)}" height="${barH}" fill="${b.color}" rx="2"/>`,
      `<text x="${(labelW + bw + 6).toFixed(1)}" y="${by + 13}" class="v">${esc(b.text)}</text>`,
    );
  });
  if (bars.length === 0) parts.push(`<text x="0" y="42" class="v">not measured</text>`);
  parts.push('</g>');
  return { svg: parts.join(''), h: bars.length === 0 ? 52 : h };
}

export function renderSvg(r: BenchReport): string {
  const sc = r.scenarios;
  const W = 1100;
  const colW = 530;
  const panels: Array<{ title: string; bars: Bar[] }> = [];
  const color = (s: string) => COLORS[s] ?? '#57606a';
  const fanBars = (res: Record<string, Outcome<FanoutResult>> | undefined) =>
    Object.entries(res ?? {}).flatMap(([s, o]) => {
      const x = ok(o);
      return x === undefined ? [] : [{ label: s, value: x.perSub.median, text: `${fmtInt(x.perSub.median)}${x.lost > 0 ? ` (lost ${fmtInt(x.lost)})` : ''}`, color: color(s) }];
    });
  if (sc.opaque !== undefined) panels.push({ title: `Opaque ${r.meta.sizes.opaqueBytes} B fan-out 1→${r.meta.sizes.fanoutSubs}: msg/s per subscriber`, bars: fanBars(sc.opaque) });
  panels.push({ title: `Structured fan-out 1→${r.meta.sizes.fanoutSubs}: msg/s per subscriber`, bars: fanBars(sc.fanout) });
  panels.push({ title: `Fan-out 1→${r.meta.sizes.fan100Subs}: msg/s per subscriber`, bars: fanBars(sc.fanout100) });
  const lat = Object.entries(sc.latency ?? {}).flatMap(([s, o]) => {
    const x = ok(o);
    return x === undefined
      ? []
      : [
          { label: `${s} p50`, value: x.latencyUs.p50, text: `${fmtInt(x.latencyUs.p50)} µs`, color: color(s) },
          { label: `${s} p99`, value: x.latencyUs.p99, text: `${fmtInt(x.latencyUs.p99)} µs`, color: color(s) },
        ];
  });
  panels.push({ title: `Latency at ${fmtInt(r.meta.sizes.latRate)} msg/s: one-way µs (shorter is better)`, bars: lat });
  const rpc = ok(sc.reqrep?.udsbus) ?? [];
  panels.push({
    title: 'Request/reply on udsbus: round trips/s',
    bars: rpc.map((q) => ({ label: `${q.inflight} in flight`, value: q.perSec, text: `${fmtInt(q.perSec)}/s, p50 ${fmtInt(q.rttUs.p50)} µs`, color: COLORS.udsbus! })),
  });
  panels.push({
    title: `${fmtInt(r.meta.sizes.scaleConns)} idle connections: server bytes per connection`,
    bars: Object.entries(sc.scale ?? {}).flatMap(([s, o]) => {
      const x = ok(o);
      return x === undefined ? [] : [{ label: s, value: x.bytesPerConn, text: `${kb(x.bytesPerConn)}, all in ${fmt1(x.deliveryMs.max)} ms`, color: color(s) }];
    }),
  });
  panels.push({
    title: 'Targets: value / goal (≥1 is met)',
    bars: r.targets.flatMap((t) => {
      if (t.value === null) return [];
      const g = Number(/[\d.,]+/.exec(t.goal)?.[0]?.replace(/,/g, '') ?? NaN);
      const lowerIsBetter = t.goal.startsWith('≤');
      const score = lowerIsBetter ? g / t.value : t.value / g;
      return [{ label: t.id.slice(0, 18), value: score, text: `${t.id === 'memory-per-connection' ? `${fmtInt(t.value)} B` : fmtX(t.value)} (${t.goal})`, color: t.met ? '#2da44e' : '#cf222e' }];
    }),
  });
  const body: string[] = [];
  let y = [70, 70];
  panels.forEach((p, i) => {
    const col = i % 2;
    const g = panel(20 + col * (colW + 20), y[col]!, colW, p.title, p.bars);
    body.push(g.svg);
    y[col]! += g.h + 20;
  });
  const H = Math.max(...y) + 10;
  y = [];
  const m = r.meta;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif">`,
    '<style>.t{font-size:14px;font-weight:600;fill:#24292f}.l{font-size:12px;fill:#24292f;text-anchor:end}.v{font-size:12px;fill:#57606a}.h{font-size:18px;font-weight:700;fill:#24292f}.s{font-size:12px;fill:#57606a}</style>',
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="20" y="28" class="h">udsbus bench ${esc(m.date.slice(0, 16).replace('T', ' '))}${m.quick ? ' (quick)' : ''}</text>`,
    `<text x="20" y="48" class="s">${esc(`${m.cpus} × ${m.cpuModel}, node ${m.node}, ${m.runs} run(s), load ${m.loadavgStart.join(' ')} → ${m.loadavgEnd.join(' ')}; shared machine: compare ratios, not absolutes`)}</text>`,
    ...body,
    '</svg>',
  ].join('\n');
}

/** Writes bench-<time>.json/.svg and latest.json/.svg into dir; returns the paths. */
export function writeReport(r: BenchReport, dir: string): { json: string; svg: string } {
  mkdirSync(dir, { recursive: true });
  const stamp = r.meta.date.replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const json = join(dir, `bench-${stamp}.json`);
  const svg = join(dir, `bench-${stamp}.svg`);
  const files = { json, svg };
  writeFileSync(json, `${JSON.stringify({ ...r, files }, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`);
  writeFileSync(svg, renderSvg(r));
  copyFileSync(json, join(dir, 'latest.json'));
  copyFileSync(svg, join(dir, 'latest.svg'));
  return files;
}
