/**
 * The broker writes each connection's batch from one shared buffer, reused when the kernel took
 * the previous write whole (bus/broker/outbound.ts); the publishing client does the same with its
 * own batch, into which it builds `pub` frames in place (bus/client/transport.ts). If a reused
 * buffer were still referenced by a socket, later batches would overwrite bytes not yet sent: this fan-out of payloads whose every
 * byte is derived from their index, at sizes that straddle the batch size, would see it.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { BATCH_BYTES } from '../bus/broker/options.js';
import { decodeValue } from '../bus/protocol/codec.js';
import { startTestBus, type TestBus } from './helpers/harness.js';

let bus: TestBus | undefined;
afterEach(async () => {
  await bus?.close();
  bus = undefined;
});

const N = 6000;
// Sizes straddle the batch size; one in 50 is larger than a whole batch.
const sizeOf = (i: number) => (i % 50 === 49 ? BATCH_BYTES + 1000 : [16, 200, 1500, 9000, 70_000][i % 5]!);
const payloadOf = (i: number) => {
  const b = new Uint8Array(sizeOf(i));
  for (let j = 0; j < b.length; j++) b[j] = (i * 31 + j) & 0xff;
  return b;
};

describe('broker batch buffer reuse', () => {
  it('three subscribers get every byte of every payload, in order, while the publisher runs at full speed', async () => {
    bus = await startTestBus({ statsIntervalMs: 0 });
    const subs = await Promise.all([0, 1, 2].map(() => bus!.client()));
    const results = subs.map(
      (c) =>
        new Promise<{ got: number; bad: number }>((resolve) => {
          let got = 0;
          let bad = 0;
          c.subscribe('reuse.>').subscribe((m) => {
            const i = Number(m.topic.slice('reuse.'.length));
            const p = m.payload as Uint8Array;
            const want = payloadOf(i);
            if (i !== got || p.length !== want.length || !Buffer.from(p).equals(Buffer.from(want))) bad++;
            if (++got === N) resolve({ got, bad });
          });
        }),
    );
    await Promise.all(subs.map((c) => c.flush()));
    const pub = await bus.client();
    for (let i = 0; i < N; i++) {
      if (!pub.publish(`reuse.${i}`, payloadOf(i))) await pub.drain();
    }
    for (const r of await Promise.all(results)) expect(r).toEqual({ got: N, bad: 0 });
  }, 60_000);

  it('a subscriber that keeps every message finds each one intact after the last arrived', async () => {
    // The client reads into slices of shared slabs (transport.ts readSlabs) and a message's
    // bytes are a view into them: a slab reused while a kept message still pointed into it would
    // show here as changed bytes.
    bus = await startTestBus({ statsIntervalMs: 0 });
    const sub = await bus.client();
    const kept: Array<{ topic: string; bytes: Uint8Array; size: number }> = [];
    const all = new Promise<void>((resolve) => {
      sub.subscribe('keep.>').subscribe((m) => {
        kept.push({ topic: m.topic, bytes: m.bytes, size: m.size });
        if (kept.length === N) resolve();
      });
    });
    await sub.flush();
    const pub = await bus.client();
    for (let i = 0; i < N; i++) {
      if (!pub.publish(`keep.${i}`, payloadOf(i))) await pub.drain();
    }
    await all;
    let bad = 0;
    for (const [i, k] of kept.entries()) {
      const want = payloadOf(i);
      const got = decodeValue(k.bytes) as Uint8Array;
      if (k.topic !== `keep.${i}` || k.size !== k.bytes.length || !Buffer.from(got).equals(Buffer.from(want))) bad++;
    }
    expect({ kept: kept.length, bad }).toEqual({ kept: N, bad: 0 });
  }, 60_000);
});
