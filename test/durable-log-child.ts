/**
 * Child process for the kill -9 test (durable-log-crash.test.ts), run with
 * `node --import ./test/onvif-simulator/register-ts.mjs test/durable-log-child.ts DIR POLICY FIRST_N`.
 *
 * Opens the log in DIR, prints `open <json>` with what recovery found, then appends gen(n) for
 * n = FIRST_N, FIRST_N+1, … forever, up to 256 confirms outstanding, and prints `ok <mid> <n>`
 * once sync() has resolved for that record — only then is it confirmed. The parent kills it.
 */
import { DurableLog, type FsyncPolicy } from '../bus/durable/index.js';
import { gen } from './durable-log-gen.js';

const [dir, policy, firstArg] = process.argv.slice(2);
if (dir === undefined || policy === undefined || firstArg === undefined) throw new Error('usage: DIR POLICY FIRST_N');

const log = DurableLog.open(dir, { fsync: policy as FsyncPolicy, batchMs: 2, segmentBytes: 512 * 1024, maxBytes: 1024 * 1024 * 1024 });
process.stdout.write(`open ${JSON.stringify({ recovery: log.recovery ?? null, stats: log.stats() })}\n`);

const MAX_OUTSTANDING = 256;
let outstanding = 0;
let n = Number(firstArg);

function confirmOne(mid: number, m: number): void {
  outstanding++;
  log.sync().then(
    () => {
      outstanding--;
      process.stdout.write(`ok ${mid} ${m}\n`);
    },
    (err: Error) => {
      process.stderr.write(`sync failed: ${err.message}\n`);
      process.exit(3);
    },
  );
}

for (;;) {
  // Let group commits complete and confirmations print between small bursts of appends.
  await new Promise<void>((resolve) => setImmediate(resolve));
  for (let burst = 0; burst < 16 && outstanding < MAX_OUTSTANDING; burst++) {
    const r = gen(n);
    const res = log.append(r.topic, r.payload, r.hdr, r.time);
    if ('error' in res) throw new Error(`append refused: ${res.text}`);
    confirmOne(res.mid, n);
    n++;
  }
}
