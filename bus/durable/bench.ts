/**
 * Throughput of DurableLog per fsync policy, with confirms: every record's sync() is awaited,
 * pipelined (up to `window` confirms outstanding, as a broker with many publishers would have).
 *
 *   node dist/bus/durable/bench.js [--n 200000] [--always-n 2000] [--size 200] [--window 1000] [--dir DIR]
 *
 * DIR (default: the OS temp dir) should be on the disk that will hold the queues: fsync cost is
 * a property of the device. 'always' fsyncs once per record, so it runs fewer records.
 */
import { Buffer } from 'node:buffer';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { DurableLog, type FsyncPolicy } from './log.js';

export type DurableBenchOptions = { n: number; alwaysN: number; size: number; window: number; dir: string };

export type DurableBenchResult = {
  policy: FsyncPolicy;
  records: number;
  seconds: number;
  recordsPerSec: number;
  mbPerSec: number;
  fsyncs: number;
  /** Confirm latency (append called → sync resolved), sampled every 64th record, ms. */
  p50: number;
  p99: number;
};

export async function runDurableBench(o: DurableBenchOptions): Promise<DurableBenchResult[]> {
  const results: DurableBenchResult[] = [];
  for (const policy of ['always', 'batch', 'never'] as const) {
    const records = policy === 'always' ? Math.min(o.n, o.alwaysN) : o.n;
    const dir = mkdtempSync(join(o.dir, `udsbus-durable-bench-${policy}-`));
    try {
      const log = DurableLog.open(dir, { fsync: policy, maxBytes: Math.max(256 * 1024 * 1024, records * (o.size + 128) * 2) });
      const payload = Buffer.alloc(o.size, 0x5a);
      const latencies: number[] = [];
      let outstanding = 0;
      let wake: (() => void) | undefined;
      const t0 = performance.now();
      for (let i = 0; i < records; i++) {
        while (outstanding >= o.window) await new Promise<void>((resolve) => (wake = resolve));
        const sampled = i % 64 === 0;
        const start = sampled ? performance.now() : 0;
        const r = log.append('camera.event.cam-01.motion', payload);
        if ('error' in r) throw new Error(r.text);
        outstanding++;
        void log.sync().then(() => {
          outstanding--;
          if (sampled) latencies.push(performance.now() - start);
          const w = wake;
          wake = undefined;
          w?.();
        });
        // Yield to the event loop now and then, as a broker reading sockets does, so fsync
        // completions are handled while appends go on.
        if ((i & 255) === 255) await new Promise<void>((resolve) => setImmediate(resolve));
        else await undefined; // microtasks: confirms already settled are counted at once
      }
      while (outstanding > 0) await new Promise<void>((resolve) => (wake = resolve));
      const seconds = (performance.now() - t0) / 1000;
      const fsyncs = log.stats().fsyncs;
      log.close();
      latencies.sort((a, b) => a - b);
      const pct = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
      results.push({
        policy,
        records,
        seconds,
        recordsPerSec: records / seconds,
        mbPerSec: (records * o.size) / seconds / 1e6,
        fsyncs,
        p50: pct(0.5),
        p99: pct(0.99),
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return results;
}

export function formatDurableBench(rs: DurableBenchResult[], o: DurableBenchOptions): string {
  const lines = [
    `DurableLog append + confirm, ${o.size}-byte payloads, ${o.window} confirms in flight, dir ${o.dir}`,
    `${'policy'.padEnd(8)} ${'records'.padStart(8)} ${'seconds'.padStart(8)} ${'records/s'.padStart(10)} ${'MB/s'.padStart(7)} ${'fsyncs'.padStart(7)} ${'rec/fsync'.padStart(9)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)}`,
  ];
  for (const r of rs) {
    lines.push(
      `${r.policy.padEnd(8)} ${String(r.records).padStart(8)} ${r.seconds.toFixed(2).padStart(8)} ${Math.round(r.recordsPerSec).toString().padStart(10)} ` +
        `${r.mbPerSec.toFixed(1).padStart(7)} ${String(r.fsyncs).padStart(7)} ${(r.fsyncs > 0 ? (r.records / r.fsyncs).toFixed(0) : '-').padStart(9)} ` +
        `${r.p50.toFixed(2).padStart(7)} ${r.p99.toFixed(2).padStart(7)}`,
    );
  }
  return lines.join('\n');
}

function parseArgs(argv: string[]): DurableBenchOptions {
  const o: DurableBenchOptions = { n: 200_000, alwaysN: 2_000, size: 200, window: 1000, dir: tmpdir() };
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i];
    const v = argv[i + 1];
    if (v === undefined) throw new Error(`${k} needs a value`);
    if (k === '--n') o.n = Number(v);
    else if (k === '--always-n') o.alwaysN = Number(v);
    else if (k === '--size') o.size = Number(v);
    else if (k === '--window') o.window = Number(v);
    else if (k === '--dir') o.dir = v;
    else throw new Error(`unknown option ${k}; use --n, --always-n, --size, --window, --dir`);
  }
  return o;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const o = parseArgs(process.argv.slice(2));
  const rs = await runDurableBench(o);
  process.stdout.write(`${formatDurableBench(rs, o)}\n`);
}
