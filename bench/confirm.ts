/**
 * Confirmed vs plain publish throughput into one durable queue, per fsync policy, in one run:
 * `node dist/bench/confirm.js [N] [policies]` (default 20000 always,batch,never; `always` uses N/10).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, startBroker } from '../bus/index.js';

const N = Number(process.argv[2] ?? 20_000);
const policies = (process.argv[3] ?? 'batch,always,never').split(',') as Array<'always' | 'batch' | 'never'>;
const payload = { cameraId: 'cam-01', kind: 'motion', active: true, pad: 'x'.repeat(120) };

for (const fsync of policies) {
  const dir = mkdtempSync(join(tmpdir(), 'udsbus-confirm-'));
  const b = await startBroker({ socket: join(dir, 'bus.sock'), dataDir: join(dir, 'data'), durable: { fsync }, statsIntervalMs: 0 });
  const c = await connect({ socket: join(dir, 'bus.sock'), name: 'confirm-bench' });
  const s = c.subscribe('ev.>', { durable: 'bench' }).subscribe();
  await c.flush();
  s.unsubscribe();
  await c.flush();
  const n = fsync === 'always' ? Math.ceil(N / 10) : N;
  let t = performance.now();
  for (let i = 0; i < n; i++) if (!c.publish('ev.x', payload)) await c.drain();
  await c.flush();
  const plain = n / ((performance.now() - t) / 1000);
  t = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    inflight.push(c.publish('ev.x', payload, { confirm: true }));
    if (inflight.length >= 1000) await inflight.shift();
  }
  await Promise.all(inflight);
  const confirmed = n / ((performance.now() - t) / 1000);
  process.stdout.write(`${fsync.padEnd(6)} plain ${Math.round(plain)}/s  confirmed ${Math.round(confirmed)}/s  ratio ${(confirmed / plain).toFixed(2)}\n`);
  await c.close();
  await b.close();
  rmSync(dir, { recursive: true, force: true });
}
