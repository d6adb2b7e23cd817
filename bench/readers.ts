#!/usr/bin/env node
/**
 * Micro-benchmark of the fixed-shape readers against the generic checked decoder, one process,
 * no sockets: `node dist/bench/readers.js [--iterations N]`. Prints ns per frame for a 200-byte
 * opaque payload, with and without the broker's `from` map. Not a test: numbers move with load.
 */
import { loadavg } from 'node:os';
import { parseArgs } from 'node:util';
import { msgFrameSize, Published, writeMsgFrame } from '../bus/broker/message.js';
import { encodePub } from '../bus/client/frames.js';
import { decodeFrame, encodeValue } from '../bus/protocol/codec.js';
import { ReadCache, readMsgFrame } from '../bus/protocol/msg-reader.js';
import { readPubFrame } from '../bus/protocol/pub-reader.js';

const { values } = parseArgs({ options: { iterations: { type: 'string', default: '300000' } } });
const N = Number(values.iterations);

const payload = Buffer.alloc(200, 0x5a);
const fromObj = { cid: 'c000123', name: 'onvif-publisher', uid: 1000, gid: 1000, pid: 424242 };
const origin = { cid: fromObj.cid, cbor: encodeValue(fromObj), json: JSON.stringify(fromObj) };

function msgBodies(withFrom: boolean): Buffer[] {
  // A ring of distinct frames (different seq) so nothing is cached by accident but `from`.
  const m = new Published('cam.front.motion', payload, undefined, undefined, false, withFrom ? origin : undefined);
  const out: Buffer[] = [];
  for (let seq = 1; seq <= 64; seq++) {
    const buf = Buffer.allocUnsafe(msgFrameSize(7, seq, m));
    writeMsgFrame(buf, 0, 7, seq, m);
    out.push(buf.subarray(4));
  }
  return out;
}

function pubBodies(): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < 64; i++) out.push(encodePub({ topic: `cam.front.motion`, payload }).subarray(4));
  return out;
}

let sink = 0;

/**
 * Best of 5 rounds after a warm-up. Reports CPU time (process.cpuUsage: this process, GC threads
 * included) as well as wall time: on a shared machine wall time includes waiting for a core.
 */
function time(name: string, bodies: Buffer[], read: (b: Buffer) => unknown): number {
  for (let i = 0; i < 50_000; i++) read(bodies[i & 63]!);
  let bestCpu = Infinity;
  let bestWall = Infinity;
  for (let round = 0; round < 5; round++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) if (read(bodies[i & 63]!) !== undefined) sink++;
    const wall = Number(process.hrtime.bigint() - t0) / N;
    const c = process.cpuUsage(c0);
    const cpu = ((c.user + c.system) * 1000) / N;
    if (cpu < bestCpu) bestCpu = cpu;
    if (wall < bestWall) bestWall = wall;
  }
  console.log(`${name.padEnd(34)} ${bestCpu.toFixed(0).padStart(6)} ns CPU/frame ${bestWall.toFixed(0).padStart(6)} ns wall/frame`);
  return bestCpu;
}

const generic = (b: Buffer) => {
  const r = decodeFrame(b);
  return r.ok ? r.frame : undefined;
};
const cache = new ReadCache();
const fast = (b: Buffer) => readMsgFrame(b, cache);

console.log(`node ${process.version}, ${N.toLocaleString('en-US')} frames a round, best of 5; 200-byte payload; load ${loadavg()[0]!.toFixed(1)}`);
for (const withFrom of [false, true]) {
  const bodies = msgBodies(withFrom);
  const label = withFrom ? 'msg with from' : 'msg without from';
  const g = time(`${label}: decodeFrame`, bodies, generic);
  const f = time(`${label}: readMsgFrame`, bodies, fast);
  console.log(`${''.padEnd(34)} ${(g / f).toFixed(1).padStart(6)} × less CPU`);
}
const pubs = pubBodies();
const g = time('pub: decodeFrame', pubs, generic);
const pubCache = new ReadCache();
const f = time('pub: readPubFrame', pubs, (b) => readPubFrame(b, pubCache));
console.log(`${''.padEnd(34)} ${(g / f).toFixed(1).padStart(6)} × less CPU`);
if (sink === 0) console.log('(nothing read)');
