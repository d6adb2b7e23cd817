/**
 * Memory of a DurableLog does not grow with its backlog: 200,000 records of 200 bytes (about
 * 46 MB on disk) are appended, then read and acked in pages; the heap (after a full GC) and the
 * number of open file descriptors stay flat. An implementation that kept records, or one object
 * per record, in memory would hold tens of MB here.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { DurableLog } from '../bus/durable/index.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heapMB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 1e6;
}

const openFds = (): number => readdirSync('/proc/self/fd').length;

const dir = mkdtempSync(join(tmpdir(), 'udsbus-durable-mem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('memory does not grow with the backlog', () => {
  it('200k-record backlog: append, then read and ack in pages', () => {
    const N = 200_000;
    const log = DurableLog.open(dir, { fsync: 'never', maxBytes: 512 * 1024 * 1024, segmentBytes: 4 * 1024 * 1024 });
    const payload = Buffer.alloc(200, 0x5a);
    const hdr = { source: 'cam-01' };

    // Warm up (JIT, pools, the first segments), then measure the growth of the next 199k appends.
    for (let i = 0; i < 1000; i++) log.append('camera.event.cam-01.motion', payload, hdr);
    const heapBase = heapMB();
    const fdBase = openFds();
    for (let i = 1000; i < N; i++) {
      payload.writeUInt32BE(i + 1, 0);
      log.append('camera.event.cam-01.motion', payload, hdr);
    }
    const heapAfterAppend = heapMB();
    expect(log.stats()).toMatchObject({ count: N, lastMid: N });
    expect(log.stats().bytes).toBeGreaterThan(N * 200);

    // Read everything in pages of 1,000, acking as we go; sample the heap along the way.
    const samples: number[] = [];
    let next = 1;
    let seen = 0;
    let maxFds = 0;
    let wrong = 0;
    for (let page = 0; ; page++) {
      const recs = log.read(next, 1000, 1 << 20);
      if (recs.length === 0) break;
      for (const r of recs) {
        // Plain checks: expect() per record would dominate the run time.
        if (r.mid !== next || (r.mid > 1000 && r.payload.readUInt32BE(0) !== r.mid)) wrong++;
        next = r.mid + 1;
        seen++;
      }
      log.ack(next - 1);
      maxFds = Math.max(maxFds, openFds());
      if (page % 20 === 10) samples.push(heapMB());
    }
    expect(seen).toBe(N);
    expect(wrong).toBe(0);
    const heapEnd = heapMB();
    console.log(
      `heap MB: base ${heapBase.toFixed(1)}, after 200k appends ${heapAfterAppend.toFixed(1)}, ` +
        `during reads ${samples.map((s) => s.toFixed(1)).join(' ')}, end ${heapEnd.toFixed(1)}; fds ${fdBase} → max ${maxFds}`,
    );
    // 200k records are ~46 MB of data; a per-record object alone would cost more than 10 MB.
    expect(heapAfterAppend - heapBase).toBeLessThan(4);
    for (const s of samples) expect(s - heapBase).toBeLessThan(4);
    expect(heapEnd - heapBase).toBeLessThan(4);
    expect(maxFds - fdBase).toBeLessThanOrEqual(3);
    expect(log.stats()).toMatchObject({ count: 0, firstMid: N + 1 });
    log.close();
  });
});
