/**
 * The benchmark's smoke run: `npm run bench -- --quick` must complete, write its JSON with every
 * scenario, and lose nothing in the fan-out. No timing assertions: CI machines are shared.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = new URL('../', import.meta.url).pathname;
const RUN = join(ROOT, 'dist/bench/run.js');

function runQuick(out: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [RUN, '--quick', '--out', out], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), 170_000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

describe('npm run bench -- --quick', () => {
  const out = mkdtempSync(join(tmpdir(), 'udsbus-bench-smoke-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('completes, writes every scenario, and the fan-out loses nothing', { timeout: 180_000 }, async () => {
    expect(existsSync(RUN), 'dist/bench/run.js is missing: build first (npx tsc -p tsconfig.build.json)').toBe(true);
    const r = await runQuick(out);
    expect(r.code, `exit ${r.code}\n${r.stderr.slice(-3000)}\n${r.stdout.slice(-3000)}`).toBe(0);
    expect(r.stdout).toContain('Targets');

    const report = JSON.parse(readFileSync(join(out, 'latest.json'), 'utf8'));
    expect(Object.keys(report.scenarios).sort()).toEqual(['fanout', 'fanout100', 'latency', 'opaque', 'reqrep', 'scale', 'slow', 'tcp']);
    expect(report.errors).toEqual([]);
    expect(report.meta.quick).toBe(true);
    for (const peer of ['nats', 'mosquitto', 'redis']) expect(report.peers[peer].status).toBe('skipped');
    expect(existsSync(join(out, 'latest.svg'))).toBe(true);

    for (const key of ['opaque', 'fanout']) {
      for (const system of ['udsbus', 'raw']) {
        const f = report.scenarios[key][system];
        expect(f.error, `${key} ${system}`).toBeUndefined();
        expect(f.messages).toBe(report.meta.sizes.fanoutMsgs);
        expect(f.lost, `${key} ${system} lost messages`).toBe(0);
        expect(f.seqGaps).toBe(0);
        expect(f.lossNotices).toBe(0);
        expect(f.accounted).toBe(true);
        expect(f.payloadBytes).toBe(key === 'opaque' ? report.meta.sizes.opaqueBytes : null);
        // Present and positive; no timing assertions (the machine is shared).
        expect(f.cpuUsPerDelivery.sub, `${key} ${system} subscriber CPU`).toBeGreaterThan(0);
        expect(f.cpuUsPerDelivery.server, `${key} ${system} server CPU`).toBeGreaterThanOrEqual(0);
      }
    }
    // The opaque table is reported first, with its ratios.
    expect(r.stdout.indexOf('OPAQUE')).toBeGreaterThan(0);
    expect(r.stdout.indexOf('OPAQUE')).toBeLessThan(r.stdout.indexOf('STRUCTURED'));
    expect(r.stdout).toContain('udsbus/raw:');
    expect(report.targets.map((t: { id: string }) => t.id)).toContain('opaque-vs-raw');
    for (const key of ['fanout100', 'latency', 'scale', 'slow', 'reqrep']) {
      for (const [system, v] of Object.entries(report.scenarios[key] as Record<string, { error?: string }>)) {
        expect(v.error, `${key} ${system}`).toBeUndefined();
      }
    }
    expect(report.scenarios.scale.udsbus.delivered).toBe(report.meta.sizes.scaleConns);
    expect(report.scenarios.tcp.comparison).toBeDefined();
    expect(report.targets.map((t: { id: string }) => t.id)).toContain('fanout-vs-raw');
  });
});
